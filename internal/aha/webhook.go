package aha

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("aha id: %w", err)
		}
		*id = FlexID(strings.TrimSpace(s))
		return nil
	}
	s := string(b)
	if s == "" {
		return errors.New("aha id: empty")
	}
	for i, c := range s {
		if c < '0' || c > '9' {
			if i == 0 && c == '-' && len(s) > 1 {
				continue
			}
			return fmt.Errorf("aha id: %q is not an integer", s)
		}
	}
	*id = FlexID(s)
	return nil
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
		return json.Unmarshal(b, &v.String)
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		v.Int = &n
		v.String = string(b)
		return nil
	}
	// Floats, objects, arrays: keep the raw text.
	v.String = string(b)
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

// ParseWebhook decodes an activity-webhook body. Errors say what is wrong: empty body,
// malformed JSON (with the offset), not an object, missing "audit", missing audit.id,
// missing auditable_type or auditable_id, or a bad id.
func ParseWebhook(b []byte) (*WebhookPayload, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("aha webhook: empty body")
	}
	if len(b) > MaxWebhookBytes {
		return nil, fmt.Errorf("aha webhook: body of %d bytes exceeds %d", len(b), MaxWebhookBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("aha webhook: malformed JSON at byte %d: %w", se.Offset, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("aha webhook: body is a JSON %s, not an object", te.Value)
		}
		return nil, fmt.Errorf("aha webhook: malformed JSON: %w", err)
	}
	rawAudit, ok := top["audit"]
	if !ok || bytes.Equal(bytes.TrimSpace(rawAudit), []byte("null")) {
		return nil, errors.New("aha webhook: missing \"audit\" object")
	}
	var p WebhookPayload
	if ev, ok := top["event"]; ok {
		if err := json.Unmarshal(ev, &p.Event); err != nil {
			return nil, fmt.Errorf("aha webhook: \"event\" is not a string: %w", err)
		}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(rawAudit, &fields); err != nil {
		return nil, fmt.Errorf("aha webhook: \"audit\" is not an object: %w", err)
	}
	if err := json.Unmarshal(rawAudit, &p.Audit); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("aha webhook: audit.%s has the wrong type (JSON %s)", te.Field, te.Value)
		}
		return nil, fmt.Errorf("aha webhook: audit: %w", err)
	}
	if p.Audit.ID == "" {
		return nil, errors.New("aha webhook: missing audit.id")
	}
	if p.Audit.AuditableType == "" {
		return nil, errors.New("aha webhook: missing audit.auditable_type")
	}
	if p.Audit.AuditableID == "" {
		return nil, errors.New("aha webhook: missing audit.auditable_id")
	}
	return &p, nil
}

// NormalizeAuditableType maps the REST audit form of a type (a Rails class name such as
// "Ideas::IdeaUser" or "Feature") to the webhook form ("ideas/idea_user", "feature").
// Webhook-form input is returned lower-cased.
func NormalizeAuditableType(t string) string {
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
