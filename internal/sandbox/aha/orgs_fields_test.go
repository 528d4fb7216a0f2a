package aha

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GET /api/v1/idea_organizations with fields (an assumed Aha! behaviour): each
// record is its id and the requested keys exactly as the single GET renders
// them (the GET has more: created_by_user, not asked for), unknown names ignored; without fields the compact records as before.
// Either way one list call is one request.
func TestListOrganizationsHonoursFields(t *testing.T) {
	s := startSim(t, Options{RatePerSecond: -1, RatePerMinute: -1})
	_, err := s.CreateOrganization(map[string]any{"name": "Fields Co", "email_domains": "fields.example, f.example", "revenue": "1234"})
	require.NoError(t, err)
	ids := s.OrganizationIDs()
	require.Len(t, ids, 5)

	before := s.RequestStats().Total
	compact := api(t, s, "GET", "/idea_organizations?per_page=200", nil)
	require.Equal(t, http.StatusOK, compact.status, string(compact.body))
	for _, o := range compact.json(t)["idea_organizations"].([]any) {
		assert.Equal(t, []string{"created_at", "id", "name", "resource", "url"}, keysOf(o.(map[string]any)), "compact without fields")
	}

	const fields = "name,created_at,updated_at,url,resource,description,endorsements_count,email_domains,revenue,custom_fields,integration_fields,no_such_field"
	full := api(t, s, "GET", "/idea_organizations?per_page=200&fields="+fields, nil)
	require.Equal(t, http.StatusOK, full.status, string(full.body))
	m := full.json(t)
	assert.Equal(t, map[string]any{"total_records": json.Number("5"), "total_pages": json.Number("1"), "current_page": json.Number("1")}, m["pagination"])
	listed := m["idea_organizations"].([]any)
	require.Len(t, listed, 5)
	assert.Equal(t, int64(2), s.RequestStats().Total-before, "one request per list call")
	for i, o := range listed {
		got := o.(map[string]any)
		one := api(t, s, "GET", "/idea_organizations/"+ids[i], nil).json(t)["idea_organization"].(map[string]any)
		assert.Equal(t, project(one, append([]string{"id"}, strings.Split(fields, ",")...)), got,
			"organization %s: the requested keys with the values of its GET", ids[i])
		assert.Len(t, got, 12, "id and the 11 known fields")
		for _, k := range []string{"revenue", "email_domains", "custom_fields"} {
			assert.Contains(t, got, k)
			assert.Equal(t, one[k], got[k], k)
		}
	}
	last := listed[4].(map[string]any)
	assert.Equal(t, "1234.0", last["revenue"])
	assert.Equal(t, "fields.example, f.example", last["email_domains"])
	assert.NotEmpty(t, last["custom_fields"])

	// A subset, in one or several values.
	for _, q := range []string{"fields=revenue,email_domains", "fields=revenue&fields=+email_domains"} {
		r := api(t, s, "GET", "/idea_organizations?"+q, nil).json(t)["idea_organizations"].([]any)
		assert.Equal(t, []string{"email_domains", "id", "revenue"}, keysOf(r[0].(map[string]any)), q)
	}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
