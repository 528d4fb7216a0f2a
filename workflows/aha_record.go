package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/mapping"
)

// Tunables of the entity workflow.
const (
	// SeenLimit bounds the audit ids remembered for dedup (carried across continue-as-new).
	SeenLimit = 2000
	// DefaultRetryFor is how long transient failures are retried before the
	// record parks, when the config names no sync.retry_for.
	DefaultRetryFor = mapping.DefaultRetryFor
)

// eventsPerRun caps events handled in one run before continue-as-new, a
// backstop for the server's own suggestion (a variable so tests can lower it).
var eventsPerRun = 1000

// a is a nil pointer used only to name activity methods (the SDK derives the
// activity name from the method); the worker registers the real struct, and a
// workflow never touches its clients.
var a *activities.Activities

// AhaRecordWorkflow is the entity workflow of one Aha! record (id
// aha:<kind>:<aha id>). It receives audits as signals, dedups them, and keeps
// the record's Centercode feedback in step: leading-edge sync with coalescing,
// hydrate → map → create or update, parking on permanent errors until an
// operator sends retry or skip. It runs until continue-as-new hands its state
// to the next run.
func AhaRecordWorkflow(ctx workflow.Context, in AhaRecordInput) error {
	s := &entity{in: in, State: carriedOr(in.Carried, State{RecordSync: activities.RecordSync{Kind: in.Kind, AhaID: in.AhaID}, SyncState: contract.StateSyncing})}
	s.seen = newSeenSet(&s.Seen, SeenLimit)
	// Version 1: a create that may have committed is looked up before the
	// next write (MaybeCreated); the workflow ends once a deletion is applied.
	// Version 2: a record parked on its own content syncs again on its next
	// change in Aha! (an admin fixing the value needs no operator).
	// Version 3: a record found deleted (404, and a destroy in Aha!'s
	// history) is handled as its destroy audit would be.
	// Version 4: a sync is one SyncRecord activity (syncInOne).
	s.version = workflow.GetVersion(ctx, "record-maybe-created", workflow.DefaultVersion, 4)
	if s.version >= 4 && in.Routes != nil {
		s.routes, s.window = in.Routes, in.Routes.Debounce // carried: idle close and retries as configured
	}
	return runEntity(ctx, s, contract.SignalAhaEvent, s.onEvent,
		entityOptions{eventsPerRun: eventsPerRun, upgradable: true, drainBeforeCarry: true})
}

// carry hands the record's state to the next run.
func (s *entity) carry(ctx workflow.Context) error {
	carried := s.State
	next := AhaRecordInput{Kind: s.in.Kind, AhaID: s.in.AhaID, Carried: &carried}
	if s.version >= 4 {
		next.Routes = s.routes
	}
	return workflow.NewContinueAsNewError(ctx, AhaRecordWorkflow, next)
}

// entity is the workflow's private state and behaviour.
type entity struct {
	State
	in      AhaRecordInput
	seen    seenSet
	routes  *activities.Routes
	window  time.Duration // the config's coalescing window (sync.debounce)
	version workflow.Version
}

// status is the entity loop's view of the record.
func (s *entity) status() entityStatus {
	st := entityStatus{pending: s.Pending, parked: s.SyncState == contract.StateParked, lastSync: s.LastSync,
		window: s.window, events: s.Events + s.Duplicates, parkedReason: s.ParkedReason}
	if s.version >= 4 && s.routes != nil && !s.Destroyed {
		st.idleClose = s.routes.IdleClose
	}
	return st
}

// remember keeps the record's links for the next run of its workflow
// (RememberRecord): the run completes for being idle.
// A short try: while it runs no event is taken, and a failure only means the
// run goes on until its next idle period.
func (s *entity) remember(ctx workflow.Context) error {
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: 30 * time.Second,
		Summary:     "keep the links of " + s.Label() + " for its next run",
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	}), a.RememberRecord, s.RecordSync).Get(ctx, nil)
}

func (s *entity) state() any { return s.State }

// onEvent dedups an audit and marks the record pending.
func (s *entity) onEvent(ev contract.AhaEvent) {
	if ev.AuditID != "" && !s.seen.add(ev.AuditID) {
		s.Duplicates++
		return
	}
	s.Events++
	if s.Destroyed {
		return // the record is gone; late events change nothing
	}
	if s.version >= 2 && s.SyncState == contract.StateParked && s.ParkedOnContent {
		// Parked on a value the mapping refused: this change may fix it.
		s.SyncState, s.ParkedReason, s.ParkedOnContent = contract.StateSyncing, "", false
	}
	if ev.Action == "destroy" {
		s.Destroyed = true
		if s.SyncState == contract.StateParked {
			// The record is gone: whatever parked it (often the 404 of a
			// fetch racing the deletion) no longer matters; apply on_destroy.
			s.SyncState, s.ParkedReason = contract.StateSyncing, ""
			s.LastSync = time.Time{}
		}
	}
	s.Pending = true
}

func (s *entity) retry(ctx workflow.Context, rr contract.RetryRequest) {
	workflow.GetLogger(ctx).Info("retry requested", "parked_reason", s.ParkedReason, "create", rr.Create)
	s.ParkedOnContent = false
	if rr.Create {
		for i := range s.Links {
			if rr.FeedbackType == "" || rr.FeedbackType == s.Links[i].FeedbackType {
				s.Links[i].MaybeCreated, s.Links[i].IDUnknown = false, false
			}
		}
	}
	s.ParkedReason = ""
	s.SyncState = contract.StateSyncing
	s.Pending = true
	s.LastSync = time.Time{} // sync at once
	s.upsert(ctx)
}

func (s *entity) skip(ctx workflow.Context) {
	if s.SyncState != contract.StateParked {
		return
	}
	workflow.GetLogger(ctx).Info("skip requested", "parked_reason", s.ParkedReason)
	s.ParkedReason, s.ParkedOnContent = "", false
	s.SyncState = contract.StateSkipped
	s.Pending = false
	s.upsert(ctx)
}

// sync hydrates, maps and writes the record once. A record deleted in Aha!
// whose on_destroy was applied ends the workflow (true): later events of its
// id start a new run.
func (s *entity) sync(ctx workflow.Context) (finished bool) {
	s.Pending = false
	s.Syncs++
	s.SyncState = contract.StateSyncing
	err := s.syncOnce(ctx)
	s.LastSync = workflow.Now(ctx)
	switch {
	case err == nil:
		s.SyncState = contract.StateSynced
		s.ParkedReason, s.ParkedOnContent = "", false
	default:
		s.SyncState = contract.StateParked
		s.ParkedReason = reason(err)
		var appErr *temporal.ApplicationError
		s.ParkedOnContent = s.version >= 2 && errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeMapping
		workflow.GetLogger(ctx).Warn("record parked", "reason", s.ParkedReason)
	}
	s.upsert(ctx)
	return s.version >= 1 && s.Destroyed && s.SyncState == contract.StateSynced
}

// syncOnce syncs the record once. Runs of version 4 on make the whole sync
// one SyncRecord activity (history keeps its result: the links and hashes
// the record decided on, not the record); older runs call each step as an
// activity of its own, as their histories recorded.
func (s *entity) syncOnce(ctx workflow.Context) error {
	if s.version >= 4 {
		return s.syncInOne(ctx)
	}
	routes, err := s.loadRoutes(ctx)
	if err != nil {
		return err
	}
	return s.Sync(stepCalls{ctx: ctx, s: s}, routes, int(s.version))
}

// syncRounds bounds the SyncRecord calls of one sync: a call that created
// (or may have) and then failed hands back what it learned, and one that
// met a second create asks for the next call (More); each round learns
// something, so few are needed.
const syncRounds = 20

// syncFailures bounds the rounds that end in a handed-back failure.
const syncFailures = 5

// syncTimeout bounds one SyncRecord attempt: several far-side calls, each
// possibly waiting for the shared rate budget (a dead worker is noticed by
// the heartbeat timeout long before).
const syncTimeout = 10 * time.Minute

// syncInOne runs the sync as SyncRecord activities. An attempt that wrote
// nothing a retry could double fails and is retried like any call; one that
// did returns what it learned with its failure, so a retry never creates twice.
func (s *entity) syncInOne(ctx workflow.Context) error {
	var failure *activities.SyncFailure
	failures := 0
	for range syncRounds {
		var res activities.SyncRecordResult
		err := workflow.ExecuteActivity(workflow.WithStartToCloseTimeout(s.callOpts(ctx, "sync "+s.Label()), syncTimeout),
			a.SyncRecord, activities.SyncRecordRequest{Record: s.RecordSync, Version: int(s.version)}).Get(ctx, &res)
		var appErr *temporal.ApplicationError
		if err != nil && errors.As(err, &appErr) && appErr.NonRetryable() && appErr.HasDetails() && appErr.Details(&res) == nil {
			// A final failure carries what the sync learned, and the routes.
			s.RecordSync = res.Record
			if len(res.Routes.FeedbackTypes) > 0 {
				s.routes, s.window = &res.Routes, res.Routes.Debounce
			}
		}
		if err != nil {
			return err
		}
		s.RecordSync = res.Record
		s.routes, s.window = &res.Routes, res.Routes.Debounce
		if failure = res.Failure; failure == nil {
			if res.More {
				continue
			}
			return nil
		}
		if failures++; failure.NonRetryable || failures >= syncFailures {
			break
		}
	}
	if failure == nil {
		failure = &activities.SyncFailure{Message: fmt.Sprintf("the sync of %s took more than %d calls", s.Label(), syncRounds), Type: activities.ErrTypeConfig}
	}
	return temporal.NewNonRetryableApplicationError(failure.Message, failure.Type, nil)
}

// loadRoutes asks the worker's current config which feedback types the
// record's kind feeds (a local activity keeps the config out of the workflow
// and out of history, but for its answer).
func (s *entity) loadRoutes(ctx workflow.Context) (activities.Routes, error) {
	var routes activities.Routes
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, a.RoutesFor, activities.RoutesRequest{Kind: s.Kind}).Get(ctx, &routes); err != nil {
		return routes, err
	}
	s.routes, s.window = &routes, routes.Debounce
	s.ConfigHash = routes.ConfigHash
	if len(routes.FeedbackTypes) == 0 {
		return routes, activities.NoFeedbackTypes(s.Kind)
	}
	return routes, nil
}

// stepCalls make each step of a sync an activity (or, for the config's
// part, a local activity) of its own: runs of version ≤ 3.
type stepCalls struct {
	ctx workflow.Context
	s   *entity
}

func (c stepCalls) Now() time.Time             { return workflow.Now(c.ctx) }
func (c stepCalls) Info(msg string, kv ...any) { workflow.GetLogger(c.ctx).Info(msg, kv...) }

func (c stepCalls) Fetch(summary string, req activities.FetchRequest) (rec activities.Record, err error) {
	err = workflow.ExecuteActivity(c.s.callOpts(c.ctx, summary), a.FetchAhaRecord, req).Get(c.ctx, &rec)
	return rec, err
}

func (c stepCalls) RouteRecord(req activities.RouteRecordRequest) (choice activities.RouteChoice, err error) {
	err = workflow.ExecuteLocalActivity(localOpts(c.ctx, activities.ErrTypeMapping), a.RouteRecord, req).Get(c.ctx, &choice)
	return choice, err
}

func (c stepCalls) Map(req activities.MapRequest) (m activities.Mapped, err error) {
	err = workflow.ExecuteLocalActivity(localOpts(c.ctx, activities.ErrTypeMapping, activities.ErrTypeConfig), a.MapRecord, req).Get(c.ctx, &m)
	return m, err
}

func (c stepCalls) Submit(summary string, req activities.SubmitRequest) (res activities.SubmitResult, err error) {
	err = workflow.ExecuteActivity(c.s.callOpts(c.ctx, summary), a.SubmitFeedback, req).Get(c.ctx, &res)
	return res, err
}

func (c stepCalls) Find(summary string, req activities.FindFeedbackRequest) (found activities.FindFeedbackResult, err error) {
	err = workflow.ExecuteActivity(c.s.callOpts(c.ctx, summary), a.FindFeedback, req).Get(c.ctx, &found)
	return found, err
}

func (c stepCalls) SetStatus(summary string, req activities.SetStatusRequest) error {
	return workflow.ExecuteActivity(c.s.callOpts(c.ctx, summary), a.SetCentercodeStatus, req).Get(c.ctx, nil)
}

func (c stepCalls) NotifyDestroyed(summary string, req activities.DestroyRequest) error {
	return workflow.ExecuteActivity(c.s.callOpts(c.ctx, summary), a.NotifyDestroyed, req).Get(c.ctx, nil)
}

// MayHaveBeenLinked: runs of version ≤ 3 never closed for being idle.
func (c stepCalls) MayHaveBeenLinked() bool { return false }

func (c stepCalls) FromAhaStatus() bool {
	return workflow.GetVersion(c.ctx, "from-aha-status", workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// localOpts are the options of a config-only step (local activity): three
// tries; the mapping's and the config's refusals are final.
func localOpts(ctx workflow.Context, final ...string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: final},
	})
}

// callOpts are the options of every far-side call (see retrying: backoff
// from 1 s to sync.retry_max_interval, for up to sync.retry_for); permanent
// answers are not retried and park the record.
func (s *entity) callOpts(ctx workflow.Context, summary string) workflow.Context {
	var r retrying
	if s.routes != nil {
		r = retrying(s.routes.Retry)
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		HeartbeatTimeout:       callHeartbeat,
		ScheduleToCloseTimeout: r.retryFor(),
		Summary:                summary,
		RetryPolicy:            r.policy(),
	})
}

// upsert publishes state to search attributes and the UI's current details.
func (s *entity) upsert(ctx workflow.Context) {
	kws := []keyword{{contract.KeySyncState, s.SyncState}, {contract.KeyAhaRecordType, s.Kind}}
	if s.Reference != "" {
		kws = append(kws, keyword{contract.KeyAhaReference, s.Reference})
	}
	for _, l := range s.Links {
		if l.FeedbackID != "" {
			kws = append(kws, keyword{contract.KeyCentercodeFeedbackID, l.FeedbackID})
			break
		}
	}
	upsertEntity(ctx, s, s.ConfigHash, s.version >= 4, kws...)
}

func (s *entity) updateDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, s.Summary())
}

// reason turns an activity failure into the one line an operator reads.
func reason(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "gave up retrying: " + timeoutErr.Error()
	}
	return err.Error()
}
