package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	ccsim "github.com/ahacc/ahacc/internal/sandbox/centercode"
)

// A record's workflow with no event for sync.idle_close (shortened to 3 s)
// completes; the record's next change starts a new run, which finds the
// links the last one kept (Redis) and updates the same feedback — it never
// creates a second one.
func TestIdleClosedRecordUpdatesNotCreates(t *testing.T) {
	e := startStack(t, func(o *devstack.Options) {
		o.ConfigPath = configWith(t, "idle_close: 720h", "idle_close: 3s")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	aha, cc := e.stack.AhaSim, e.stack.CCSim
	info, err := aha.CreateIdea("PRJ1", map[string]any{"name": "Idle one"})
	require.NoError(t, err)
	ref := info.ReferenceNum
	mine := func() []ccsim.Feedback { return feedbackByRef(cc)[ref] }
	require.Eventually(t, func() bool { return len(mine()) == 1 }, time.Minute, 50*time.Millisecond)
	first := mine()[0]

	wfID := contract.AhaRecordWorkflowID("idea", info.ID)
	var closedRun string
	require.Eventually(t, func() bool {
		d, err := e.stack.Client.DescribeWorkflowExecution(ctx, wfID, "")
		if err != nil || d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return false
		}
		closedRun = d.WorkflowExecutionInfo.Execution.RunId
		return true
	}, 30*time.Second, 200*time.Millisecond, "the idle workflow completes")

	writes := cc.FeedbackWrites(first.ID)
	require.NoError(t, aha.UpdateIdea(ref, map[string]any{"name": "Idle one, woken"}))
	require.Eventually(t, func() bool { return len(mine()) > 1 || cc.FeedbackWrites(first.ID) > writes },
		time.Minute, 50*time.Millisecond)
	fs := mine()
	require.Len(t, fs, 1, "updated, not created again")
	assert.Equal(t, first.ID, fs[0].ID)

	d, err := e.stack.Client.DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	assert.NotEqual(t, closedRun, d.WorkflowExecutionInfo.Execution.RunId, "a new run took the change")
}
