package aha

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The conformance test walks the example response (200/201) of every endpoint the
// simulator serves in testdata/aha-openapi.json (a copy of Aha!'s OpenAPI description),
// calls the simulator for the same endpoint and checks that every field of the example
// is present in the simulator's answer with the same JSON type, recursively:
//
//   - objects: field by field (extra fields in the simulator are fine);
//   - arrays: the example's first element is compared with EACH element of the
//     simulator's array when both are non-empty. Aha!'s own examples hold heterogeneous
//     arrays (custom_fields whose value is a string in one element and an object in the
//     next), so a simulator element that does not match the first example element may
//     match any other example element instead. An empty example array says nothing
//     about its elements; an empty simulator array where the example has elements is a
//     failure unless the path is in the scenario's lenient set (below);
//   - numbers: integer and float are one JSON type ("number");
//   - nulls: an example value of null matches any simulator value (the example carries
//     no type). A simulator null where the example has a value is a FAILURE, except for
//     the paths listed in the scenario's lenient set (fields a freshly created record
//     really has empty, e.g. admin_response of a new idea; array indexes are ignored
//     when matching these paths).

type scenario struct {
	method, specPath string // as in the OpenAPI file
	path             string // concrete path to call (under the simulator)
	body             any
	nullable         []string // dotted paths where a simulator null is accepted
}

func conformanceScenarios(portal string) []scenario {
	newIdeaNull := []string{"idea.admin_response", "idea.created_by_portal_user", "idea.created_by_idea_user", "idea.submitted_idea_portal_record_url"}
	newFeatureNull := []string{"feature.status_changed_on", "feature.start_date", "feature.due_date", "feature.assigned_to_user",
		"feature.initiative_reference_num", "feature.epic_reference_num", "feature.progress", "feature.score_facts"}
	return []scenario{
		{"get", "/api/v1/ideas/{id}", "/api/v1/ideas/PRJ1-I-3", nil, nil},
		{"put", "/api/v1/ideas/{id}", "/api/v1/ideas/PRJ1-I-3", map[string]any{"idea": map[string]any{"name": "Night theme (renamed)"}}, nil},
		{"post", "/api/v1/products/{product_id}/ideas", "/api/v1/products/PRJ1/ideas",
			map[string]any{"idea": map[string]any{"name": "New idea", "description": "<p>This is the description</p>", "initial_votes": 3,
				"tags": "mobile, UX", "categories": "Storage"}}, newIdeaNull},
		{"get", "/api/v1/products/{product_id}/ideas", "/api/v1/products/PRJ1/ideas", nil, nil},
		{"get", "/api/v1/ideas", "/api/v1/ideas", nil, nil},
		{"get", "/api/v1/ideas/fields/{field_name}/value/{field_value}", "/api/v1/ideas/fields/key/value/CC-1001", nil, nil},
		{"post", "/api/v1/ideas/{idea_id}/integrations/{integration_id}/fields", "/api/v1/ideas/PRJ1-I-2/integrations/6776881149400000200/fields",
			map[string]any{"integration_field": map[string]any{"name": "key", "value": "JRA-34"}}, nil},
		{"get", "/api/v1/features/{id}", "/api/v1/features/PRJ1-1", nil, nil},
		{"put", "/api/v1/features/{id}", "/api/v1/features/PRJ1-1", map[string]any{"feature": map[string]any{"name": "Language options v2"}}, nil},
		{"post", "/api/v1/releases/{release_id}/features", "/api/v1/releases/PRJ1-R-1/features",
			map[string]any{"feature": map[string]any{"name": "New name", "workflow_status": map[string]any{"name": "Ready to develop"},
				"description": "<p>This is the description</p>", "assigned_to_user": map[string]any{"email": "no-reply@aha.io"}, "tags": "Engineering"}}, newFeatureNull},
		{"get", "/api/v1/releases/{release_id}/features", "/api/v1/releases/PRJ1-R-1/features", nil, nil},
		{"get", "/api/v1/ideas/{idea_id}/comments", "/api/v1/ideas/PRJ1-I-1/comments", nil, nil},
		{"post", "/api/v1/ideas/{idea_id}/comments", "/api/v1/ideas/PRJ1-I-1/comments", map[string]any{"comment": map[string]any{"body": "<p>This is the comment body for an idea.</p>"}}, nil},
		{"get", "/api/v1/features/{feature_id}/comments", "/api/v1/features/PRJ1-1/comments", nil, nil},
		{"post", "/api/v1/features/{feature_id}/comments", "/api/v1/features/PRJ1-1/comments", map[string]any{"comment": map[string]any{"body": "<p>This is the comment body for a feature.</p>"}}, nil},
		// Una Affiliated (a seeded user) belongs to no organization.
		{"get", "/api/v1/idea_users", "/api/v1/idea_users", nil, []string{"idea_users.idea_organizations"}},
		{"get", "/api/v1/idea_users/{id}", "", nil, nil}, // path filled in with a seeded user
		{"get", "/api/v1/idea_portals", "/api/v1/idea_portals", nil, nil},
		{"get", "/api/v1/idea_portals/{idea_portal_id}/portal_users", "/api/v1/idea_portals/" + portal + "/portal_users", nil, nil},
		{"get", "/api/v1/idea_portals/{idea_portal_id}/portal_users/{id}", "", nil, nil},
		{"get", "/api/v1/idea_organizations", "/api/v1/idea_organizations", nil, nil},
		{"get", "/api/v1/idea_organizations/{id}", "", nil, []string{"idea_organization.revenue"}},
		{"get", "/api/v1/audits", "/api/v1/audits", nil, nil},
	}
}

func loadExamples(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/aha-openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Example any `json:"example"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&doc))
	out := map[string]map[string]any{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			for _, code := range []string{"200", "201"} {
				for _, c := range op.Responses[code].Content {
					if c.Example != nil {
						if out[m] == nil {
							out[m] = map[string]any{}
						}
						out[m][p] = c.Example
					}
				}
			}
		}
	}
	return out
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// conform returns the mismatches between example and got.
func conform(path string, example, got any, nullable map[string]bool) []string {
	et, gt := jsonType(example), jsonType(got)
	if et == "null" {
		return nil
	}
	if gt == "null" {
		if nullable[indexRE.ReplaceAllString(path, "")] {
			return nil
		}
		return []string{fmt.Sprintf("%s: example is %s, simulator has null", path, et)}
	}
	if et != gt {
		return []string{fmt.Sprintf("%s: example is %s, simulator has %s", path, et, gt)}
	}
	var out []string
	switch e := example.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s: missing in simulator", p))
				continue
			}
			out = append(out, conform(p, e[k], gv, nullable)...)
		}
	case []any:
		g := got.([]any)
		if len(e) == 0 {
			return nil
		}
		if len(g) == 0 {
			if nullable[indexRE.ReplaceAllString(path, "")] {
				return nil
			}
			return []string{fmt.Sprintf("%s: example has elements, simulator array is empty", path)}
		}
		for i := range g {
			p := fmt.Sprintf("%s[%d]", path, i)
			best := conform(p, e[0], g[i], nullable)
			for j := 1; j < len(e) && len(best) > 0; j++ {
				if m := conform(p, e[j], g[i], nullable); len(m) < len(best) {
					best = m
				}
			}
			out = append(out, best...)
		}
	}
	return out
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

func TestConformanceWithOpenAPIExamples(t *testing.T) {
	examples := loadExamples(t)
	s := startSim(t, Options{RatePerSecond: -1, RatePerMinute: -1})
	portal := s.PortalIDs()[0]
	// Pick seeded people records for the {id} endpoints.
	users := api(t, s, "GET", "/idea_users?email=john@long.com", nil).json(t)["idea_users"].([]any)
	require.Len(t, users, 1)
	userID := users[0].(map[string]any)["id"].(string)
	pus := api(t, s, "GET", "/idea_portals/"+portal+"/portal_users", nil).json(t)["portal_users"].([]any)
	puID := pus[0].(map[string]any)["id"].(string)
	orgs := api(t, s, "GET", "/idea_organizations", nil).json(t)["idea_organizations"].([]any)
	orgID := orgs[0].(map[string]any)["id"].(string)

	served := 0
	for _, sc := range conformanceScenarios(portal) {
		switch sc.specPath {
		case "/api/v1/idea_users/{id}":
			sc.path = "/api/v1/idea_users/" + userID
		case "/api/v1/idea_portals/{idea_portal_id}/portal_users/{id}":
			sc.path = "/api/v1/idea_portals/" + portal + "/portal_users/" + puID
		case "/api/v1/idea_organizations/{id}":
			sc.path = "/api/v1/idea_organizations/" + orgID
		}
		t.Run(strings.ToUpper(sc.method)+" "+sc.specPath, func(t *testing.T) {
			ex, ok := examples[sc.method][sc.specPath]
			require.True(t, ok, "no example in the OpenAPI file")
			r := call(t, s, s.APIKey(), strings.ToUpper(sc.method), sc.path, sc.body)
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			var got any
			dec := json.NewDecoder(bytes.NewReader(r.body))
			dec.UseNumber()
			require.NoError(t, dec.Decode(&got))
			nullable := map[string]bool{}
			for _, p := range sc.nullable {
				nullable[p] = true
			}
			mism := conform("", ex, got, nullable)
			require.Empty(t, mism, "simulator answer does not conform to the OpenAPI example")
			served++
		})
	}
	// Every API route the simulator registers has a scenario.
	require.Equal(t, len(conformanceScenarios(portal)), served)
}

// TestConformanceCanFail proves the comparison catches a missing field, a type change and
// an unexpected null.
func TestConformanceCanFail(t *testing.T) {
	ex := map[string]any{"idea": map[string]any{"id": "1", "votes": json.Number("2"), "tags": []any{"a"},
		"workflow_status": map[string]any{"name": "New"}, "status_changed_at": nil}}
	good := map[string]any{"idea": map[string]any{"id": "9", "votes": json.Number("5"), "tags": []any{"x", "y"},
		"workflow_status": map[string]any{"name": "Done", "extra": true}, "status_changed_at": "2020-01-01T00:00:00.000Z"}}
	require.Empty(t, conform("", ex, good, nil))

	missing := deepCopy(good).(map[string]any)
	delete(missing["idea"].(map[string]any)["workflow_status"].(map[string]any), "name")
	require.Equal(t, []string{"idea.workflow_status.name: missing in simulator"}, conform("", ex, missing, nil))

	wrongType := deepCopy(good).(map[string]any)
	wrongType["idea"].(map[string]any)["votes"] = "5"
	require.Equal(t, []string{"idea.votes: example is number, simulator has string"}, conform("", ex, wrongType, nil))

	wrongElem := deepCopy(good).(map[string]any)
	wrongElem["idea"].(map[string]any)["tags"] = []any{"x", json.Number("1")}
	require.Equal(t, []string{"idea.tags[1]: example is string, simulator has number"}, conform("", ex, wrongElem, nil))

	null := deepCopy(good).(map[string]any)
	null["idea"].(map[string]any)["workflow_status"] = nil
	require.Len(t, conform("", ex, null, nil), 1)
	require.Empty(t, conform("", ex, null, map[string]bool{"idea.workflow_status": true}))

	// And against the real simulator: drop a field from a live answer and it fails.
	examples := loadExamples(t)
	s := startSim(t, Options{})
	r := api(t, s, "GET", "/ideas/PRJ1-I-3", nil).json(t)
	require.Empty(t, conform("", examples["get"]["/api/v1/ideas/{id}"], r, nil))
	delete(r["idea"].(map[string]any), "score_facts")
	require.Equal(t, []string{"idea.score_facts: missing in simulator"}, conform("", examples["get"]["/api/v1/ideas/{id}"], r, nil))
}
