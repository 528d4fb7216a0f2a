package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"

	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/mapping"
)

func TestWebhookPerSourceRateLimit(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		requireRateLimit(t, map[string]string{"AHACC_WEBHOOK_RATE_PER_MINUTE": "3"}, exampleConfig(t, ""))
	})
	t.Run("YAML", func(t *testing.T) {
		requireRateLimit(t, nil, exampleConfig(t, "starter:\n  webhook_rate_per_minute: 3\n"))
	})
	t.Run("environment over YAML", func(t *testing.T) {
		requireRateLimit(t, map[string]string{"AHACC_WEBHOOK_RATE_PER_MINUTE": "3"}, exampleConfig(t, "starter:\n  webhook_rate_per_minute: 1000\n"))
	})
}

// requireRateLimit checks that a starter built from env and cfg lets 3 Aha!
// webhooks a minute through from one source, and health probes always.
func requireRateLimit(t *testing.T, vars map[string]string, cfg *mapping.Config) {
	t.Helper()
	tc := &mocks.Client{}
	tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	env := EnvFrom(func(k string) string {
		if k == "AHACC_AHA_WEBHOOK_TOKEN" {
			return "tok"
		}
		return vars[k]
	})
	st := NewStarter(StarterOptions{Env: env, Config: func() *mapping.Config { return cfg }, Temporal: tc,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	codes := []int{}
	for i := 0; i < 5; i++ {
		body := `{"event":"audit","audit":{"id":"` + string(rune('1'+i)) + `","audit_action":"update","auditable_type":"ideas/idea","auditable_id":"1","user":null,"changes":[]}}`
		req := httptest.NewRequest(http.MethodPost, "/webhooks/aha/tok", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := st.HTTP.App().Test(req)
		require.NoError(t, err)
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			require.Equal(t, "60", resp.Header.Get("Retry-After"))
		}
	}
	require.Equal(t, []int{202, 202, 202, 429, 429}, codes)
	// Health probes are not limited.
	resp, err := st.HTTP.App().Test(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
}

// A Centercode hand-off may not outlive the delivery's Redis claim: a longer
// AHACC_CENTERCODE_HANDOFF_TIMEOUT is capped below it.
func TestCentercodeHandoffTimeoutStaysWithinTheClaim(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 10 * time.Second, "20s": 20 * time.Second, "45s": MaxHandoffTimeout} {
		env := EnvFrom(func(k string) string { return map[string]string{"AHACC_CENTERCODE_HANDOFF_TIMEOUT": v}[k] })
		require.Equal(t, want, env.CentercodeHandoffTimeout, v)
	}
	require.Less(t, MaxHandoffTimeout, dedup.PendingTTL)
}
