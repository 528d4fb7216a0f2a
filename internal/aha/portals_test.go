package aha

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"

	sim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openAPIExample returns the example 200 body of GET path in Aha!'s OpenAPI file (the
// simulator's copy of shared/reference/aha-openapi.json).
func openAPIExample(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile("../sandbox/aha/testdata/aha-openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Example json.RawMessage `json:"example"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, c := range doc.Paths[path]["get"].Responses["200"].Content {
		require.NotEmpty(t, c.Example)
		return c.Example
	}
	t.Fatalf("no example for GET %s", path)
	return nil
}

// The client decodes exactly the OpenAPI example of GET /api/v1/idea_portals, with
// ids as strings (as in the example) or as numbers.
func TestListIdeaPortalsDecodesOpenAPIExample(t *testing.T) {
	example := openAPIExample(t, "/api/v1/idea_portals")
	numeric := regexp.MustCompile(`"id":\s*"(\d+)"`).ReplaceAll(example, []byte(`"id": $1`))
	require.NotEqual(t, string(example), string(numeric))
	want := []IdeaPortal{
		{ID: "297813804", Title: "Ideas 3", PortalEnabled: true, AccessType: "public", ExternalURL: "https://testideaportal2.ideas.aha.io:8338/", CreatedAt: "2019-01-01T00:00:00.000Z"},
		{ID: "650606523", Title: "Ideas 2", PortalEnabled: true, AccessType: "public", ExternalURL: "https://testideaportal1.ideas.aha.io:8338/", CreatedAt: "2019-01-01T00:00:00.000Z"},
		{ID: "675900055", Title: "portal with 1 endorsement per idea", PortalEnabled: true, AccessType: "submit-only", ExternalURL: "https://testideaportal3.ideas.aha.io:8338/ideas/new", CreatedAt: "2019-01-01T00:00:00.000Z"},
		{ID: "747493361", Title: "portal with 2 endorsements per idea", PortalEnabled: true, AccessType: "submit-only", ExternalURL: "https://testideaportal4.ideas.aha.io:8338/ideas/new", CreatedAt: "2019-01-01T00:00:00.000Z"},
		{ID: "1070474755", Title: "Ideas 1", PortalEnabled: true, AccessType: "submit-only", ExternalURL: "https://testideaportal.ideas.aha.io:8338/ideas/new", CreatedAt: "2019-01-01T00:00:00.000Z"},
	}
	for name, body := range map[string][]byte{"string ids": example, "numeric ids": numeric} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				assert.Equal(t, "/api/v1/idea_portals", r.URL.Path)
				assert.Equal(t, url.Values{"page": {"1"}, "per_page": {"200"}}, r.URL.Query())
				assert.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				_, _ = w.Write(body)
			}))
			defer srv.Close()
			got, err := New(srv.URL, testKey).ListIdeaPortals(context.Background())
			require.NoError(t, err)
			require.Len(t, got, len(want))
			for i := range got {
				assert.NotEmpty(t, got[i].Raw)
				got[i].Raw = nil
			}
			assert.Equal(t, want, got)
			assert.Equal(t, int32(1), calls.Load(), "one page (total_pages 1): one request")
		})
	}
}

// Every page is read, following pagination.total_pages; an error on a later page is
// Aha!'s typed error.
func TestListIdeaPortalsPages(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if fail.Load() && page == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"busy"}`))
			return
		}
		ids := map[int]string{1: `{"id":"1","title":"A"},{"id":2,"title":"B"}`, 2: `{"id":"3","title":"C"}`}[page]
		_, _ = w.Write([]byte(`{"idea_portals":[` + ids + `],"pagination":{"total_records":3,"total_pages":2,"current_page":` + strconv.Itoa(page) + `}}`))
	}))
	defer srv.Close()
	c := New(srv.URL, testKey)
	got, err := c.ListIdeaPortals(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, []FlexID{"1", "2", "3"}, []FlexID{got[0].ID, got[1].ID, got[2].ID})

	fail.Store(true)
	_, err = c.ListIdeaPortals(context.Background())
	var ae *Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.Status)
	assert.True(t, ae.Retryable())
}

func TestIdeaPortalsAgainstSimulator(t *testing.T) {
	s, _ := newSim(t, sim.Options{RatePerSecond: -1, RatePerMinute: -1})
	lim := &countLimiter{}
	c := New(s.URL(), testKey, WithLimiter(lim))
	ctx := context.Background()

	portals, err := c.ListIdeaPortals(ctx)
	require.NoError(t, err)
	require.Len(t, portals, 1)
	seeded := portals[0]
	assert.Equal(t, FlexID(s.PortalIDs()[0]), seeded.ID)
	assert.Equal(t, "Customer Ideas", seeded.Title)
	assert.True(t, seeded.PortalEnabled)
	assert.Equal(t, "public", seeded.AccessType)
	assert.NotEmpty(t, seeded.ExternalURL)
	assert.NotEmpty(t, seeded.CreatedAt)
	assert.Equal(t, int64(1), lim.n.Load(), "every request passes the limiter")

	// 201 portals: two pages of 200, two requests, Aha!'s order.
	for i := 0; i < 200; i++ {
		_, err := s.CreateIdeaPortal("Portal "+strconv.Itoa(i), "submit-only")
		require.NoError(t, err)
	}
	lim.n.Store(0)
	portals, err = c.ListIdeaPortals(ctx)
	require.NoError(t, err)
	require.Len(t, portals, 201)
	assert.Equal(t, int64(2), lim.n.Load())
	ids := s.PortalIDs()
	for i, p := range portals {
		assert.Equal(t, ids[i], p.ID.String())
	}
	assert.Equal(t, "Portal 199", portals[200].Title)

	// Portal users of a portal, filtered by email (case-insensitive in Aha!).
	users, pg, err := c.ListPortalUsers(ctx, seeded.ID.String(), 1, 200, url.Values{"email": {"JOHN@long.com"}})
	require.NoError(t, err)
	require.Len(t, users, 1)
	assert.Equal(t, 1, pg.TotalRecords)
	assert.Equal(t, "john@long.com", users[0].Email)
	assert.Equal(t, "John", users[0].FirstName)
	assert.NotEmpty(t, users[0].IdeaUserID)
	assert.NotEmpty(t, users[0].Raw)
	all, pg, err := c.ListPortalUsers(ctx, seeded.ID.String(), 1, 2, nil)
	require.NoError(t, err)
	assert.Len(t, all, 2)
	assert.Equal(t, 6, pg.TotalRecords)
	_, _, err = c.ListPortalUsers(ctx, "1", 1, 10, nil)
	var ae *Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)
}
