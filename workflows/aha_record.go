package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
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
	s := &entity{in: in}
	if in.Carried != nil {
		s.State = *in.Carried
	} else {
		s.State = State{Kind: in.Kind, AhaID: in.AhaID, SyncState: StateSyncing}
	}
	s.seen = make(map[string]bool, len(s.Seen))
	for _, id := range s.Seen {
		s.seen[id] = true
	}
	// Version 1: a create that may have committed is looked up before the
	// next write (MaybeCreated); the workflow ends once a deletion is applied.
	// Version 2: a record parked on its own content syncs again on its next
	// change in Aha! (an admin fixing the value needs no operator).
	// Version 3: a record found deleted (404, and a destroy in Aha!'s
	// history) is handled as its destroy audit would be.
	s.version = workflow.GetVersion(ctx, "record-maybe-created", workflow.DefaultVersion, 3)
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return s.State, nil }); err != nil {
		return err
	}
	events := workflow.GetSignalChannel(ctx, SignalAhaEvent)
	retries := workflow.GetSignalChannel(ctx, SignalRetry)
	skips := workflow.GetSignalChannel(ctx, SignalSkip)
	s.upgrades = workflow.GetSignalChannel(ctx, SignalUpgrade)
	s.updateDetails(ctx)

	startEvents := s.Events + s.Duplicates
	for {
		// Take everything already delivered before deciding what to do.
		s.drain(ctx, events, retries, skips)

		parked := s.SyncState == StateParked
		if s.Pending && !parked {
			wait := time.Duration(0)
			if !s.LastSync.IsZero() {
				wait = s.LastSync.Add(s.debounce()).Sub(workflow.Now(ctx))
			}
			if wait <= 0 {
				s.sync(ctx)
				if s.version >= 1 && s.Destroyed && s.SyncState == StateSynced {
					// Deleted in Aha! and on_destroy applied: nothing is left
					// to do. Later events of this id start a new run.
					s.drain(ctx, events, retries, skips)
					return nil
				}
				continue
			}
			// Inside the window after a sync: wait for it to pass while more
			// events coalesce into the one follow-up sync.
			s.waitFor(ctx, wait, events, retries, skips)
			continue
		}
		if s.upgrade || s.Events+s.Duplicates-startEvents >= eventsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			s.drain(ctx, events, retries, skips)
			if s.Pending && s.SyncState != StateParked {
				continue // sync first; never hand over unsynced work silently
			}
			carried := s.State
			return workflow.NewContinueAsNewError(ctx, AhaRecordWorkflow, AhaRecordInput{
				Kind: in.Kind, AhaID: in.AhaID, Carried: &carried,
			})
		}
		s.waitFor(ctx, 0, events, retries, skips)
	}
}

// entity is the workflow's private state and behaviour.
type entity struct {
	State
	in      AhaRecordInput
	seen    map[string]bool
	routes  *activities.Routes
	version workflow.Version
	// upgrades carries SignalUpgrade; upgrade is set once one came.
	upgrades workflow.ReceiveChannel
	upgrade  bool
}

func (s *entity) debounce() time.Duration {
	if s.routes != nil && s.routes.Debounce > 0 {
		return s.routes.Debounce
	}
	return mapping.DefaultDebounce
}

// drain handles every signal already buffered, without blocking.
func (s *entity) drain(ctx workflow.Context, events, retries, skips workflow.ReceiveChannel) {
	for {
		var ev AhaEvent
		if events.ReceiveAsync(&ev) {
			s.onEvent(ev)
			continue
		}
		var rr RetryRequest
		if retries.ReceiveAsync(&rr) {
			s.onRetry(ctx, rr)
			continue
		}
		if skips.ReceiveAsync(nil) {
			s.onSkip(ctx)
			continue
		}
		if s.upgrades != nil && s.upgrades.ReceiveAsync(nil) {
			s.upgrade = true
			continue
		}
		return
	}
}

// waitFor blocks until a signal arrives or d passes (d <= 0: no timer).
func (s *entity) waitFor(ctx workflow.Context, d time.Duration, events, retries, skips workflow.ReceiveChannel) {
	sel := workflow.NewSelector(ctx)
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	if d > 0 {
		sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
	}
	sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
		var ev AhaEvent
		c.Receive(ctx, &ev)
		s.onEvent(ev)
	})
	sel.AddReceive(retries, func(c workflow.ReceiveChannel, _ bool) {
		var rr RetryRequest
		c.Receive(ctx, &rr)
		s.onRetry(ctx, rr)
	})
	sel.AddReceive(skips, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onSkip(ctx)
	})
	if s.upgrades != nil {
		sel.AddReceive(s.upgrades, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			s.upgrade = true
		})
	}
	sel.Select(ctx)
}

// onEvent dedups an audit and marks the record pending.
func (s *entity) onEvent(ev AhaEvent) {
	if ev.AuditID != "" {
		if s.seen[ev.AuditID] {
			s.Duplicates++
			return
		}
		s.seen[ev.AuditID] = true
		s.Seen = append(s.Seen, ev.AuditID)
		if len(s.Seen) > SeenLimit {
			delete(s.seen, s.Seen[0])
			s.Seen = s.Seen[1:]
		}
	}
	s.Events++
	if s.Destroyed {
		return // the record is gone; late events change nothing
	}
	if s.version >= 2 && s.SyncState == StateParked && s.ParkedOnContent {
		// Parked on a value the mapping refused: this change may fix it.
		s.SyncState, s.ParkedReason, s.ParkedOnContent = StateSyncing, "", false
	}
	if ev.Action == "destroy" {
		s.Destroyed = true
		if s.SyncState == StateParked {
			// The record is gone: whatever parked it (often the 404 of a
			// fetch racing the deletion) no longer matters; apply on_destroy.
			s.SyncState, s.ParkedReason = StateSyncing, ""
			s.LastSync = time.Time{}
		}
	}
	s.Pending = true
}

func (s *entity) onRetry(ctx workflow.Context, rr RetryRequest) {
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
	s.SyncState = StateSyncing
	s.Pending = true
	s.LastSync = time.Time{} // sync at once
	s.upsert(ctx)
}

func (s *entity) onSkip(ctx workflow.Context) {
	if s.SyncState != StateParked {
		return
	}
	workflow.GetLogger(ctx).Info("skip requested", "parked_reason", s.ParkedReason)
	s.ParkedReason, s.ParkedOnContent = "", false
	s.SyncState = StateSkipped
	s.Pending = false
	s.upsert(ctx)
}

// sync hydrates, maps and writes the record once.
func (s *entity) sync(ctx workflow.Context) {
	s.Pending = false
	s.Syncs++
	s.SyncState = StateSyncing
	err := s.syncOnce(ctx)
	s.LastSync = workflow.Now(ctx)
	switch {
	case err == nil:
		s.SyncState = StateSynced
		s.ParkedReason, s.ParkedOnContent = "", false
	default:
		s.SyncState = StateParked
		s.ParkedReason = reason(err)
		var appErr *temporal.ApplicationError
		s.ParkedOnContent = s.version >= 2 && errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeMapping
		workflow.GetLogger(ctx).Warn("record parked", "reason", s.ParkedReason)
	}
	s.upsert(ctx)
}

func (s *entity) syncOnce(ctx workflow.Context) error {
	// Routing comes from the worker's current config (a local activity keeps
	// the config out of the workflow and out of history, but for its answer).
	var routes activities.Routes
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, a.RoutesFor, activities.RoutesRequest{Kind: s.Kind}).Get(ctx, &routes); err != nil {
		return err
	}
	s.routes = &routes
	s.ConfigHash = routes.ConfigHash
	if len(routes.FeedbackTypes) == 0 {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no feedback type is fed by %q records in the current config", s.Kind), activities.ErrTypeConfig, nil)
	}
	if s.Destroyed {
		return s.destroy(ctx)
	}

	var rec activities.Record
	if err := workflow.ExecuteActivity(s.callOpts(ctx, "fetch "+s.label()), a.FetchAhaRecord,
		activities.FetchRequest{Kind: s.Kind, AhaID: s.AhaID}).Get(ctx, &rec); err != nil {
		var appErr *temporal.ApplicationError
		if s.version >= 3 && errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeGone {
			// Deleted, and its destroy audit not here (yet): a late audit
			// of a deleted record, or a missed deletion. Apply on_destroy.
			workflow.GetLogger(ctx).Info("the record was deleted in Aha!", "kind", s.Kind, "aha_id", s.AhaID)
			s.Destroyed = true
			return s.destroy(ctx)
		}
		return err
	}
	s.Reference, s.URL, s.Name = rec.Reference, rec.URL, rec.Name

	types, err := s.routeTypes(ctx, routes, rec)
	if err != nil {
		return err
	}
	mapped := map[string]activities.Mapped{}
	for _, ft := range types {
		var m activities.Mapped
		mctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeMapping, activities.ErrTypeConfig}},
		})
		if err := workflow.ExecuteLocalActivity(mctx, a.MapRecord, activities.MapRequest{FeedbackType: ft, Record: rec.JSON}).Get(ctx, &m); err != nil {
			return err
		}
		mapped[ft] = m
		link := s.link(ft)
		if link.FeedbackID == "" && rec.LinkedFeedbackID != "" && ft == types[0] {
			// ahacc created this Aha! record from that Centercode feedback (a
			// macro stamped its id on the record): this is our own echo. Adopt
			// the link; write nothing back.
			link.FeedbackID = rec.LinkedFeedbackID
			link.LastHash = m.Hash
			link.SyncedAt = workflow.Now(ctx)
			s.Echoes++
			workflow.GetLogger(ctx).Info("record was created by ahacc from Centercode; linked without writing", "feedback_id", link.FeedbackID)
			continue
		}
		if s.version >= 1 && link.FeedbackID == "" && link.IDUnknown {
			link.IDUnknown, link.MaybeCreated = false, true // an older run's form
		}
		if (link.FeedbackID != "" || link.MaybeCreated) && link.LastHash == m.Hash {
			continue // nothing changed on the Centercode side: no write
		}
		if link.FeedbackID == "" && link.MaybeCreated {
			// An earlier create may have committed: find it before writing.
			if err := s.findCreated(ctx, link, m.Reference); err != nil {
				return err
			}
			if link.FeedbackID != "" && link.LastHash == m.Hash {
				continue
			}
		}
		var res activities.SubmitResult
		req := activities.SubmitRequest{FeedbackType: ft, FeedbackID: link.FeedbackID, Body: m.Body, Reference: m.Reference}
		if link.IDUnknown {
			req.FeedbackID = ""
		}
		verb := "create"
		if req.FeedbackID != "" {
			verb = "update"
		}
		if req.FeedbackID == "" {
			link.ExternalRef = m.Reference
		}
		if err := workflow.ExecuteActivity(s.callOpts(ctx, verb+" "+ft+" feedback for "+s.label()), a.SubmitFeedback, req).Get(ctx, &res); err != nil {
			if s.version >= 1 && req.FeedbackID == "" && !refused(err) {
				link.MaybeCreated = true // it may have committed before failing
			}
			return err
		}
		if res.Skipped != "" {
			workflow.GetLogger(ctx).Info("write skipped", "feedback_type", ft, "reason", res.Skipped)
			link.LastHash = m.Hash
			continue
		}
		if res.FeedbackID != "" {
			link.FeedbackID = res.FeedbackID
		}
		if s.version >= 1 {
			link.MaybeCreated = res.IDUnknown && link.FeedbackID == ""
		} else {
			link.IDUnknown = res.IDUnknown && link.FeedbackID == ""
		}
		link.LastHash = m.Hash
		link.SyncedAt = workflow.Now(ctx)
		s.Writes++
	}
	return s.syncStatuses(ctx, mapped)
}

// routeTypes are the feedback types this sync writes: every type the kind
// feeds, or — when they choose by content (when:) — the one the record was
// created in (the choice stays with the record), else the one its content
// routes to now, else none.
func (s *entity) routeTypes(ctx workflow.Context, routes activities.Routes, rec activities.Record) ([]string, error) {
	if !routes.ByContent {
		return routes.FeedbackTypes, nil
	}
	var linked []string
	for _, l := range s.Links {
		if (l.FeedbackID != "" || l.MaybeCreated || l.IDUnknown) && slices.Contains(routes.FeedbackTypes, l.FeedbackType) {
			linked = append(linked, l.FeedbackType)
		}
	}
	if len(linked) > 0 {
		return linked, nil
	}
	var choice activities.RouteChoice
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeMapping}},
	})
	if err := workflow.ExecuteLocalActivity(lctx, a.RouteRecord, activities.RouteRecordRequest{Kind: s.Kind, Record: rec.JSON}).Get(ctx, &choice); err != nil {
		return nil, err
	}
	s.Route = choice.Why
	if choice.FeedbackType == "" {
		return nil, nil
	}
	return []string{choice.FeedbackType}, nil
}

// syncStatuses applies status_rules.from_aha: when the Aha! status maps to a
// Centercode status the feedback does not have yet, set it through the
// feedback listener. The activity tells the feedback's FeedbackWorkflow to
// expect the change first, so it does not come back as a status change that
// fires a macro.
func (s *entity) syncStatuses(ctx workflow.Context, mapped map[string]activities.Mapped) error {
	if workflow.GetVersion(ctx, "from-aha-status", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	for i := range s.Links {
		l := &s.Links[i]
		m, ok := mapped[l.FeedbackType]
		if !ok || l.FeedbackID == "" || m.CentercodeStatus == "" || m.CentercodeStatus == l.LastStatus {
			continue
		}
		req := activities.SetStatusRequest{FeedbackID: l.FeedbackID, Status: m.CentercodeStatus}
		if err := workflow.ExecuteActivity(s.callOpts(ctx, "set "+l.FeedbackType+" feedback "+l.FeedbackID+" to "+m.CentercodeStatus),
			a.SetCentercodeStatus, req).Get(ctx, nil); err != nil {
			return err
		}
		l.LastStatus = m.CentercodeStatus
		s.Writes++
	}
	return nil
}

// findCreated looks up the feedback an earlier create of link may have made
// (by its external reference) and links it; none found: the next write
// creates. Without a lookup it fails (the record parks with what to do).
func (s *entity) findCreated(ctx workflow.Context, link *Link, ref string) error {
	// The reference the create sent first: the record's may have changed
	// since (moved to another workspace, a remapped element).
	refs := []string{link.ExternalRef}
	if ref != "" && ref != link.ExternalRef {
		refs = append(refs, ref)
	}
	if refs[0] == "" {
		refs = refs[1:]
	}
	if len(refs) == 0 {
		refs = []string{""} // FindFeedback says what is missing
	}
	var found activities.FindFeedbackResult
	for _, r := range refs {
		req := activities.FindFeedbackRequest{FeedbackType: link.FeedbackType, Reference: r}
		if err := workflow.ExecuteActivity(s.callOpts(ctx, "look up the "+link.FeedbackType+" feedback an earlier create of "+s.label()+" may have made"),
			a.FindFeedback, req).Get(ctx, &found); err != nil {
			return err
		}
		if found.FeedbackID != "" {
			break
		}
	}
	link.FeedbackID, link.MaybeCreated = found.FeedbackID, false
	if found.FeedbackID != "" {
		workflow.GetLogger(ctx).Info("found the feedback an earlier create made; linked", "feedback_id", found.FeedbackID)
	}
	return nil
}

// refused reports whether a failed create certainly committed nothing: the
// far side refused it, or it was never sent (mapping, config).
func refused(err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	switch appErr.Type() {
	case activities.ErrTypeRejected, activities.ErrTypeMapping, activities.ErrTypeConfig:
		return true
	}
	return false
}

// destroy applies the configured on_destroy to every linked feedback.
func (s *entity) destroy(ctx workflow.Context) error {
	for i := range s.Links {
		l := &s.Links[i]
		if s.version >= 1 && l.FeedbackID == "" && (l.MaybeCreated || l.IDUnknown) {
			if err := s.findCreated(ctx, l, ""); err != nil {
				return err
			}
		}
		if l.FeedbackID == "" {
			continue
		}
		req := activities.DestroyRequest{FeedbackType: l.FeedbackType, FeedbackID: l.FeedbackID, Reference: s.Reference}
		if err := workflow.ExecuteActivity(s.callOpts(ctx, "tell "+l.FeedbackType+" feedback "+l.FeedbackID+" that "+s.label()+" was deleted"),
			a.NotifyDestroyed, req).Get(ctx, nil); err != nil {
			return err
		}
		s.Writes++
	}
	return nil
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

func (s *entity) label() string {
	if s.Reference != "" {
		return s.Kind + " " + s.Reference
	}
	return s.Kind + " " + s.AhaID
}

// upsert publishes state to search attributes and the UI's current details.
func (s *entity) upsert(ctx workflow.Context) {
	updates := []temporal.SearchAttributeUpdate{
		KeySyncState.ValueSet(s.SyncState),
		KeyAhaRecordType.ValueSet(s.Kind),
	}
	if s.Reference != "" {
		updates = append(updates, KeyAhaReference.ValueSet(s.Reference))
	}
	for _, l := range s.Links {
		if l.FeedbackID != "" {
			updates = append(updates, KeyCentercodeFeedbackID.ValueSet(l.FeedbackID))
			break
		}
	}
	if s.ConfigHash != "" {
		updates = append(updates, KeyConfigHash.ValueSet(s.ConfigHash))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
	s.updateDetails(ctx)
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
