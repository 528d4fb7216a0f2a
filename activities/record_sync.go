package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// One sync of an Aha! record: hydrate, route, map each feedback type it
// feeds, write what changed (create, or update), then the status rules; a
// deleted record gets on_destroy. The steps are written once, against
// RecordCalls: AhaRecordWorkflow runs of version ≤ 3 make each call an
// activity of its own (kept so their histories replay); later runs make the
// whole sync one SyncRecord activity, so history keeps what the record
// decided on (links, hashes, reason), not the record.

// Link ties one Aha! record to one Centercode feedback item of a feedback type.
type Link struct {
	FeedbackType string `json:"feedback_type"`
	FeedbackID   string `json:"feedback_id,omitempty"`
	// IDUnknown is set when Centercode answered 2xx without an id (runs of
	// older workers; newer ones set MaybeCreated).
	IDUnknown bool `json:"id_unknown,omitempty"`
	// MaybeCreated: a create may have committed (answered without an id, or
	// failed after it was sent): the next write of any kind looks the
	// feedback up first (FindFeedback), and parks when it cannot.
	MaybeCreated bool `json:"maybe_created,omitempty"`
	// ExternalRef is the external reference the last create sent (what the
	// lookup finds the feedback by).
	ExternalRef string `json:"external_ref,omitempty"`
	// LastHash is the hash of the body last written; an equal hash skips the write.
	LastHash string `json:"last_hash,omitempty"`
	// LastStatus is the Centercode status last set from Aha! (status_rules.from_aha).
	LastStatus string    `json:"last_status,omitempty"`
	SyncedAt   time.Time `json:"synced_at,omitempty"`
	// DestroyNotified: on_destroy was applied to this feedback (version 4),
	// so a destroy that goes on after a failure does not apply it again.
	DestroyNotified bool `json:"destroy_notified,omitempty"`
}

// RecordSync is what a sync of one record reads and changes.
type RecordSync struct {
	Kind      string `json:"kind"`
	AhaID     string `json:"aha_id"`
	Reference string `json:"reference,omitempty"`
	URL       string `json:"url,omitempty"`
	Name      string `json:"name,omitempty"`
	// Route says why the record went to its feedback type when the types
	// choose by content (when:), or why it went to none.
	Route     string `json:"route,omitempty"`
	Links     []Link `json:"links,omitempty"`
	Destroyed bool   `json:"destroyed,omitempty"`
	Writes    int    `json:"writes"`
	// Echoes counts records recognised as ahacc's own (created from Centercode).
	Echoes     int    `json:"echoes,omitempty"`
	ConfigHash string `json:"config_hash,omitempty"`
}

// RecordCalls are the calls a sync makes, each named by what it does (the
// summary the Web UI shows for it).
type RecordCalls interface {
	Now() time.Time
	Info(msg string, kv ...any)
	Fetch(summary string, req FetchRequest) (Record, error)
	RouteRecord(req RouteRecordRequest) (RouteChoice, error)
	Map(req MapRequest) (Mapped, error)
	Submit(summary string, req SubmitRequest) (SubmitResult, error)
	Find(summary string, req FindFeedbackRequest) (FindFeedbackResult, error)
	SetStatus(summary string, req SetStatusRequest) error
	NotifyDestroyed(summary string, req DestroyRequest) error
	// FromAhaStatus: status_rules.from_aha is applied (runs before it was
	// added skip it).
	FromAhaStatus() bool
	// MayHaveBeenLinked: the record fetched is older than sync.idle_close,
	// so an idle-closed run may have linked it and its links be lost with
	// Redis's data; a lookup is configured to find them.
	MayHaveBeenLinked() bool
}

// Sync runs one sync with the routes the config gave. version is the
// record workflow's: 1 looks up a create that may have committed before the
// next write, 3 handles a record found deleted as its destroy would be.
func (r *RecordSync) Sync(c RecordCalls, routes Routes, version int) error {
	if r.Destroyed {
		return r.destroy(c, version)
	}
	rec, err := r.fetch(c, version)
	if err != nil || r.Destroyed {
		return err
	}
	types, err := r.routeTypes(c, routes, rec)
	if err != nil {
		return err
	}
	mapped := map[string]Mapped{}
	for i, ft := range types {
		m, err := c.Map(MapRequest{FeedbackType: ft, Record: rec.JSON})
		if err != nil {
			return err
		}
		mapped[ft] = m
		if err := r.write(c, version, ft, m, rec.LinkedFeedbackID, i == 0); err != nil {
			return err
		}
	}
	return r.syncStatuses(c, mapped)
}

// fetch hydrates the record. One found deleted (404, and a destroy in Aha!'s
// history) without its destroy audit here — a late audit of a deleted
// record, or a missed deletion — gets on_destroy applied and Destroyed set.
func (r *RecordSync) fetch(c RecordCalls, version int) (Record, error) {
	rec, err := c.Fetch("fetch "+r.Label(), FetchRequest{Kind: r.Kind, AhaID: r.AhaID})
	if err != nil {
		var appErr *temporal.ApplicationError
		if version >= 3 && errors.As(err, &appErr) && appErr.Type() == ErrTypeGone {
			c.Info("the record was deleted in Aha!", "kind", r.Kind, "aha_id", r.AhaID)
			r.Destroyed = true
			return rec, r.destroy(c, version)
		}
		return rec, err
	}
	r.Reference, r.URL, r.Name = rec.Reference, rec.URL, rec.Name
	return rec, nil
}

// routeTypes are the feedback types this sync writes: every type the kind
// feeds, or — when they choose by content (when:) — the one the record was
// created in (the choice stays with the record), else the one its content
// routes to now, else none.
func (r *RecordSync) routeTypes(c RecordCalls, routes Routes, rec Record) ([]string, error) {
	if !routes.ByContent {
		return routes.FeedbackTypes, nil
	}
	var linked []string
	for _, l := range r.Links {
		if (l.FeedbackID != "" || l.MaybeCreated || l.IDUnknown) && slices.Contains(routes.FeedbackTypes, l.FeedbackType) {
			linked = append(linked, l.FeedbackType)
		}
	}
	if len(linked) > 0 {
		return linked, nil
	}
	choice, err := c.RouteRecord(RouteRecordRequest{Kind: r.Kind, Record: rec.JSON})
	if err != nil {
		return nil, err
	}
	r.Route = choice.Why
	if choice.FeedbackType == "" {
		return nil, nil
	}
	return []string{choice.FeedbackType}, nil
}

// write sends one feedback type's mapped body when it changed: a create the
// first time (after looking up a create that may have committed), an update
// after. linkedID is the Centercode feedback stamped on the Aha! record when
// ahacc created the record itself; first is the record's first type.
func (r *RecordSync) write(c RecordCalls, version int, ft string, m Mapped, linkedID string, first bool) error {
	link := r.link(ft)
	if link.FeedbackID == "" && linkedID != "" && first {
		// ahacc created this Aha! record from that Centercode feedback (a
		// macro stamped its id on the record): this is our own echo. Adopt
		// the link; write nothing back.
		link.FeedbackID = linkedID
		link.LastHash = m.Hash
		link.SyncedAt = c.Now()
		r.Echoes++
		c.Info("record was created by ahacc from Centercode; linked without writing", "feedback_id", link.FeedbackID)
		return nil
	}
	if version >= 1 && link.FeedbackID == "" && link.IDUnknown {
		link.IDUnknown, link.MaybeCreated = false, true // an older run's form
	}
	if (link.FeedbackID != "" || link.MaybeCreated) && link.LastHash == m.Hash {
		return nil // nothing changed on the Centercode side: no write
	}
	if version >= 4 && link.FeedbackID == "" && !link.MaybeCreated && m.Reference != "" && c.MayHaveBeenLinked() {
		link.MaybeCreated = true // look it up before creating: never a second feedback
	}
	uncertain := version >= 4 && r.uncertainElsewhere(ft)
	if link.FeedbackID == "" && link.MaybeCreated && uncertain {
		return sharedReference(ft, r.Label(), m.Reference)
	}
	if link.FeedbackID == "" && link.MaybeCreated {
		// An earlier create may have committed: find it before writing.
		if err := r.findCreated(c, link, m.Reference); err != nil {
			return err
		}
		if link.FeedbackID != "" && link.LastHash == m.Hash {
			return nil
		}
	}
	req := SubmitRequest{FeedbackType: ft, FeedbackID: link.FeedbackID, Body: m.Body, Reference: m.Reference, Except: r.linkedElsewhere(ft), Uncertain: uncertain}
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
	res, err := c.Submit(verb+" "+ft+" feedback for "+r.Label(), req)
	if errors.Is(err, errMoreToSync) {
		return err // not sent: the next call creates it
	}
	if err != nil {
		if version >= 1 && req.FeedbackID == "" && !Refused(err) {
			link.MaybeCreated = true // it may have committed before failing
		}
		return err
	}
	if res.Skipped != "" {
		c.Info("write skipped", "feedback_type", ft, "reason", res.Skipped)
		link.LastHash = m.Hash
		return nil
	}
	if res.FeedbackID != "" {
		link.FeedbackID = res.FeedbackID
	}
	if res.Adopted && version >= 4 {
		// A retried attempt found its earlier create, which sent that
		// attempt's body; the record may have changed since: write it now.
		link.MaybeCreated = false
		if _, err := c.Submit("update "+ft+" feedback for "+r.Label(), SubmitRequest{FeedbackType: ft, FeedbackID: link.FeedbackID, Body: m.Body, Reference: m.Reference}); err != nil {
			return err
		}
	}
	if version >= 1 {
		link.MaybeCreated = res.IDUnknown && link.FeedbackID == ""
	} else {
		link.IDUnknown = res.IDUnknown && link.FeedbackID == ""
	}
	link.LastHash = m.Hash
	link.SyncedAt = c.Now()
	r.Writes++
	return nil
}

// syncStatuses applies status_rules.from_aha: when the Aha! status maps to a
// Centercode status the feedback does not have yet, set it through the
// feedback listener. The call tells the feedback's FeedbackWorkflow to
// expect the change first, so it does not come back as a status change that
// fires a macro.
func (r *RecordSync) syncStatuses(c RecordCalls, mapped map[string]Mapped) error {
	if !c.FromAhaStatus() {
		return nil
	}
	for i := range r.Links {
		l := &r.Links[i]
		m, ok := mapped[l.FeedbackType]
		if !ok || l.FeedbackID == "" || m.CentercodeStatus == "" || m.CentercodeStatus == l.LastStatus {
			continue
		}
		req := SetStatusRequest{FeedbackID: l.FeedbackID, Status: m.CentercodeStatus}
		if err := c.SetStatus("set "+l.FeedbackType+" feedback "+l.FeedbackID+" to "+m.CentercodeStatus, req); err != nil {
			return err
		}
		l.LastStatus = m.CentercodeStatus
		r.Writes++
	}
	return nil
}

// findCreated looks up the feedback an earlier create of link may have made
// (by its external reference) and links it; none found: the next write
// creates. Without a lookup it fails (the record parks with what to do).
func (r *RecordSync) findCreated(c RecordCalls, link *Link, ref string) error {
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
	var found FindFeedbackResult
	for _, ref := range refs {
		var err error
		found, err = c.Find("look up the "+link.FeedbackType+" feedback an earlier create of "+r.Label()+" may have made",
			FindFeedbackRequest{FeedbackType: link.FeedbackType, Reference: ref, Except: r.linkedElsewhere(link.FeedbackType)})
		if err != nil {
			return err
		}
		if found.FeedbackID != "" {
			break
		}
	}
	link.FeedbackID, link.MaybeCreated = found.FeedbackID, false
	if found.FeedbackID != "" {
		c.Info("found the feedback an earlier create made; linked", "feedback_id", found.FeedbackID)
	}
	return nil
}

// destroy applies the configured on_destroy to every linked feedback.
func (r *RecordSync) destroy(c RecordCalls, version int) error {
	for i := range r.Links {
		l := &r.Links[i]
		if version >= 1 && l.FeedbackID == "" && (l.MaybeCreated || l.IDUnknown) {
			if err := r.findCreated(c, l, ""); err != nil {
				return err
			}
		}
		if l.FeedbackID == "" || (version >= 4 && l.DestroyNotified) {
			continue
		}
		req := DestroyRequest{FeedbackType: l.FeedbackType, FeedbackID: l.FeedbackID, Reference: r.Reference}
		if err := c.NotifyDestroyed("tell "+l.FeedbackType+" feedback "+l.FeedbackID+" that "+r.Label()+" was deleted", req); err != nil {
			return err
		}
		l.DestroyNotified = version >= 4
		r.Writes++
	}
	return nil
}

// link returns the link for a feedback type, creating it when absent.
func (r *RecordSync) link(feedbackType string) *Link {
	for i := range r.Links {
		if r.Links[i].FeedbackType == feedbackType {
			return &r.Links[i]
		}
	}
	r.Links = append(r.Links, Link{FeedbackType: feedbackType})
	return &r.Links[len(r.Links)-1]
}

// linkedElsewhere are the feedback ids linked to the record's other types.
func (r *RecordSync) linkedElsewhere(feedbackType string) []string {
	var ids []string
	for _, l := range r.Links {
		if l.FeedbackType != feedbackType && l.FeedbackID != "" {
			ids = append(ids, l.FeedbackID)
		}
	}
	return ids
}

// uncertainElsewhere: another type's create for the record may have
// committed and its feedback id is unknown.
func (r *RecordSync) uncertainElsewhere(feedbackType string) bool {
	for _, l := range r.Links {
		if l.FeedbackType != feedbackType && l.FeedbackID == "" && (l.MaybeCreated || l.IDUnknown) {
			return true
		}
	}
	return false
}

// sharedReference parks a record when a look-up by reference cannot tell
// one type's feedback from another's.
func sharedReference(ft, label, ref string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s feedback for %s may have been created already, and so may another feedback type's: they share the reference %q, "+
			"so a look-up cannot tell whose feedback it finds — look in Centercode for feedback with that reference, "+
			"then send retry (with {\"create\": true} if there is none of this type)", ft, label, ref), ErrTypeAmbiguous, nil)
}

// Label names the record in summaries and logs: its kind and reference.
func (r *RecordSync) Label() string {
	if r.Reference != "" {
		return r.Kind + " " + r.Reference
	}
	return r.Kind + " " + r.AhaID
}

// Refused reports whether a failed create certainly committed nothing: the
// far side refused it, or it was never sent (mapping, config).
func Refused(err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	switch appErr.Type() {
	case ErrTypeRejected, ErrTypeMapping, ErrTypeConfig:
		return true
	}
	return false
}

// NoFeedbackTypes is the error of a record kind the current config feeds
// into no feedback type.
func NoFeedbackTypes(kind string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("no feedback type is fed by %q records in the current config", kind), ErrTypeConfig, nil)
}

// SyncRecordRequest is one sync of a record: its state as the workflow holds
// it, and the workflow's version.
type SyncRecordRequest struct {
	Record  RecordSync `json:"record"`
	Version int        `json:"version"`
}

// SyncRecordResult is the record's state after the sync and the routes the
// config gave; Failure, when the sync failed retryably after learning
// something a retry must not lose (a feedback it created, or may have). A
// final failure fails the activity, with this result as its details.
type SyncRecordResult struct {
	Record  RecordSync   `json:"record"`
	Routes  Routes       `json:"routes"`
	Failure *SyncFailure `json:"failure,omitempty"`
	// More: the sync stopped before a second create (one per call, see
	// SyncRecord); call again from Record.
	More bool `json:"more,omitempty"`
}

// SyncFailure is a failure SyncRecord hands back with what it learned.
type SyncFailure struct {
	Message string `json:"message"`
	Type    string `json:"type,omitempty"`
	// NonRetryable was set by SyncRecord before final failures failed the
	// activity (never released); honoured so such histories replay.
	NonRetryable bool `json:"non_retryable,omitempty"`
}

// SyncRecord is one whole sync of a record (RecordSync.Sync) in one
// activity. An attempt fails and is retried like any call only when it
// learned nothing a retry could double: once a create committed or may have,
// it returns the state with the failure, and the workflow goes on from that
// state. A final failure fails the activity with the state in its details.
// A call creates at most one feedback (More asks for the next call): a
// retried attempt looks its create up first by the record's reference, which
// only finds the right feedback when no other type's create came before it
// in the same attempt.
func (a *Activities) SyncRecord(ctx context.Context, req SyncRecordRequest) (SyncRecordResult, error) {
	routes, _ := a.RoutesFor(ctx, RoutesRequest{Kind: req.Record.Kind})
	if len(routes.FeedbackTypes) == 0 {
		return SyncRecordResult{}, NoFeedbackTypes(req.Record.Kind)
	}
	rec := req.Record
	rec.Links = slices.Clone(rec.Links)
	rec.ConfigHash = routes.ConfigHash
	if len(rec.Links) == 0 {
		if err := a.recall(ctx, &rec); err != nil {
			return SyncRecordResult{}, err
		}
	}
	calls := &directCalls{a: a, ctx: ctx, retried: activity.GetInfo(ctx).Attempt > 1}
	if a.config().Centercode.Lookup.URL.Value() != "" {
		calls.idleClose = routes.IdleClose // 0 without Redis: runs never close
	}
	err := rec.Sync(calls, routes, req.Version)
	res := SyncRecordResult{Record: rec, Routes: routes}
	if err == nil && rec.Destroyed && a.Memo != nil {
		// Applied: a later run of this id must not find the links again.
		if err := a.Memo.Delete(ctx, memoKey(rec.Kind, rec.AhaID)); err != nil {
			a.Logger.Warn("the links of a deleted record stay in Redis", "record", rec.Label(), "error", err)
		}
	}
	if errors.Is(err, errMoreToSync) {
		res.More = true
		return res, nil
	}
	if err == nil {
		return res, nil
	}
	if isFinal(err) {
		// The activity fails (the UI and the SDK's failure metrics show it)
		// and carries the state, so the parked record keeps what was learned.
		var appErr *temporal.ApplicationError
		msg, typ := err.Error(), ErrTypePermanent
		if errors.As(err, &appErr) {
			msg, typ = appErr.Message(), appErr.Type()
		}
		return SyncRecordResult{}, temporal.NewApplicationErrorWithOptions(msg, typ,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{res}})
	}
	if !learnedLinks(req.Record.Links, rec.Links) {
		return SyncRecordResult{}, err
	}
	res.Failure = &SyncFailure{Message: err.Error()}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		res.Failure.Message, res.Failure.Type = appErr.Message(), appErr.Type()
	}
	return res, nil
}

// isFinal: the workflow's retry policy would not retry err.
func isFinal(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && (appErr.NonRetryable() || slices.Contains(FinalErrorTypes, appErr.Type()))
}

// learnedLinks: after holds a feedback id, a create that may have
// committed, or an applied on_destroy, that before did not.
func learnedLinks(before, after []Link) bool {
	had := map[string]Link{}
	for _, l := range before {
		had[l.FeedbackType] = l
	}
	for _, l := range after {
		b := had[l.FeedbackType]
		if (l.FeedbackID != "" && b.FeedbackID == "") || (l.MaybeCreated && !b.MaybeCreated) || (l.DestroyNotified && !b.DestroyNotified) {
			return true
		}
	}
	return false
}

// directCalls run a sync's steps inside the SyncRecord activity.
type directCalls struct {
	a       *Activities
	ctx     context.Context
	retried bool // an earlier attempt may have sent a create or a comment
	created bool // this call sent its one create
	// idleClose is the config's sync.idle_close when runs close (Redis) and
	// a lookup is configured; record is the one fetched last.
	idleClose time.Duration
	record    []byte
}

// errMoreToSync stops a SyncRecord call before its second create.
var errMoreToSync = errors.New("a second create waits for the next call")

func (d *directCalls) Now() time.Time             { return time.Now() }
func (d *directCalls) Info(msg string, kv ...any) { d.a.Logger.Info(msg, kv...) }

func (d *directCalls) Fetch(_ string, req FetchRequest) (Record, error) {
	rec, err := again(d.ctx, func() (Record, error) { return d.a.FetchAhaRecord(d.ctx, req) })
	d.record = rec.JSON
	return rec, err
}

// MayHaveBeenLinked reads the record's created_at only when asked (before a
// first create); unreadable or absent counts as old (a look-up costs one call).
func (d *directCalls) MayHaveBeenLinked() bool {
	if d.idleClose <= 0 {
		return false
	}
	var created struct {
		At time.Time `json:"created_at"`
	}
	return json.Unmarshal(d.record, &created) != nil || created.At.IsZero() || time.Since(created.At) > d.idleClose
}

func (d *directCalls) RouteRecord(req RouteRecordRequest) (RouteChoice, error) {
	return d.a.RouteRecord(d.ctx, req)
}

func (d *directCalls) Map(req MapRequest) (Mapped, error) { return d.a.MapRecord(d.ctx, req) }

func (d *directCalls) Submit(_ string, req SubmitRequest) (SubmitResult, error) {
	if req.FeedbackID != "" { // an update sends the same body again: safe to repeat
		return again(d.ctx, func() (SubmitResult, error) { return d.a.submitFeedback(d.ctx, req, d.retried) })
	}
	if d.created {
		return SubmitResult{}, errMoreToSync
	}
	d.created = true
	return d.a.submitFeedback(d.ctx, req, d.retried)
}

func (d *directCalls) Find(_ string, req FindFeedbackRequest) (FindFeedbackResult, error) {
	return again(d.ctx, func() (FindFeedbackResult, error) { return d.a.FindFeedback(d.ctx, req) })
}

func (d *directCalls) SetStatus(_ string, req SetStatusRequest) error {
	_, err := again(d.ctx, func() (struct{}, error) { return struct{}{}, d.a.SetCentercodeStatus(d.ctx, req) })
	return err
}

func (d *directCalls) NotifyDestroyed(_ string, req DestroyRequest) error {
	return d.a.notifyDestroyed(d.ctx, req, d.retried)
}

func (d *directCalls) FromAhaStatus() bool { return true }

// memoKey is where a record's links wait for its workflow's next run.
func memoKey(kind, ahaID string) string { return "record:" + kind + ":" + ahaID }

// RememberRecord keeps what a record's syncs learned (its links, above all)
// for the next run of its workflow: the run is about to complete for being
// idle (sync.idle_close), and the next change must update the same
// feedback, not create another.
func (a *Activities) RememberRecord(ctx context.Context, rec RecordSync) error {
	if a.Memo == nil {
		return temporal.NewNonRetryableApplicationError("no Redis to remember the record's links in", ErrTypeConfig, nil)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("encode the record's links: "+err.Error(), ErrTypeConfig, nil)
	}
	if err := a.Memo.Put(ctx, memoKey(rec.Kind, rec.AhaID), b); err != nil {
		return temporal.NewApplicationError("remember the links of "+rec.Label()+": "+err.Error(), ErrTypeTransient)
	}
	return nil
}

// recall gives a record without links the ones an earlier, idle-closed run
// of its workflow remembered; a record never synced has none. A memo that
// cannot be read fails the attempt (retried): creating blind could double.
func (a *Activities) recall(ctx context.Context, rec *RecordSync) error {
	if a.Memo == nil {
		return nil
	}
	b, ok, err := a.Memo.Get(ctx, memoKey(rec.Kind, rec.AhaID))
	if err != nil {
		return temporal.NewApplicationError("read the links an earlier run of "+rec.Label()+" kept: "+err.Error(), ErrTypeTransient)
	}
	if !ok {
		return nil
	}
	var kept RecordSync
	if err := json.Unmarshal(b, &kept); err != nil {
		return temporal.NewNonRetryableApplicationError("the links an earlier run of "+rec.Label()+" kept are unreadable: "+err.Error(), ErrTypeConfig, nil)
	}
	rec.Links, rec.Writes, rec.Echoes, rec.Route = kept.Links, kept.Writes, kept.Echoes, kept.Route
	if rec.Reference == "" {
		rec.Reference, rec.URL, rec.Name = kept.Reference, kept.URL, kept.Name
	}
	a.Logger.Info("record continues from the links its last run kept", "kind", rec.Kind, "aha_id", rec.AhaID, "links", len(kept.Links))
	return nil
}

// again runs a call that is safe to repeat (a read, an update with the same
// body, a status set) up to three times within the attempt while the far
// side answers a transient failure, waiting 250 ms, then 500 ms, or what a
// 429 asked for up to 5 s. A SyncRecord attempt makes several calls: failing
// the attempt for one of them would repeat the others and back off as if
// each had failed (under 20% injected faults a record once waited minutes).
func again[T any](ctx context.Context, call func() (T, error)) (T, error) {
	for try := 1; ; try++ {
		v, err := call()
		var ae *temporal.ApplicationError
		if err == nil || try == 3 || !errors.As(err, &ae) || ae.Type() != ErrTypeTransient {
			return v, err
		}
		wait := time.Duration(try) * 250 * time.Millisecond
		if d := ae.NextRetryDelay(); d > wait {
			if d > 5*time.Second {
				return v, err
			}
			wait = d
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
	}
}
