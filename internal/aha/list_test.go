package aha

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listCase is one List method: the request it must send and the key its
// records come under.
type listCase struct {
	name string
	uri  string // path?query, query keys sorted
	key  string
	call func(c *Client) (n int, raw string, p Pagination, err error)
}

// page reads a page's length, its first record's Raw (when kept) and its pagination.
func page[T any](recs []T, p Pagination, err error, raw func(T) string) (int, string, Pagination, error) {
	if len(recs) == 0 || raw == nil {
		return len(recs), "", p, err
	}
	return len(recs), raw(recs[0]), p, err
}

var since = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))

// Every List method's request, record key, decoding and pagination, pinned:
// the generic listPage must send what each hand-written copy sent.
var listCases = []listCase{
	{"comments", "/api/v1/ideas/PRJ-I-1/comments?page=2&per_page=50", "comments", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListComments(context.Background(), KindIdea, "PRJ-I-1", 2, 50)
		return page(r, p, err, func(x Comment) string { return string(x.Raw) })
	}},
	{"ideas of a product", "/api/v1/products/P%201/ideas?page=1&per_page=200&updated_since=2026-01-02T02%3A04%3A05Z", "ideas", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListIdeas(context.Background(), ListQuery{ProductID: "P 1", Page: 1, PerPage: 200, UpdatedSince: since})
		return page(r, p, err, func(x Record) string { return string(x.Raw) })
	}},
	{"all ideas", "/api/v1/ideas?per_page=20&q=x", "ideas", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListRecords(context.Background(), KindIdea, ListQuery{ProductID: "ignored", PerPage: 20, Extra: url.Values{"q": {"x"}}})
		return page(r, p, err, func(x Record) string { return string(x.Raw) })
	}},
	{"features", "/api/v1/features?page=3", "features", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListRecords(context.Background(), KindFeature, ListQuery{Page: 3})
		return page(r, p, err, func(x Record) string { return string(x.Raw) })
	}},
	{"release features", "/api/v1/releases/R-1/features?page=1&per_page=200", "features", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListReleaseFeatures(context.Background(), "R-1", 1, 200)
		return page(r, p, err, func(x Record) string { return string(x.Raw) })
	}},
	{"audits", "/api/v1/audits?after_id=9&auditable_id=7&auditable_type=Feature&created_before=2026-01-02T02%3A04%3A05Z&created_since=2026-01-02T02%3A04%3A05Z&page=2&per_page=25", "audits",
		func(c *Client) (int, string, Pagination, error) {
			r, p, err := c.ListAudits(context.Background(), AuditQuery{AfterID: "9", AuditableID: "7", AuditableType: "Feature",
				CreatedSince: since, CreatedBefore: since, Page: 2, PerPage: 25})
			return page(r, p, err, nil)
		}},
	{"audits, no filter", "/api/v1/audits", "audits", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListAudits(context.Background(), AuditQuery{})
		return page(r, p, err, nil)
	}},
	{"idea users", "/api/v1/idea_users?email=a%40b.c&page=1&per_page=20", "idea_users", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListIdeaUsers(context.Background(), 1, 20, url.Values{"email": {"a@b.c"}})
		return page(r, p, err, func(x IdeaUser) string { return string(x.Raw) })
	}},
	{"portal users", "/api/v1/idea_portals/5/portal_users?page=2&per_page=200", "portal_users", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListPortalUsers(context.Background(), "5", 2, 200, nil)
		return page(r, p, err, func(x PortalUser) string { return string(x.Raw) })
	}},
	{"organizations", "/api/v1/idea_organizations?page=1&per_page=10", "idea_organizations", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListIdeaOrganizations(context.Background(), 1, 10)
		return page(r, p, err, func(x IdeaOrganization) string { return string(x.Raw) })
	}},
	{"organizations with fields", "/api/v1/idea_organizations?fields=name%2Crevenue&page=1&per_page=200", "idea_organizations", func(c *Client) (int, string, Pagination, error) {
		r, p, err := c.ListIdeaOrganizationsFields(context.Background(), 1, 200, []string{"name", "revenue"})
		return page(r, p, err, func(x IdeaOrganization) string { return string(x.Raw) })
	}},
	{"portals", "/api/v1/idea_portals?page=1&per_page=200", "idea_portals", func(c *Client) (int, string, Pagination, error) {
		r, err := c.ListIdeaPortals(context.Background())
		return page(r, Pagination{TotalRecords: 1, TotalPages: 1, CurrentPage: 1}, err, func(x IdeaPortal) string { return string(x.Raw) })
	}},
}

func listServer(t *testing.T, body func(r *http.Request) string) (*Client, *[]string) {
	t.Helper()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI())
		_, _ = w.Write([]byte(body(r)))
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL, testKey, WithReadRetries(0, 0)), &got
}

func TestListMethodsRequestsAndDecoding(t *testing.T) {
	const rec = `{"id":"11","name":"n","body":"b","email":"e@x"}`
	for _, tc := range listCases {
		t.Run(tc.name, func(t *testing.T) {
			c, got := listServer(t, func(*http.Request) string {
				return `{"` + tc.key + `":[` + rec + `],"pagination":{"total_records":1,"total_pages":1,"current_page":1}}`
			})
			n, raw, p, err := tc.call(c)
			require.NoError(t, err)
			assert.Equal(t, []string{"GET " + tc.uri}, *got)
			assert.Equal(t, 1, n)
			assert.Equal(t, Pagination{TotalRecords: 1, TotalPages: 1, CurrentPage: 1}, p)
			if raw != "" {
				assert.JSONEq(t, rec, raw)
			}
		})
	}
}

// A page without its records or its pagination is an empty page, not an error;
// a record that does not decode fails the page.
func TestListMethodsEmptyAndBadPages(t *testing.T) {
	for _, tc := range listCases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := listServer(t, func(*http.Request) string { return `{"other":[1]}` })
			n, _, _, err := tc.call(c)
			require.NoError(t, err)
			assert.Zero(t, n)

			c, _ = listServer(t, func(*http.Request) string { return `{"` + tc.key + `":[{"id":{"x":1}}]}` })
			_, _, _, err = tc.call(c)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "aha: "), err.Error())

			c, _ = listServer(t, func(*http.Request) string { return `{"` + tc.key + `":{}}` })
			_, _, _, err = tc.call(c)
			require.ErrorContains(t, err, "decoding 200 response")
		})
	}
}

// ListIdeaPortals stops at maxListPages when total_pages never ends.
func TestListAllStopsAtMaxListPages(t *testing.T) {
	c, got := listServer(t, func(*http.Request) string {
		return `{"idea_portals":[{"id":"1"}],"pagination":{"total_pages":1000000}}`
	})
	_, err := c.ListIdeaPortals(context.Background())
	require.EqualError(t, err, "aha: GET /api/v1/idea_portals: more than 1000 pages")
	assert.Len(t, *got, maxListPages)
}
