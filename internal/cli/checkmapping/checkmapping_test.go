package checkmapping

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exampleConfig = "../../../examples/ahacc.yaml"

// postIdea is the POST /products/{id}/ideas response example of the Aha! OpenAPI file, trimmed.
const postIdea = `{"idea": {"id": "6776881149487483845", "name": "Comprehensive Feature Request",
 "reference_num": "PRJ1-I-10", "votes": 15, "created_at": "2019-01-01T00:00:00.000Z",
 "workflow_status": {"name": "New"},
 "description": {"body": "<h1>Problem Statement</h1><p>Users need better mobile experience</p>", "attachments": []},
 "url": "http://company.aha.io/ideas/ideas/PRJ1-I-10",
 "created_by_idea_user": {"name": "Sammy Smith", "email": "sammy@smith.com"},
 "tags": ["mobile", "offline"], "categories": [{"name": "Storage"}],
 "custom_fields": [{"key": "severity", "name": "Severity", "value": "%s", "type": "string"}]}}`

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckMapping(t *testing.T) {
	idea := write(t, "idea.json", strings.Replace(postIdea, "%s", "P2", 1))
	p0 := write(t, "p0.json", strings.Replace(postIdea, "%s", "P0", 1))
	bare := write(t, "bare.json", `{"name": "Bare idea", "reference_num": "PRJ1-I-99"}`)
	feature := write(t, "feature.json", `{"feature": {"id": "1", "name": "Feature 1", "reference_num": "PRJ1-1", "release": {"name": "Release 1"}}}`)
	user := write(t, "user.json", `{"idea_user": {"id": "1", "name": "John Long", "email": "john@long.com", "idea_organizations": [{"name": "Acme"}]}}`)
	macroBody := write(t, "macro.json", `{"feedbackId": "4711", "title": "Crash on start", "description": "<p>It <script>x</script>crashes</p>", "severity": "Major", "submitterEmail": "t@example.com"}`)
	macroMissing := write(t, "macro-missing.json", `{"description": "no id, no title"}`)
	list := write(t, "list.json", `{"ideas": [{"name": "a"}], "pagination": {}}`)
	badCfg := write(t, "bad.yaml", "aha:\n  base_url: https://x.aha.io\n  api_key: k\n  colour: red\nfeedback_types: {}\n")
	strictCfg := write(t, "strict.yaml", "aha:\n  base_url: https://x.aha.io\n  api_key: ${AHACC_TEST_UNSET_VARIABLE_XYZ}\nfeedback_types:\n  bugs:\n    source_url: https://cc.example.com/s\n    record_types: [idea]\n    elements:\n      Title: $.name\n")

	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string
		stderr    []string
		notStdout []string
	}{
		{name: "raw Aha! response with --type", args: []string{"--config", exampleConfig, "--type", "bugs", "--record", idea}, code: 0,
			stdout: []string{`"Title": "Comprehensive Feature Request"`, `"Severity": "Major"`, `"Description": "Problem Statement\nUsers need better mobile experience"`,
				"ELEMENT", "PATH", "Severity", `$.custom_fields[?(@.key == 'severity')].value`, `"P2"`, "reference: PRJ1-I-10", "OK", "config " + exampleConfig + " (hash "}},
		{name: "choice error names value, options and fix", args: []string{"--config", exampleConfig, "--type", "bugs", "--record", p0}, code: 1,
			stderr: []string{`Severity: "P0" is not one of Critical, Major, Minor, Trivial (feedback type "bugs"); add it to map: or change the options`},
			stdout: []string{`"Title": "Comprehensive Feature Request"`}, notStdout: []string{"\nOK"}},
		{name: "bare record", args: []string{"--config", exampleConfig, "--type", "bugs", "--record", bare}, code: 0,
			stdout: []string{`"Title": "Bare idea"`, `"Severity": "Minor"`, "default"}},
		{name: "bare record needs a target", args: []string{"--config", exampleConfig, "--record", bare}, code: 2,
			stderr: []string{"needs --type"}},
		{name: "kind picks the targets", args: []string{"--config", exampleConfig, "--record", feature}, code: 0,
			stdout: []string{`== feedback type "features"`, `"Release": "Release 1"`}},
		{name: "user data", args: []string{"--config", exampleConfig, "--user-data", "--record", user}, code: 0,
			// What is sent: a key without a value goes as "" (Centercode clears it).
			stdout: []string{`"email": "john@long.com"`, `"company": "Acme"`, `"job_title": ""`, "reference: john@long.com"}},
		{name: "macro body", args: []string{"--config", exampleConfig, "--macro", "push-to-aha", "--record", macroBody}, code: 0,
			stdout: []string{`"name": "Crash on start"`, `"severity": "P2"`, `"description": "<p>It crashes</p>"`, "reference: 4711"}},
		{name: "macro body missing fields", args: []string{"--config", exampleConfig, "--macro", "push-to-aha", "--record", macroMissing}, code: 1,
			stderr: []string{`feedbackId: the body has no "feedbackId"`, `title: the body has no "title"`, "feedback id: required"}},
		{name: "unknown feedback type", args: []string{"--config", exampleConfig, "--type", "nope", "--record", idea}, code: 1,
			stderr: []string{`no feedback type "nope" (configured: bugs, features)`}},
		{name: "list response", args: []string{"--config", exampleConfig, "--type", "bugs", "--record", list}, code: 1,
			stderr: []string{"list response"}},
		{name: "config errors with position", args: []string{"--config", badCfg, "--type", "bugs", "--record", idea}, code: 1,
			stderr: []string{"bad.yaml:4:3: aha.colour: unknown key", "feedback_types"}},
		{name: "strict env", args: []string{"--strict-env", "--config", strictCfg, "--type", "bugs", "--record", bare}, code: 1,
			stderr: []string{"environment variable AHACC_TEST_UNSET_VARIABLE_XYZ is not set"}},
		{name: "lenient env notes unset variables", args: []string{"--config", strictCfg, "--type", "bugs", "--record", bare}, code: 0,
			stderr: []string{"AHACC_TEST_UNSET_VARIABLE_XYZ"}},
		{name: "missing config", args: []string{"--config", "/nonexistent/ahacc.yaml", "--type", "bugs", "--record", idea}, code: 1,
			stderr: []string{"read config"}},
		{name: "usage", args: []string{"--type", "bugs"}, code: 2, stderr: []string{"usage: check-mapping"}},
		{name: "two targets", args: []string{"--type", "bugs", "--user-data", "--record", idea}, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			assert.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			for _, s := range tt.stdout {
				assert.Contains(t, stdout, s)
			}
			for _, s := range tt.stderr {
				assert.Contains(t, stderr, s)
			}
			for _, s := range tt.notStdout {
				assert.NotContains(t, stdout, s)
			}
			assert.NotContains(t, stdout+stderr, "secret", "no secret is printed")
		})
	}
}

// With feedback types that choose by content, check-mapping says which type
// a record routes to and why, and maps that one only.
func TestCheckMappingShowsTheRoute(t *testing.T) {
	cfg := write(t, "routed.yaml", "aha:\n  base_url: https://x.aha.io\n  api_key: k\nfeedback_types:\n"+
		"  bugs:\n    source_url: https://cc/s\n    record_types: [idea]\n    when: \"$.categories[?(@.name == 'Bug')]\"\n    elements: {Title: $.name}\n"+
		"  requests:\n    source_url: https://cc/r\n    record_types: [idea]\n    elements: {Title: $.name}\n")
	bug := write(t, "bug.json", `{"idea": {"name": "Crash", "categories": [{"name": "Bug"}]}}`)
	idea := write(t, "idea.json", `{"idea": {"name": "Dark mode", "categories": [{"name": "UX"}]}}`)
	code, out, errs := run("--config", cfg, "--record", bug)
	require.Zero(t, code, errs)
	assert.Contains(t, out, `routes to feedback type "bugs": its when: $.categories[?(@.name == 'Bug')] matched`)
	assert.Contains(t, out, `== feedback type "bugs"`)
	assert.NotContains(t, out, `== feedback type "requests"`)
	code, out, _ = run("--config", cfg, "--record", idea)
	require.Zero(t, code)
	assert.Contains(t, out, `routes to feedback type "requests": the first type without when:`)
}
