package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/mapping"
)

// exampleConfig is examples/ahacc.yaml with extra (worker:, starter:) appended.
func exampleConfig(t *testing.T, extra string) *mapping.Config {
	t.Helper()
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "ahacc.yaml"))
	require.NoError(t, err)
	cfg, err := mapping.LoadWithOptions("ahacc.yaml", append(example, "\n"+extra...), mapping.LoadOptions{AllowUnsetEnv: true,
		LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	return cfg
}

// knobs is what Env.WithConfig leaves in the three behaviour knobs.
type knobs struct {
	maxActivities, ratePerMinute int
	handoff                      time.Duration
}

// The behaviour knobs come from the environment, else the YAML, else the
// defaults; the hand-off timeout is capped whichever set it.
func TestBehaviourKnobsPrecedence(t *testing.T) {
	const yaml = "worker:\n  max_activities: 8\nstarter:\n  webhook_rate_per_minute: 100\n  centercode_handoff_timeout: 20s\n"
	tests := []struct {
		name string
		vars map[string]string
		yaml string
		want knobs
	}{
		{"defaults", nil, "", knobs{64, 6000, 10 * time.Second}},
		{"YAML", nil, yaml, knobs{8, 100, 20 * time.Second}},
		{"environment over YAML", map[string]string{"AHACC_MAX_ACTIVITIES": "16", "AHACC_WEBHOOK_RATE_PER_MINUTE": "0",
			"AHACC_CENTERCODE_HANDOFF_TIMEOUT": "5s"}, yaml, knobs{16, 0, 5 * time.Second}},
		{"environment over defaults", map[string]string{"AHACC_MAX_ACTIVITIES": "16"}, "", knobs{16, 6000, 10 * time.Second}},
		{"unusable environment: YAML", map[string]string{"AHACC_MAX_ACTIVITIES": "0", "AHACC_WEBHOOK_RATE_PER_MINUTE": "lots",
			"AHACC_CENTERCODE_HANDOFF_TIMEOUT": "-1s"}, yaml, knobs{8, 100, 20 * time.Second}},
		{"YAML capped", nil, "starter:\n  centercode_handoff_timeout: 45s\n", knobs{64, 6000, MaxHandoffTimeout}},
		{"environment capped", map[string]string{"AHACC_CENTERCODE_HANDOFF_TIMEOUT": "1m"}, yaml, knobs{8, 100, MaxHandoffTimeout}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := EnvFrom(func(k string) string { return tc.vars[k] }).WithConfig(exampleConfig(t, tc.yaml))
			assert.Equal(t, tc.want, knobs{e.MaxActivities, e.WebhookRatePerMinute, e.CentercodeHandoffTimeout})
		})
	}
}
