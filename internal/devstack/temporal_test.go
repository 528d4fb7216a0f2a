package devstack

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/workflows"
)

func hello(ctx workflow.Context, name string) (string, error) { return "hello " + name, nil }

// TestTemporalKeepsHistoryAcrossRestarts starts the embedded server on a SQLite
// file, runs a workflow, stops, starts again on the same file and finds the
// workflow and the search attributes still there.
func TestTemporalKeepsHistoryAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "temporal.db")
	opts := TemporalOptions{Addr: "127.0.0.1:0", UIAddr: "127.0.0.1:0", DBFile: db}

	ts, err := StartTemporal(ctx, opts)
	require.NoError(t, err)
	c, err := client.Dial(client.Options{HostPort: ts.Addr(), Logger: quietSDKLogger()})
	require.NoError(t, err)
	w := worker.New(c, "q", worker.Options{})
	w.RegisterWorkflow(hello)
	require.NoError(t, w.Start())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-persist", TaskQueue: "q"}, hello, "ahacc")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "hello ahacc", got)
	resp, err := http.Get(ts.UIURL() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	w.Stop()
	c.Close()
	ts.Stop()

	ts, err = StartTemporal(ctx, opts)
	require.NoError(t, err)
	defer ts.Stop()
	c, err = client.Dial(client.Options{HostPort: ts.Addr(), Logger: quietSDKLogger()})
	require.NoError(t, err)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "wf-persist", "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for _, name := range workflows.SearchAttributeNames {
		require.Contains(t, sas.CustomAttributes, name)
	}
}
