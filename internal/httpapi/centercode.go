package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/mapping"
)

// Metric sources of the Centercode webhooks.
const (
	sourceMacro  = "centercode_macro"
	sourceStatus = "centercode_status"
)

// Fields of the Centercode webhook bodies (the JSON an admin writes into the
// webhook macro's body template; see the README).
const (
	FieldFeedbackID = "feedbackId" // required (string or number)
	FieldStatus     = "status"     // status webhook: required, the new status
	FieldOldStatus  = "oldStatus"  // status webhook: optional
	FieldTime       = "time"       // optional RFC 3339
	FieldRunKey     = "runKey"     // optional: identifies the run/delivery for dedup
	FieldDeliveryID = "deliveryId" // optional alternative to runKey
)

// maxKeyLen bounds a run key or feedback id taken into a workflow id.
const maxKeyLen = 100

// CentercodeWebhook serves the Centercode webhook macros:
//
//	POST /webhooks/centercode/macros/:macro   a macro run → MacroWorkflow
//	POST /webhooks/centercode/status          a status change → FeedbackWorkflow
//
// Both authenticate with "Authorization: Bearer <token>" or a path token
// (…/macros/:macro/:token, …/status/:token), compared in constant time with
// AHACC_CENTERCODE_WEBHOOK_TOKEN (comma-separated for rotation).
type CentercodeWebhook struct {
	Tokens     []string
	Dispatcher *dispatch.Dispatcher
	Config     func() *mapping.Config
	Metrics    Metrics
}

func (h *CentercodeWebhook) authorized(c *fiber.Ctx) bool {
	ok := false
	if tok := c.Params("token"); tok != "" {
		ok = tokenOK(tok, h.Tokens)
	}
	if bearer, found := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer "); found {
		ok = tokenOK(strings.TrimSpace(bearer), h.Tokens) || ok
	}
	return ok
}

func (h *CentercodeWebhook) unauthorized(c *fiber.Ctx, source string) error {
	h.Metrics.Webhook(source, "unauthorized")
	logger(c).Warn("centercode webhook unauthorized", "route", routeOf(c), "remote_addr", c.IP())
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ahacc"`)
	return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"status": "error", "error": "unauthorized"})
}

func (h *CentercodeWebhook) badRequest(c *fiber.Ctx, source, msg string, missing []string) error {
	h.Metrics.Webhook(source, "bad_request")
	logger(c).Info("centercode webhook rejected", "route", routeOf(c), "remote_addr", c.IP(), "error", msg)
	out := fiber.Map{"status": "error", "error": msg}
	if len(missing) > 0 {
		out["missing"] = missing
	}
	return c.Status(fiber.StatusBadRequest).JSON(out)
}

func (h *CentercodeWebhook) macro(c *fiber.Ctx) error {
	start := time.Now()
	if !h.authorized(c) {
		return h.unauthorized(c, sourceMacro)
	}
	name := c.Params("macro")
	m := h.Config().Macro(name)
	if m == nil {
		h.Metrics.Webhook(sourceMacro, "not_found")
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"status": "error", "error": fmt.Sprintf("unknown macro %q (not in the config's macros)", name)})
	}
	body := c.Body()
	obj, err := parseObject(body)
	if err != nil {
		return h.badRequest(c, sourceMacro, err.Error(), nil)
	}
	if missing := missingFields(obj, m.Require...); len(missing) > 0 {
		return h.badRequest(c, sourceMacro, missingMessage(missing, "macro "+name), missing)
	}
	res, err := m.Map(body)
	if err != nil {
		var ve *mapping.ValidationError
		if errors.As(err, &ve) {
			return h.badRequest(c, sourceMacro, ve.Error(), missingOf(ve))
		}
		return h.badRequest(c, sourceMacro, err.Error(), nil)
	}
	fid := res.Reference
	if !validKey(fid) {
		return h.badRequest(c, sourceMacro, fmt.Sprintf("%s %q is not a Centercode feedback id", FieldFeedbackID, fid), nil)
	}
	run := dispatch.MacroRun{Macro: name, FeedbackID: fid, RunKey: runKey(obj, body), Payload: json.RawMessage(body)}
	out, err := h.Dispatcher.DispatchMacro(c.UserContext(), run)
	return h.answer(c, sourceMacro, start, out, err, "macro", name, "feedback_id", fid)
}

func (h *CentercodeWebhook) status(c *fiber.Ctx) error {
	start := time.Now()
	if !h.authorized(c) {
		return h.unauthorized(c, sourceStatus)
	}
	body := c.Body()
	obj, err := parseObject(body)
	if err != nil {
		return h.badRequest(c, sourceStatus, err.Error(), nil)
	}
	if missing := missingFields(obj, FieldFeedbackID, FieldStatus); len(missing) > 0 {
		return h.badRequest(c, sourceStatus, missingMessage(missing, "the status webhook"), missing)
	}
	fid := scalar(obj[FieldFeedbackID])
	if !validKey(fid) {
		return h.badRequest(c, sourceStatus, fmt.Sprintf("%s %q is not a Centercode feedback id", FieldFeedbackID, fid), nil)
	}
	ch := contract.StatusChange{Key: runKey(obj, body), Status: scalar(obj[FieldStatus]), OldStatus: scalar(obj[FieldOldStatus]),
		Payload: json.RawMessage(body), Source: "webhook"}
	if t := scalar(obj[FieldTime]); t != "" {
		at, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return h.badRequest(c, sourceStatus, fmt.Sprintf("%s %q is not an RFC 3339 time", FieldTime, t), nil)
		}
		ch.At = at
	}
	out, err := h.Dispatcher.DispatchStatus(c.UserContext(), dispatch.StatusEvent{FeedbackID: fid, Change: ch})
	return h.answer(c, sourceStatus, start, out, err, "feedback_id", fid, "status", ch.Status)
}

// answer writes the dispatch outcome: 202 accepted, 200 duplicate; a
// hand-off that did not happen is refused (see refuse: 409, 400 or 503).
func (h *CentercodeWebhook) answer(c *fiber.Ctx, source string, start time.Time, out dispatch.Outcome, err error, logKV ...any) error {
	if err != nil {
		return refuse(c, h.Metrics, source, err, logKV...)
	}
	if out.Degraded {
		h.Metrics.DedupDegraded()
	}
	h.Metrics.Webhook(source, out.Status)
	if out.Status == dispatch.Duplicate {
		h.Metrics.DedupHit(source)
		return c.Status(fiber.StatusOK).JSON(fiber.Map{"status": out.Status, "workflow_id": out.WorkflowID})
	}
	h.Metrics.ObserveHandoff(source, time.Since(start))
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": out.Status, "workflow_id": out.WorkflowID})
}

// parseObject decodes a JSON object body (numbers kept exact).
func parseObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("empty body: send a JSON object (Content-Type: application/json)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the body is not valid JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the body must be a JSON object")
	}
	return obj, nil
}

// scalar renders a string or number field ("" for anything else).
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	}
	return ""
}

func missingFields(obj map[string]any, names ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		v, ok := obj[n]
		if !ok || v == nil {
			out = append(out, n)
			continue
		}
		if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
			out = append(out, n)
		}
	}
	return out
}

func missingMessage(missing []string, where string) string {
	quoted := make([]string, len(missing))
	for i, m := range missing {
		quoted[i] = fmt.Sprintf("%q", m)
	}
	return fmt.Sprintf("missing required field %s (%s); add it to the webhook macro's body template", strings.Join(quoted, ", "), where)
}

// missingOf lists the elements a mapping error reports as missing.
func missingOf(ve *mapping.ValidationError) []string {
	var out []string
	for _, p := range ve.Problems {
		if p.Code == mapping.CodeMissingRequired && p.Element != "" {
			out = append(out, p.Element)
		}
		if p.Code == mapping.CodeMissingRequired && p.Element == "" && strings.HasPrefix(p.Message, "feedback id:") {
			out = append(out, FieldFeedbackID) // the implicit feedback id element
		}
	}
	return out
}

// runKey identifies a delivery: the body's runKey or deliveryId, else a hash
// of the body (so both copies of a duplicated delivery share it).
func runKey(obj map[string]any, body []byte) string {
	for _, f := range []string{FieldRunKey, FieldDeliveryID} {
		if k := scalar(obj[f]); k != "" {
			if validKey(k) {
				return k
			}
			sum := sha256.Sum256([]byte(k))
			return "k" + hex.EncodeToString(sum[:8])
		}
	}
	sum := sha256.Sum256(body)
	return "h" + hex.EncodeToString(sum[:8])
}

// validKey accepts ids safe in a workflow id and a Redis key.
func validKey(s string) bool {
	if s == "" || len(s) > maxKeyLen {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
