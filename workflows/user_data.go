package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
)

// personEventsPerRun caps events handled in one run of a person's workflow
// before continue-as-new (a variable so tests can lower it).
var personEventsPerRun = 500

// personSeenLimit bounds the audit ids a person's workflow remembers.
const personSeenLimit = 500

// UserDataWorkflow is the entity workflow of one person (id user:<email>):
// every Aha! change that concerns them — their idea user, their portal user,
// any of their organizations, the backfill — arrives here as a PersonEvent,
// so changes from several Aha! records coalesce and apply in order. It keeps
// their Centercode user data in step: leading-edge sync with a coalescing
// window (sync.debounce), hydrate (or take a newer snapshot) → map → write the
// whole group only when its hash changed. An unknown Centercode user is
// skipped (counted) or parks, per user_data.on_unknown_user; permanent errors
// (403, …) park until an operator sends retry or skip.
func UserDataWorkflow(ctx workflow.Context, in UserDataInput) error {
	email := activities.NormalizeEmail(in.Email)
	s := &person{}
	if in.Carried != nil {
		s.UserDataState = *in.Carried
	} else {
		s.UserDataState = UserDataState{Email: email, Reference: email, Kind: KindPerson, SyncState: StateSyncing, InAha: true}
	}
	s.seen = make(map[string]bool, len(s.Seen))
	for _, id := range s.Seen {
		s.seen[id] = true
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (UserDataState, error) { return s.UserDataState, nil }); err != nil {
		return err
	}
	events := workflow.GetSignalChannel(ctx, SignalPersonEvent)
	retries := workflow.GetSignalChannel(ctx, SignalRetry)
	skips := workflow.GetSignalChannel(ctx, SignalSkip)
	s.updateDetails(ctx)

	startEvents := s.Events + s.Duplicates
	for {
		s.drain(ctx, events, retries, skips)
		if s.Pending && s.SyncState != StateParked {
			wait := time.Duration(0)
			if !s.LastSync.IsZero() {
				wait = s.LastSync.Add(s.debounce()).Sub(workflow.Now(ctx))
			}
			if wait <= 0 {
				s.sync(ctx)
				continue
			}
			s.waitFor(ctx, wait, events, retries, skips)
			continue
		}
		if s.Events+s.Duplicates-startEvents >= personEventsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			s.drain(ctx, events, retries, skips)
			if s.Pending && s.SyncState != StateParked {
				continue
			}
			carried := s.UserDataState
			return workflow.NewContinueAsNewError(ctx, UserDataWorkflow, UserDataInput{Email: email, Carried: &carried})
		}
		s.waitFor(ctx, 0, events, retries, skips)
	}
}

// person is the workflow's private state and behaviour.
type person struct {
	UserDataState
	seen   map[string]bool
	routes *activities.UserDataRoutes
}

func (s *person) debounce() time.Duration {
	if s.routes != nil && s.routes.Debounce > 0 {
		return s.routes.Debounce
	}
	return 2 * time.Second
}

func (s *person) drain(ctx workflow.Context, events, retries, skips workflow.ReceiveChannel) {
	for {
		var ev activities.PersonEvent
		if events.ReceiveAsync(&ev) {
			s.onEvent(ev)
			continue
		}
		if retries.ReceiveAsync(nil) {
			s.onRetry(ctx)
			continue
		}
		if skips.ReceiveAsync(nil) {
			s.onSkip(ctx)
			continue
		}
		return
	}
}

func (s *person) waitFor(ctx workflow.Context, d time.Duration, events, retries, skips workflow.ReceiveChannel) {
	sel := workflow.NewSelector(ctx)
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	if d > 0 {
		sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
	}
	sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
		var ev activities.PersonEvent
		c.Receive(ctx, &ev)
		s.onEvent(ev)
	})
	sel.AddReceive(retries, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onRetry(ctx)
	})
	sel.AddReceive(skips, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onSkip(ctx)
	})
	sel.Select(ctx)
}

// onEvent dedups by audit id and records what the next sync must do: read
// Aha! afresh (Hydrate), or apply a snapshot newer than anything applied or
// pending. An older one is never applied (a backfill page read before a live
// change can never overwrite it); it turns into a fresh read instead.
func (s *person) onEvent(ev activities.PersonEvent) {
	if len(ev.AuditIDs) > 0 {
		fresh := false
		for _, id := range ev.AuditIDs {
			if id == "" || s.seen[id] {
				continue
			}
			fresh = true
			s.seen[id] = true
			s.Seen = append(s.Seen, id)
			if len(s.Seen) > personSeenLimit {
				delete(s.seen, s.Seen[0])
				s.Seen = s.Seen[1:]
			}
		}
		if !fresh {
			s.Duplicates++
			return
		}
	}
	s.Events++
	if ev.IdeaUserID != "" {
		s.IdeaUserID = ev.IdeaUserID
	}
	if ev.Hydrate {
		s.NeedFetch = true
		s.Pending = true
	}
	if len(ev.Snapshot) > 0 {
		if !ev.FetchedAt.After(s.LastFetchedAt) || (s.Snapshot != nil && !ev.FetchedAt.After(s.SnapshotAt)) {
			// Not provably newer than what was applied (or is pending): never
			// applied as it is. Its time is that of its oldest part, and a
			// newer part (a fan-out's freshly read organization next to a
			// cached one) may still hold news, so the next sync reads Aha!
			// afresh; an unchanged result writes nothing.
			s.Stale++
			s.NeedFetch = true
			s.Pending = true
			return
		}
		s.Snapshot, s.SnapshotAt = ev.Snapshot, ev.FetchedAt
		s.Pending = true
	}
}

func (s *person) onRetry(ctx workflow.Context) {
	workflow.GetLogger(ctx).Info("retry requested", "parked_reason", s.ParkedReason)
	s.ParkedReason = ""
	s.SyncState = StateSyncing
	s.Pending, s.NeedFetch = true, true
	s.LastSync = time.Time{}
	s.upsert(ctx)
}

func (s *person) onSkip(ctx workflow.Context) {
	if s.SyncState != StateParked {
		return
	}
	workflow.GetLogger(ctx).Info("skip requested", "parked_reason", s.ParkedReason)
	s.SkippedReason = "skipped by an operator: " + s.ParkedReason
	s.ParkedReason = ""
	s.SyncState = StateSkipped
	s.Pending, s.NeedFetch, s.Snapshot = false, false, nil
	s.upsert(ctx)
}

func (s *person) sync(ctx workflow.Context) {
	s.Pending = false
	s.Syncs++
	s.SyncState = StateSyncing
	s.SkippedReason = ""
	err := s.syncOnce(ctx)
	s.LastSync = workflow.Now(ctx)
	switch {
	case err != nil:
		s.SyncState = StateParked
		s.ParkedReason = reason(err)
		workflow.GetLogger(ctx).Warn("person parked", "email", s.Email, "reason", s.ParkedReason)
	case s.SyncState == StateSyncing:
		s.SyncState = StateSynced
		s.ParkedReason = ""
	}
	s.upsert(ctx)
}

func (s *person) syncOnce(ctx workflow.Context) error {
	var routes activities.UserDataRoutes
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, a.UserDataRoutes).Get(ctx, &routes); err != nil {
		return err
	}
	s.routes = &routes
	s.ConfigHash = routes.ConfigHash
	if !routes.Enabled {
		s.NeedFetch = true // read afresh once user data is configured again
		return temporal.NewNonRetryableApplicationError("the current config has no user_data section", activities.ErrTypeConfig, nil)
	}

	// What to map: Aha! read afresh, or the newest snapshot. With neither
	// (a first event without a snapshot), read.
	var record []byte
	if s.NeedFetch || len(s.Snapshot) == 0 {
		s.NeedFetch = false
		var pr activities.PersonRecord
		if err := workflow.ExecuteActivity(s.callOpts(ctx, "read Aha! person "+s.Email), a.HydratePerson,
			activities.HydratePersonRequest{Email: s.Email}).Get(ctx, &pr); err != nil {
			s.NeedFetch = true
			return err
		}
		record = pr.JSON
		s.InAha = pr.Found
		if pr.IdeaUserID != "" {
			s.IdeaUserID = pr.IdeaUserID
		}
		s.Name = pr.Name
		if pr.FetchedAt.After(s.LastFetchedAt) {
			s.LastFetchedAt = pr.FetchedAt
		}
		if s.Snapshot != nil && !s.SnapshotAt.After(s.LastFetchedAt) {
			s.Snapshot, s.SnapshotAt = nil, time.Time{}
		}
	} else {
		record = s.Snapshot
		s.InAha = true
		s.LastFetchedAt = s.SnapshotAt
		s.Snapshot, s.SnapshotAt = nil, time.Time{}
	}

	var body activities.UserDataBody
	mctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeMapping, activities.ErrTypeConfig}},
	})
	if err := workflow.ExecuteLocalActivity(mctx, a.MapUserData, activities.MapUserDataRequest{Email: s.Email, Record: record}).Get(ctx, &body); err != nil {
		s.NeedFetch = true
		return err
	}
	if body.Hash == s.LastHash {
		s.Unchanged++
		return nil // Centercode already holds exactly this: no write
	}
	// The write is a local activity: it runs inside the workflow task that
	// mapped the body, so a person's sync costs the server one workflow task
	// instead of a task, an activity and a second task — what lets a backfill
	// keep Centercode's budget busy on the embedded server. It waits for the
	// shared Centercode budget like an activity and retries the same way.
	var res activities.PostUserDataResult
	if err := workflow.ExecuteLocalActivity(s.writeOpts(ctx, "write user data for "+s.Email), a.PostUserData,
		activities.PostUserDataRequest{Email: body.Email, Body: body.Body, Step: s.Syncs}).Get(ctx, &res); err != nil {
		s.NeedFetch = true
		return err
	}
	if res.UnknownUser {
		s.UnknownSkips++
		s.SyncState = StateSkipped
		s.SkippedReason = res.Reason
		workflow.GetLogger(ctx).Info("user data skipped", "email", s.Email, "reason", "unknown_user", "detail", res.Reason)
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": "unknown_user"}).Counter("ahacc_user_data_skipped_total").Inc(1)
		return nil
	}
	s.LastHash = body.Hash
	s.Writes++
	s.LastWrite = workflow.Now(ctx)
	return nil
}

// callOpts mirror the record workflow's (see retrying); permanent answers and
// a person Centercode does not know are not retried (they park the person).
func (s *person) callOpts(ctx workflow.Context, summary string) workflow.Context {
	r := s.retrying()
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		HeartbeatTimeout:       callHeartbeat,
		ScheduleToCloseTimeout: r.retryFor(),
		Summary:                summary,
		RetryPolicy:            r.policy(activities.ErrTypeUnknownUser),
	})
}

// writeOpts are callOpts for the local-activity write.
func (s *person) writeOpts(ctx workflow.Context, summary string) workflow.Context {
	r := s.retrying()
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		ScheduleToCloseTimeout: r.retryFor(),
		Summary:                summary,
		RetryPolicy:            r.policy(activities.ErrTypeUnknownUser),
	})
}

func (s *person) retrying() retrying {
	if s.routes == nil {
		return retrying{}
	}
	return retrying(s.routes.Retry)
}

func (s *person) upsert(ctx workflow.Context) {
	updates := []temporal.SearchAttributeUpdate{
		KeySyncState.ValueSet(s.SyncState),
		KeyAhaRecordType.ValueSet(KindPerson),
		KeyAhaReference.ValueSet(s.Email),
	}
	if s.ConfigHash != "" {
		updates = append(updates, KeyConfigHash.ValueSet(s.ConfigHash))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
	s.updateDetails(ctx)
}

func (s *person) updateDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, s.Summary())
}

// String names the person in logs.
func (s *person) String() string { return fmt.Sprintf("person %s", s.Email) }
