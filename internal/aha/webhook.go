package aha

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FlexID is an Aha! id that arrives as a JSON string or a JSON number. It keeps the
// decimal digits exactly (never float64) and marshals as a string.
type FlexID string

// UnmarshalJSON accepts "123", 123 and null (empty).
func (id *FlexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*id = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		if raw, ok := plainString(b); ok {
			*id = FlexID(bytes.TrimSpace(raw))
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("aha id: %w", err)
		}
		*id = FlexID(strings.TrimSpace(s))
		return nil
	}
	if len(b) == 0 {
		return errors.New("aha id: empty")
	}
	for i, c := range b {
		if c < '0' || c > '9' {
			if i == 0 && c == '-' && len(b) > 1 {
				continue
			}
			return fmt.Errorf("aha id: %q is not an integer", b)
		}
	}
	*id = FlexID(b)
	return nil
}

// plainString returns the text inside a JSON string literal when it needs no
// decoding (no escape, valid UTF-8) — then it is exactly what json.Unmarshal
// would give, and the second decoder run is saved. ok is false otherwise.
func plainString(lit []byte) (raw []byte, ok bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return nil, false
	}
	raw = lit[1 : len(lit)-1]
	ascii := true
	for _, c := range raw {
		switch {
		case c == '\\' || c == '"' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(raw) {
		return nil, false // json.Unmarshal replaces invalid bytes with U+FFFD
	}
	return raw, true
}

// MarshalJSON writes the id as a string.
func (id FlexID) MarshalJSON() ([]byte, error) { return json.Marshal(string(id)) }

// String returns the id.
func (id FlexID) String() string { return string(id) }

// ChangeValue is a change value: usually an HTML string, sometimes an integer.
type ChangeValue struct {
	String string // the text (for an integer, its decimal form)
	Int    *int64 // set when the value was a JSON integer
	Raw    json.RawMessage
}

// UnmarshalJSON accepts a string, an integer, null, or anything else (kept raw).
func (v *ChangeValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*v = ChangeValue{Raw: append(json.RawMessage(nil), b...)}
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		if raw, ok := plainString(b); ok {
			v.String = string(raw)
			return nil
		}
		return json.Unmarshal(b, &v.String)
	}
	// Integers; floats, objects, arrays keep the raw text.
	v.String = string(b)
	if n, err := strconv.ParseInt(v.String, 10, 64); err == nil {
		v.Int = &n
	}
	return nil
}

// MarshalJSON writes the original value.
func (v ChangeValue) MarshalJSON() ([]byte, error) {
	if len(v.Raw) > 0 {
		return v.Raw, nil
	}
	if v.Int != nil {
		return []byte(strconv.FormatInt(*v.Int, 10)), nil
	}
	return json.Marshal(v.String)
}

// Change is one changed field of an audit.
type Change struct {
	FieldName string      `json:"field_name"`
	Value     ChangeValue `json:"value"`
}

// AuditUser is the user who made a change.
type AuditUser struct {
	ID        FlexID `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

// Audit is one audit record, from an activity webhook or from GET /api/v1/audits.
type Audit struct {
	ID             FlexID            `json:"id"`
	AuditAction    string            `json:"audit_action"` // create, update, destroy
	CreatedAt      string            `json:"created_at"`
	Interesting    bool              `json:"interesting"`
	User           *AuditUser        `json:"user"` // nil for system changes
	AuditableType  string            `json:"auditable_type"`
	AuditableID    FlexID            `json:"auditable_id"` // a string in webhooks, a number in REST
	Description    string            `json:"description"`
	AuditableURL   string            `json:"auditable_url"`
	Changes        []Change          `json:"changes"`
	Contributors   []json.RawMessage `json:"contributors,omitempty"` // REST only; element shape unknown
	AssociatedType string            `json:"associated_type,omitempty"`
	AssociatedID   FlexID            `json:"associated_id,omitempty"`
}

// WebhookPayload is the body of an Aha! activity webhook.
type WebhookPayload struct {
	Event string `json:"event"`
	Audit Audit  `json:"audit"`
}

// MaxWebhookBytes bounds the body ParseWebhook accepts.
const MaxWebhookBytes = 1 << 20

// webhookBody is what ParseWebhook decodes a body into, in one pass. Audit is
// a pointer so that a missing or null "audit" is told apart from an empty one;
// payload is the answer, allocated together with it.
type webhookBody struct {
	Event   string `json:"event"`
	Audit   *Audit `json:"audit"`
	payload WebhookPayload
}

// ParseWebhook decodes an activity-webhook body. Errors say what is wrong: empty body,
// malformed JSON (with the offset), not an object, missing "audit", missing audit.id,
// missing auditable_type or auditable_id, or a bad id.
//
// The body is decoded once, straight into the payload (the handler answers
// duplicate deliveries at load, so no intermediate maps and no second pass).
// As with any struct decode by encoding/json, the top-level keys "event" and
// "audit" match case-insensitively and a repeated "audit" object is merged
// into the first, as the fields inside the audit always were.
func ParseWebhook(b []byte) (*WebhookPayload, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("aha webhook: empty body")
	}
	if len(b) > MaxWebhookBytes {
		return nil, fmt.Errorf("aha webhook: body of %d bytes exceeds %d", len(b), MaxWebhookBytes)
	}
	w := new(webhookBody)
	if err := json.Unmarshal(b, w); err != nil {
		return nil, webhookDecodeError(err, w)
	}
	if w.Audit == nil {
		return nil, errors.New("aha webhook: missing \"audit\" object")
	}
	a := w.Audit
	if a.ID == "" {
		return nil, errors.New("aha webhook: missing audit.id")
	}
	if a.AuditableType == "" {
		return nil, errors.New("aha webhook: missing audit.auditable_type")
	}
	if a.AuditableID == "" {
		return nil, errors.New("aha webhook: missing audit.auditable_id")
	}
	// Ids become workflow ids and Redis keys: anything but an Aha! id is
	// refused here, not by Temporal after a Redis claim.
	if !ValidID(a.ID.String()) {
		return nil, fmt.Errorf("aha webhook: audit.id %s is not an Aha! id (an integer)", shortQuote(a.ID.String()))
	}
	if !ValidID(a.AuditableID.String()) {
		return nil, fmt.Errorf("aha webhook: audit.auditable_id %s is not an Aha! id (an integer)", shortQuote(a.AuditableID.String()))
	}
	w.payload = WebhookPayload{Event: w.Event, Audit: *a}
	return &w.payload, nil
}

// maxIDDigits bounds an Aha! id: a 64-bit integer has at most 20 digits.
const maxIDDigits = 20

// ValidID reports whether s is an Aha! record or audit id: a non-negative
// decimal integer of at most 20 digits (aha.md: ids are 64-bit integers).
func ValidID(s string) bool {
	if s == "" || len(s) > maxIDDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidReference reports whether s is an Aha! reference number: a product
// prefix, an optional record letter and a number (PRJ1-I-10, DEMO-28,
// PRJ1-E-3, PRJ1-28-1 for a requirement).
func ValidReference(s string) bool {
	parts := strings.Split(s, "-")
	if len(s) > 64 || len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'A' && c <= 'Z' && i < len(parts)-1:
			default:
				return false
			}
		}
	}
	return parts[0][0] >= 'A' && parts[0][0] <= 'Z'
}

// shortQuote quotes at most 40 bytes of s for an error message.
func shortQuote(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", s[:40], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// webhookDecodeError names what json.Unmarshal found wrong in a webhook body.
// When several things are wrong, a missing "audit" is reported first, then the
// first wrong type in the body's order.
func webhookDecodeError(err error, w *webhookBody) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("aha webhook: malformed JSON at byte %d: %w", se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		switch field := te.Field; {
		case field == "":
			return fmt.Errorf("aha webhook: body is a JSON %s, not an object", te.Value)
		case field == "audit":
			return fmt.Errorf("aha webhook: \"audit\" is not an object (JSON %s)", te.Value)
		case w.Audit == nil:
			return errors.New("aha webhook: missing \"audit\" object")
		case field == "event":
			return fmt.Errorf("aha webhook: \"event\" is not a string (JSON %s)", te.Value)
		case strings.HasPrefix(field, "audit."):
			return fmt.Errorf("aha webhook: audit.%s has the wrong type (JSON %s)", strings.TrimPrefix(field, "audit."), te.Value)
		}
	}
	// An id or change value the audit's own decoders refused.
	return fmt.Errorf("aha webhook: audit: %w", err)
}

// NormalizeAuditableType maps the REST audit form of a type (a Rails class name such as
// "Ideas::IdeaUser" or "Feature") to the webhook form ("ideas/idea_user", "feature").
// Webhook-form input is returned lower-cased.
func NormalizeAuditableType(t string) string {
	if isWebhookForm(t) {
		return t
	}
	parts := strings.Split(t, "::")
	for i, p := range parts {
		var b strings.Builder
		for j, c := range p {
			if c >= 'A' && c <= 'Z' {
				if j > 0 {
					b.WriteByte('_')
				}
				c += 'a' - 'A'
			}
			b.WriteRune(c)
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, "/")
}

// isWebhookForm reports whether t is already in webhook form: ASCII without
// capitals or "::", which NormalizeAuditableType returns unchanged.
func isWebhookForm(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c >= utf8.RuneSelf || (c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return !strings.Contains(t, "::")
}
