package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/mapping"
)

// The entity loop shared by AhaRecordWorkflow, UserDataWorkflow and
// AhaPeopleWorkflow: take every signal already delivered before deciding,
// sync (leading edge, then once per debounce window while events coalesce),
// park on failure until an operator retries or skips, continue as new with
// the state carried. Each workflow supplies what differs (entityBehaviour).

// entityBehaviour is what one kind of entity workflow supplies to the loop.
type entityBehaviour interface {
	// status is what the loop decides on; state is what the state query answers.
	status() entityStatus
	state() any
	// updateDetails refreshes the summary the Web UI shows.
	updateDetails(ctx workflow.Context)
	// sync runs one sync; true ends the workflow (the record is gone).
	sync(ctx workflow.Context) (finished bool)
	// carry is the continue-as-new error that hands the state to the next run.
	carry(ctx workflow.Context) error
	// retry and skip act on an operator's request.
	retry(ctx workflow.Context, rr contract.RetryRequest)
	skip(ctx workflow.Context)
}

// entityStatus is an entity's state as the loop sees it.
type entityStatus struct {
	pending, parked bool // an event waits to be synced; an operator decides
	lastSync        time.Time
	window          time.Duration // the coalescing window after a sync (0: default)
	events          int           // events and duplicates taken (bounds a run's history)
	parkedReason    string
	// idleClose, when positive, completes the workflow after that long
	// without an event (records of version 4: sync.idle_close).
	idleClose time.Duration
	// done: the entity's next run can start from what it kept elsewhere;
	// the workflow completes as soon as nothing is pending (people).
	done bool
}

// rememberer is an entity that keeps what its next run needs somewhere
// before its workflow completes for being idle.
type rememberer interface {
	remember(ctx workflow.Context) error
}

// entityOptions are the loop's per-kind settings.
type entityOptions struct {
	// eventsPerRun bounds the events one run takes before continuing as new.
	eventsPerRun int
	// idle, when positive, completes the workflow after that long without an
	// event (and nothing pending or parked).
	idle time.Duration
	// upgradable: the workflow listens for contract.SignalUpgrade.
	upgradable bool
	// drainBeforeCarry takes late signals before continuing as new, so
	// pending work is synced, not handed over (records and people).
	drainBeforeCarry bool
}

// entityLoop holds one run's channels and what arrived on them.
type entityLoop[E any] struct {
	b        entityBehaviour
	onEvent  func(E)
	events   workflow.ReceiveChannel
	retries  workflow.ReceiveChannel
	skips    workflow.ReceiveChannel
	upgrades workflow.ReceiveChannel
	ops      workflow.Channel // operator Updates, handled on the loop
	upgrade  bool
	// lastEvent is when the last signal or Update arrived; idleTimer fires
	// at lastEvent + idleClose as it was when the timer started.
	lastEvent time.Time
	idleTimer workflow.Future
}

// operatorOp is one retry or skip Update, answered once the loop took it.
type operatorOp struct {
	retry  *contract.RetryRequest // nil: skip
	answer string
	done   bool
}

// runEntity runs the loop until the workflow ends or continues as new.
func runEntity[E any](ctx workflow.Context, b entityBehaviour, eventSignal string, onEvent func(E), o entityOptions) error {
	l := &entityLoop[E]{
		b:       b,
		onEvent: onEvent,
		events:  workflow.GetSignalChannel(ctx, eventSignal),
		retries: workflow.GetSignalChannel(ctx, contract.SignalRetry),
		skips:   workflow.GetSignalChannel(ctx, contract.SignalSkip),
		ops:     workflow.NewBufferedChannel(ctx, 16),
	}
	if o.upgradable {
		l.upgrades = workflow.GetSignalChannel(ctx, contract.SignalUpgrade)
	}
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (any, error) { return b.state(), nil }); err != nil {
		return err
	}
	if err := l.setUpdateHandlers(ctx); err != nil {
		return err
	}
	b.updateDetails(ctx)
	start := b.status().events
	l.lastEvent = workflow.Now(ctx)
	for {
		// Take everything already delivered before deciding what to do.
		l.drain(ctx)
		if st := b.status(); st.pending && !st.parked {
			wait := time.Duration(0)
			if !st.lastSync.IsZero() {
				wait = st.lastSync.Add(window(st.window)).Sub(workflow.Now(ctx))
			}
			if wait <= 0 {
				if b.sync(ctx) {
					l.drain(ctx)
					return finishHandlers(ctx)
				}
				continue
			}
			// Inside the window after a sync: wait for it to pass while more
			// events coalesce into the one follow-up sync.
			l.waitFor(ctx, wait)
			continue
		}
		if st := b.status(); st.done && !st.parked {
			l.drain(ctx) // anything delivered meanwhile is synced first
			if !b.status().pending {
				return finishHandlers(ctx) // before any carry: a new run would have nothing to do
			}
			continue
		}
		if l.upgrade || b.status().events-start >= o.eventsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if o.drainBeforeCarry {
				l.drain(ctx)
				if st := b.status(); st.pending && !st.parked {
					continue // sync first; never hand over unsynced work silently
				}
			}
			if err := finishHandlers(ctx); err != nil {
				return err
			}
			return b.carry(ctx)
		}
		if st := b.status(); st.idleClose > 0 && !st.parked {
			if l.waitOrIdle(ctx, st.idleClose) && l.closeIdle(ctx) {
				return finishHandlers(ctx)
			}
			continue
		}
		if o.idle <= 0 || b.status().parked {
			l.waitFor(ctx, 0) // parked: an operator decides
			continue
		}
		if !l.waitFor(ctx, o.idle) {
			// Quiet for the idle period: finish, unless something slipped in.
			l.drain(ctx)
			if !b.status().pending {
				return finishHandlers(ctx)
			}
		}
	}
}

// drain handles every signal and Update already delivered, without blocking.
func (l *entityLoop[E]) drain(ctx workflow.Context) {
	for took := false; ; took = true {
		if took {
			l.lastEvent = workflow.Now(ctx)
		}
		var ev E
		if l.events.ReceiveAsync(&ev) {
			l.onEvent(ev)
			continue
		}
		var rr contract.RetryRequest
		if l.retries.ReceiveAsync(&rr) {
			l.b.retry(ctx, rr)
			continue
		}
		if l.skips.ReceiveAsync(nil) {
			l.b.skip(ctx)
			continue
		}
		var op *operatorOp
		if l.ops.ReceiveAsync(&op) {
			l.apply(ctx, op)
			continue
		}
		if l.upgrades != nil && l.upgrades.ReceiveAsync(nil) {
			l.upgrade = true
			continue
		}
		return
	}
}

// waitFor blocks until a signal or Update arrives (true) or d passes
// (false; d <= 0: no timer of its own) or the timer it is given fires (false).
func (l *entityLoop[E]) waitFor(ctx workflow.Context, d time.Duration, timer ...workflow.Future) bool {
	sel := workflow.NewSelector(ctx)
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	got := true
	if d > 0 {
		sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) { got = false })
	}
	for _, t := range timer {
		sel.AddFuture(t, func(workflow.Future) { got = false })
	}
	sel.AddReceive(l.events, func(c workflow.ReceiveChannel, _ bool) {
		var ev E
		c.Receive(ctx, &ev)
		l.onEvent(ev)
	})
	sel.AddReceive(l.retries, func(c workflow.ReceiveChannel, _ bool) {
		var rr contract.RetryRequest
		c.Receive(ctx, &rr)
		l.b.retry(ctx, rr)
	})
	sel.AddReceive(l.skips, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		l.b.skip(ctx)
	})
	sel.AddReceive(l.ops, func(c workflow.ReceiveChannel, _ bool) {
		var op *operatorOp
		c.Receive(ctx, &op)
		l.apply(ctx, op)
	})
	if l.upgrades != nil {
		sel.AddReceive(l.upgrades, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			l.upgrade = true
		})
	}
	sel.Select(ctx)
	if got {
		l.lastEvent = workflow.Now(ctx)
	}
	return got
}

// waitOrIdle blocks until a signal or Update arrives (false) or the entity
// has had no event for idle (true). One timer serves every wait: it starts
// once and is re-armed only when it fires while events came since (a timer
// is a billed action; one per wait would cost one per event).
func (l *entityLoop[E]) waitOrIdle(ctx workflow.Context, idle time.Duration) bool {
	for {
		due := l.lastEvent.Add(idle)
		if !workflow.Now(ctx).Before(due) {
			return true
		}
		if l.idleTimer == nil {
			l.idleTimer = workflow.NewTimer(ctx, due.Sub(workflow.Now(ctx)))
		}
		if l.waitFor(ctx, 0, l.idleTimer) {
			return false
		}
		l.idleTimer = nil
	}
}

// closeIdle lets the entity keep what its next run needs, then tells
// whether the workflow may complete: not when keeping failed, nor when an
// event slipped in meanwhile.
func (l *entityLoop[E]) closeIdle(ctx workflow.Context) bool {
	if r, ok := l.b.(rememberer); ok {
		if err := r.remember(ctx); err != nil {
			workflow.GetLogger(ctx).Warn("idle, but what the next run needs could not be kept: running on", "error", err)
			l.lastEvent = workflow.Now(ctx)
			return false
		}
	}
	l.drain(ctx)
	return !l.b.status().pending
}

// setUpdateHandlers registers the retry and skip Updates: the operator's
// request is validated (only a parked entity has anything to retry or
// skip), taken by the loop like the signal, and answered with what it did.
func (l *entityLoop[E]) setUpdateHandlers(ctx workflow.Context) error {
	notParked := func(what string) error {
		if l.b.status().parked {
			return nil
		}
		return errors.New("not parked: nothing to " + what)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateRetry,
		func(ctx workflow.Context, rr contract.RetryRequest) (string, error) {
			return l.submit(ctx, &operatorOp{retry: &rr})
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, _ contract.RetryRequest) error { return notParked("retry") }},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateSkip,
		func(ctx workflow.Context) (string, error) { return l.submit(ctx, &operatorOp{}) },
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context) error { return notParked("skip") }},
	)
}

// submit hands an Update to the loop and waits for its answer.
func (l *entityLoop[E]) submit(ctx workflow.Context, op *operatorOp) (string, error) {
	l.ops.Send(ctx, op)
	if err := workflow.Await(ctx, func() bool { return op.done }); err != nil {
		return "", err
	}
	return op.answer, nil
}

// apply carries out an Update on the loop, where signals are handled too.
func (l *entityLoop[E]) apply(ctx workflow.Context, op *operatorOp) {
	defer func() { op.done = true }()
	st := l.b.status()
	if !st.parked { // it synced or was skipped since the Update was accepted
		op.answer = "not parked any more: nothing done"
		return
	}
	was, since := st.parkedReason, st.lastSync.UTC().Format(time.RFC3339)
	if op.retry != nil {
		l.b.retry(ctx, *op.retry)
		op.answer = "retried: parked on " + was + " since " + since + "; syncing now"
		return
	}
	l.b.skip(ctx)
	op.answer = "skipped: parked on " + was + " since " + since
}

// seenSet is the bounded set of delivery ids an entity remembers for dedup:
// the ids in order (oldest first, carried across continue-as-new in the
// state) and an index of them.
type seenSet struct {
	ids   *[]string
	index map[string]bool
	limit int
}

// newSeenSet indexes the carried ids.
func newSeenSet(ids *[]string, limit int) seenSet {
	s := seenSet{ids: ids, index: make(map[string]bool, len(*ids)), limit: limit}
	for _, id := range *ids {
		s.index[id] = true
	}
	return s
}

// add remembers id; false when it was seen before. The oldest id is
// forgotten past the limit.
func (s seenSet) add(id string) bool {
	if s.index[id] {
		return false
	}
	s.index[id] = true
	*s.ids = append(*s.ids, id)
	if len(*s.ids) > s.limit {
		delete(s.index, (*s.ids)[0])
		*s.ids = (*s.ids)[1:]
	}
	return true
}

// carriedOr is the state continue-as-new handed over, or fresh on a first start.
func carriedOr[T any](carried *T, fresh T) T {
	if carried != nil {
		return *carried
	}
	return fresh
}

// window is the coalescing window the config gave (sync.debounce), or the
// default while the config has not been read yet.
func window(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return mapping.DefaultDebounce
}

// keyword is one search attribute value to publish (ahacc's are all Keyword).
type keyword struct {
	key   temporal.SearchAttributeKeyKeyword
	value string
}

// upsertEntity upserts an entity's search attributes (ConfigHash too, once
// known) and refreshes the summary the Web UI shows. With onlyChanged, the
// values the workflow already holds are left out, and nothing is upserted
// when none changed (an upsert is a billed action and a history event).
func upsertEntity(ctx workflow.Context, b entityBehaviour, configHash string, onlyChanged bool, kws ...keyword) {
	if configHash != "" {
		kws = append(kws, keyword{contract.KeyConfigHash, configHash})
	}
	current := workflow.GetTypedSearchAttributes(ctx)
	var updates []temporal.SearchAttributeUpdate
	for _, kw := range kws {
		if v, ok := current.GetKeyword(kw.key); onlyChanged && ok && v == kw.value {
			continue
		}
		updates = append(updates, kw.key.ValueSet(kw.value))
	}
	if len(updates) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
		}
	}
	b.updateDetails(ctx)
}

// finishHandlers lets the Update handlers already answered return their
// answers before the run ends (a run that ends first leaves them unanswered).
func finishHandlers(ctx workflow.Context) error {
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
