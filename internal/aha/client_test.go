package aha

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/ahacc/ahacc/internal/sandbox/simkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testKey = "s3cr3t-key-value"

func newSim(t *testing.T, opts sim.Options) (*sim.Server, *Client) {
	t.Helper()
	opts.APIKey = testKey
	s := sim.New(opts)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = s.Close() })
	return s, New(s.URL(), testKey)
}

type countLimiter struct{ n atomic.Int64 }

func (l *countLimiter) Wait(ctx context.Context) error { l.n.Add(1); return ctx.Err() }

func TestClientAgainstSimulator(t *testing.T) {
	s, _ := newSim(t, sim.Options{RatePerSecond: -1})
	lim := &countLimiter{}
	c := New(s.URL()+"/api/v1/", testKey, WithLimiter(lim), WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	ctx := context.Background()

	idea, err := c.GetIdea(ctx, "PRJ1-I-3")
	require.NoError(t, err)
	assert.Equal(t, "PRJ1-I-3", idea.ReferenceNum)
	assert.Len(t, string(idea.ID), 19)
	assert.Equal(t, s.URL()+"/ideas/ideas/PRJ1-I-3", idea.URL)
	assert.Equal(t, s.URL()+"/api/v1/ideas/PRJ1-I-3", idea.Resource)
	assert.Equal(t, "In progress", idea.WorkflowStatus)
	var full map[string]any
	require.NoError(t, json.Unmarshal(idea.Raw, &full))
	assert.Contains(t, full, "custom_fields", "Raw is the unwrapped record")
	assert.NotContains(t, full, "idea")

	byID, err := c.GetRecord(ctx, KindIdea, string(idea.ID))
	require.NoError(t, err)
	assert.Equal(t, idea.ReferenceNum, byID.ReferenceNum)

	f, err := c.GetFeature(ctx, "PRJ1-1")
	require.NoError(t, err)
	assert.Equal(t, "Language options", f.Name)

	created, err := c.CreateIdea(ctx, "PRJ1", map[string]any{"name": "From CC", "description": "<p>d</p>", "workflow_status": "Under consideration"})
	require.NoError(t, err)
	assert.Equal(t, "PRJ1-I-11", created.ReferenceNum)
	assert.Equal(t, "Under consideration", created.WorkflowStatus)
	upd, err := c.UpdateIdea(ctx, created.ReferenceNum, map[string]any{"workflow_status": "Planned"})
	require.NoError(t, err)
	assert.Equal(t, "Planned", upd.WorkflowStatus)

	feat, err := c.CreateFeature(ctx, "PRJ1-R-2", map[string]any{"name": "New feature"})
	require.NoError(t, err)
	assert.Equal(t, "PRJ1-6", feat.ReferenceNum)
	feat, err = c.UpdateFeature(ctx, feat.ReferenceNum, map[string]any{"name": "Renamed"})
	require.NoError(t, err)
	assert.Equal(t, "Renamed", feat.Name)

	cm, err := c.AddComment(ctx, KindIdea, created.ReferenceNum, "<p>hello</p>")
	require.NoError(t, err)
	assert.Equal(t, "<p>hello</p>", cm.Body)
	assert.NotEmpty(t, cm.ID)

	ids, err := c.SetIntegrationField(ctx, KindIdea, string(created.ID), sim.CentercodeIntegrationID, "feedback_id", "F-77")
	require.NoError(t, err)
	assert.Len(t, ids, 1)
	found, err := c.FindByField(ctx, KindIdea, "feedback_id", "F-77")
	require.NoError(t, err)
	require.NotNil(t, found)
	assert.Equal(t, created.ID, found.ID)
	none, err := c.FindByField(ctx, KindIdea, "feedback_id", "F-78")
	require.NoError(t, err)
	assert.Nil(t, none)

	list, pg, err := c.ListIdeas(ctx, ListQuery{ProductID: "PRJ2", PerPage: 2})
	require.NoError(t, err)
	assert.Len(t, list, 2)
	assert.Equal(t, Pagination{TotalRecords: 3, TotalPages: 2, CurrentPage: 1}, pg)

	users, pg, err := c.ListIdeaUsers(ctx, 1, 200, url.Values{"email": {"hank@globex.com"}})
	require.NoError(t, err)
	require.Len(t, users, 1)
	assert.Equal(t, 1, pg.TotalRecords)
	assert.Len(t, users[0].IdeaOrganizations, 2)
	u, err := c.GetIdeaUser(ctx, string(users[0].ID))
	require.NoError(t, err)
	assert.Equal(t, "Hank Scorpio", u.Name)

	portal := s.PortalIDs()[0]
	var pu struct {
		PortalUsers []PortalUser `json:"portal_users"`
	}
	req, _ := http.NewRequest("GET", s.URL()+"/api/v1/idea_portals/"+portal+"/portal_users", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&pu))
	resp.Body.Close()
	p, err := c.GetPortalUser(ctx, portal, string(pu.PortalUsers[0].ID))
	require.NoError(t, err)
	assert.NotEmpty(t, p.IdeaUserID)
	assert.True(t, p.Enabled)

	orgs, _, err := c.ListIdeaOrganizations(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, orgs, 4)
	org, err := c.GetIdeaOrganization(ctx, string(orgs[0].ID))
	require.NoError(t, err)
	assert.Equal(t, "acme.com", org.EmailDomains)
	require.NotNil(t, org.Revenue)
	assert.Equal(t, "55000.0", *org.Revenue)

	// Audits: numeric auditable_id parsed exactly, after_id paging.
	var all []Audit
	after := ""
	for {
		page, _, err := c.ListAudits(ctx, AuditQuery{AfterID: after, PerPage: 25})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = string(page[len(page)-1].ID)
	}
	assert.Len(t, all, s.Counts().Audits)
	last := all[len(all)-1]
	assert.Equal(t, "Ideas::Idea", last.AuditableType)
	assert.Equal(t, "ideas/idea", NormalizeAuditableType(last.AuditableType))
	assert.Equal(t, created.ID, last.AuditableID, "19-digit numeric id kept exactly")
	assert.NotNil(t, last.User)
	assert.Positive(t, lim.n.Load())
}

func TestErrorClassificationAgainstSimulator(t *testing.T) {
	s, c := newSim(t, sim.Options{})
	ctx := context.Background()

	_, err := New(s.URL(), "").GetIdea(ctx, "PRJ1-I-1")
	var ae *Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 401, ae.StatusCode())
	assert.False(t, ae.Retryable())

	_, err = New(s.URL(), "wrong-"+testKey).GetIdea(ctx, "PRJ1-I-1")
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 403, ae.Status)
	assert.NotContains(t, err.Error(), testKey)

	_, err = c.GetIdea(ctx, "PRJ1-I-999")
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 404, ae.Status)
	assert.Contains(t, ae.Message, "not found")
	assert.Equal(t, "GET", ae.Method)
	assert.Equal(t, "/api/v1/ideas/PRJ1-I-999", ae.Path)

	_, err = c.CreateIdea(ctx, "PRJ1", map[string]any{"description": "no name"})
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 422, ae.Status)
	assert.Equal(t, "Validation failed: Name can't be blank", ae.Message)
	assert.False(t, ae.Retryable())

	// 429 with the simulator's headers.
	s.SetRateLimits(1, 0)
	s.ResetRateLimit()
	_, _ = c.GetIdea(ctx, "PRJ1-I-1")
	_, err = c.GetIdea(ctx, "PRJ1-I-1")
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 429, ae.Status)
	assert.True(t, ae.Retryable())
	assert.Equal(t, time.Second, ae.RetryDelay())
	s.SetRateLimits(0, 0)

	// Injected 503.
	s.SetFaults(simkit.Faults{ErrorRate: 1, ErrorCodes: []int{503}})
	_, err = c.GetIdea(ctx, "PRJ1-I-1")
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 503, ae.Status)
	assert.True(t, ae.Retryable())
	assert.Contains(t, ae.Message, "injected")

	// Commit then time out: the write happened, the client sees a sent transport error.
	s.SetFaults(simkit.Faults{CommitTimeoutRate: 1, CommitTimeoutDelay: 5 * time.Second})
	tc := New(s.URL(), testKey, WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}))
	before := s.Counts().Ideas
	_, err = tc.CreateIdea(ctx, "PRJ1", map[string]any{"name": "Ambiguous"})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Sent(), "the request was written: ambiguous")
	assert.True(t, te.Retryable())
	assert.True(t, te.Timeout())
	assert.Equal(t, before+1, s.Counts().Ideas)
	assert.NotContains(t, err.Error(), testKey)
	s.SetFaults(simkit.Faults{})
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		retryable bool
		message   string
	}{
		{400, `{"error":"bad request"}`, false, "bad request"},
		{401, `{"message":"no key"}`, false, "no key"},
		{403, `{"errors":"forbidden"}`, false, "forbidden"},
		{404, `{"errors":{"message":"Record not found"}}`, false, "Record not found"},
		{406, `{"errors":[{"message":"a"},{"message":"b"}]}`, false, "a; b"},
		{422, `{"errors":{"name":["can't be blank"]}}`, false, "name can't be blank"},
		{429, `Too many`, true, "Too many"},
		{500, ``, true, "(empty body)"},
		{502, `<html>bad gateway</html>`, true, "<html>bad gateway</html>"},
		{503, `{"error":""}`, true, `{"error":""}`},
		{504, `{"error":"timeout"}`, true, "timeout"},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
				assert.Equal(t, "application/json", r.Header.Get("Accept"))
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := New(srv.URL, testKey, WithReadRetries(0, 0)).GetFeature(context.Background(), "PRJ1-1")
			var ae *Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.StatusCode())
			assert.Equal(t, tc.retryable, ae.Retryable())
			assert.Equal(t, tc.message, ae.Message)
			assert.Equal(t, tc.body, ae.Body)
		})
	}
}

func TestRetryAfterHeaders(t *testing.T) {
	// Over HTTP, both header forms.
	for _, hdr := range []string{"Retry-After", "X-Ratelimit-Reset"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(hdr, "4")
			w.WriteHeader(429)
		}))
		_, err := New(srv.URL, testKey).GetIdea(context.Background(), "x")
		srv.Close()
		var ae *Error
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 4*time.Second, ae.RetryDelay(), hdr)
	}
}

func TestTransportErrors(t *testing.T) {
	// Connection refused: not sent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = New("http://"+addr, testKey).CreateIdea(context.Background(), "PRJ1", map[string]any{"name": "x"})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.False(t, te.Sent())
	assert.True(t, te.Retryable())
	assert.NotContains(t, err.Error(), testKey)

	// Connection reset after the request was read: sent.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		simkit.DropConnection(w)
	}))
	defer srv.Close()
	_, err = New(srv.URL, testKey).UpdateIdea(context.Background(), "PRJ1-I-1", map[string]any{"name": "x"})
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Sent())

	// The caller's cancellation before sending is not a transport error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = New(srv.URL, testKey).GetIdea(ctx, "x")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled))
	assert.False(t, errors.As(err, &te))
}

func TestKeyNeverInErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"bad token ` + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + `"}`))
	}))
	defer srv.Close()
	_, err := New(srv.URL, testKey).GetIdea(context.Background(), "x")
	var ae *Error
	require.ErrorAs(t, err, &ae)
	assert.NotContains(t, err.Error(), testKey)
	assert.NotContains(t, ae.Body, testKey)
	assert.Contains(t, ae.Message, "[redacted]")
}
