// Package httpapi is the starter's HTTP surface (Fiber): the webhook endpoints
// Aha! and Centercode call, health and readiness probes, and metrics. Handlers
// only authenticate, parse, dedup and hand events to Temporal; they never wait
// for the work itself.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
)

// Options configures the HTTP server.
type Options struct {
	Temporal client.Client
	Redis    *redis.Client // nil: run without the Redis dedup layer (readyz says degraded)
	Logger   *slog.Logger
	// BodyLimit caps request bodies (default 1 MiB); larger bodies get 413.
	BodyLimit int
	// ReadTimeout / WriteTimeout bound slow clients (defaults 10 s).
	ReadTimeout, WriteTimeout time.Duration
	// What is served besides the health routes (routes.go); nil: not served.
	Aha            *AhaWebhook
	Centercode     *CentercodeWebhook
	WebhookLimit   fiber.Handler // in front of /webhooks: the per-source request limit
	MetricsHandler http.Handler  // /metrics
	Codec          http.Handler  // /codec/*: the Web UI's payload codec
}

// Server is the starter's HTTP server.
type Server struct {
	app  *fiber.App
	opts Options
}

// New builds the Fiber app with the health routes and whatever Extra adds.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BodyLimit == 0 {
		o.BodyLimit = 1 << 20
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	app := fiber.New(fiber.Config{
		AppName:               "ahacc-starter",
		BodyLimit:             o.BodyLimit,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(o.Logger),
	})
	s := &Server{app: app, opts: o}
	app.Use(func(c *fiber.Ctx) error {
		c.Locals(loggerKey, o.Logger)
		return c.Next()
	})
	s.routes(app)
	return s
}

// App exposes the Fiber app (tests use app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting connections and waits for in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

// readyz reports whether the starter can accept events: Temporal must answer
// (otherwise 503); Redis missing or down is "degraded" but still ready, because
// the workflow layers dedup on their own. Anyone may ask, so the answer names
// states only; the errors (addresses, server text) go to the log.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	out := fiber.Map{"temporal": "ok", "redis": "ok"}
	status := "ready"
	code := fiber.StatusOK
	if s.opts.Temporal == nil {
		out["temporal"] = "not configured"
		status, code = "unavailable", fiber.StatusServiceUnavailable
	} else if _, err := s.opts.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		s.opts.Logger.Warn("readyz: temporal unreachable", "error", err)
		out["temporal"] = "unreachable"
		status, code = "unavailable", fiber.StatusServiceUnavailable
	}
	if s.opts.Redis == nil {
		out["redis"] = "not configured"
		if code == fiber.StatusOK {
			status = "degraded"
		}
	} else if err := s.opts.Redis.Ping(ctx).Err(); err != nil {
		s.opts.Logger.Warn("readyz: redis unreachable", "error", err)
		out["redis"] = "unreachable"
		if code == fiber.StatusOK {
			status = "degraded"
		}
	}
	out["status"] = status
	return c.Status(code).JSON(out)
}

// errorHandler answers every error as JSON with a precise status: Fiber's own
// errors (413 body too large, 404 no route, 405) keep their code.
func errorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		code := fiber.StatusInternalServerError
		msg := "internal error"
		if fe, ok := err.(*fiber.Error); ok {
			code, msg = fe.Code, fe.Message
		} else {
			logger.Error("request failed", "method", c.Method(), "route", routeOf(c), "error", err)
		}
		return c.Status(code).JSON(fiber.Map{"status": "error", "error": msg})
	}
}

// logger returns the request's logger (set by the server's middleware).
func logger(c *fiber.Ctx) *slog.Logger {
	if l, ok := c.Locals(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

const loggerKey = "ahacc.logger"

// routeOf names the matched route pattern, not the raw path: paths can carry
// webhook tokens, which must never reach a log line.
func routeOf(c *fiber.Ctx) string {
	if r := c.Route(); r != nil {
		return r.Path
	}
	return "?"
}
