package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/mapping"
)

// MacroWorkflow is one Centercode macro run (id
// macro:<name>:<feedback id>:<run key>): plan the macro's Aha! request from
// its body with the current config, push it to Aha! (create an idea or a
// feature, comment, set a status or integration fields), stamp a created idea
// with the Centercode feedback id, and write the Aha! reference and URL back
// to the feedback. A permanent failure parks the run with Aha!'s words until
// an operator sends retry (resumes after the last step done; a push is
// re-planned with the config of that moment) or skip.
func MacroWorkflow(ctx workflow.Context, in MacroInput) (MacroState, error) {
	r := &macroRun{in: in, MacroState: MacroState{
		Macro: in.Macro, FeedbackID: in.FeedbackID, RunKey: in.RunKey, Trigger: in.Trigger, SyncState: contract.StateSyncing,
	}}
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (MacroState, error) { return r.MacroState, nil }); err != nil {
		return r.MacroState, err
	}
	// Version 1: features are stamped as ideas are, and only a record found
	// by its stamp counts as stamped.
	r.version = workflow.GetVersion(ctx, "macro-stamp-features", workflow.DefaultVersion, 1)
	retries := workflow.GetSignalChannel(ctx, contract.SignalRetry)
	skips := workflow.GetSignalChannel(ctx, contract.SignalSkip)
	// A create macro's later runs for this feedback arrive here while it
	// runs (see contract.CreateMacroWorkflowID): each is run after this one, with its
	// own body; one arriving while parked replaces the body and retries.
	again := workflow.GetSignalChannel(ctx, contract.SignalRunAgain)
	r.runKeys = map[string]bool{in.RunKey: true}
	r.ops = workflow.NewBufferedChannel(ctx, 16)
	if err := r.setUpdateHandlers(ctx); err != nil {
		return r.MacroState, err
	}
	r.upsert(ctx)
	for {
		r.Attempts++
		err := r.runOnce(ctx)
		if err == nil {
			r.SyncState, r.ParkedReason = contract.StateSynced, ""
			r.upsert(ctx)
			if r.takeNext(ctx, again, retries, skips) {
				continue
			}
			return r.MacroState, finishHandlers(ctx)
		}
		r.SyncState, r.ParkedReason = contract.StateParked, reason(err)
		r.parkedAt = workflow.Now(ctx)
		workflow.GetLogger(ctx).Warn("macro run parked", "macro", r.Macro, "feedback_id", r.FeedbackID, "reason", r.ParkedReason)
		r.upsert(ctx)

		// Parked: wait for an operator, or a later run of the macro (a person
		// clicking again, maybe after fixing the feedback). Retry and skip
		// signals sent before parking are meaningless, so drop them first.
		r.drain(ctx, retries, skips)
		skip, rerun := false, false
		var next contract.MacroRunRequest
		for !skip && !rerun {
			sel := workflow.NewSelector(ctx)
			retried := false
			sel.AddReceive(retries, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); retried = true })
			sel.AddReceive(skips, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); skip = true })
			sel.AddReceive(r.ops, func(c workflow.ReceiveChannel, _ bool) {
				var op *operatorOp
				c.Receive(ctx, &op)
				op.answer, op.done = r.answer(op), true
				retried, skip = op.retry != nil, op.retry == nil
			})
			sel.AddReceive(again, func(c workflow.ReceiveChannel, _ bool) {
				var req contract.MacroRunRequest
				c.Receive(ctx, &req)
				if r.fresh(req) {
					next, rerun = req, true
				}
			})
			sel.Select(ctx)
			if retried {
				break
			}
		}
		if skip {
			workflow.GetLogger(ctx).Info("skip requested", "parked_reason", r.ParkedReason)
			r.SyncState, r.ParkedReason = contract.StateSkipped, ""
			r.upsert(ctx)
			if r.takeNext(ctx, again, retries, skips) {
				continue
			}
			return r.MacroState, finishHandlers(ctx)
		}
		if rerun {
			workflow.GetLogger(ctx).Info("a later run of the macro retries the parked one with its body", "run_key", next.RunKey)
			r.rerun(ctx, next)
			continue
		}
		workflow.GetLogger(ctx).Info("retry requested", "parked_reason", r.ParkedReason)
		r.Retries++
		r.SyncState, r.ParkedReason = contract.StateSyncing, ""
		r.upsert(ctx)
	}
}

// takeNext ends this run's turn: signals meant for a parked run are dropped
// and a later run delivered meanwhile, if any, is set up (true: run it).
func (r *macroRun) takeNext(ctx workflow.Context, again workflow.ReceiveChannel, retries, skips workflow.ReceiveChannel) bool {
	r.drain(ctx, retries, skips)
	next, ok := r.nextRun(again)
	if ok {
		r.rerun(ctx, next)
	}
	return ok
}

// fresh reports (and remembers) whether a run request is new to this run.
func (r *macroRun) fresh(req contract.MacroRunRequest) bool {
	if req.RunKey == "" || r.runKeys[req.RunKey] {
		return false
	}
	r.runKeys[req.RunKey] = true
	return true
}

// nextRun takes the latest new run request already delivered, if any (the
// latest body stands for the ones before it).
func (r *macroRun) nextRun(again workflow.ReceiveChannel) (contract.MacroRunRequest, bool) {
	var next contract.MacroRunRequest
	found := false
	for {
		var req contract.MacroRunRequest
		if !again.ReceiveAsync(&req) {
			return next, found
		}
		if r.fresh(req) {
			next, found = req, true
		}
	}
}

// rerun starts the steps again for a later run with its body: it plans and
// pushes anew (the feedback is linked by now: on_linked applies) and writes
// the link back again.
func (r *macroRun) rerun(ctx workflow.Context, req contract.MacroRunRequest) {
	r.in.Payload, r.RunKey, r.Trigger = req.Payload, req.RunKey, req.Trigger
	r.Pushed, r.WrittenBack, r.WriteBack = false, false, ""
	r.FirstPush = time.Time{}
	r.Runs++
	r.SyncState, r.ParkedReason = contract.StateSyncing, ""
	r.upsert(ctx)
}

// macroRun is the workflow's private state and behaviour.
type macroRun struct {
	MacroState
	in MacroInput
	// retry is the config's retry settings, from the last plan.
	retry   retrying
	version workflow.Version
	runKeys map[string]bool // runs taken (the first and later ones)
	// ops carries the retry and skip Updates; parkedAt is when the run last parked.
	ops      workflow.Channel
	parkedAt time.Time
}

// drain drops buffered retry/skip signals (they only mean something while
// parked) and answers the Updates still queued.
func (r *macroRun) drain(ctx workflow.Context, chans ...workflow.ReceiveChannel) {
	for _, c := range chans {
		for c.ReceiveAsync(nil) {
			workflow.GetLogger(ctx).Info("signal ignored: the run is not parked", "channel", c.Name())
		}
	}
	var op *operatorOp
	for r.ops.ReceiveAsync(&op) {
		op.answer, op.done = "not parked any more: nothing done", true
	}
}

// setUpdateHandlers registers the retry and skip Updates of a macro run: like
// the signals, but refused unless the run is parked, and answered.
func (r *macroRun) setUpdateHandlers(ctx workflow.Context) error {
	parked := func(what string) error {
		if r.SyncState == contract.StateParked {
			return nil
		}
		return errors.New("not parked: nothing to " + what)
	}
	submit := func(ctx workflow.Context, op *operatorOp) (string, error) {
		r.ops.Send(ctx, op)
		if err := workflow.Await(ctx, func() bool { return op.done }); err != nil {
			return "", err
		}
		return op.answer, nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateRetry,
		func(ctx workflow.Context, rr contract.RetryRequest) (string, error) {
			return submit(ctx, &operatorOp{retry: &rr})
		},
		workflow.UpdateHandlerOptions{Validator: func(workflow.Context, contract.RetryRequest) error { return parked("retry") }},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateSkip,
		func(ctx workflow.Context) (string, error) { return submit(ctx, &operatorOp{}) },
		workflow.UpdateHandlerOptions{Validator: func(workflow.Context) error { return parked("skip") }},
	)
}

// answer is what a retry or skip Update of the parked run is told.
func (r *macroRun) answer(op *operatorOp) string {
	verb := "skipped"
	if op.retry != nil {
		verb = "retried"
	}
	return verb + ": parked on " + r.ParkedReason + " since " + r.parkedAt.UTC().Format(time.RFC3339)
}

// runOnce does every step not done yet.
func (r *macroRun) runOnce(ctx workflow.Context) error {
	if !r.Pushed {
		var plan activities.MacroPlan
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeMapping, activities.ErrTypeConfig}},
		})
		if err := workflow.ExecuteLocalActivity(lctx, a.PlanMacro, activities.PlanMacroRequest{Macro: r.Macro, Payload: r.in.Payload}).Get(ctx, &plan); err != nil {
			return err
		}
		r.Action, r.ConfigHash = plan.Action, plan.ConfigHash
		r.retry = retrying(plan.Retry)
		var res activities.PushResult
		// A retry after a failed push may follow an ambiguous create: look first.
		if r.FirstPush.IsZero() {
			r.FirstPush = workflow.Now(ctx)
		}
		req := activities.PushRequest{Plan: plan, LookupFirst: r.Retries > 0, Since: r.FirstPush}
		if err := workflow.ExecuteActivity(r.callOpts(ctx, plan.Action+" in Aha! for feedback "+r.FeedbackID), a.PushToAha, req).Get(ctx, &res); err != nil {
			return err
		}
		r.Pushed, r.Adopted, r.Linked = true, res.Adopted, res.Linked
		r.AhaKind, r.AhaID, r.AhaReference, r.AhaURL = res.Kind, res.ID, res.Reference, res.URL
		if r.version == workflow.DefaultVersion {
			r.Stamped = res.Adopted
		} else {
			r.Stamped = res.Stamped
		}
		r.upsert(ctx)
	}
	stamps := r.Action == mapping.ActionCreateIdea
	if r.version >= 1 {
		stamps = stamps || r.Action == mapping.ActionCreateFeature
	}
	if stamps && !r.Stamped {
		req := activities.StampRequest{IdeaID: r.AhaID, FeedbackID: r.FeedbackID, Kind: r.AhaKind}
		if err := workflow.ExecuteActivity(r.callOpts(ctx, "stamp "+r.AhaKind+" "+r.AhaReference+" with feedback "+r.FeedbackID), a.StampAhaRecord, req).Get(ctx, nil); err != nil {
			return err
		}
		r.Stamped = true
	}
	if (r.Action == mapping.ActionCreateIdea || r.Action == mapping.ActionCreateFeature) && !r.WrittenBack && r.AhaReference != "" {
		var wb activities.WriteBackResult
		req := activities.WriteBackRequest{FeedbackID: r.FeedbackID, AhaReference: r.AhaReference, AhaURL: r.AhaURL, Macro: r.Macro}
		if err := workflow.ExecuteActivity(r.callOpts(ctx, "write "+r.AhaReference+" back to feedback "+r.FeedbackID), a.WriteBackLink, req).Get(ctx, &wb); err != nil {
			return err
		}
		r.WrittenBack, r.WriteBack = wb.Skipped == "", wb.Skipped
	}
	return nil
}

// callOpts are the options of every far-side call (see retrying); permanent
// answers (400, 401, 403, 404, 406, 422, a body the mapping rejects) are not
// retried and park the run.
func (r *macroRun) callOpts(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		HeartbeatTimeout:       callHeartbeat,
		ScheduleToCloseTimeout: r.retry.retryFor(),
		Summary:                summary,
		RetryPolicy:            r.retry.policy(),
	})
}

// upsert publishes state to search attributes and the UI's current details.
func (r *macroRun) upsert(ctx workflow.Context) {
	updates := []temporal.SearchAttributeUpdate{
		contract.KeySyncState.ValueSet(r.SyncState),
		contract.KeyMacro.ValueSet(r.Macro),
	}
	if r.FeedbackID != "" {
		updates = append(updates, contract.KeyCentercodeFeedbackID.ValueSet(r.FeedbackID))
	}
	if r.AhaReference != "" {
		updates = append(updates, contract.KeyAhaReference.ValueSet(r.AhaReference))
	}
	if r.ConfigHash != "" {
		updates = append(updates, contract.KeyConfigHash.ValueSet(r.ConfigHash))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
	workflow.SetCurrentDetails(ctx, r.Summary())
}
