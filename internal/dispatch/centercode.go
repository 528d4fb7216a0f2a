package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/workflows"
)

// Dedup sources of the Centercode webhooks (Redis key namespaces).
const (
	SourceCentercodeMacro  = "cc-macro"
	SourceCentercodeStatus = "cc-status"
)

// MacroRun is one Centercode webhook-macro delivery, parsed and validated.
type MacroRun struct {
	Macro      string
	FeedbackID string
	// RunKey identifies the run; both copies of a duplicated delivery share it.
	RunKey  string
	Payload json.RawMessage
}

// StatusEvent is one Centercode status-change delivery.
type StatusEvent struct {
	FeedbackID string
	Change     contract.StatusChange
}

// DispatchMacro dedups a macro run and starts its MacroWorkflow (id
// macro:<name>:<feedback id>:<run key>). A run whose workflow already exists
// is a duplicate. An error wraps ErrUnavailable: nothing was marked as seen.
func (d *Dispatcher) DispatchMacro(ctx context.Context, run MacroRun) (Outcome, error) {
	// The delivery is deduplicated by its run key; a create macro's runs for
	// one feedback share one workflow id (see contract.CreateMacroWorkflowID).
	runID := contract.MacroWorkflowID(run.Macro, run.FeedbackID, run.RunKey)
	opts := client.StartWorkflowOptions{
		ID:        runID,
		TaskQueue: d.TaskQueue,
		// One run key, one run, ever: a redelivery after the run ended is a duplicate.
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Centercode macro %s on feedback %s → Aha!", run.Macro, run.FeedbackID),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contract.KeyMacro.ValueSet(run.Macro),
			contract.KeyCentercodeFeedbackID.ValueSet(run.FeedbackID),
			contract.KeySyncState.ValueSet(contract.StateSyncing),
		),
	}
	input := workflows.MacroInput{Macro: run.Macro, FeedbackID: run.FeedbackID, RunKey: run.RunKey, Trigger: contract.TriggerWebhook, Payload: run.Payload}
	if m := d.Config().Macro(run.Macro); m != nil && m.Creates() {
		// One at a time per feedback and kind: a run in flight is handed
		// this one (run-again) and runs it after its own; otherwise it starts.
		opts.ID = contract.CreateMacroWorkflowID(m.Action, run.FeedbackID)
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
		opts.WorkflowExecutionErrorWhenAlreadyStarted = false
		req := contract.MacroRunRequest{RunKey: run.RunKey, Trigger: contract.TriggerWebhook, Payload: run.Payload}
		return d.handOff(ctx, SourceCentercodeMacro, runID, opts.ID, func(hctx context.Context) error {
			_, err := d.Temporal.SignalWithStartWorkflow(hctx, opts.ID, contract.SignalRunAgain, req, opts, workflows.MacroWorkflow, input)
			return err
		})
	}
	return d.handOff(ctx, SourceCentercodeMacro, runID, opts.ID, func(hctx context.Context) error {
		_, err := d.Temporal.ExecuteWorkflow(hctx, opts, workflows.MacroWorkflow, input)
		return err
	})
}

// DispatchStatus dedups a status change and signals-with-start the feedback's
// FeedbackWorkflow (id cc:feedback:<id>) with status-changed.
func (d *Dispatcher) DispatchStatus(ctx context.Context, ev StatusEvent) (Outcome, error) {
	wfID := contract.FeedbackWorkflowID(ev.FeedbackID)
	return d.handOff(ctx, SourceCentercodeStatus, ev.FeedbackID+":"+ev.Change.Key, wfID, func(hctx context.Context) error {
		return d.signalFeedback(hctx, ev.FeedbackID, contract.SignalStatusChanged, ev.Change)
	})
}

// ExpectStatus tells the feedback's FeedbackWorkflow (starting it if needed)
// that ahacc is about to set this status itself, so the webhook that follows
// within the window is recognised as an echo.
func (d *Dispatcher) ExpectStatus(ctx context.Context, feedbackID, status string, within time.Duration) error {
	if err := d.signalFeedback(ctx, feedbackID, contract.SignalExpectStatus, contract.ExpectStatus{Status: status, For: within}); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

func (d *Dispatcher) signalFeedback(ctx context.Context, feedbackID, signal string, arg any) error {
	wfID := contract.FeedbackWorkflowID(feedbackID)
	_, err := d.Temporal.SignalWithStartWorkflow(ctx, wfID, signal, arg, client.StartWorkflowOptions{
		ID:                    wfID,
		TaskQueue:             d.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Centercode feedback %s: status rules", feedbackID),
		TypedSearchAttributes: temporal.NewSearchAttributes(contract.KeyCentercodeFeedbackID.ValueSet(feedbackID)),
	}, workflows.FeedbackWorkflow, workflows.FeedbackInput{FeedbackID: feedbackID})
	return err
}

// handOff is the claim → hand to Temporal → confirm (or release) sequence
// every webhook path shares. An empty id skips the Redis layer. Only a
// delivery Temporal took before is a duplicate; one whose hand-off is still
// in flight elsewhere is ErrInFlight (the sender tries again), as the other
// hand-off may yet fail.
func (d *Dispatcher) handOff(ctx context.Context, source, id, wfID string, send func(context.Context) error) (Outcome, error) {
	out := Outcome{WorkflowID: wfID}
	owner := ""
	if d.Dedup != nil && id != "" {
		st, o, err := d.Dedup.Claim(ctx, source, id)
		switch {
		case err != nil:
			out.Degraded = true
			d.logger().Warn("redis dedup unavailable; relying on workflow dedup", "source", source, "error", err)
		case st == dedup.Done:
			out.Status = Duplicate
			return out, nil
		case st == dedup.InFlight:
			return Outcome{WorkflowID: wfID}, fmt.Errorf("%w: delivery %s:%s", ErrInFlight, source, id)
		default:
			owner = o
		}
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	repeated, err := sendWhileTime(hctx, send)
	cancel()
	if err != nil && temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		// The workflow layer recognised the run: Temporal has it — taken by
		// an earlier, unanswered call of this hand-off, or a duplicate.
		err = nil
		if !repeated {
			out.Status = Duplicate
		}
	}
	if err != nil {
		if owner != "" {
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			if rerr := d.Dedup.Release(rctx, source, id, owner); rerr != nil {
				d.logger().Warn("could not release dedup claim", "source", source, "id", id, "error", rerr)
			}
			rcancel()
		}
		if refusedInput(err) {
			return Outcome{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return Outcome{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if owner != "" {
		if err := d.Dedup.Confirm(ctx, source, id); err != nil {
			out.Degraded = true
			d.logger().Warn("could not confirm dedup claim", "source", source, "id", id, "error", err)
		}
	}
	if out.Status == "" {
		out.Status = Accepted
	}
	return out, nil
}

// sendWhileTime sends until Temporal answers or the hand-off's time is up.
// The SDK gives each call half the time left in its context (room for a
// retry of a lost call), so one call alone would refuse a delivery the
// frontend, back a moment later, could still have taken. A repeat of a call
// that did commit is harmless: workflows dedup by delivery key. repeated
// says a call went unanswered before the last (which may then find the
// event already taken: by that earlier call).
func sendWhileTime(ctx context.Context, send func(context.Context) error) (repeated bool, err error) {
	for n := 0; ; n++ {
		err = send(ctx)
		if err == nil || !transientRPC(err) {
			return n > 0, err
		}
		select {
		case <-ctx.Done():
			return n > 0, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// transientRPC: the frontend did not answer (unreachable, or the call's own
// deadline passed) or said it is busy; anything else it answered is final.
func transientRPC(err error) bool {
	var busy *serviceerror.ResourceExhausted
	if errors.As(err, &busy) {
		// The server's own limits carry a cause; a message too large for
		// the client (no cause) never fits.
		return busy.Cause != enumspb.RESOURCE_EXHAUSTED_CAUSE_UNSPECIFIED
	}
	switch serviceerror.ToStatus(err).Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// refusedInput reports whether Temporal refused the event itself (an id it
// cannot take), which no retry mends. Other InvalidArgument answers — a
// search attribute the namespace lacks, say — are the deployment's to fix:
// they stay unavailable (503, reconcile retries), so nothing is lost while
// it is fixed.
func refusedInput(err error) bool {
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) {
		return false
	}
	msg := strings.ToLower(invalid.Message)
	return strings.Contains(msg, "workflowid") || strings.Contains(msg, "workflow id") || strings.Contains(msg, "requestid")
}
