package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func fixedAddrs(t *testing.T) Options {
	t.Helper()
	addr := func() string {
		p, err := freePort("127.0.0.1")
		require.NoError(t, err)
		return fmt.Sprintf("127.0.0.1:%d", p)
	}
	return Options{TemporalAddr: addr(), UIAddr: addr(), HTTPAddr: addr(), AhaSimAddr: addr(), CCSimAddr: addr()}
}

func repoConfig() string { return filepath.Join("..", "..", "examples", "ahacc.yaml") }

func noEnv(string) (string, bool) { return "", false }

func getOK(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err, url)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, body)
	return string(body)
}

// TestStackStartsStopsTwiceWithoutLeaks runs the whole stack twice on the same
// ports and data dir: every port is released, goroutines return to their level
// after the first run, the UI and probes answer, and the second run still has
// the first run's workflow history.
func TestStackStartsStopsTwiceWithoutLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal")
	}
	ctx := context.Background()
	o := fixedAddrs(t)
	o.DataDir = t.TempDir()
	o.ConfigPath = repoConfig()
	o.LookupEnv = noEnv
	o.Logger = quietLogger()

	// The embedded Temporal server (v1.32.1) itself leaves goroutines behind on
	// each Stop (its internal SDK workers' retry throttles). Measure that
	// per-cycle figure first, so the check below holds ahacc's own parts
	// (simulators, starter, worker, Redis, UI) to zero growth beyond it.
	serverLeak := temporalCycleLeak(t)
	t.Logf("embedded Temporal server leaves %d goroutines per start/stop", serverLeak)

	var afterFirst int
	var firstWorkflowID string
	for round := 1; round <= 2; round++ {
		s, err := Start(ctx, o)
		require.NoError(t, err, "round %d", round)
		require.Contains(t, getOK(t, s.HTTPURL+"/readyz"), `"status":"ready"`)
		getOK(t, s.HTTPURL+"/healthz")
		getOK(t, s.Temporal.UIURL()+"/")
		banner := s.Banner()
		require.Contains(t, banner, s.HTTPURL+"/webhooks/aha/")
		require.Contains(t, banner, s.Temporal.UIURL())
		require.Contains(t, banner, s.AhaSim.URL())
		require.Contains(t, banner, s.CCSim.URL())

		if round == 1 {
			// A change in the Aha! simulator flows through the webhook into a workflow.
			require.NoError(t, s.AhaSim.UpdateIdea("PRJ1-I-2", map[string]any{"name": "Stack test"}))
			require.Eventually(t, func() bool {
				resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `WorkflowType = "AhaRecordWorkflow"`})
				if err != nil || len(resp.Executions) == 0 {
					return false
				}
				firstWorkflowID = resp.Executions[0].Execution.WorkflowId
				return true
			}, 15*time.Second, 100*time.Millisecond)
		} else {
			desc, err := s.Client.DescribeWorkflowExecution(ctx, firstWorkflowID, "")
			require.NoError(t, err, "history kept across restarts")
			require.Equal(t, firstWorkflowID, desc.WorkflowExecutionInfo.Execution.WorkflowId)
		}
		s.Stop()

		for _, a := range []string{o.TemporalAddr, o.UIAddr, o.HTTPAddr, o.AhaSimAddr, o.CCSimAddr} {
			require.Eventually(t, func() bool {
				l, err := net.Listen("tcp", a)
				if err != nil {
					return false
				}
				l.Close()
				return true
			}, 10*time.Second, 50*time.Millisecond, "port %s released after round %d", a, round)
		}
		n := settledGoroutines()
		if round == 1 {
			afterFirst = n
		} else {
			if n > afterFirst+serverLeak+10 {
				buf := make([]byte, 1<<22)
				buf = buf[:runtime.Stack(buf, true)]
				_ = os.WriteFile(filepath.Join(os.TempDir(), "ahacc-goroutines.txt"), buf, 0o644)
			}
			// Allow a little slack for runtime/background helpers that come and go.
			require.LessOrEqual(t, n, afterFirst+serverLeak+10,
				"goroutines grew from %d to %d after a second start/stop (server alone: %d)", afterFirst, n, serverLeak)
		}
	}
}

func temporalCycleLeak(t *testing.T) int {
	dir := t.TempDir()
	var counts []int
	for i := 0; i < 2; i++ {
		ts, err := StartTemporal(context.Background(), TemporalOptions{Addr: "127.0.0.1:0", UIAddr: "off", DBFile: filepath.Join(dir, "t.db")})
		require.NoError(t, err)
		ts.Stop()
		counts = append(counts, settledGoroutines())
	}
	if d := counts[1] - counts[0]; d > 0 {
		return d
	}
	return 0
}

func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}
