package httpapi

import (
	"crypto/subtle"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/dispatch"
)

// Metrics is what the handlers report; nil-safe through noMetrics.
type Metrics interface {
	Webhook(source, result string)
	DedupHit(source string)
	DedupDegraded()
	ObserveHandoff(source string, d time.Duration)
}

type noMetrics struct{}

func (noMetrics) Webhook(string, string)               {}
func (noMetrics) DedupHit(string)                      {}
func (noMetrics) DedupDegraded()                       {}
func (noMetrics) ObserveHandoff(string, time.Duration) {}

// AhaWebhook serves POST /webhooks/aha/:token.
type AhaWebhook struct {
	Tokens     []string
	Dispatcher *dispatch.Dispatcher
	Metrics    Metrics
}

func (h *AhaWebhook) notFound(c *fiber.Ctx) error {
	h.Metrics.Webhook("aha", "unauthorized")
	logger(c).Warn("aha webhook without a token", "remote_addr", c.IP())
	return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "not found", "status": "error"})
}

func (h *AhaWebhook) handle(c *fiber.Ctx) error {
	start := time.Now()
	if !tokenOK(c.Params("token"), h.Tokens) {
		return h.notFound(c)
	}
	p, err := aha.ParseWebhook(c.Body())
	if err != nil {
		h.Metrics.Webhook("aha", "bad_request")
		logger(c).Info("aha webhook rejected", "remote_addr", c.IP(), "error", err)
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": err.Error(), "status": "error"})
	}
	if p.Event != "" && p.Event != "audit" {
		h.Metrics.Webhook("aha", "ignored")
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"reason": "event " + p.Event + " is not an audit", "status": dispatch.Ignored})
	}
	out, err := h.Dispatcher.Dispatch(c.UserContext(), &p.Audit, "webhook")
	if err != nil {
		return refuse(c, h.Metrics, "aha", err, "audit_id", p.Audit.ID.String())
	}
	if out.Degraded {
		h.Metrics.DedupDegraded()
	}
	h.Metrics.Webhook("aha", out.Status)
	switch out.Status {
	case dispatch.Duplicate:
		h.Metrics.DedupHit("aha")
		return c.Status(fiber.StatusOK).JSON(fiber.Map{"status": out.Status, "workflow_id": out.WorkflowID})
	case dispatch.Ignored:
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"reason": out.Reason, "status": out.Status})
	}
	h.Metrics.ObserveHandoff("aha", time.Since(start))
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": out.Status, "workflow_id": out.WorkflowID})
}

// refuse answers a hand-off that did not happen: 409 + Retry-After while
// another delivery of the same event is in flight, 400 for input Temporal
// refuses (sending it again cannot help), else 503 + Retry-After. Nothing was
// marked as seen in any case.
func refuse(c *fiber.Ctx, m Metrics, source string, err error, logKV ...any) error {
	code, result, status := fiber.StatusServiceUnavailable, "unavailable", "error"
	switch {
	case errors.Is(err, dispatch.ErrInFlight):
		code, result, status = fiber.StatusConflict, "in_flight", "in_flight"
	case errors.Is(err, dispatch.ErrInvalid):
		code, result = fiber.StatusBadRequest, "bad_request"
	}
	m.Webhook(source, result)
	msg := err.Error()
	if u := errors.Unwrap(err); u != nil && code != fiber.StatusBadRequest {
		msg = u.Error() // the sentinel's words; the details are for the log
	}
	if code == fiber.StatusBadRequest {
		logger(c).Info(source+" webhook refused by Temporal", append(logKV, "error", err)...)
	} else {
		logger(c).Warn(source+" webhook hand-off did not happen", append(logKV, "error", err)...)
		c.Set(fiber.HeaderRetryAfter, "5")
	}
	return c.Status(code).JSON(fiber.Map{"error": msg, "status": status})
}

// tokenOK compares in constant time against every configured token (several
// are allowed so a token can be rotated without dropping deliveries).
func tokenOK(got string, tokens []string) bool {
	ok := 0
	for _, t := range tokens {
		if t != "" {
			ok |= subtle.ConstantTimeCompare([]byte(got), []byte(t))
		}
	}
	return ok == 1
}
