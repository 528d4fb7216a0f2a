package aha

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GET /api/v1/idea_portals lists every portal in ascending id order (as the OpenAPI
// example does), paged like the other lists; a portal added later is listed and can
// hold portal users; a path under it that Aha! does not document answers the usual
// 404 body.
func TestIdeaPortals(t *testing.T) {
	s := startSim(t, Options{RatePerSecond: -1, RatePerMinute: -1})
	seeded := s.PortalIDs()
	require.Equal(t, []string{"6776881149400000100"}, seeded)

	m := api(t, s, "GET", "/idea_portals", nil).json(t)
	require.Len(t, m["idea_portals"], 1)
	p := m["idea_portals"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"id": "6776881149400000100", "title": "Customer Ideas", "portal_enabled": true,
		"access_type": "public", "external_url": "https://" + DefaultCompany + ".ideas.aha.io/", "created_at": p["created_at"]}, p)
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, p["created_at"])
	assert.Equal(t, map[string]any{"total_records": json.Number("1"), "total_pages": json.Number("1"), "current_page": json.Number("1")}, m["pagination"])

	second, err := s.CreateIdeaPortal("Partner Ideas", "submit-only")
	require.NoError(t, err)
	third, err := s.CreateIdeaPortal("Beta Ideas", "")
	require.NoError(t, err)
	_, err = s.CreateIdeaPortal("Bad", "secret")
	require.Error(t, err)
	assert.Equal(t, []string{seeded[0], second, third}, s.PortalIDs())
	assert.Equal(t, 3, s.Counts().IdeaPortals)

	var got []string
	for pg := 1; pg <= 3; pg++ {
		m := api(t, s, "GET", "/idea_portals?per_page=1&page="+strconv.Itoa(pg), nil).json(t)
		items := m["idea_portals"].([]any)
		require.Len(t, items, 1)
		got = append(got, items[0].(map[string]any)["id"].(string))
		assert.Equal(t, map[string]any{"total_records": json.Number("3"), "total_pages": json.Number("3"),
			"current_page": json.Number(strconv.Itoa(pg))}, m["pagination"])
		if pg == 2 {
			assert.Equal(t, "submit-only", items[0].(map[string]any)["access_type"])
			assert.Equal(t, "https://"+DefaultCompany+"-2.ideas.aha.io/ideas/new", items[0].(map[string]any)["external_url"])
		}
	}
	assert.Equal(t, []string{seeded[0], second, third}, got)
	assert.Empty(t, api(t, s, "GET", "/idea_portals?page=4", nil).json(t)["idea_portals"])
	assert.Equal(t, http.StatusBadRequest, api(t, s, "GET", "/idea_portals?per_page=x", nil).status)

	// A portal user in the new portal; listed there (with the email filter) and not in the seeded one.
	users := api(t, s, "GET", "/idea_users?email=milton@initech.com", nil).json(t)["idea_users"].([]any)
	require.Len(t, users, 1)
	pu, err := s.CreatePortalUser(second, users[0].(map[string]any)["id"].(string), "Milton", "Waddams")
	require.NoError(t, err)
	l := api(t, s, "GET", "/idea_portals/"+second+"/portal_users?email=MILTON@initech.com", nil).json(t)["portal_users"].([]any)
	require.Len(t, l, 1)
	assert.Equal(t, pu.ID, l[0].(map[string]any)["id"])
	assert.Empty(t, api(t, s, "GET", "/idea_portals/"+seeded[0]+"/portal_users?email=milton@initech.com", nil).json(t)["portal_users"])
	assert.Equal(t, http.StatusNotFound, api(t, s, "GET", "/idea_portals/"+seeded[0]+"/portal_users/"+pu.ID, nil).status)

	for _, path := range []string{"/idea_portals/" + second, "/idea_portals/1/portal_users"} {
		r := api(t, s, "GET", path, nil)
		assert.Equal(t, http.StatusNotFound, r.status, path)
		assert.NotEmpty(t, r.json(t)["error"], path)
	}
}
