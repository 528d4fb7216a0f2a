package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadExample(t *testing.T) {
	cfg := loadExample(t)

	assert.Equal(t, "https://example.aha.io", cfg.Aha.BaseURL)
	assert.Equal(t, "secret-aha-key", cfg.Aha.APIKey.Value())
	assert.Equal(t, "example.aha.io", cfg.Aha.Account, "account defaults to the host")
	assert.Equal(t, Rate{PerSecond: 20, PerMinute: 300}, cfg.Aha.Rate)
	assert.Equal(t, DefaultRecordTypes(), cfg.Aha.RecordTypes)
	kind, ok := cfg.Aha.Kind("ideas/idea")
	assert.True(t, ok)
	assert.Equal(t, KindIdea, kind)
	_, ok = cfg.Aha.Kind("ideas/idea_comment")
	assert.False(t, ok)
	assert.Equal(t, "centercode_feedback_id", cfg.Aha.IntegrationField)
	assert.Equal(t, "6776881149400000300", cfg.Aha.IntegrationID)

	assert.Equal(t, Rate{PerSecond: 10, PerMinute: 600}, cfg.Centercode.Rate)
	assert.Contains(t, cfg.Centercode.FeedbackListenerURL.Value(), "apiKey=")
	assert.Equal(t, "externalReference", cfg.Centercode.Lookup.Param)
	assert.Equal(t, Sync{Debounce: 2 * time.Second, DedupTTL: 168 * time.Hour, ReconcileEvery: 5 * time.Minute,
		RetryMaxInterval: 5 * time.Minute, RetryFor: 24 * time.Hour, EchoWindow: 10 * time.Minute, IdleClose: 30 * 24 * time.Hour}, cfg.Sync)
	assert.Equal(t, Worker{MaxActivities: 64}, cfg.Worker)
	assert.Equal(t, Starter{WebhookRatePerMinute: 6000, CentercodeHandoffTimeout: 10 * time.Second}, cfg.Starter)

	assert.Equal(t, []string{"bugs", "features"}, cfg.FeedbackTypeNames())
	bugs := cfg.FeedbackType("bugs")
	require.NotNil(t, bugs)
	assert.Equal(t, "Aha Reference", bugs.ExternalReference)
	assert.Equal(t, OnDestroyComment, bugs.OnDestroy)
	assert.Equal(t, "BETA", bugs.Project)
	assert.GreaterOrEqual(t, len(bugs.Elements()), 15)
	assert.Nil(t, cfg.FeedbackType("nope"))
	require.Len(t, cfg.FeedbackTypesFor(KindIdea), 1)
	assert.Equal(t, "bugs", cfg.FeedbackTypesFor(KindIdea)[0].Name)
	assert.Equal(t, "features", cfg.FeedbackTypesFor(KindFeature)[0].Name)
	assert.Empty(t, cfg.FeedbackTypesFor(KindIdeaUser))

	require.NotNil(t, cfg.UserData)
	assert.Equal(t, "Aha! Ideas", cfg.UserData.DataGroup)
	assert.Equal(t, "skip", cfg.UserData.OnUnknownUser)
	assert.True(t, cfg.UserData.Accepts(KindIdeaUser))
	assert.False(t, cfg.UserData.Accepts(KindIdea))
	assert.Equal(t, "Company", cfg.UserData.Labels["company"])

	push := cfg.Macro("push-to-aha")
	require.NotNil(t, push)
	assert.Equal(t, ActionCreateIdea, push.Action)
	assert.Equal(t, "PRJ1", push.Product)
	assert.Equal(t, "idea", push.Resource())
	assert.Equal(t, "comment", cfg.Macro("comment-to-aha").Resource())
	assert.Equal(t, "", cfg.Macro("status-to-aha").Resource())

	assert.Equal(t, []RuleAction{{Macro: "push-to-aha", EveryTime: false}}, cfg.StatusRules.MacrosFor("will fix"), "case-insensitive")
	assert.Equal(t, []RuleAction{{Macro: "status-to-aha"}}, cfg.StatusRules.MacrosFor("won't fix"), "compact form")
	assert.Nil(t, cfg.StatusRules.MacrosFor("New"))
	st, ok := cfg.StatusRules.CentercodeStatusFor("Shipped")
	assert.True(t, ok)
	assert.Equal(t, "Fixed", st)

	assert.Len(t, cfg.Hash(), 64)
	assert.Len(t, cfg.ShortHash(), 12)
	assert.Empty(t, cfg.UnsetEnv())
}

func problems(t *testing.T, yaml string) string {
	t.Helper()
	_, err := loadString(t, yaml)
	require.Error(t, err)
	var ce *ConfigError
	require.True(t, errors.As(err, &ce), "a *ConfigError, got %T", err)
	return err.Error()
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error text
	}{
		{"unknown key with suggestion", "aha:\n  base_url: https://x.aha.io\n  api_key: k\n  rat: {}\nfeedback_types: {}\n",
			[]string{`test.yaml:4:3: aha.rat: unknown key (did you mean "rate"?)`}},
		{"unknown top-level key", "ahaa: {}\n", []string{`test.yaml:1:1: ahaa: unknown key (did you mean "aha"?)`, "aha: section is required"}},
		{"empty file", "", []string{"config is empty"}},
		{"invalid YAML", "aha:\n  base_url: [unclosed\n", []string{"test.yaml:", "invalid YAML"}},
		{"unset env", "aha:\n  base_url: https://x.aha.io\n  api_key: ${NOT_SET_ANYWHERE_42}\n",
			[]string{"test.yaml:3:12: environment variable NOT_SET_ANYWHERE_42 is not set (use ${NOT_SET_ANYWHERE_42:-default} for an optional value)"}},
		{"bad env reference", "aha:\n  base_url: https://x.aha.io\n  api_key: ${1BAD}\n", []string{"invalid variable reference ${1BAD}"}},
		{"unterminated env", "aha:\n  base_url: https://x.aha.io\n  api_key: ${OOPS\n", []string{"unterminated ${"}},
		{"bad rate", "aha:\n  base_url: https://x.aha.io\n  api_key: k\n  rate: {per_second: 0, per_minute: lots}\n",
			[]string{"aha.rate.per_second: must be between 1 and 100000, not 0", "aha.rate.per_minute: must be a whole number"}},
		{"bad record kind", "aha:\n  base_url: https://x.aha.io\n  api_key: k\n  record_types: {ideas/idea: ideaa}\n",
			[]string{`aha.record_types.ideas/idea: unknown record kind "ideaa"`}},
		{"bad base_url", "aha:\n  base_url: example.aha.io\n  api_key: k\n", []string{`aha.base_url: must be an absolute http(s) URL, not "example.aha.io"`}},
		{"secret URL not echoed", "aha:\n  base_url: https://x.aha.io\n  api_key: k\ncentercode:\n  feedback_listener_url: notaurl?apiKey=TOPSECRET\n",
			[]string{"centercode.feedback_listener_url: must be an absolute http(s) URL (value not shown"}},
		{"bad duration", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nsync:\n  debounce: soon\n  dedup_ttl: 1s\n",
			[]string{"test.yaml:5:13: sync.debounce: must be a duration such as 2s, 5m or 168h", "sync.dedup_ttl: must be at least 1m0s"}},
		{"from_aha status without a listener", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nstatus_rules:\n  from_aha:\n    Shipped: Fixed\n",
			[]string{`test.yaml:6:14: status_rules.from_aha.Shipped: Centercode status "Fixed" has no listener in centercode.status_listeners`}},
		{"destroy status without a listener", "aha:\n  base_url: https://x.aha.io\n  api_key: k\ncentercode:\n  status_listeners: {Fixed: \"https://cc/l?apiKey=x\"}\nfeedback_types:\n  bugs:\n    source_url: https://cc/s\n    record_types: [idea]\n    on_destroy: status\n    destroy_status: Closed\n    elements: {Title: $.name}\n",
			[]string{`feedback_types.bugs.destroy_status: Centercode status "Closed" has no listener in centercode.status_listeners`}},
		{"bad status listeners", "aha:\n  base_url: https://x.aha.io\n  api_key: k\ncentercode:\n  comment_listener_url: nope?apiKey=SECRET1\n  status_listeners:\n    Fixed: [a]\n    Closed: nope?apiKey=SECRET2\n    closed: https://cc/l\n",
			[]string{"centercode.comment_listener_url: must be an absolute http(s) URL (value not shown", "centercode.status_listeners.Fixed: must be the URL of a feedback listener",
				"centercode.status_listeners.Closed: must be an absolute http(s) URL (value not shown", "centercode.status_listeners.closed: status listed twice"}},
		{"bad retry", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nsync:\n  retry_max_interval: 10ms\n  retry_for: 30s\n",
			[]string{"sync.retry_max_interval: must be at least 1s", "sync.retry_for: must be at least 1m0s"}},
		{"retry_for below the interval", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nsync:\n  retry_max_interval: 2h\n  retry_for: 1h\n",
			[]string{"test.yaml:6:14: sync.retry_for: must be at least retry_max_interval (2h0m0s)"}},
		{"interval above the default retry_for", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nsync:\n  retry_max_interval: 25h\n",
			[]string{"test.yaml:5:23: sync.retry_max_interval: must be at most retry_for (24h0m0s)"}},
		{"feedback type basics", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nfeedback_types:\n  bugs:\n    record_types: [bug]\n    on_destroy: explode\n    external_reference: Ref\n    elements: {}\n",
			[]string{"feedback_types.bugs.source_url: is required", `feedback_types.bugs.record_types[0]: record kind "bug" is not in aha.record_types`,
				`feedback_types.bugs.on_destroy: must be comment, status or ignore, not "explode"`, `feedback_types.bugs.external_reference: names no element`,
				"feedback_types.bugs.elements: list at least one element"}},
		{"destroy status needs a status", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nfeedback_types:\n  bugs:\n    source_url: https://cc/s\n    record_types: [idea]\n    on_destroy: status\n    elements: {Title: $.name}\n",
			[]string{"feedback_types.bugs.destroy_status: is required when on_destroy is status"}},
		{"bad JSONPath", minimal("      Title:\n        path: $.name[\n"),
			[]string{`test.yaml:10:15: feedback_types.bugs.elements.Title.path: invalid JSONPath "$.name["`}},
		{"path without $", minimal("      Title: name\n"), []string{`feedback_types.bugs.elements.Title.path: JSONPath "name" must start with $`}},
		{"bad path in a list", minimal("      Title:\n        path:\n          - $.name\n          - $.x[\n"), []string{"feedback_types.bugs.elements.Title.path[1]: invalid JSONPath"}},
		{"choice needs options", minimal("      Severity:\n        path: $.s\n        kind: choice\n"),
			[]string{"feedback_types.bugs.elements.Severity.options: a choice element needs options"}},
		{"default not among options", minimal("      Severity:\n        path: $.s\n        kind: choice\n        options: [Critical, Major]\n        default: Minr\n"),
			[]string{`test.yaml:13:18: feedback_types.bugs.elements.Severity.default: "Minr" is not one of Critical, Major`}},
		{"map must be a mapping", minimal("      Severity:\n        path: $.s\n        map: [P1]\n"),
			[]string{"feedback_types.bugs.elements.Severity.map: must be a mapping of values"}},
		{"map value must be scalar", minimal("      Severity:\n        path: $.s\n        map: {P1: [a]}\n"),
			[]string{"feedback_types.bugs.elements.Severity.map.P1: must be a single value"}},
		{"fallback without map", minimal("      Severity:\n        path: $.s\n        fallback: Minor\n"),
			[]string{"feedback_types.bugs.elements.Severity.fallback: only applies together with map:"}},
		{"unknown kind", minimal("      Title:\n        path: $.name\n        kind: txt\n"), []string{`feedback_types.bugs.elements.Title.kind: unknown kind "txt"`}},
		{"unknown element key", minimal("      Title:\n        path: $.name\n        requird: true\n"),
			[]string{`feedback_types.bugs.elements.Title.requird: unknown key (did you mean "required"?)`}},
		{"unknown transform", minimal("      Title:\n        path: $.name\n        transforms: [trimm]\n"),
			[]string{`feedback_types.bugs.elements.Title.transforms[0]: unknown transform "trimm" (did you mean "trim"?)`}},
		{"transform needs a value", minimal("      Title:\n        path: $.name\n        transforms: [truncate]\n"),
			[]string{"transforms[0]: truncate needs a value"}},
		{"transform takes no value", minimal("      Title:\n        path: $.name\n        transforms: [{trim: yes}]\n"),
			[]string{"transforms[0].trim: trim takes no value"}},
		{"bad truncate", minimal("      Title:\n        path: $.name\n        transforms: [{truncate: -1}]\n"),
			[]string{"transforms[0].truncate: must be between 1 and"}},
		{"bad template", minimal("      Title:\n        transforms: [{template: \"{{ name }}\"}]\n"),
			[]string{"must be a JSONPath ($.field) or . for the current value", "Title: needs a path"}},
		{"bad date format", minimal("      Created:\n        path: $.created_at\n        transforms: [{date_format: \"%Q\"}]\n"),
			[]string{`%Q is not supported`}},
		{"date format without fields", minimal("      Created:\n        path: $.created_at\n        transforms: [{date_format: \"yyyy\"}]\n"),
			[]string{`has no date fields`}},
		{"transforms must be a list", minimal("      Title:\n        path: $.name\n        transforms: trim\n"), []string{"transforms: must be a list"}},
		{"max without {n}", minimal("      Attachment:\n        path: $.a\n        max: 3\n"), []string{`Attachment.max: only applies to fan-out elements`}},
		{"options on text", minimal("      Title:\n        path: $.name\n        options: [a]\n"), []string{"Title.options: only applies to kind choice or multi_choice"}},
		{"scale on text", minimal("      Title:\n        path: $.name\n        scale: 3\n"), []string{"Title.scale: only applies to kind rating"}},
		{"nothing to compute", minimal("      Title:\n        kind: text\n"), []string{"Title: needs a path, a template transform or a default"}},
		{"same parameter twice", minimal("      \"Attachment {n}\":\n        path: $.a\n        max: 2\n      Attachment 2: $.b\n"),
			[]string{`Attachment 2: writes the same parameter as "Attachment {n}"`}},
		{"indexed and plain collide", minimal("      \"$['Files'][0]\": $.a\n      Files: $.b\n"), []string{`Files: writes the same parameter as "$['Files'][0]"`}},
		{"duplicate key", minimal("      Title: $.name\n      Title: $.other\n"), []string{`test.yaml:10:7: invalid YAML: mapping key "Title" already defined at [9:7]`}},
		{"user data", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nuser_data:\n  on_unknown_user: explode\n  keys:\n    email: $.email\n",
			[]string{"user_data.listener_url: is required", "user_data.data_group: is required", `user_data.on_unknown_user: must be skip or park, not "explode"`, `user_data.keys.email: "email" is reserved`}},
		{"macros", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nfeedback_types:\n  bugs:\n    source_url: https://cc/s\n    record_types: [idea]\n    elements: {Title: $.name}\nmacros:\n  a:\n    action: create_idea\n  b:\n    action: create_feature\n    product: P\n  c:\n    action: comment\n  d:\n    action: launch\n  e:\n    action: set_status\n  f:\n    action: set_integration_field\n  g:\n    action: comment\n    elements:\n      custom_fields: $.x\n      custom_fields.y: $.y\n      body: $.b\n",
			[]string{"macros.a.product: is required for create_idea", `macros.a.elements: action create_idea needs an element "name"`,
				"macros.b.release: is required for create_feature", "macros.b.product: only applies to create_idea", `macros.c.elements: action comment needs an element "body"`,
				`macros.d.action: unknown action "launch"`, `macros.e.elements: action set_status needs an element "workflow_status"`,
				"macros.f.elements: set_integration_field needs at least one element", `macros.g.elements.custom_fields.y: is inside "custom_fields"`}},
		{"unfetchable kinds", "aha:\n  base_url: https://x.aha.io\n  api_key: k\n  record_types:\n    ideas/idea: idea\n    ideas/idea_endorsement: idea_endorsement\n    ideas/idea_user: idea_user\nfeedback_types:\n  bugs:\n    source_url: https://cc/s\n    record_types: [idea, idea_endorsement, idea_user]\n    elements: {Title: $.name}\n",
			[]string{`feedback_types.bugs.record_types[1]: "idea_endorsement" cannot feed a feedback type (one of idea, feature, epic, requirement): comments and votes reach their idea's feedback on their own`,
				`feedback_types.bugs.record_types[2]: "idea_user" cannot feed a feedback type`}},
		{"on_linked", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nfeedback_types:\n  bugs:\n    source_url: https://cc/s\n    record_types: [idea]\n    elements: {Title: $.name}\nmacros:\n  a:\n    action: create_idea\n    product: P\n    on_linked: again\n    elements: {name: $.t}\n  c:\n    action: comment\n    on_linked: skip\n    elements: {body: $.b}\n",
			[]string{"macros.a.on_linked: must be update or skip", "macros.c.on_linked: only applies to create_idea and create_feature"}},
		{"status rules", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nfeedback_types:\n  bugs:\n    source_url: https://cc/s\n    record_types: [idea]\n    elements: {Title: $.name}\nstatus_rules:\n  on_status:\n    Will Fix: [push]\n    will fix: other\n    Closed: [{macro: x, every_time: maybe}]\n  from_aha:\n    Shipped: [a]\n",
			[]string{`status_rules.on_status.Will Fix[0]: unknown macro "push"`, "status_rules.on_status.will fix: status listed twice",
				`status_rules.on_status.Closed[0]: unknown macro "x"`, "status_rules.on_status.Closed[0].every_time: must be true or false",
				"status_rules.from_aha.Shipped: must be a Centercode status name"}},
		{"bad process knobs", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nworker:\n  max_activities: 0\n  max_activity: 3\n" +
			"starter:\n  webhook_rate_per_minute: -1\n  centercode_handoff_timeout: soon\n",
			[]string{"worker.max_activities: must be between 1 and 100000, not 0", "worker.max_activity: unknown key",
				"starter.webhook_rate_per_minute: must be between 0 and 6000000, not -1",
				"starter.centercode_handoff_timeout: must be a duration such as 2s, 5m or 168h"}},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
			[]string{"aliases expand to more than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := problems(t, tt.yaml)
			for _, w := range tt.want {
				assert.Contains(t, msg, w)
			}
			assert.NotContains(t, msg, "TOPSECRET")
		})
	}
}

func TestLoadReportsAllErrorsAtOnce(t *testing.T) {
	yaml := minimal("      Title:\n        path: $.name[\n      Severity:\n        path: $.s\n        kind: choice\n      Votes:\n        path: $.v\n        kind: numbr\n") +
		"sync:\n  debounce: soon\n"
	_, err := loadString(t, yaml)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Problems, 4, err.Error())
	for i := 1; i < len(ce.Problems); i++ {
		assert.LessOrEqual(t, ce.Problems[i-1].Line, ce.Problems[i].Line, "sorted by position")
	}
	assert.Contains(t, err.Error(), "test.yaml: 4 problems:")
	p := ce.Problems[0]
	assert.Equal(t, Problem{File: "test.yaml", Line: 10, Column: 15, Path: "feedback_types.bugs.elements.Title.path", Message: p.Message}, p)
}

func TestEnvExpansion(t *testing.T) {
	env := lookup(map[string]string{"A": "alpha", "EMPTY": ""})
	tests := []struct {
		in, want string
		unset    []string
		err      string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "${B:-bee}", want: "bee"},
		{in: "${A:-bee}", want: "alpha"},
		{in: "${EMPTY:-d}", want: "d", err: ""},
		{in: "${EMPTY}", want: ""},
		{in: "${B:-}", want: ""},
		{in: "$${A}", want: "${A}"},
		{in: "$.name", want: "$.name"},
		{in: "${B}${C}", want: "", unset: []string{"B", "C"}},
		{in: "${A", err: "unterminated"},
		{in: "${A-B}", err: "invalid variable reference"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			out, unset, err := expandEnv(tt.in, env)
			if tt.err != "" {
				assert.Contains(t, err, tt.err)
				return
			}
			assert.Empty(t, err)
			assert.Equal(t, tt.want, out)
			assert.Equal(t, tt.unset, unset)
		})
	}
}

func TestLenientEnv(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	_, err = LoadWithOptions("ahacc.yaml", data, LoadOptions{LookupEnv: lookup(nil)})
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "environment variable AHA_API_KEY is not set")
	assert.Contains(t, err.Error(), "environment variable CC_BUGS_SOURCE_URL is not set")

	cfg, err := LoadWithOptions("ahacc.yaml", data, LoadOptions{LookupEnv: lookup(nil), AllowUnsetEnv: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"AHA_API_KEY", "AHA_BASE_URL", "AHA_INTEGRATION_ID", "CC_BUGS_SOURCE_URL", "CC_FEATURES_SOURCE_URL", "CC_FEEDBACK_LISTENER_URL",
		"CC_STATUS_FIXED_LISTENER_URL", "CC_STATUS_WONT_FIX_LISTENER_URL", "CC_USER_DATA_LISTENER_URL"}, cfg.UnsetEnv())
	assert.Equal(t, loadExample(t).Hash(), cfg.Hash(), "the hash does not depend on the environment")
}

func TestHash(t *testing.T) {
	base := minimal("      Title: $.name\n")
	h := func(yaml string, env map[string]string) string {
		cfg, err := LoadWithOptions("x.yaml", []byte(yaml), LoadOptions{LookupEnv: lookup(env)})
		require.NoError(t, err)
		return cfg.Hash()
	}
	h0 := h(base, nil)
	assert.Equal(t, h0, h("# a comment\n"+strings.ReplaceAll(base, "[idea]", "[ idea ]"), nil), "comments and layout do not count")
	assert.NotEqual(t, h0, h(minimal("      Title: $.title\n"), nil), "content counts")
	withEnv := strings.Replace(base, "api_key: k", "api_key: ${KEY}", 1)
	assert.Equal(t, h(withEnv, map[string]string{"KEY": "one"}), h(withEnv, map[string]string{"KEY": "two"}), "secrets do not count")
	assert.Regexp(t, "^[0-9a-f]{64}$", h0)
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg := loadExample(t)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", cfg.Aha.APIKey, "url", cfg.FeedbackType("bugs").SourceURL)
	j, err := json.Marshal(cfg.Aha)
	require.NoError(t, err)
	for _, out := range []string{fmt.Sprint(cfg.Aha), fmt.Sprintf("%+v %#v", cfg.Aha, cfg.Aha), string(j), logs.String(), fmt.Sprintf("%v", *cfg.FeedbackType("bugs"))} {
		assert.NotContains(t, out, "secret")
		assert.Contains(t, out, "redacted")
	}
	assert.Equal(t, "", Secret("").String())
}

func TestYAMLFeatures(t *testing.T) {
	yaml := `defaults: &el
  kind: text
  transforms: [trim]
aha:
  base_url: https://x.aha.io
  api_key: k
feedback_types:
  bugs:
    source_url: https://cc.example.com/s
    record_types: [idea]
    elements:
      Title:
        <<: *el
        path: $.name
      Notes:
        path: $.notes
        transforms:
          - template: |
              {{ $.a }}
              {{ $.b }}
`
	_, err := loadString(t, yaml)
	require.ErrorContains(t, err, "test.yaml:1:1: defaults: unknown key", "anchors must live inside a known section")
	// Anchors, merge keys and block scalars work.
	yaml2 := strings.Replace(strings.Replace(yaml, "defaults: &el\n  kind: text\n  transforms: [trim]\n", "", 1),
		"      Title:\n        <<: *el\n", "      Title:\n        <<: &el {kind: text, transforms: [trim]}\n", 1)
	cfg, err := loadString(t, yaml2)
	require.NoError(t, err)
	res, err := cfg.FeedbackType("bugs").Map([]byte(`{"name": "  x  ", "a": 1, "b": "two"}`))
	require.NoError(t, err)
	assert.Equal(t, "x", res.Body["Title"])
	assert.Equal(t, "1\ntwo\n", res.Body["Notes"])
}

// Each status ahacc sets has its own listener (a Centercode listener does one
// thing); statuses match case-insensitively.
func TestStatusListeners(t *testing.T) {
	cfg, err := loadString(t, "aha:\n  base_url: https://x.aha.io\n  api_key: k\ncentercode:\n  comment_listener_url: https://cc/comment?apiKey=c\n"+
		"  status_listeners:\n    Fixed: https://cc/fixed?apiKey=f\n    Won't Fix: https://cc/wontfix?apiKey=w\nstatus_rules:\n  from_aha:\n    Shipped: fixed\n"+
		"feedback_types:\n  bugs:\n    source_url: https://cc/s\n    record_types: [idea]\n    on_destroy: status\n    destroy_status: WON'T FIX\n    elements: {Title: $.name}\n")
	require.NoError(t, err)
	assert.Equal(t, "https://cc/fixed?apiKey=f", cfg.Centercode.StatusListener("FIXED").Value())
	assert.Equal(t, "https://cc/wontfix?apiKey=w", cfg.Centercode.StatusListener(" won't fix ").Value())
	assert.Empty(t, cfg.Centercode.StatusListener("Closed").Value())
	assert.Equal(t, "https://cc/comment?apiKey=c", cfg.Centercode.CommentListenerURL.Value())
	assert.NotContains(t, fmt.Sprintf("%v %+v", cfg.Centercode, cfg.Centercode), "apiKey=", "listener URLs are secrets")
}

func TestRouteByContent(t *testing.T) {
	base := "aha:\n  base_url: https://x.aha.io\n  api_key: k\nfeedback_types:\n"
	typ := func(name, when string) string {
		s := "  " + name + ":\n    source_url: https://cc/s\n    record_types: [idea]\n    elements: {Title: $.name}\n"
		if when != "" {
			s += "    when: \"" + when + "\"\n"
		}
		return s
	}
	cfg, err := LoadWithOptions("x.yaml", []byte(base+typ("bugs", "$.categories[?(@.name == 'Bug')]")+typ("requests", "")), LoadOptions{LookupEnv: lookup(nil)})
	require.NoError(t, err)
	require.True(t, cfg.ContentRouted("idea"))
	for _, tt := range []struct{ record, want string }{
		{`{"name":"a","categories":[{"name":"Bug"}]}`, "bugs"},
		{`{"name":"b","categories":[{"name":"Idea"}]}`, "requests"},
		{`{"name":"c"}`, "requests"},
	} {
		got, why, err := cfg.RouteRecord("idea", []byte(tt.record))
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, tt.record)
		assert.NotEmpty(t, why)
	}
	// Only when:s: a record none matches goes nowhere.
	cfg, err = LoadWithOptions("x.yaml", []byte(base+typ("bugs", "$.categories[?(@.name == 'Bug')]")+typ("ux", "$.tags[?(@ == 'ux')]")), LoadOptions{LookupEnv: lookup(nil)})
	require.NoError(t, err)
	got, why, err := cfg.RouteRecord("idea", []byte(`{"name":"d","tags":["perf"]}`))
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Contains(t, why, "no feedback type")
	got, _, _ = cfg.RouteRecord("idea", []byte(`{"name":"e","tags":["ux","perf"]}`))
	assert.Equal(t, "ux", got)
	// A catch-all before another type would starve it.
	msg := problems(t, base+typ("requests", "")+typ("bugs", "$.categories[?(@.name == 'Bug')]"))
	assert.Contains(t, msg, `feedback_types.requests: has no when: and comes before "bugs"`)
	msg = problems(t, base+typ("bugs", "categories"))
	assert.Contains(t, msg, "feedback_types.bugs.when: JSONPath")
}

// worker: and starter: carry the process knobs; absent keys are the defaults.
func TestProcessKnobs(t *testing.T) {
	cfg, err := loadString(t, minimal("      Title: $.name\n")+
		"worker:\n  max_activities: 8\nstarter:\n  webhook_rate_per_minute: 0\n  centercode_handoff_timeout: 20s\n")
	require.NoError(t, err)
	assert.Equal(t, Worker{MaxActivities: 8}, cfg.Worker)
	assert.Equal(t, Starter{WebhookRatePerMinute: 0, CentercodeHandoffTimeout: 20 * time.Second}, cfg.Starter)

	cfg, err = loadString(t, minimal("      Title: $.name\n")+"starter:\n  webhook_rate_per_minute: 100\n")
	require.NoError(t, err)
	assert.Equal(t, Worker{MaxActivities: DefaultMaxActivities}, cfg.Worker)
	assert.Equal(t, Starter{WebhookRatePerMinute: 100, CentercodeHandoffTimeout: DefaultCentercodeHandoffTimeout}, cfg.Starter)
}

// The example documents worker: and starter: commented out; uncommented,
// they load and say the defaults.
func TestExampleProcessKnobsUncommented(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	knob := regexp.MustCompile(`(?m)^# ((worker|starter):|  (max_activities|webhook_rate_per_minute|centercode_handoff_timeout):)`)
	require.Len(t, knob.FindAll(data, -1), 5)
	cfg, err := LoadWithOptions(examplePath, knob.ReplaceAll(data, []byte("$1")), LoadOptions{LookupEnv: lookup(testEnv)})
	require.NoError(t, err)
	assert.Equal(t, Worker{MaxActivities: DefaultMaxActivities}, cfg.Worker)
	assert.Equal(t, Starter{WebhookRatePerMinute: DefaultWebhookRatePerMinute, CentercodeHandoffTimeout: DefaultCentercodeHandoffTimeout}, cfg.Starter)
}
