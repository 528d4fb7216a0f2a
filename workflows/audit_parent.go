package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// AuditParentInput is a child audit (a description edit on a note, a vote,
// a comment) whose webhook names its parent record only by reference.
type AuditParentInput struct {
	Kind      string `json:"kind"`      // idea or feature
	Reference string `json:"reference"` // e.g. PRJ1-I-2
	// Event is what the parent's AhaRecordWorkflow receives for it.
	Event contract.AhaEvent `json:"event"`
}

// AuditParentWorkflow hands a child audit to its parent record's
// AhaRecordWorkflow, which then re-reads the record (Description, Votes and
// the like change only through such audits). The webhook names the parent by
// reference and the handler must answer without calling Aha!, so one read
// here finds the parent's id. Its one activity is retried as far-side calls
// are; a parent deleted meanwhile ends it quietly.
func AuditParentWorkflow(ctx workflow.Context, in AuditParentInput) error {
	var r retrying
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		HeartbeatTimeout:       callHeartbeat,
		ScheduleToCloseTimeout: r.retryFor(),
		Summary:                "hand " + in.Event.AuditableType + " audit " + in.Event.AuditID + " to " + in.Kind + " " + in.Reference,
		RetryPolicy:            r.policy(),
	})
	req := activities.RouteToParentRequest{Kind: in.Kind, Reference: in.Reference, AuditID: in.Event.AuditID,
		AuditableType: in.Event.AuditableType, CreatedAt: in.Event.CreatedAt, Source: in.Event.Source}
	return workflow.ExecuteActivity(actx, a.RouteToParent, req).Get(ctx, nil)
}
