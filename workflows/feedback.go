package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/mapping"
)

// Bounds of the FeedbackWorkflow's state (carried across continue-as-new).
const (
	// FeedbackSeenLimit bounds the delivery keys remembered for dedup.
	FeedbackSeenLimit = 500
	// FeedbackRunsLimit bounds the macro runs listed in the state.
	FeedbackRunsLimit = 100
)

// DefaultEchoWindow is how long the webhook echoing a status ahacc set is
// waited for when the config names no sync.echo_window.
const DefaultEchoWindow = mapping.DefaultEchoWindow

// expectLimit bounds the statuses expected at once (one entry per status).
const expectLimit = 20

// feedbackEventsPerRun caps signals handled in one run before continue-as-new,
// a backstop for the server's own suggestion (a variable so tests can lower it).
var feedbackEventsPerRun = 1000

// FeedbackWorkflow is the entity workflow of one Centercode feedback item (id
// cc:feedback:<id>). It receives status-changed signals (from the status
// webhook, or an operator), evaluates status_rules with the current config and
// starts each rule's macro as a child MacroWorkflow exactly once per
// transition into the status — and, unless the rule says every_time, only on
// the first such transition. run-macro runs one macro now. expect-status
// announces a status ahacc sets itself; its webhook is an echo and fires
// nothing. It runs until continue-as-new hands its state to the next run.
func FeedbackWorkflow(ctx workflow.Context, in FeedbackInput) error {
	f := &feedbackEntity{}
	if in.Carried != nil {
		f.FeedbackState = *in.Carried
	} else {
		f.FeedbackState = FeedbackState{FeedbackID: in.FeedbackID}
	}
	// Version 1: one expectation per status, with a window; a rule counts as
	// run only once its child started. Version 2: a create macro's runs for
	// this feedback share one workflow id (one at a time).
	f.version = workflow.GetVersion(ctx, "feedback-expect-window", workflow.DefaultVersion, 2)
	if f.version >= 1 && len(f.Expected) > 0 {
		for _, st := range f.Expected {
			f.expect(ctx, st, DefaultEchoWindow)
		}
		f.Expected = nil
	}
	if f.Fired == nil {
		f.Fired = map[string]int{}
	}
	f.seen = newSeenSet(&f.Seen, FeedbackSeenLimit)
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (FeedbackState, error) { return f.FeedbackState, nil }); err != nil {
		return err
	}
	changes := workflow.GetSignalChannel(ctx, contract.SignalStatusChanged)
	runs := workflow.GetSignalChannel(ctx, contract.SignalRunMacro)
	expects := workflow.GetSignalChannel(ctx, contract.SignalExpectStatus)
	upgrades := workflow.GetSignalChannel(ctx, contract.SignalUpgrade)
	upgrade := false
	f.ops = workflow.NewBufferedChannel(ctx, 16)
	if err := f.setRunMacroUpdate(ctx); err != nil {
		return err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.KeyCentercodeFeedbackID.ValueSet(f.FeedbackID)); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
	workflow.SetCurrentDetails(ctx, f.Summary())

	handled := 0
	for {
		// Everything already delivered first (expectations before the
		// changes they announce), then block for the next signal.
		handled += f.drain(ctx, expects, changes, runs)
		for upgrades.ReceiveAsync(nil) {
			upgrade = true
		}
		if upgrade || handled >= feedbackEventsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			f.drain(ctx, expects, changes, runs)
			carried := f.FeedbackState
			return workflow.NewContinueAsNewError(ctx, FeedbackWorkflow, FeedbackInput{FeedbackID: f.FeedbackID, Carried: &carried})
		}
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(expects, func(workflow.ReceiveChannel, bool) {})
		sel.AddReceive(changes, func(workflow.ReceiveChannel, bool) {})
		sel.AddReceive(runs, func(workflow.ReceiveChannel, bool) {})
		sel.AddReceive(upgrades, func(workflow.ReceiveChannel, bool) {})
		sel.AddReceive(f.ops, func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx) // wakes up only; drain takes the signal
	}
}

// feedbackEntity is the workflow's private state and behaviour.
type feedbackEntity struct {
	FeedbackState
	seen    seenSet
	version workflow.Version
	ops     workflow.Channel // run-macro Updates, handled by drain
}

// macroOp is one run-macro Update, answered once drain took it.
type macroOp struct {
	rm     contract.RunMacro
	answer string
	err    error
	done   bool
}

// setRunMacroUpdate registers the run-macro Update: like the signal, but it
// answers which run it started (or why none), and a request without a macro
// name is refused before anything is written to history.
func (f *feedbackEntity) setRunMacroUpdate(ctx workflow.Context) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateRunMacro,
		func(ctx workflow.Context, rm contract.RunMacro) (string, error) {
			op := &macroOp{rm: rm}
			f.ops.Send(ctx, op)
			if err := workflow.Await(ctx, func() bool { return op.done }); err != nil {
				return "", err
			}
			return op.answer, op.err
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, rm contract.RunMacro) error {
			if strings.TrimSpace(rm.Macro) == "" {
				return errors.New(`run-macro needs a macro name, e.g. {"macro": "push-to-aha"}`)
			}
			return nil
		}},
	)
}

// drain handles every signal already buffered, without blocking; it returns
// how many it handled.
func (f *feedbackEntity) drain(ctx workflow.Context, expects, changes, runs workflow.ReceiveChannel) int {
	n := 0
	for {
		var ex contract.ExpectStatus
		if expects.ReceiveAsync(&ex) {
			f.onExpect(ctx, ex)
			n++
			continue
		}
		var ch contract.StatusChange
		if changes.ReceiveAsync(&ch) {
			f.onChange(ctx, ch)
			n++
			continue
		}
		var rm contract.RunMacro
		if runs.ReceiveAsync(&rm) {
			_, _ = f.onRunMacro(ctx, rm)
			n++
			continue
		}
		var op *macroOp
		if f.ops != nil && f.ops.ReceiveAsync(&op) {
			op.answer, op.err = f.onRunMacro(ctx, op.rm)
			op.done = true
			n++
			continue
		}
		return n
	}
}

func (f *feedbackEntity) onExpect(ctx workflow.Context, ex contract.ExpectStatus) {
	st := strings.TrimSpace(ex.Status)
	if st == "" {
		return
	}
	if f.version == workflow.DefaultVersion {
		f.Expected = append(f.Expected, st)
		if len(f.Expected) > expectLimit {
			f.Expected = f.Expected[1:]
		}
		return
	}
	if f.Status != "" && strings.EqualFold(f.Status, st) {
		// Centercode sends no webhook for a status the feedback already has.
		workflow.GetLogger(ctx).Info("ahacc sets the status the feedback has: no echo to expect", "feedback_id", f.FeedbackID, "status", st)
		return
	}
	window := ex.For
	if window <= 0 {
		window = DefaultEchoWindow
	}
	f.expect(ctx, st, window)
	workflow.GetLogger(ctx).Info("expecting ahacc's own status change", "feedback_id", f.FeedbackID, "status", st, "for", window)
}

// expect keeps one expectation per status, its window renewed by a repeat
// (a retried listener call announces the status again; one echo comes back).
func (f *feedbackEntity) expect(ctx workflow.Context, status string, window time.Duration) {
	until := workflow.Now(ctx).Add(window)
	for i := range f.Expecting {
		if strings.EqualFold(f.Expecting[i].Status, status) {
			f.Expecting[i].Until = until
			return
		}
	}
	f.Expecting = append(f.Expecting, Expectation{Status: status, Until: until})
	if len(f.Expecting) > expectLimit {
		f.Expecting = f.Expecting[1:]
	}
}

// isEcho reports (and consumes) an expectation of status still in its window.
func (f *feedbackEntity) isEcho(ctx workflow.Context, status string) bool {
	if f.version == workflow.DefaultVersion {
		for i, ex := range f.Expected {
			if strings.EqualFold(ex, status) {
				f.Expected = append(f.Expected[:i:i], f.Expected[i+1:]...)
				return true
			}
		}
		return false
	}
	now := workflow.Now(ctx)
	echo := false
	kept := f.Expecting[:0]
	for _, ex := range f.Expecting {
		switch {
		case !echo && strings.EqualFold(ex.Status, status) && now.Before(ex.Until):
			echo = true
		case now.Before(ex.Until):
			kept = append(kept, ex)
		default:
			workflow.GetLogger(ctx).Info("expected status never came back; no longer expected", "feedback_id", f.FeedbackID, "status", ex.Status)
		}
	}
	f.Expecting = kept
	return echo
}

// remember records a delivery key; false when it was seen before.
func (f *feedbackEntity) remember(key string) bool {
	if key == "" {
		return true
	}
	return f.seen.add(key)
}

// onChange applies one status change: dedup, echo check, transition, rules.
func (f *feedbackEntity) onChange(ctx workflow.Context, ch contract.StatusChange) {
	log := workflow.GetLogger(ctx)
	if !f.remember(ch.Key) {
		f.Duplicates++
		return
	}
	f.Changes++
	if len(ch.Payload) > 0 {
		f.LastPayload = ch.Payload
	}
	status := strings.TrimSpace(ch.Status)
	defer func() { workflow.SetCurrentDetails(ctx, f.Summary()) }()
	if f.isEcho(ctx, status) {
		// ahacc set this status itself (through a status listener): its
		// webhook is our own echo and runs no macro.
		f.Status = status
		f.Echoes++
		log.Info("status change was ahacc's own; no macro runs", "feedback_id", f.FeedbackID, "status", status)
		return
	}
	if status == "" || strings.EqualFold(f.Status, status) {
		return // not a transition
	}
	f.Status = status
	f.Transitions++

	var rules activities.Rules
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, a.StatusRulesFor, activities.RulesRequest{Status: status}).Get(ctx, &rules); err != nil {
		log.Error("status rules unavailable; no macro runs for this transition", "status", status, "error", err)
		return
	}
	f.ConfigHash = rules.ConfigHash
	key := ch.Key
	if key == "" {
		key = fmt.Sprintf("t%d", f.Transitions)
	}
	for _, r := range rules.Actions {
		fired := strings.ToLower(status) + "|" + r.Macro
		if !r.EveryTime && f.Fired[fired] > 0 {
			log.Info("rule already ran for this status (every_time is off)", "status", status, "macro", r.Macro)
			continue
		}
		if f.version == workflow.DefaultVersion {
			f.Fired[fired]++
			f.startMacro(ctx, r.Macro, key, contract.TriggerStatus, status, f.payload(nil), "")
			continue
		}
		creates := ""
		if f.version >= 2 {
			creates = r.Creates
		}
		// Counted once started: a start that failed runs on the next transition.
		if f.startMacro(ctx, r.Macro, key, contract.TriggerStatus, status, f.payload(nil), creates) {
			f.Fired[fired]++
		}
	}
}

// onRunMacro runs one macro at an operator's request.
// onRunMacro runs one macro at an operator's request and says what it did.
func (f *feedbackEntity) onRunMacro(ctx workflow.Context, rm contract.RunMacro) (string, error) {
	if strings.TrimSpace(rm.Macro) == "" {
		workflow.GetLogger(ctx).Warn("run-macro without a macro name ignored")
		return "", errors.New("run-macro without a macro name: nothing run")
	}
	key := rm.Key
	if key != "" {
		if !f.remember("run:" + key) {
			f.Duplicates++
			return "not run: key " + key + " was run before", nil
		}
	} else {
		key = fmt.Sprintf("op%d", f.Seq+1)
	}
	creates := ""
	if f.version >= 2 {
		var info activities.RuleAction
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
		if err := workflow.ExecuteLocalActivity(lctx, a.MacroInfo, activities.MacroInfoRequest{Macro: rm.Macro}).Get(ctx, &info); err != nil {
			workflow.GetLogger(ctx).Error("macro unknown to the worker; run not started", "macro", rm.Macro, "error", err)
			return "", fmt.Errorf("macro %s not run: %w", rm.Macro, err)
		}
		creates = info.Creates
	}
	started := f.startMacro(ctx, rm.Macro, key, contract.TriggerOperator, f.Status, f.payload(rm.Payload), creates)
	workflow.SetCurrentDetails(ctx, f.Summary())
	if !started {
		return "", fmt.Errorf("macro %s not started (the worker's log says why)", rm.Macro)
	}
	return "started macro " + rm.Macro + ": " + f.Runs[len(f.Runs)-1].WorkflowID, nil
}

// payload is the body a macro run maps: the given one, else the last status
// change's, else just the feedback id.
func (f *feedbackEntity) payload(p json.RawMessage) json.RawMessage {
	switch {
	case len(p) > 0:
		return p
	case len(f.LastPayload) > 0:
		return f.LastPayload
	}
	// encoding/json writes a map's keys sorted: deterministic, though
	// workflowcheck cannot tell (it reaches reflect's caches).
	b, _ := json.Marshal(map[string]string{"feedbackId": f.FeedbackID}) //workflowcheck:ignore
	return b
}

// startMacro starts one child MacroWorkflow and waits only until it has
// started (true; also when it had started before, or — a create macro — when
// a run for this feedback is in flight, which it joins). The child is
// abandoned on parent close, so a parked run outlives this workflow's
// continue-as-new.
func (f *feedbackEntity) startMacro(ctx workflow.Context, macro, key, trigger, status string, payload json.RawMessage, creates string) bool {
	f.Seq++
	id := contract.MacroWorkflowID(macro, f.FeedbackID, key)
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	if creates != "" {
		id, reuse = contract.CreateMacroWorkflowID(creates, f.FeedbackID), enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: reuse,
		StaticSummary:         fmt.Sprintf("macro %s on Centercode feedback %s (%s)", macro, f.FeedbackID, trigger),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contract.KeyMacro.ValueSet(macro),
			contract.KeyCentercodeFeedbackID.ValueSet(f.FeedbackID),
			contract.KeySyncState.ValueSet(contract.StateSyncing),
		),
	})
	for attempt := 1; ; attempt++ {
		fut := workflow.ExecuteChildWorkflow(cctx, MacroWorkflow, MacroInput{
			Macro: macro, FeedbackID: f.FeedbackID, RunKey: key, Trigger: trigger, Payload: payload,
		})
		var exec workflow.Execution
		err := fut.GetChildWorkflowExecution().Get(ctx, &exec)
		switch {
		case err == nil:
		case temporal.IsWorkflowExecutionAlreadyStartedError(err) && creates != "":
			// A run for this feedback is in flight: hand it this run, which
			// it runs after its own.
			req := contract.MacroRunRequest{RunKey: key, Trigger: trigger, Payload: payload}
			serr := workflow.SignalExternalWorkflow(ctx, id, "", contract.SignalRunAgain, req).Get(ctx, nil)
			var ended *temporal.UnknownExternalWorkflowExecutionError
			if serr != nil && errors.As(serr, &ended) && attempt < 3 &&
				workflow.GetVersion(ctx, "macro-handoff-ended", workflow.DefaultVersion, 1) >= 1 {
				// The run in flight ended between the start and the hand-off:
				// its id is free again, so this run starts on its own.
				workflow.GetLogger(ctx).Info("the macro run in flight ended before the hand-off; starting this run", "workflow_id", id)
				if err := workflow.Sleep(ctx, time.Second); err != nil {
					return false
				}
				continue
			}
			if serr != nil {
				workflow.GetLogger(ctx).Error("macro run not handed to the run in flight", "workflow_id", id, "error", serr)
				return false
			}
			workflow.GetLogger(ctx).Info("macro run handed to the run in flight", "workflow_id", id)
		case temporal.IsWorkflowExecutionAlreadyStartedError(err):
			workflow.GetLogger(ctx).Info("macro run already started", "workflow_id", id)
		default:
			workflow.GetLogger(ctx).Error("macro run not started", "workflow_id", id, "error", err)
			return false
		}
		break
	}
	f.Runs = append(f.Runs, MacroRunRef{Macro: macro, WorkflowID: id, Trigger: trigger, Status: status, At: workflow.Now(ctx)})
	if len(f.Runs) > FeedbackRunsLimit {
		f.Runs = f.Runs[1:]
	}
	return true
}
