package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// routes registers every route the starter serves, in one place.
func (s *Server) routes(app *fiber.App) {
	o := s.opts
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	if o.MetricsHandler != nil {
		app.Get("/metrics", adaptor.HTTPHandler(o.MetricsHandler))
	}
	if o.WebhookLimit != nil {
		app.Use("/webhooks", o.WebhookLimit)
	}
	if h := o.Aha; h != nil {
		if h.Metrics == nil {
			h.Metrics = noMetrics{}
		}
		app.Post("/webhooks/aha/:token", h.handle)
		app.Post("/webhooks/aha", h.notFound) // a missing token is a wrong one: 404, not 405
	}
	if h := o.Centercode; h != nil {
		if h.Metrics == nil {
			h.Metrics = noMetrics{}
		}
		app.Post("/webhooks/centercode/macros/:macro", h.macro)
		app.Post("/webhooks/centercode/macros/:macro/:token", h.macro)
		app.Post("/webhooks/centercode/status", h.status)
		app.Post("/webhooks/centercode/status/:token", h.status)
	}
	if o.Codec != nil {
		app.All("/codec/*", adaptor.HTTPHandler(http.StripPrefix("/codec", o.Codec)))
	}
}
