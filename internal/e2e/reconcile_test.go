package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/devstack"
	"github.com/ahacc/ahacc/workflows"
)

// TestReconcileRecoversAuditsThatNeverArrived makes 50 changes in the Aha!
// simulator with webhook delivery switched off (Aha! may never retry a failed
// delivery), then runs the reconcile workflow: every change reaches
// Centercode, once. A second run finds nothing new.
func TestReconcileRecoversAuditsThatNeverArrived(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts Temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{
		Ephemeral: true, UIAddr: "off",
		ConfigPath: filepath.Join("..", "..", "examples", "ahacc.yaml"),
		LookupEnv:  func(string) (string, bool) { return "", false },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	defer stack.Stop()

	// The reconcile Schedule is registered by the worker at start.
	desc, err := stack.Client.ScheduleClient().GetHandle(ctx, workflows.ReconcileScheduleID).Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, stack.Config.Sync.ReconcileEvery, desc.Schedule.Spec.Intervals[0].Every)

	watermark := stack.AhaSim.LastAuditID()
	before := len(stack.CCSim.FeedbackList())
	stack.AhaSim.SetWebhook(stack.HTTPURL+"/webhooks/aha/never-called", true)
	for i := 0; i < 50; i++ {
		_, err := stack.AhaSim.CreateIdea("PRJ1", map[string]any{"name": fmt.Sprintf("Missed idea %d", i)})
		require.NoError(t, err)
	}
	for _, d := range stack.AhaSim.Deliveries() {
		require.True(t, d.Suppressed, "no webhook was delivered")
	}

	run := func() workflows.ReconcileState {
		r, err := stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: stack.Env.TaskQueue},
			workflows.ReconcileWorkflow, workflows.ReconcileInput{AfterID: watermark})
		require.NoError(t, err)
		var st workflows.ReconcileState
		require.NoError(t, r.Get(ctx, &st))
		return st
	}
	st := run()
	require.Equal(t, 50, st.Audits)
	require.Equal(t, 50, st.Accepted)
	require.Eventually(t, func() bool { return len(stack.CCSim.FeedbackList())-before == 50 }, time.Minute, 200*time.Millisecond,
		"50 missed ideas become 50 feedback items")

	// Running again over the same audits hands nothing new over.
	st2 := run()
	require.Equal(t, 50, st2.Audits)
	require.Zero(t, st2.Accepted, "all 50 are duplicates now")
	time.Sleep(3 * time.Second)
	require.Equal(t, 50, len(stack.CCSim.FeedbackList())-before, "no second feedback")
	t.Logf("reconcile: %d audits read, %d recovered; Centercode feedback %d → %d", st.Audits, st.Accepted, before, before+50)
}
