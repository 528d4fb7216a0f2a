package aha

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	sim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ListIdeaOrganizationsFields asks for fields (comma-separated, per_page as
// given); Full tells a whole record — the list answer built from the GET
// example — from the OpenAPI's compact list example, which is what an Aha!
// that ignores fields answers.
func TestListIdeaOrganizationsFieldsFullOrCompact(t *testing.T) {
	compact := openAPIExample(t, "/api/v1/idea_organizations")
	var one struct {
		Org json.RawMessage `json:"idea_organization"`
	}
	require.NoError(t, json.Unmarshal(openAPIExample(t, "/api/v1/idea_organizations/{id}"), &one))
	full := []byte(`{"idea_organizations":[` + string(one.Org) + `],"pagination":{"total_records":1,"total_pages":1,"current_page":1}}`)
	// The same record with revenue missing (not null): not full.
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(one.Org, &m))
	delete(m, "revenue")
	noRevenue, err := json.Marshal(m)
	require.NoError(t, err)
	partial := []byte(`{"idea_organizations":[` + string(noRevenue) + `],"pagination":{"total_records":1,"total_pages":1,"current_page":1}}`)

	wantFields := "name,created_at,updated_at,url,resource,description,endorsements_count,email_domains,revenue,custom_fields,integration_fields"
	for _, tc := range []struct {
		name     string
		body     []byte
		wantFull []bool
	}{
		{"fields honoured", full, []bool{true}},
		{"fields ignored (the OpenAPI list example)", compact, []bool{false, false}},
		{"a key missing", partial, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got url.Values
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/api/v1/idea_organizations", r.URL.Path)
				got = r.URL.Query()
				_, _ = w.Write(tc.body)
			}))
			defer srv.Close()
			orgs, pag, err := New(srv.URL, testKey).ListIdeaOrganizationsFields(context.Background(), 2, 200, IdeaOrganizationFields)
			require.NoError(t, err)
			assert.Equal(t, url.Values{"page": {"2"}, "per_page": {"200"}, "fields": {wantFields}}, got)
			assert.Equal(t, len(tc.wantFull), pag.TotalRecords)
			require.Len(t, orgs, len(tc.wantFull))
			for i, o := range orgs {
				assert.Equal(t, tc.wantFull[i], o.Full(), string(o.Raw))
			}
		})
	}

	// Without fields: the plain compact list, no fields parameter.
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		_, _ = w.Write(compact)
	}))
	defer srv.Close()
	orgs, _, err := New(srv.URL, testKey).ListIdeaOrganizations(context.Background(), 1, 10)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"page": {"1"}, "per_page": {"10"}}, got)
	assert.Equal(t, FlexID("138732915"), orgs[0].ID)
	assert.Nil(t, orgs[0].Revenue)
	assert.False(t, (&IdeaOrganization{}).Full(), "no raw JSON")
}

// Against the simulator: listed with fields, every organization is full and
// equal to its GET in what the bridge reads; the compact list is not full; a
// GET answer is full.
func TestListIdeaOrganizationsFieldsAgainstSimulator(t *testing.T) {
	s, c := newSim(t, sim.Options{RatePerSecond: -1, RatePerMinute: -1})
	ctx := context.Background()
	before := s.RequestStats().Total
	orgs, pag, err := c.ListIdeaOrganizationsFields(ctx, 1, 200, IdeaOrganizationFields)
	require.NoError(t, err)
	assert.Equal(t, int64(1), s.RequestStats().Total-before)
	assert.Equal(t, Pagination{TotalRecords: 4, TotalPages: 1, CurrentPage: 1}, pag)
	require.Len(t, orgs, 4)
	for _, o := range orgs {
		require.True(t, o.Full(), string(o.Raw))
		g, err := c.GetIdeaOrganization(ctx, o.ID.String())
		require.NoError(t, err)
		assert.True(t, g.Full())
		assert.Equal(t, g.Revenue, o.Revenue)
		assert.Equal(t, g.EmailDomains, o.EmailDomains)
		assert.Equal(t, g.Name, o.Name)
		var lm, gm map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(o.Raw, &lm))
		require.NoError(t, json.Unmarshal(g.Raw, &gm))
		for _, k := range IdeaOrganizationFields {
			assert.JSONEq(t, string(gm[k]), string(lm[k]), k)
		}
	}
	assert.Equal(t, "acme.com", orgs[0].EmailDomains)
	require.NotNil(t, orgs[0].Revenue)
	assert.Equal(t, "55000.0", *orgs[0].Revenue)

	compact, _, err := c.ListIdeaOrganizations(ctx, 1, 200)
	require.NoError(t, err)
	require.Len(t, compact, 4)
	for _, o := range compact {
		assert.False(t, o.Full(), string(o.Raw))
		assert.False(t, strings.Contains(string(o.Raw), "revenue"))
	}
}
