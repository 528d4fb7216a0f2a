package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/contract"
)

// TestWebhookAnswers posts the payloads issue 4 item 1 names to the real
// starter over HTTP and checks each answer (status code and JSON), then that
// the accepted ones reached their record's workflow exactly once.
func TestWebhookAnswers(t *testing.T) {
	e := startStack(t, nil)
	sim := e.stack.AhaSim
	// The simulator would post its own webhooks for the ideas made here; this
	// test sends every payload itself.
	sim.SetWebhook(e.webhookURL(e.token), true)
	idea, err := sim.CreateIdea("PRJ1", map[string]any{"name": "Webhook answers", "custom_fields": map[string]any{"severity": "P2"}})
	require.NoError(t, err)
	other, err := sim.CreateIdea("PRJ1", map[string]any{"name": "Webhook answers 2"})
	require.NoError(t, err)
	wfID := contract.AhaRecordWorkflowID("idea", idea.ID)
	otherWF := contract.AhaRecordWorkflowID("idea", other.ID)

	audit := func(id, typ, auditableID, user, changes string) []byte {
		return []byte(fmt.Sprintf(`{"event":"audit","audit":{"id":%s,"audit_action":"update","created_at":"2024-05-01T10:00:00.000Z",`+
			`"interesting":true,"user":%s,"auditable_type":%q,"auditable_id":%s,"description":"updated idea",`+
			`"auditable_url":"https://example.aha.io/ideas/ideas/X","changes":%s}}`, id, user, typ, auditableID, changes))
	}
	pm := `{"id":"6514078897796815681","name":"Product Manager","email":"pm@example.com"}`
	str := func(s string) string { return `"` + s + `"` }
	big := bytes.Repeat([]byte("x"), 2<<20)
	bigBody := append(append([]byte(`{"event":"audit","audit":{"id":"9000000000000000009","auditable_type":"ideas/idea","auditable_id":"1","description":"`), big...), []byte(`"}}`)...)

	cases := []struct {
		name       string
		token      string // "" = the valid one
		path       string // overrides the URL path
		body       []byte
		code       int
		status     string // JSON "status"
		workflowID string
		contains   string // in the error or reason
	}{
		{name: "malformed JSON", body: []byte(`{"event":"audit","audit":{"id":"1",`), code: 400, status: "error", contains: "malformed JSON"},
		{name: "not an object", body: []byte(`[1,2]`), code: 400, status: "error", contains: "not an object"},
		{name: "no audit id", body: []byte(`{"event":"audit","audit":{"auditable_type":"ideas/idea","auditable_id":"1"}}`), code: 400, status: "error", contains: "id"},
		{name: "2 MiB body", body: bigBody, code: 413},
		{name: "wrong token", token: "not-the-token", body: audit(str("7000000000000000001"), "ideas/idea", str(idea.ID), pm, "[]"), code: 404, status: "error"},
		{name: "missing token", path: "/webhooks/aha", body: audit(str("7000000000000000001"), "ideas/idea", str(idea.ID), pm, "[]"), code: 404, status: "error"},
		{name: "unknown auditable_type", body: audit(str("7000000000000000002"), "ideas/idea_endorsement", str(idea.ID), pm, "[]"), code: 202, status: "ignored", contains: "ideas/idea_endorsement"},
		{name: "unrouted note", body: audit(str("7000000000000000003"), "note", str("6000000000000000001"), pm, "[]"), code: 202, status: "ignored", contains: "note"},
		{name: "string ids", body: audit(str("7000000000000000004"), "ideas/idea", str(idea.ID), pm,
			`[{"field_name":"Name","value":"<span class=\"inserted\">Webhook answers</span>"}]`), code: 202, status: "accepted", workflowID: wfID},
		{name: "numeric auditable_id and audit id", body: audit("7000000000000000005", "ideas/idea", idea.ID, pm, "[]"), code: 202, status: "accepted", workflowID: wfID},
		{name: "integer change value", body: audit(str("7000000000000000006"), "ideas/idea", str(idea.ID), pm,
			`[{"field_name":"Initial votes","value":3}]`), code: 202, status: "accepted", workflowID: wfID},
		{name: "null user", body: audit(str("7000000000000000007"), "ideas/idea", str(other.ID), "null",
			`[{"field_name":"Workflow status","value":"New &rarr; Under consideration"}]`), code: 202, status: "accepted", workflowID: otherWF},
		{name: "duplicate delivery", body: audit(str("7000000000000000004"), "ideas/idea", str(idea.ID), pm, "[]"), code: 200, status: "duplicate", workflowID: wfID},
		{name: "duplicate with numeric ids", body: audit("7000000000000000007", "ideas/idea", other.ID, "null", "[]"), code: 200, status: "duplicate", workflowID: otherWF},
		{name: "non-audit event", body: []byte(`{"event":"ping","audit":{"id":"7000000000000000008","auditable_type":"ideas/idea","auditable_id":"1"}}`), code: 202, status: "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := e.webhookURL(e.token)
			if tc.token != "" {
				u = e.webhookURL(tc.token)
			}
			if tc.path != "" {
				u = e.stack.HTTPURL + tc.path
			}
			start := time.Now()
			var ans answer
			if len(tc.body) > 1<<20 {
				// net/http may report the reset of a connection the server
				// closed after answering 413, instead of the answer.
				ans.Code, ans.Body = postRaw(t, u, tc.body)
			} else {
				var err error
				ans, err = e.postTo(u, tc.body)
				require.NoError(t, err)
			}
			assert.Less(t, time.Since(start), 5*time.Second, "Aha! allows 5 s")
			require.Equal(t, tc.code, ans.Code, "body: %.300s", ans.Body)
			assert.Contains(t, ans.Body, "{", "answers are JSON")
			if tc.status != "" {
				assert.Equal(t, tc.status, ans.Status, ans.Body)
			}
			if tc.workflowID != "" {
				assert.Equal(t, tc.workflowID, ans.WorkflowID, ans.Body)
			}
			if tc.contains != "" {
				assert.Contains(t, ans.Error+ans.Reason, tc.contains, ans.Body)
			}
			if tc.code == http.StatusNotFound {
				assert.NotContains(t, ans.Body, e.token)
			}
		})
	}

	// The four accepted audits reached their workflows once each; the two
	// duplicates never did; nothing was made for the ignored ones.
	states := e.waitQuiet(2, false, 60*time.Second)
	require.Len(t, states, 2, "only the two ideas have workflows")
	assert.Equal(t, 3, states[wfID].Events, "%+v", states[wfID])
	assert.Equal(t, 1, states[otherWF].Events, "%+v", states[otherWF])
	assert.Zero(t, states[wfID].Duplicates+states[otherWF].Duplicates, "Redis answered the duplicates")
	byRef := feedbackByRef(e.stack.CCSim)
	assert.Len(t, byRef[idea.ReferenceNum], 1)
	assert.Len(t, byRef[other.ReferenceNum], 1)
	assert.Equal(t, 2, e.stack.CCSim.Inspect(true).FeedbackCount)

	// Accepted audits are remembered in Redis as done; rejected and ignored
	// ones are not marked at all.
	ctx := context.Background()
	for _, id := range []string{"7000000000000000004", "7000000000000000005", "7000000000000000006", "7000000000000000007"} {
		v, err := e.rdb.Get(ctx, "ahacc:seen:aha:"+id).Result()
		require.NoError(t, err, id)
		assert.Equal(t, "done", v, id)
	}
	for _, id := range []string{"7000000000000000001", "7000000000000000002", "7000000000000000003", "7000000000000000008"} {
		n, err := e.rdb.Exists(ctx, "ahacc:seen:aha:"+id).Result()
		require.NoError(t, err)
		assert.Zero(t, n, "audit %s must not be marked as seen", id)
	}

	// Nothing in the logs carries the token.
	logs := readFile(t, e.logPath)
	assert.NotContains(t, logs, e.token, "the webhook token never reaches a log line")
	assert.True(t, strings.Contains(logs, "remote_addr"), "a wrong token logs the source address")
	t.Logf("webhook answers: %d cases; workflows %d; feedback %d", len(cases), len(states), e.stack.CCSim.Inspect(true).FeedbackCount)
}
