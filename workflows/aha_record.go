package workflows

import (
	"errors"
	"fmt"
	"slices"
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
	s := &entity{in: in, State: carriedOr(in.Carried, State{Kind: in.Kind, AhaID: in.AhaID, SyncState: contract.StateSyncing})}
	s.seen = newSeenSet(&s.Seen, SeenLimit)
	// Version 1: a create that may have committed is looked up before the
	// next write (MaybeCreated); the workflow ends once a deletion is applied.
	// Version 2: a record parked on its own content syncs again on its next
	// change in Aha! (an admin fixing the value needs no operator).
	// Version 3: a record found deleted (404, and a destroy in Aha!'s
	// history) is handled as its destroy audit would be.
	s.version = workflow.GetVersion(ctx, "record-maybe-created", workflow.DefaultVersion, 3)
	return runEntity(ctx, s, contract.SignalAhaEvent, s.onEvent,
		entityOptions{eventsPerRun: eventsPerRun, upgradable: true, drainBeforeCarry: true})
}

// carry hands the record's state to the next run.
func (s *entity) carry(ctx workflow.Context) error {
	carried := s.State
	return workflow.NewContinueAsNewError(ctx, AhaRecordWorkflow, AhaRecordInput{Kind: s.in.Kind, AhaID: s.in.AhaID, Carried: &carried})
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
	return entityStatus{pending: s.Pending, parked: s.SyncState == contract.StateParked, lastSync: s.LastSync,
		window: s.window, events: s.Events + s.Duplicates, parkedReason: s.ParkedReason}
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

// syncOnce reads the routes, fetches the record, maps it for each feedback
// type it feeds and writes what changed, then the status rules.
func (s *entity) syncOnce(ctx workflow.Context) error {
	routes, err := s.loadRoutes(ctx)
	if err != nil {
		return err
	}
	if s.Destroyed {
		return s.destroy(ctx)
	}
	rec, err := s.fetch(ctx)
	if err != nil || s.Destroyed {
		return err
	}
	types, err := s.routeTypes(ctx, routes, rec)
	if err != nil {
		return err
	}
	mapped := map[string]activities.Mapped{}
	for i, ft := range types {
		var m activities.Mapped
		mctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeMapping, activities.ErrTypeConfig}},
		})
		if err := workflow.ExecuteLocalActivity(mctx, a.MapRecord, activities.MapRequest{FeedbackType: ft, Record: rec.JSON}).Get(ctx, &m); err != nil {
			return err
		}
		mapped[ft] = m
		if err := s.write(ctx, ft, m, rec.LinkedFeedbackID, i == 0); err != nil {
			return err
		}
	}
	return s.syncStatuses(ctx, mapped)
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
		return routes, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no feedback type is fed by %q records in the current config", s.Kind), activities.ErrTypeConfig, nil)
	}
	return routes, nil
}

// fetch hydrates the record. One found deleted (404, and a destroy in Aha!'s
// history) without its destroy audit here — a late audit of a deleted
// record, or a missed deletion — gets on_destroy applied and s.Destroyed set.
func (s *entity) fetch(ctx workflow.Context) (activities.Record, error) {
	var rec activities.Record
	if err := workflow.ExecuteActivity(s.callOpts(ctx, "fetch "+s.label()), a.FetchAhaRecord,
		activities.FetchRequest{Kind: s.Kind, AhaID: s.AhaID}).Get(ctx, &rec); err != nil {
		var appErr *temporal.ApplicationError
		if s.version >= 3 && errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeGone {
			workflow.GetLogger(ctx).Info("the record was deleted in Aha!", "kind", s.Kind, "aha_id", s.AhaID)
			s.Destroyed = true
			return rec, s.destroy(ctx)
		}
		return rec, err
	}
	s.Reference, s.URL, s.Name = rec.Reference, rec.URL, rec.Name
	return rec, nil
}

// write sends one feedback type's mapped body when it changed: a create the
// first time (after looking up a create that may have committed), an update
// after. linkedID is the Centercode feedback stamped on the Aha! record when
// ahacc created the record itself; first is the record's first type.
func (s *entity) write(ctx workflow.Context, ft string, m activities.Mapped, linkedID string, first bool) error {
	link := s.link(ft)
	if link.FeedbackID == "" && linkedID != "" && first {
		// ahacc created this Aha! record from that Centercode feedback (a
		// macro stamped its id on the record): this is our own echo. Adopt
		// the link; write nothing back.
		link.FeedbackID = linkedID
		link.LastHash = m.Hash
		link.SyncedAt = workflow.Now(ctx)
		s.Echoes++
		workflow.GetLogger(ctx).Info("record was created by ahacc from Centercode; linked without writing", "feedback_id", link.FeedbackID)
		return nil
	}
	if s.version >= 1 && link.FeedbackID == "" && link.IDUnknown {
		link.IDUnknown, link.MaybeCreated = false, true // an older run's form
	}
	if (link.FeedbackID != "" || link.MaybeCreated) && link.LastHash == m.Hash {
		return nil // nothing changed on the Centercode side: no write
	}
	if link.FeedbackID == "" && link.MaybeCreated {
		// An earlier create may have committed: find it before writing.
		if err := s.findCreated(ctx, link, m.Reference); err != nil {
			return err
		}
		if link.FeedbackID != "" && link.LastHash == m.Hash {
			return nil
		}
	}
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
	var res activities.SubmitResult
	if err := workflow.ExecuteActivity(s.callOpts(ctx, verb+" "+ft+" feedback for "+s.label()), a.SubmitFeedback, req).Get(ctx, &res); err != nil {
		if s.version >= 1 && req.FeedbackID == "" && !refused(err) {
			link.MaybeCreated = true // it may have committed before failing
		}
		return err
	}
	if res.Skipped != "" {
		workflow.GetLogger(ctx).Info("write skipped", "feedback_type", ft, "reason", res.Skipped)
		link.LastHash = m.Hash
		return nil
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
	return nil
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
		contract.KeySyncState.ValueSet(s.SyncState),
		contract.KeyAhaRecordType.ValueSet(s.Kind),
	}
	if s.Reference != "" {
		updates = append(updates, contract.KeyAhaReference.ValueSet(s.Reference))
	}
	for _, l := range s.Links {
		if l.FeedbackID != "" {
			updates = append(updates, contract.KeyCentercodeFeedbackID.ValueSet(l.FeedbackID))
			break
		}
	}
	upsertEntity(ctx, s, s.ConfigHash, updates...)
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
