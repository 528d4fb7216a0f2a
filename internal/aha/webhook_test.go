package aha

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const docPayload = `{"event": "audit",
 "audit": {
   "id": "6543581008138760991",
   "audit_action": "update",
   "created_at": "2018-04-12T15:16:17.922Z",
   "interesting": true,
   "user": {"id": "6514078897796815681", "name": "Product Manager", "email": "pm@example.com",
            "created_at": "2018-01-01T00:00:00Z", "updated_at": "2018-01-01T00:00:00Z"},
   "auditable_type": "feature",
   "auditable_id": "6514078362261846610",
   "description": "updated feature DEMO-28 Language options",
   "auditable_url": "https://example.aha.io/features/DEMO-28",
   "changes": [{"field_name": "Workflow status",
                "value": "Under consideration &rarr; Ready to develop"},
               {"field_name": "Votes", "value": 12}]}}`

func TestParseWebhookDocumentedPayload(t *testing.T) {
	p, err := ParseWebhook([]byte(docPayload))
	require.NoError(t, err)
	assert.Equal(t, "audit", p.Event)
	a := p.Audit
	assert.Equal(t, FlexID("6543581008138760991"), a.ID)
	assert.Equal(t, "update", a.AuditAction)
	assert.Equal(t, FlexID("6514078362261846610"), a.AuditableID)
	require.NotNil(t, a.User)
	assert.Equal(t, "pm@example.com", a.User.Email)
	require.Len(t, a.Changes, 2)
	assert.Equal(t, "Under consideration &rarr; Ready to develop", a.Changes[0].Value.String)
	assert.Nil(t, a.Changes[0].Value.Int)
	require.NotNil(t, a.Changes[1].Value.Int)
	assert.EqualValues(t, 12, *a.Changes[1].Value.Int)
}

func TestParseWebhookVariants(t *testing.T) {
	// Numeric ids (REST form), null user, REST-only fields.
	p, err := ParseWebhook([]byte(`{"event":"audit","audit":{"id":6543581008138760991,"audit_action":"create","user":null,
		"auditable_type":"ideas/idea","auditable_id":6514078362261846610,"changes":[],"contributors":[],"associated_type":"Ideas::Idea","associated_id":6514078362261846610}}`))
	require.NoError(t, err)
	assert.Equal(t, FlexID("6543581008138760991"), p.Audit.ID, "no float64 rounding")
	assert.Equal(t, FlexID("6514078362261846610"), p.Audit.AuditableID)
	assert.Nil(t, p.Audit.User)
	assert.Equal(t, FlexID("6514078362261846610"), p.Audit.AssociatedID)

	// One struct decode: top-level keys match case-insensitively, as the
	// audit's fields always did.
	p, err = ParseWebhook([]byte(`{"Event":"audit","AUDIT":{"id":"1","auditable_type":"feature","auditable_id":"2"}}`))
	require.NoError(t, err)
	assert.Equal(t, "audit", p.Event)
	assert.Equal(t, FlexID("1"), p.Audit.ID)
}

func TestParseWebhookEscapedStrings(t *testing.T) {
	// Rails escapes HTML in JSON; escaped and invalid-UTF-8 strings take the
	// decoder's own path, plain ones are copied.
	p, err := ParseWebhook([]byte(`{"audit":{"id":" 12 ","auditable_type":"ideas\/idea","auditable_id":"\u0034\u0032",` +
		`"description":"a \u0026rarr; b","changes":[{"field_name":"Name","value":"<span class=\"deleted\">x</span>"}]}}`))
	require.NoError(t, err)
	assert.Equal(t, FlexID("12"), p.Audit.ID)
	assert.Equal(t, "ideas/idea", p.Audit.AuditableType)
	assert.Equal(t, FlexID("42"), p.Audit.AuditableID)
	assert.Equal(t, "a &rarr; b", p.Audit.Description)
	assert.Equal(t, `<span class="deleted">x</span>`, p.Audit.Changes[0].Value.String)
	var v ChangeValue
	require.NoError(t, json.Unmarshal([]byte("\"\xff\""), &v))
	assert.Equal(t, "\ufffd", v.String, "invalid UTF-8 is replaced, as json.Unmarshal does")
}

func TestParseWebhookErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", ``, "aha webhook: empty body"},
		{"malformed", `{"event":`, "aha webhook: malformed JSON"},
		{"array", `[1,2]`, "aha webhook: body is a JSON array, not an object"},
		{"no audit", `{"event":"audit"}`, `aha webhook: missing "audit" object`},
		{"null audit", `{"event":"audit","audit":null}`, `aha webhook: missing "audit" object`},
		{"audit not object", `{"audit":"x"}`, `aha webhook: "audit" is not an object (JSON string)`},
		{"event not string", `{"event":5,"audit":{"id":"1","auditable_type":"feature","auditable_id":"1"}}`, `aha webhook: "event" is not a string (JSON number)`},
		{"event wrong, audit missing", `{"event":5}`, `aha webhook: missing "audit" object`},
		{"missing id", `{"audit":{"auditable_type":"feature","auditable_id":"1"}}`, "aha webhook: missing audit.id"},
		{"float id", `{"audit":{"id":1.5,"auditable_type":"feature","auditable_id":"1"}}`, "aha webhook: audit"},
		{"missing type", `{"audit":{"id":"1","auditable_id":"1"}}`, "aha webhook: missing audit.auditable_type"},
		{"missing auditable id", `{"audit":{"id":"1","auditable_type":"feature"}}`, "aha webhook: missing audit.auditable_id"},
		{"user wrong type", `{"audit":{"id":"1","auditable_type":"feature","auditable_id":"1","user":"bob"}}`, "aha webhook: audit.user has the wrong type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseWebhook([]byte(tc.body))
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFlexIDAndChangeValueRoundTrip(t *testing.T) {
	var v struct {
		A FlexID      `json:"a"`
		B FlexID      `json:"b"`
		C ChangeValue `json:"c"`
		D ChangeValue `json:"d"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"a":"12","b":9223372036854775807,"c":5,"d":"x &rarr; y"}`), &v))
	assert.Equal(t, FlexID("9223372036854775807"), v.B)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":"12","b":"9223372036854775807","c":5,"d":"x &rarr; y"}`, string(b))
	var id FlexID
	assert.Error(t, json.Unmarshal([]byte(`1e3`), &id))
	assert.Error(t, json.Unmarshal([]byte(`true`), &id))
}

func TestNormalizeAuditableType(t *testing.T) {
	for in, want := range map[string]string{"Feature": "feature", "Ideas::Idea": "ideas/idea", "Ideas::IdeaUser": "ideas/idea_user",
		"Ideas::IdeaOrganization": "ideas/idea_organization", "Note": "note", "ideas/idea": "ideas/idea", "feature": "feature"} {
		assert.Equal(t, want, NormalizeAuditableType(in), in)
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(docPayload))
	f.Add([]byte(`{"audit":{"id":1,"auditable_type":"x","auditable_id":2,"changes":[{"field_name":"a","value":1}]}}`))
	f.Add([]byte(`{"audit":{"id":"1","user":null}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"audit":{"id":"1","auditable_type":"x","auditable_id":"2","changes":[{"value":{"a":[1]}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseWebhook(b)
		if err != nil {
			if p != nil {
				t.Fatal("payload with error")
			}
			return
		}
		if p.Audit.ID == "" || p.Audit.AuditableType == "" || p.Audit.AuditableID == "" {
			t.Fatalf("accepted payload without required fields: %q", b)
		}
		// What was accepted re-encodes and parses again to the same ids.
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q, err := ParseWebhook(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if q.Audit.ID != p.Audit.ID || q.Audit.AuditableID != p.Audit.AuditableID {
			t.Fatalf("ids changed: %v vs %v", p.Audit, q.Audit)
		}
	})
}
