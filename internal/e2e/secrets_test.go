package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	"github.com/ahacc/ahacc/workflows"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsStayOutOfHistoryAndLogs configures a secret in every place one
// can be (Aha! API key, Centercode apiKey in source, listener and lookup URLs,
// both webhook tokens, the codec token), runs creates, updates, a parked
// record whose error comes from a URL carrying the key, and a reconcile run,
// then scans every workflow history (inputs, results, failures, search
// attributes, details) and every captured log line for each secret.
func TestSecretsStayOutOfHistoryAndLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts Temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := map[string]string{"AHACC_CODEC_TOKEN": "codec-token-7f3a9c1d2e4b5a6978"}
	stack, err := devstack.Start(ctx, devstack.Options{
		Ephemeral: true, UIAddr: "off",
		ConfigPath: filepath.Join("..", "..", "examples", "ahacc.yaml"),
		LookupEnv:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Logger:     logger,
	})
	require.NoError(t, err)
	defer stack.Stop()

	ccURL, err := url.Parse(stack.Vars["CC_FEEDBACK_LISTENER_URL"])
	require.NoError(t, err)
	ccKey := ccURL.Query().Get("apiKey")
	secrets := map[string]string{
		"AHA_API_KEY":                    stack.Vars["AHA_API_KEY"],
		"Centercode apiKey":              ccKey,
		"AHACC_AHA_WEBHOOK_TOKEN":        stack.Vars["AHACC_AHA_WEBHOOK_TOKEN"],
		"AHACC_CENTERCODE_WEBHOOK_TOKEN": stack.Vars["AHACC_CENTERCODE_WEBHOOK_TOKEN"],
		"AHACC_CODEC_TOKEN":              env["AHACC_CODEC_TOKEN"],
	}
	for name, v := range secrets {
		require.NotEmpty(t, v, name)
	}

	// Creates and updates through the real webhook path.
	require.NoError(t, stack.AhaSim.UpdateIdea("PRJ1-I-1", map[string]any{"name": "Secrets test one"}))
	require.NoError(t, stack.AhaSim.UpdateIdea("PRJ1-I-2", map[string]any{"name": "Secrets test two"}))
	require.Eventually(t, func() bool { return len(stack.CCSim.FeedbackList()) >= 2 }, time.Minute, 100*time.Millisecond)
	require.NoError(t, stack.AhaSim.UpdateIdea("PRJ1-I-1", map[string]any{"name": "Secrets test one, renamed"}))

	// Centercode disables the key: the next create fails with 403 from a URL
	// that carries it, and the record parks with that error as its reason.
	stack.CCSim.SetAPIKeyEnabled(ccKey, false)
	require.NoError(t, stack.AhaSim.UpdateIdea("PRJ1-I-4", map[string]any{"name": "Secrets test parked"}))
	var parkedReason string
	require.Eventually(t, func() bool {
		resp, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`%s = %q`, contract.SASyncState, contract.StateParked)})
		if err != nil || len(resp.Executions) == 0 {
			return false
		}
		v, err := stack.Client.QueryWorkflow(ctx, resp.Executions[0].Execution.WorkflowId, "", contract.QueryState)
		if err != nil {
			return false
		}
		var st workflows.State
		_ = v.Get(&st)
		parkedReason = st.ParkedReason
		return parkedReason != ""
	}, time.Minute, 200*time.Millisecond)
	require.Contains(t, parkedReason, "403")

	// A wrong webhook token is logged by source address only.
	resp, err := http.Post(stack.HTTPURL+"/webhooks/aha/"+secrets["AHACC_AHA_WEBHOOK_TOKEN"]+"x", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)

	// A reconcile run (its activity reads Aha! with the key).
	require.NoError(t, stack.Client.ScheduleClient().GetHandle(ctx, workflows.ReconcileScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{}))
	require.Eventually(t, func() bool {
		resp, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `WorkflowType = "ReconcileWorkflow" AND ExecutionStatus = "Completed"`})
		return err == nil && len(resp.Executions) > 0
	}, time.Minute, 200*time.Millisecond)

	// Every history, whole.
	var all strings.Builder
	var token []byte
	n := 0
	for {
		list, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(t, err)
		for _, e := range list.Executions {
			n++
			all.WriteString(protojson.Format(e))
			it := stack.Client.GetWorkflowHistory(ctx, e.Execution.WorkflowId, e.Execution.RunId, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				require.NoError(t, err)
				all.WriteString(protojson.Format(ev))
			}
			if v, err := stack.Client.QueryWorkflow(ctx, e.Execution.WorkflowId, e.Execution.RunId, contract.QueryState); err == nil {
				var st workflows.State
				if v.Get(&st) == nil {
					fmt.Fprintf(&all, "%+v", st)
				}
			}
		}
		if token = list.NextPageToken; len(token) == 0 {
			break
		}
	}
	require.GreaterOrEqual(t, n, 4, "histories were recorded (3 records + reconcile)")
	history := all.String()
	require.Contains(t, history, "403", "the parked failure is in history (so the scan saw it)")
	captured := logs.String()
	require.NotEmpty(t, captured)
	for name, v := range secrets {
		require.NotContains(t, history, v, "%s found in a workflow history", name)
		require.NotContains(t, captured, v, "%s found in the logs", name)
	}
	t.Logf("scanned %d workflow executions (%d bytes of history) and %d bytes of logs for %d secrets: none found",
		n, len(history), len(captured), len(secrets))
}
