package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/mapping"
)

// starter doctor against the dev stack's simulators: every check passes;
// then each misconfiguration a real admin meets first gives its ✗ with the
// fix, and a failing count (the command exits 1 on any).
func TestDoctor(t *testing.T) {
	e := startStack(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	doctor := func(cfgPath string, adjust func(d *app.Doctor)) (int, string) {
		cfg, err := mapping.LoadFileWithOptions(cfgPath, mapping.LoadOptions{LookupEnv: e.lookup})
		require.NoError(t, err)
		env := e.stack.Env
		d := &app.Doctor{Config: cfg, Env: env, Aha: aha.New(cfg.Aha.BaseURL, cfg.Aha.APIKey.Value()), Temporal: e.stack.Client,
			Redis: e.rdb, DialTLS: app.DialTLS, DialPlain: app.DialPlain}
		if adjust != nil {
			adjust(d)
		}
		var out bytes.Buffer
		failed := app.PrintChecks(&out, d.Run(ctx))
		return failed, out.String()
	}

	failed, out := doctor(e.config, nil)
	t.Logf("doctor on the dev stack:\n%s", out)
	require.Zero(t, failed, out)
	for _, want := range []string{"✓ API key: ahacc Integration", "✓ workspace PRJ1", `✓ integration "6776881149400000300" in PRJ1`,
		`✓ custom field "severity" on ideas`, `✓ idea status "Shipped" in PRJ1`, "✓ idea portals can be listed",
		"✓ feedback_types.bugs.source_url", "✓ search attribute SyncState", "✓ reachable: version"} {
		assert.Contains(t, out, want)
	}

	tests := []struct {
		name   string
		cfg    []string // configWith replacements
		adjust func(d *app.Doctor)
		want   []string
	}{
		{name: "wrong integration id", cfg: []string{"integration_id: ${AHA_INTEGRATION_ID}", "integration_id: \"999\""},
			want: []string{`✗ integration "999" in PRJ1`, "Jira 6776881149400000200", "add a REST API integration"}},
		{name: "missing custom field", cfg: []string{"custom_fields[?(@.key == 'severity')]", "custom_fields[?(@.key == 'sevrity')]"},
			want: []string{`✗ custom field "sevrity" on ideas`, "Custom fields → Ideas::Idea: add a field whose key is \"sevrity\""}},
		{name: "unknown Aha! status", cfg: []string{"    Shipped: Fixed\n", "    Released: Fixed\n"},
			want: []string{`✗ idea status "Released" in PRJ1`, "the idea workflow has: New", "status_rules.from_aha"}},
		{name: "wrong key", adjust: func(d *app.Doctor) { d.Aha = aha.New(d.Config.Aha.BaseURL, "wrong-key") },
			want: []string{"✗ API key of", "403", "set AHA_API_KEY"}},
		{name: "URL without apiKey", cfg: []string{"feedback_listener_url: ${CC_FEEDBACK_LISTENER_URL}", "feedback_listener_url: http://127.0.0.1:9/listener"},
			want: []string{"✗ centercode.feedback_listener_url", "has no apiKey", "ends with ?apiKey="}},
		{name: "unregistered search attribute", adjust: func(d *app.Doctor) { d.Env.Namespace = "doctor-bare" },
			want: []string{"✗ search attribute AhaReference", "temporal operator search-attribute create --namespace doctor-bare --name AhaReference --type Keyword"}},
	}
	_, err := e.stack.Client.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: "doctor-bare", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := e.config
			if tt.cfg != nil {
				path = configWith(t, tt.cfg...)
			}
			var failed int
			var out string
			require.Eventually(t, func() bool { // a new namespace takes a moment to appear
				failed, out = doctor(path, tt.adjust)
				return failed > 0 && strings.Contains(out, tt.want[0])
			}, 20*time.Second, 500*time.Millisecond, "doctor finds the problem:\n%s", out)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			assert.Contains(t, out, "fix:")
		})
	}
}
