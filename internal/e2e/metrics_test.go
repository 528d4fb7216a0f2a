package e2e

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/devstack"
	"github.com/ahacc/ahacc/workflows"
)

// scrape sums every sample of each metric family (histograms by _count).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

// TestMetricsAfterTheFeedbackFlow runs creates, a duplicate delivery, a
// parked record and enough Aha! calls to wait on the budget, then scrapes the
// starter's /metrics: every family issue 7 names is there and non-zero.
func TestMetricsAfterTheFeedbackFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts Temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{
		Ephemeral: true, UIAddr: "off",
		ConfigPath: filepath.Join("..", "..", "examples", "ahacc.yaml"),
		LookupEnv:  func(string) (string, bool) { return "", false },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Worker:     func(o *app.WorkerOptions) { o.ParkedCountEvery = 500 * time.Millisecond },
	})
	require.NoError(t, err)
	defer stack.Stop()

	for _, ref := range []string{"PRJ1-I-1", "PRJ1-I-2", "PRJ1-I-4", "PRJ1-I-5", "PRJ1-I-6"} {
		require.NoError(t, stack.AhaSim.UpdateIdea(ref, map[string]any{"name": "Metrics " + ref}))
	}
	require.Eventually(t, func() bool { return len(stack.CCSim.FeedbackList()) >= 5 }, time.Minute, 100*time.Millisecond)
	// A duplicate delivery (the simulator's last webhook body, posted again).
	payloads := stack.AhaSim.WebhookPayloads("")
	require.NotEmpty(t, payloads)
	token, _, _ := strings.Cut(stack.Vars["AHACC_AHA_WEBHOOK_TOKEN"], ",")
	resp, err := http.Post(stack.HTTPURL+"/webhooks/aha/"+token, "application/json", strings.NewReader(string(payloads[len(payloads)-1])))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	// A parked record: Centercode refuses the key.
	ccKey := strings.SplitN(stack.Vars["CC_FEEDBACK_LISTENER_URL"], "apiKey=", 2)[1]
	stack.CCSim.SetAPIKeyEnabled(ccKey, false)
	require.NoError(t, stack.AhaSim.UpdateIdea("PRJ1-I-7", map[string]any{"name": "Metrics parked"}))

	var m map[string]float64
	require.Eventually(t, func() bool {
		m = scrape(t, stack.HTTPURL+"/metrics")
		return m["ahacc_parked_records"] >= 1
	}, 30*time.Second, 250*time.Millisecond, "the parked gauge counts the parked record")
	for _, family := range []string{
		"ahacc_webhooks_total", "ahacc_dedup_hits_total", "ahacc_handoff_seconds_count",
		"ahacc_outbound_requests_total", "ahacc_outbound_request_seconds_count",
		"ahacc_rate_budget_waits_total", "ahacc_parked_records",
		"temporal_request", "temporal_workflow_task_execution_latency_seconds_count", "temporal_activity_execution_latency_seconds_count",
	} {
		if strings.HasPrefix(family, "temporal_") {
			found := false
			for name, v := range m {
				if strings.HasPrefix(name, family) && v > 0 {
					found = true
				}
			}
			require.True(t, found, "an SDK metric %s* is reported", family)
			continue
		}
		require.Greater(t, m[family], 0.0, "%s is non-zero", family)
	}
	t.Logf("webhooks %v, dedup hits %v, hand-offs %v, outbound %v, budget waits %v, parked %v",
		m["ahacc_webhooks_total"], m["ahacc_dedup_hits_total"], m["ahacc_handoff_seconds_count"],
		m["ahacc_outbound_requests_total"], m["ahacc_rate_budget_waits_total"], m["ahacc_parked_records"])

	// A reconcile run completes (what the "reconcile not running" alert counts);
	// then every alert and dashboard expression names only what /metrics has.
	rr, err := stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: stack.Env.TaskQueue},
		workflows.ReconcileWorkflow, workflows.ReconcileInput{})
	require.NoError(t, err)
	require.NoError(t, rr.Get(ctx, nil))
	require.Eventually(t, func() bool {
		return len(scrapeSeries(t, stack.HTTPURL+"/metrics")["temporal_workflow_completed"]) > 0
	}, 10*time.Second, 100*time.Millisecond, "the SDK reports the completed reconcile run")
	checkObservability(t, scrapeSeries(t, stack.HTTPURL+"/metrics"))
}
