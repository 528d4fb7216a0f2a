package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ahacc/ahacc/workflows"
)

// TestRecordHistories refreshes workflows/testdata/histories (the replay
// test's input) from a real run: creates, updates, a park and a retry, a
// destroy, and a reconcile run. Run it when a workflow change is meant to be
// compatible, before changing workflow code:
//
//	AHACC_RECORD_HISTORIES=1 go test -run TestRecordHistories ./internal/e2e/
func TestRecordHistories(t *testing.T) {
	if os.Getenv("AHACC_RECORD_HISTORIES") == "" {
		t.Skip("set AHACC_RECORD_HISTORIES=1 to re-record workflows/testdata/histories")
	}
	e := startStack(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	aha := e.stack.AhaSim
	mark := aha.LastAuditID()
	require.NoError(t, aha.UpdateIdea("PRJ1-I-1", map[string]any{"name": "Recorded one"}))
	require.NoError(t, aha.UpdateIdea("PRJ1-I-2", map[string]any{"name": "Recorded two"}))
	require.Eventually(t, func() bool { return len(e.stack.CCSim.FeedbackList()) >= 2 }, time.Minute, 100*time.Millisecond)
	require.NoError(t, aha.UpdateIdea("PRJ1-I-1", map[string]any{"name": "Recorded one, again"}))
	require.NoError(t, aha.DeleteIdea("PRJ1-I-2"))
	run, err := e.stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.stack.Env.TaskQueue},
		workflows.ReconcileWorkflow, workflows.ReconcileInput{AfterID: mark})
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	time.Sleep(5 * time.Second)

	dir := repoFile("workflows", "testdata", "histories")
	resp, err := e.stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{})
	require.NoError(t, err)
	n := 0
	for _, ex := range resp.Executions {
		var h historypb.History
		it := e.stack.Client.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			h.Events = append(h.Events, ev)
		}
		b, err := protojson.MarshalOptions{Indent: " "}.Marshal(&h)
		require.NoError(t, err)
		name := strings.NewReplacer(":", "_", "/", "_").Replace(ex.Type.Name + "-" + ex.Execution.WorkflowId)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644))
		n++
	}
	t.Logf("recorded %d histories into %s", n, dir)
}
