package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/workflows"
)

// BackfillUsers starts the UserBackfillWorkflow (id backfill:users) on env's
// task queue — every Aha! idea user, or those updated since `since` when it is
// not zero — and follows it, printing its progress to out until it completes
// or ctx ends (the backfill itself carries on; pause and resume it with
// SignalBackfill or from the Temporal UI). A backfill already running is not
// started twice: its progress is followed instead.
func BackfillUsers(ctx context.Context, c client.Client, env Env, since time.Time, out io.Writer) error {
	in := workflows.UserBackfillInput{Since: since}
	summary := "Backfill Aha! idea users → Centercode user data"
	if !since.IsZero() {
		summary += " (updated since " + since.UTC().Format(time.RFC3339) + ")"
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       contract.UserBackfillWorkflowID,
		TaskQueue:                env.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            summary,
		TypedSearchAttributes:    temporal.NewSearchAttributes(contract.KeyAhaRecordType.ValueSet("backfill")),
	}, workflows.UserBackfillWorkflow, in)
	if err != nil {
		return fmt.Errorf("start the user backfill: %w", err)
	}
	fmt.Fprintf(out, "user backfill %s (run %s) started on task queue %s\n", run.GetID(), run.GetRunID(), env.TaskQueue)
	var final workflows.BackfillProgress
	err = follow(ctx, run, &final, out, func() (string, error) {
		p, err := BackfillProgressOf(ctx, c)
		return p.Summary(), err
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("user backfill: %w", err)
	}
	if err == nil {
		fmt.Fprintln(out, final.Summary())
	}
	return nil
}

// follow waits for a backfill run to complete (following continue-as-new)
// into result, printing its progress line whenever it changes; when ctx ends
// first it says the backfill carries on and returns ctx's error.
func follow(ctx context.Context, run client.WorkflowRun, result any, out io.Writer, progress func() (string, error)) error {
	done := make(chan error, 1)
	go func() { done <- run.Get(ctx, result) }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			fmt.Fprintln(out, "stopped following; the backfill carries on in Temporal")
			return ctx.Err()
		case <-tick.C:
			if line, err := progress(); err == nil && line != last {
				fmt.Fprintln(out, line)
				last = line
			}
		}
	}
}

// BackfillProgressOf asks the running (or last) user backfill for its progress.
func BackfillProgressOf(ctx context.Context, c client.Client) (workflows.BackfillProgress, error) {
	var p workflows.BackfillProgress
	v, err := c.QueryWorkflow(ctx, contract.UserBackfillWorkflowID, "", contract.QueryProgress)
	if err != nil {
		return p, err
	}
	err = v.Get(&p)
	return p, err
}

// SignalBackfill pauses (contract.SignalPause) or resumes
// (contract.SignalResume) the running user backfill.
func SignalBackfill(ctx context.Context, c client.Client, signal string) error {
	if signal != contract.SignalPause && signal != contract.SignalResume {
		return fmt.Errorf("backfill signal must be %q or %q", contract.SignalPause, contract.SignalResume)
	}
	err := c.SignalWorkflow(ctx, contract.UserBackfillWorkflowID, "", signal, nil)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return errors.New("no user backfill is running")
	}
	return err
}

// orgCacheTTL bounds how old an organization a backfill or fan-out snapshot
// may use; a person's own sync always reads afresh. A stale snapshot cannot
// undo a newer change: each carries the time of its oldest part, and a
// person's workflow drops a snapshot older than what it applied. 10 minutes
// lets a 10,000-person backfill (200 s at 50 writes/s) read each organization
// once.
const orgCacheTTL = 10 * time.Minute

// BackfillRecords starts the RecordBackfillWorkflow of a feedback type (id
// backfill:records:<type>) — every Aha! record of the kinds it is fed by, or
// those updated since `since` — and follows it, printing its progress to out
// until it completes or ctx ends (it carries on in Temporal). One already
// running is followed, not started twice.
func BackfillRecords(ctx context.Context, c client.Client, env Env, feedbackType string, since time.Time, out io.Writer) (workflows.RecordBackfillProgress, error) {
	var final workflows.RecordBackfillProgress
	summary := "Backfill Aha! records → Centercode feedback type " + feedbackType
	if !since.IsZero() {
		summary += " (updated since " + since.UTC().Format(time.RFC3339) + ")"
	}
	id := contract.RecordBackfillWorkflowID(feedbackType)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                env.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            summary,
		TypedSearchAttributes:    temporal.NewSearchAttributes(contract.KeyAhaRecordType.ValueSet("backfill")),
	}, workflows.RecordBackfillWorkflow, workflows.RecordBackfillInput{FeedbackType: feedbackType, Since: since})
	if err != nil {
		return final, fmt.Errorf("start the record backfill: %w", err)
	}
	fmt.Fprintf(out, "record backfill %s (run %s) started on task queue %s\n", run.GetID(), run.GetRunID(), env.TaskQueue)
	err = follow(ctx, run, &final, out, func() (string, error) {
		p, err := RecordBackfillProgressOf(ctx, c, feedbackType)
		return p.Summary(), err
	})
	switch {
	case err == nil:
		fmt.Fprintln(out, final.Summary())
	case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("record backfill: %w", err)
	}
	return final, err
}

// RecordBackfillProgressOf asks a feedback type's running (or last) record
// backfill for its progress.
func RecordBackfillProgressOf(ctx context.Context, c client.Client, feedbackType string) (workflows.RecordBackfillProgress, error) {
	var p workflows.RecordBackfillProgress
	v, err := c.QueryWorkflow(ctx, contract.RecordBackfillWorkflowID(feedbackType), "", contract.QueryProgress)
	if err != nil {
		return p, err
	}
	err = v.Get(&p)
	return p, err
}
