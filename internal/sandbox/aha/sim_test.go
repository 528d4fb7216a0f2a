package aha

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuth(t *testing.T) {
	s := startSim(t, Options{APIKey: "right"})
	tests := []struct {
		name, key string
		want      int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "wrong", http.StatusForbidden},
		{"right", "right", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, tc.key, "GET", "/api/v1/ideas/PRJ1-I-1", nil)
			assert.Equal(t, tc.want, r.status)
			assert.NotContains(t, string(r.body), "right", "the key never appears in a body")
			if tc.want != http.StatusOK {
				assert.NotEmpty(t, r.json(t)["error"])
			}
		})
	}
	// Inspection endpoints need no auth.
	r := call(t, s, "", "GET", "/__sim/state", nil)
	assert.Equal(t, http.StatusOK, r.status)
}

func TestNotFoundAndValidation(t *testing.T) {
	s := startSim(t, Options{})
	for _, p := range []string{"/ideas/PRJ1-I-999", "/ideas/123", "/features/PRJ1-999", "/idea_users/1", "/idea_organizations/1",
		"/idea_portals/1/portal_users", "/products/NOPE/ideas", "/nothing/here"} {
		r := api(t, s, "GET", p, nil)
		assert.Equal(t, http.StatusNotFound, r.status, p)
		assert.NotEmpty(t, r.json(t)["error"], p)
	}
	r := api(t, s, "POST", "/products/PRJ1/ideas", map[string]any{"idea": map[string]any{"description": "no name"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Equal(t, "Validation failed: Name can't be blank", r.json(t)["errors"].(map[string]any)["message"])
	r = api(t, s, "PUT", "/ideas/PRJ1-I-1", map[string]any{"idea": map[string]any{"workflow_status": "Bogus"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	r = api(t, s, "POST", "/products/PRJ1/ideas", "not an object")
	assert.Equal(t, http.StatusBadRequest, r.status)
	r = api(t, s, "GET", "/ideas?page=0", nil)
	assert.Equal(t, http.StatusBadRequest, r.status)
}

func TestPagination(t *testing.T) {
	s := startSim(t, Options{RatePerSecond: -1})
	seen := map[string]bool{}
	for pg := 1; pg <= 3; pg++ {
		m := api(t, s, "GET", "/ideas?per_page=5&page="+strconv.Itoa(pg), nil).json(t)
		pag := m["pagination"].(map[string]any)
		assert.Equal(t, json.Number("13"), pag["total_records"])
		assert.Equal(t, json.Number("3"), pag["total_pages"])
		assert.Equal(t, json.Number(strconv.Itoa(pg)), pag["current_page"])
		for _, it := range m["ideas"].([]any) {
			seen[it.(map[string]any)["reference_num"].(string)] = true
		}
	}
	assert.Len(t, seen, 13)
	m := api(t, s, "GET", "/ideas?page=9", nil).json(t)
	assert.Empty(t, m["ideas"])
	// per_page is capped at 200.
	s.BulkPeople(250, 5)
	m = api(t, s, "GET", "/idea_users?per_page=500", nil).json(t)
	assert.Len(t, m["idea_users"], MaxPerPage)
	assert.Equal(t, json.Number("2"), m["pagination"].(map[string]any)["total_pages"])
	// Product filter and updated_since.
	m = api(t, s, "GET", "/products/PRJ2/ideas", nil).json(t)
	assert.Equal(t, json.Number("3"), m["pagination"].(map[string]any)["total_records"])
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	m = api(t, s, "GET", "/ideas?updated_since="+future, nil).json(t)
	assert.Empty(t, m["ideas"])
	// Email filter.
	m = api(t, s, "GET", "/idea_users?email=JOHN@long.com", nil).json(t)
	require.Len(t, m["idea_users"], 1)
	orgs := m["idea_users"].([]any)[0].(map[string]any)["idea_organizations"].([]any)
	assert.Equal(t, "Acme", orgs[0].(map[string]any)["name"])
}

func TestRateLimitBurst(t *testing.T) {
	s := startSim(t, Options{})
	var mu sync.Mutex
	codes := map[int]int{}
	var limited []resp
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := api(t, s, "GET", "/ideas/PRJ1-I-1", nil)
			mu.Lock()
			codes[r.status]++
			if r.status == http.StatusTooManyRequests {
				limited = append(limited, r)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, 20, codes[http.StatusOK], "%v", codes)
	assert.Equal(t, 30, codes[http.StatusTooManyRequests], "%v", codes)
	for _, r := range limited {
		assert.Equal(t, "20", r.header.Get("X-Ratelimit-Limit"))
		assert.Equal(t, "0", r.header.Get("X-Ratelimit-Remaining"))
		assert.Equal(t, "1", r.header.Get("X-Ratelimit-Reset"))
		assert.Equal(t, "1", r.header.Get("Retry-After"))
	}
	assert.EqualValues(t, 30, s.RequestStats().RateLimited)
	// Through the control endpoint: raise the limit, and requests pass again.
	r := call(t, s, "", "PUT", "/__sim/rate_limits", map[string]int{"per_second": 1000, "per_minute": 1000})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, http.StatusOK, api(t, s, "GET", "/ideas/PRJ1-I-1", nil).status)
	rs := call(t, s, "", "GET", "/__sim/requests", nil).json(t)
	assert.Equal(t, json.Number("30"), rs["rate_limited"])
	assert.Equal(t, json.Number("21"), rs["by_route"].(map[string]any)["GET /api/v1/ideas/{id}"].(map[string]any)["200"])
}

func TestRateLimitPerMinute(t *testing.T) {
	s := startSim(t, Options{RatePerSecond: -1, RatePerMinute: 5})
	for i := 0; i < 5; i++ {
		require.Equal(t, http.StatusOK, api(t, s, "GET", "/ideas/PRJ1-I-1", nil).status)
	}
	r := api(t, s, "GET", "/ideas/PRJ1-I-1", nil)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "5", r.header.Get("X-Ratelimit-Limit"))
	ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
	assert.InDelta(t, 60, ra, 2)
}

func TestFaultInjectionRates(t *testing.T) {
	s := startSim(t, Options{RatePerSecond: -1, RatePerMinute: -1})
	r := call(t, s, "", "PUT", "/__sim/faults", map[string]any{"error_rate": 0.3, "seed": 11})
	require.Equal(t, http.StatusOK, r.status)
	codes := map[int]int{}
	for i := 0; i < 300; i++ {
		codes[api(t, s, "GET", "/ideas/PRJ1-I-1", nil).status]++
	}
	failed := 300 - codes[http.StatusOK]
	assert.InDelta(t, 90, failed, 30, "%v", codes)
	for c := range codes {
		assert.Contains(t, []int{200, 500, 502, 503, 504}, c)
	}
	assert.EqualValues(t, failed, s.Injector().Stats().Errors)
	// Latency.
	s.SetFaults(simkit.Faults{Latency: 100 * time.Millisecond})
	start := time.Now()
	api(t, s, "GET", "/ideas/PRJ1-I-1", nil)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestCommitThenTimeout(t *testing.T) {
	s := startSim(t, Options{Faults: simkit.Faults{CommitTimeoutRate: 1, CommitTimeoutDelay: 200 * time.Millisecond}})
	before := s.Counts().Ideas
	req, _ := http.NewRequest("POST", s.URL()+"/api/v1/products/PRJ1/ideas", strings.NewReader(`{"idea":{"name":"Ambiguous"}}`))
	req.Header.Set("Authorization", "Bearer "+s.APIKey())
	c := &http.Client{Timeout: 5 * time.Second}
	_, err := c.Do(req)
	require.Error(t, err, "no answer")
	assert.Equal(t, before+1, s.Counts().Ideas, "the idea was committed")
	// Reads are answered.
	assert.Equal(t, http.StatusOK, api(t, s, "GET", "/ideas?q=Ambiguous", nil).status)
	assert.EqualValues(t, 1, s.Injector().Stats().CommitTimeouts)
	require.Eventually(t, func() bool { return s.RequestStats().ByStatus["0"] == 1 }, 2*time.Second, 10*time.Millisecond)
}

type hookSink struct {
	mu     sync.Mutex
	bodies [][]byte
	ct     []string
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.ct = append(h.ct, r.Header.Get("Content-Type"))
	h.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (h *hookSink) got() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

func TestWebhookEmission(t *testing.T) {
	sink := &hookSink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	s := startSim(t, Options{WebhookURL: hs.URL + "/webhooks/aha/secret-token"})
	require.Empty(t, sink.got(), "the seed sends no webhooks")

	// Through the API (user set) and through Go (user null).
	r := api(t, s, "PUT", "/features/PRJ1-1", map[string]any{"feature": map[string]any{"workflow_status": "In development"}})
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, s.UpdateIdea("PRJ1-I-2", map[string]any{"initial_votes": json.Number("20")}))
	require.NoError(t, s.UpdateIdea("PRJ1-I-2", map[string]any{"description": "<p>new text</p>"}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.WaitWebhooks(ctx))

	bodies := sink.got()
	require.Len(t, bodies, 3)
	assert.Equal(t, "application/json", sink.ct[0])
	var p struct {
		Event string                     `json:"event"`
		Audit map[string]json.RawMessage `json:"audit"`
	}
	require.NoError(t, json.Unmarshal(bodies[0], &p))
	assert.Equal(t, "audit", p.Event)
	keys := []string{}
	for k := range p.Audit {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"id", "audit_action", "created_at", "interesting", "user", "auditable_type", "auditable_id",
		"description", "auditable_url", "changes"}, keys, "exactly the aha.md §1 shape")
	var a struct {
		ID, AuditAction, AuditableType, AuditableID, AuditableURL, Description string
		User                                                                   map[string]any
		Changes                                                                []struct {
			FieldName string `json:"field_name"`
			Value     any    `json:"value"`
		}
	}
	dec := func(b []byte) {
		var w struct{ Audit json.RawMessage }
		require.NoError(t, json.Unmarshal(b, &w))
		var m map[string]any
		require.NoError(t, json.Unmarshal(w.Audit, &m))
		a.ID, _ = m["id"].(string)
		a.AuditableID, _ = m["auditable_id"].(string)
		a.AuditAction, _ = m["audit_action"].(string)
		a.AuditableType, _ = m["auditable_type"].(string)
		a.AuditableURL, _ = m["auditable_url"].(string)
		a.User, _ = m["user"].(map[string]any)
		a.Changes = nil
		for _, c := range m["changes"].([]any) {
			cm := c.(map[string]any)
			a.Changes = append(a.Changes, struct {
				FieldName string `json:"field_name"`
				Value     any    `json:"value"`
			}{cm["field_name"].(string), cm["value"]})
		}
	}
	dec(bodies[0])
	assert.Len(t, a.ID, 19, "string ids")
	assert.Len(t, a.AuditableID, 19)
	assert.Equal(t, "update", a.AuditAction)
	assert.Equal(t, "feature", a.AuditableType)
	assert.Equal(t, s.URL()+"/features/PRJ1-1", a.AuditableURL)
	assert.Equal(t, "ahacc Integration", a.User["name"])
	require.Len(t, a.Changes, 1, "only the changed field")
	assert.Equal(t, "Workflow status", a.Changes[0].FieldName)
	assert.Equal(t, "Ready to develop &rarr; In development", a.Changes[0].Value)

	dec(bodies[1])
	assert.Equal(t, "ideas/idea", a.AuditableType)
	assert.Nil(t, a.User, "Go-method changes are system changes (user null)")
	assert.Equal(t, float64(20), a.Changes[0].Value, "an integer change value")
	assert.Contains(t, string(bodies[1]), `"user":null`)

	dec(bodies[2])
	assert.Equal(t, "note", a.AuditableType, "description edits are audited on the note")
	assert.Equal(t, s.URL()+"/ideas/ideas/PRJ1-I-2", a.AuditableURL, "the note's URL points at the owning record")

	d := s.Deliveries()
	require.Len(t, d, 3)
	assert.Equal(t, http.StatusAccepted, d[0].Status)
	assert.NotContains(t, d[0].Target, "secret-token")
	// In order: ids increase.
	assert.True(t, idLess(d[0].AuditID, d[1].AuditID) && idLess(d[1].AuditID, d[2].AuditID))

	// Suppressed: audits are recorded, nothing is delivered.
	s.SetWebhook(hs.URL+"/webhooks/aha/secret-token", true)
	_, err := s.CreateIdeaUser(map[string]any{"email": "lost@example.com", "name": "Lost Hook"})
	require.NoError(t, err)
	require.NoError(t, s.WaitWebhooks(ctx))
	assert.Len(t, sink.got(), 3)
	d = s.Deliveries()
	require.Len(t, d, 4)
	assert.True(t, d[3].Suppressed)
	last := s.Audits()[len(s.Audits())-1]
	assert.Equal(t, "Ideas::IdeaUser", last["auditable_type"])
	// The lost payload can be recovered in webhook form.
	pl := s.WebhookPayloads(d[2].AuditID)
	require.Len(t, pl, 1)
	assert.Contains(t, string(pl[0]), `"auditable_type":"ideas/idea_user"`)
}

func TestAuditsPagingAfterID(t *testing.T) {
	s := startSim(t, Options{RatePerSecond: -1})
	total := s.Counts().Audits
	require.Greater(t, total, 30)
	var ids []string
	after := ""
	for i := 0; i < 100; i++ {
		q := "/audits?per_page=7"
		if after != "" {
			q += "&after_id=" + after
		}
		m := api(t, s, "GET", q, nil).json(t)
		list := m["audits"].([]any)
		if len(list) == 0 {
			break
		}
		for _, a := range list {
			am := a.(map[string]any)
			_, isNum := am["auditable_id"].(json.Number)
			require.True(t, isNum, "REST auditable_id is a number")
			ids = append(ids, am["id"].(string))
		}
		after = ids[len(ids)-1]
	}
	assert.Len(t, ids, total)
	for i := 1; i < len(ids); i++ {
		assert.True(t, idLess(ids[i-1], ids[i]))
	}
	// New changes show up after the cursor.
	require.NoError(t, s.UpdateOrganization(s.Audits()[0]["auditable_id"].(json.Number).String(), map[string]any{"revenue": "60000"}))
	m := api(t, s, "GET", "/audits?after_id="+after, nil).json(t)
	require.Len(t, m["audits"], 1)
	a := m["audits"].([]any)[0].(map[string]any)
	assert.Equal(t, "Ideas::IdeaOrganization", a["auditable_type"])
	assert.Equal(t, "<span class=\"deleted\">55000.0</span><span class=\"inserted\">60000.0</span>",
		a["changes"].([]any)[0].(map[string]any)["value"])
	// Filters.
	m = api(t, s, "GET", "/audits?auditable_type=ideas/idea&per_page=200", nil).json(t)
	assert.Equal(t, json.Number("14"), m["pagination"].(map[string]any)["total_records"], "13 creates + the integration field set on PRJ1-I-1")
	m = api(t, s, "GET", "/audits?created_since="+time.Now().Add(time.Minute).UTC().Format(time.RFC3339), nil).json(t)
	assert.Empty(t, m["audits"])
}

func TestIdeaLifecycleAndIntegrationFields(t *testing.T) {
	s := startSim(t, Options{})
	r := api(t, s, "POST", "/products/PRJ1/ideas", map[string]any{"idea": map[string]any{"name": "From Centercode",
		"description": "<p>x</p>", "created_by": "newbie@example.com", "custom_fields": map[string]any{"centercode_feedback_id": "F-1"}}})
	require.Equal(t, http.StatusOK, r.status)
	idea := r.json(t)["idea"].(map[string]any)
	assert.Equal(t, "PRJ1-I-11", idea["reference_num"])
	assert.Len(t, idea["id"], 19)
	assert.Equal(t, s.URL()+"/ideas/ideas/PRJ1-I-11", idea["url"])
	assert.Equal(t, "newbie@example.com", idea["created_by_idea_user"].(map[string]any)["email"])

	// As strict as Aha!: an integration the workspace does not have is refused.
	for _, bad := range []string{"777", "centercode", CentercodeIntegrationIDPRJ2} {
		r = api(t, s, "POST", "/ideas/PRJ1-I-11/integrations/"+bad+"/fields", map[string]any{"integration_field": map[string]any{"name": "feedback_id", "value": "F-1"}})
		require.Equal(t, http.StatusNotFound, r.status, bad)
	}
	ints := api(t, s, "GET", "/products/PRJ1/integrations", nil).json(t)["integrations"].([]any)
	require.Len(t, ints, 2)
	r = api(t, s, "POST", "/ideas/PRJ1-I-11/integrations/"+CentercodeIntegrationID+"/fields", map[string]any{"integration_field": map[string]any{"name": "feedback_id", "value": "F-1"}})
	require.Equal(t, http.StatusOK, r.status)
	var ids []string
	require.NoError(t, json.Unmarshal(r.body, &ids))
	assert.Len(t, ids, 1)
	m := api(t, s, "GET", "/ideas/fields/feedback_id/value/F-1", nil).json(t)
	require.Len(t, m["records"], 1)
	assert.Equal(t, "PRJ1-I-11", m["records"].([]any)[0].(map[string]any)["reference_num"])
	m = api(t, s, "GET", "/ideas/fields/feedback_id/value/F-2", nil).json(t)
	assert.Empty(t, m["records"])

	r = api(t, s, "POST", "/ideas/PRJ1-I-11/comments", map[string]any{"comment": map[string]any{"body": "<p>hi</p>"}})
	require.Equal(t, http.StatusOK, r.status)
	m = api(t, s, "GET", "/ideas/PRJ1-I-11/comments", nil).json(t)
	assert.Len(t, m["comments"], 1)

	require.NoError(t, s.DeleteIdea("PRJ1-I-11"))
	assert.Equal(t, http.StatusNotFound, api(t, s, "GET", "/ideas/"+idea["id"].(string), nil).status)
	last := s.Audits()[len(s.Audits())-1]
	assert.Equal(t, "destroy", last["audit_action"])
}

func TestBulkPeopleIsQuick(t *testing.T) {
	s := New(Options{NoSeed: true})
	defer s.Close()
	start := time.Now()
	ids := s.BulkPeople(10000, 20)
	assert.Len(t, ids, 10000)
	assert.Less(t, time.Since(start), 10*time.Second)
	c := s.Counts()
	assert.Equal(t, 10000, c.IdeaUsers)
	assert.Equal(t, 20, c.IdeaOrganizations)
	assert.Equal(t, 0, c.PortalUsers, "no portal without the seed")
}

// What starter doctor reads: who the key is, workspaces, their workflows and
// integrations, the custom field definitions — and the simulator is as
// strict as Aha! about custom fields no definition names.
func TestAccountEndpointsAndCustomFieldStrictness(t *testing.T) {
	s := New(Options{APIKey: "k"})
	require.NoError(t, s.Start("127.0.0.1:0"))
	defer s.Close()
	me := api(t, s, "GET", "/me", nil).json(t)["user"].(map[string]any)
	assert.Equal(t, "ahacc Integration", me["name"])
	assert.NotEmpty(t, me["product_roles"])
	assert.Equal(t, "PRJ1", api(t, s, "GET", "/products/PRJ1", nil).json(t)["product"].(map[string]any)["reference_prefix"])
	assert.Equal(t, http.StatusNotFound, api(t, s, "GET", "/products/NOPE", nil).status)
	wfs := api(t, s, "GET", "/products/PRJ1/workflows", nil).json(t)["workflows"].([]any)
	require.Len(t, wfs, 2)
	assert.Equal(t, "Idea", wfs[0].(map[string]any)["statusable_type"])
	defs := api(t, s, "GET", "/custom_field_definitions", nil).json(t)["custom_field_definitions"].([]any)
	assert.NotEmpty(t, defs)

	r := api(t, s, "POST", "/products/PRJ1/ideas", map[string]any{"idea": map[string]any{"name": "x", "custom_fields": map[string]any{"severty": "P1"}}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, string(r.body), `Custom field \"severty\" is not defined for ideas`)
	r = api(t, s, "PUT", "/ideas/PRJ1-I-1", map[string]any{"idea": map[string]any{"custom_fields": map[string]any{"nope": "1"}}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	r = api(t, s, "POST", "/products/PRJ1/ideas", map[string]any{"idea": map[string]any{"name": "x", "custom_fields": map[string]any{"severity": "P1"}}})
	assert.Equal(t, http.StatusOK, r.status)
}
