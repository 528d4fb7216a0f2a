package mapping

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const examplePath = "../examples/ahacc.yaml"

// testEnv is what the example config needs from the environment.
var testEnv = map[string]string{
	"AHA_BASE_URL":                    "https://example.aha.io",
	"AHA_API_KEY":                     "secret-aha-key",
	"AHA_INTEGRATION_ID":              "6776881149400000300",
	"CC_BUGS_SOURCE_URL":              "https://cc.example.com/api/v1/projects/BETA/feedback/externalSources/bugs?apiKey=secret",
	"CC_FEATURES_SOURCE_URL":          "https://cc.example.com/api/v1/projects/BETA/feedback/externalSources/features?apiKey=secret",
	"CC_FEEDBACK_LISTENER_URL":        "https://cc.example.com/api/v1/listeners/fb?apiKey=secret",
	"CC_USER_DATA_LISTENER_URL":       "https://cc.example.com/api/v1/listeners/users?apiKey=secret",
	"CC_STATUS_FIXED_LISTENER_URL":    "https://cc.example.com/api/v1/listeners/set-fixed?apiKey=secret",
	"CC_STATUS_WONT_FIX_LISTENER_URL": "https://cc.example.com/api/v1/listeners/set-wont-fix?apiKey=secret",
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func loadExample(t testing.TB) *Config {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	cfg, err := LoadWithOptions(examplePath, data, LoadOptions{LookupEnv: lookup(testEnv)})
	require.NoError(t, err)
	return cfg
}

func loadString(t testing.TB, yaml string) (*Config, error) {
	t.Helper()
	return LoadWithOptions("test.yaml", []byte(yaml), LoadOptions{LookupEnv: lookup(testEnv)})
}

// minimal wraps feedback type elements (indented by 6) in a complete config.
func minimal(elements string) string {
	return `aha:
  base_url: https://x.aha.io
  api_key: k
feedback_types:
  bugs:
    source_url: https://cc.example.com/s?apiKey=1
    record_types: [idea]
    elements:
` + elements
}

// openAPIRecord is one record found among the OpenAPI examples.
type openAPIRecord struct {
	Name string // stable file name
	Kind string // idea, feature, idea_user, portal_user, idea_organization
	JSON []byte
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// openAPIRecords walks every response example of the OpenAPI file and
// returns the records wrapped as {"idea": …}, {"ideas": […]} and so on.
func openAPIRecords(t testing.TB) []openAPIRecord {
	t.Helper()
	data, err := os.ReadFile("testdata/aha-openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	wrappers := map[string]string{
		"idea": KindIdea, "ideas": KindIdea, "feature": KindFeature, "features": KindFeature,
		"idea_user": KindIdeaUser, "idea_users": KindIdeaUser, "portal_user": KindPortalUser, "portal_users": KindPortalUser,
		"idea_organization": KindIdeaOrganization, "idea_organizations": KindIdeaOrganization,
	}
	var out []openAPIRecord
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Responses map[string]struct {
					Content map[string]struct {
						Example  json.RawMessage `json:"example"`
						Examples map[string]struct {
							Value json.RawMessage `json:"value"`
						} `json:"examples"`
					} `json:"content"`
				} `json:"responses"`
			}
			if json.Unmarshal(raw, &op) != nil {
				continue
			}
			for code, resp := range op.Responses {
				for _, c := range resp.Content {
					exs := map[string]json.RawMessage{"": c.Example}
					for k, e := range c.Examples {
						exs[k] = e.Value
					}
					for exName, ex := range exs {
						var body map[string]json.RawMessage
						if len(ex) == 0 || json.Unmarshal(ex, &body) != nil {
							continue
						}
						base := strings.Trim(nonWord.ReplaceAllString(method+"_"+path+"_"+code+"_"+exName, "_"), "_")
						for wrap, kind := range wrappers {
							rawRec, ok := body[wrap]
							if !ok {
								continue
							}
							if len(rawRec) > 0 && rawRec[0] == '{' {
								out = append(out, openAPIRecord{Name: base, Kind: kind, JSON: rawRec})
								continue
							}
							var many []json.RawMessage
							if json.Unmarshal(rawRec, &many) == nil {
								for i, r := range many {
									out = append(out, openAPIRecord{Name: fmt.Sprintf("%s_%d", base, i), Kind: kind, JSON: r})
								}
							}
						}
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
