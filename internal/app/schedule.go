package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/workflows"
)

// EnsureReconcileSchedule creates the Schedule that runs ReconcileWorkflow
// every `every`, or updates its interval when the config changed. Runs never
// overlap: a slow run makes the next one skip, not pile up. Every worker calls
// it at start; the first one creates it, the others find it.
func EnsureReconcileSchedule(ctx context.Context, c client.Client, taskQueue string, every time.Duration) error {
	if every <= 0 {
		return nil
	}
	sc := c.ScheduleClient()
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      workflows.ReconcileScheduleID,
		Spec:    spec,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:        "ahacc-reconcile-run",
			Workflow:  workflows.ReconcileWorkflow,
			Args:      []any{workflows.ReconcileInput{}},
			TaskQueue: taskQueue,
			// Operators find the runs next to the records they recovered.
			TypedSearchAttributes: temporal.NewSearchAttributes(contract.KeyAhaRecordType.ValueSet("reconcile")),
		},
		Note: fmt.Sprintf("ahacc: recover Aha! audits the webhook missed, every %s", every),
	})
	if err == nil {
		return nil
	}
	var exists *serviceerror.AlreadyExists
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) && !errors.As(err, &exists) {
		return fmt.Errorf("create reconcile schedule: %w", err)
	}
	h := sc.GetHandle(ctx, workflows.ReconcileScheduleID)
	return h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			cur := in.Description.Schedule.Spec
			if cur != nil && len(cur.Intervals) == 1 && cur.Intervals[0].Every == every {
				return nil, temporal.ErrSkipScheduleUpdate // unchanged
			}
			in.Description.Schedule.Spec = &spec
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		},
	})
}
