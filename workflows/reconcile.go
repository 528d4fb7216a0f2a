package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
)

// ReconcileScheduleID is the Temporal Schedule that runs ReconcileWorkflow.
const ReconcileScheduleID = "ahacc-reconcile"

// DefaultReconcileLookback bounds the very first reconcile run, which has no
// watermark yet.
const DefaultReconcileLookback = time.Hour

// ReconcileInput starts a reconcile run.
type ReconcileInput struct {
	// Lookback bounds the first run (no watermark): audits created since now-Lookback.
	Lookback time.Duration `json:"lookback,omitempty"`
	// AfterID overrides the watermark (an operator replaying from a known audit).
	AfterID string `json:"after_id,omitempty"`
}

// ReconcileState is each run's result; the Schedule hands it to the next run
// as its watermark (GetLastCompletionResult).
type ReconcileState struct {
	LastID   string    `json:"last_id,omitempty"`
	LastRun  time.Time `json:"last_run"`
	Runs     int       `json:"runs"`
	Audits   int       `json:"audits"`
	Accepted int       `json:"accepted"`
	// Recovered counts audits the webhook never delivered, over all runs.
	Recovered int `json:"recovered"`
}

// maxPassesPerRun bounds one run; a longer backlog continues in the next run.
const maxPassesPerRun = 20

// ReconcileWorkflow reads Aha!'s /api/v1/audits after the last watermark and
// feeds every audit through the webhook's dedup and workflows, recovering
// deliveries Aha! never made. A Temporal Schedule runs it (every 5 minutes by
// default); each run's result is the next run's watermark.
func ReconcileWorkflow(ctx workflow.Context, in ReconcileInput) (ReconcileState, error) {
	var st ReconcileState
	if workflow.HasLastCompletionResult(ctx) {
		if err := workflow.GetLastCompletionResult(ctx, &st); err != nil {
			workflow.GetLogger(ctx).Warn("previous reconcile result unreadable; starting from the lookback", "error", err)
			st = ReconcileState{}
		}
	}
	if in.AfterID != "" {
		st.LastID = in.AfterID
	}
	lookback := in.Lookback
	if lookback <= 0 {
		lookback = DefaultReconcileLookback
	}
	req := activities.ReconcileRequest{AfterID: st.LastID, MaxPages: 50, PerPage: 200}
	if st.LastID == "" {
		req.Since = workflow.Now(ctx).Add(-lookback)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Minute,
		HeartbeatTimeout:       time.Minute,
		ScheduleToCloseTimeout: 2 * time.Hour,
		Summary:                "read Aha! audits after " + orNone(st.LastID),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypePermanent, activities.ErrTypeNotFound},
		},
	})
	st.Runs++
	for pass := 0; pass < maxPassesPerRun; pass++ {
		var res activities.ReconcileResult
		if err := workflow.ExecuteActivity(actx, a.ReconcileAudits, req).Get(ctx, &res); err != nil {
			return st, err
		}
		st.Audits += res.Audits
		st.Accepted += res.Accepted
		st.Recovered += res.Accepted
		if res.LastID != "" {
			st.LastID = res.LastID
		}
		if !res.More {
			break
		}
		req = activities.ReconcileRequest{AfterID: st.LastID, MaxPages: 50, PerPage: 200}
	}
	st.LastRun = workflow.Now(ctx)
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("reconcile: watermark %s, %d audits read, %d recovered over %d runs",
		orNone(st.LastID), st.Audits, st.Recovered, st.Runs))
	return st, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
