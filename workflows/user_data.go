package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
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
// (403, …) park until an operator sends retry or skip. Runs of version
// person-close-when-synced complete once synced, what the next run needs kept
// in Redis by the write (see activities.PostUserData).
func UserDataWorkflow(ctx workflow.Context, in UserDataInput) error {
	email := contract.NormalizeEmail(in.Email)
	s := &person{UserDataState: carriedOr(in.Carried,
		UserDataState{Email: email, Reference: email, Kind: contract.KindPerson, SyncState: contract.StateSyncing, InAha: true})}
	s.seen = newSeenSet(&s.Seen, personSeenLimit)
	// Version 1: the write decides from what earlier runs kept in Redis and
	// keeps what it wrote; a run that has synced and kept it completes (the
	// next change starts a new run).
	s.closes = workflow.GetVersion(ctx, "person-close-when-synced", workflow.DefaultVersion, 1) >= 1
	return runEntity(ctx, s, contract.SignalPersonEvent, s.onEvent,
		entityOptions{eventsPerRun: personEventsPerRun, drainBeforeCarry: true})
}

// carry hands the person's state to the next run.
func (s *person) carry(ctx workflow.Context) error {
	carried := s.UserDataState
	return workflow.NewContinueAsNewError(ctx, UserDataWorkflow, UserDataInput{Email: s.Email, Carried: &carried})
}

// person is the workflow's private state and behaviour.
type person struct {
	UserDataState
	seen   seenSet
	routes *activities.UserDataRoutes
	window time.Duration // the config's coalescing window (sync.debounce)
	closes bool          // runs of version person-close-when-synced
	kept   bool          // Redis holds the last sync's outcome: the run may complete
	// wait: the last sync wrote nothing because an earlier run wrote
	// inside the coalescing window; the next sync waits that long.
	wait time.Duration
}

// status is the entity loop's view of the person.
func (s *person) status() entityStatus {
	return entityStatus{pending: s.Pending, parked: s.SyncState == contract.StateParked, lastSync: s.LastSync,
		window: s.window, events: s.Events + s.Duplicates, parkedReason: s.ParkedReason, done: s.kept}
}

func (s *person) state() any { return s.UserDataState }

// onEvent dedups by audit id and records what the next sync must do: read
// Aha! afresh (Hydrate), or apply a snapshot newer than anything applied or
// pending. An older one is never applied (a backfill page read before a live
// change can never overwrite it); it turns into a fresh read instead.
func (s *person) onEvent(ev contract.PersonEvent) {
	if len(ev.AuditIDs) > 0 {
		fresh := false
		for _, id := range ev.AuditIDs {
			if id != "" && s.seen.add(id) {
				fresh = true
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

func (s *person) retry(ctx workflow.Context, _ contract.RetryRequest) {
	workflow.GetLogger(ctx).Info("retry requested", "parked_reason", s.ParkedReason)
	s.ParkedReason = ""
	s.SyncState = contract.StateSyncing
	s.Pending, s.NeedFetch = true, true
	s.LastSync = time.Time{}
	s.upsert(ctx)
}

func (s *person) skip(ctx workflow.Context) {
	if s.SyncState != contract.StateParked {
		return
	}
	workflow.GetLogger(ctx).Info("skip requested", "parked_reason", s.ParkedReason)
	s.SkippedReason = "skipped by an operator: " + s.ParkedReason
	s.ParkedReason = ""
	s.SyncState = contract.StateSkipped
	s.Pending, s.NeedFetch, s.Snapshot = false, false, nil
	s.upsert(ctx)
}

func (s *person) sync(ctx workflow.Context) (finished bool) {
	s.Pending = false
	s.Syncs++
	s.SyncState = contract.StateSyncing
	s.SkippedReason = ""
	s.kept, s.wait = false, 0
	err := s.syncOnce(ctx)
	s.LastSync = workflow.Now(ctx)
	switch {
	case err == nil && s.wait > 0:
		s.Pending = true
		s.LastSync = s.LastSync.Add(s.wait - window(s.window)) // the loop waits s.wait from now
		return false                                           // still syncing: no upsert for a wait
	case err != nil:
		s.SyncState = contract.StateParked
		s.ParkedReason = reason(err)
		workflow.GetLogger(ctx).Warn("person parked", "email", s.Email, "reason", s.ParkedReason)
	case s.SyncState == contract.StateSyncing:
		s.SyncState = contract.StateSynced
		s.ParkedReason = ""
	}
	s.upsert(ctx)
	return false
}

// syncOnce reads the user-data routes, takes the person's data (read afresh
// or the newest snapshot), maps it and writes it when it changed. Runs that
// complete let the write decide (Unchanged, Stale: read afresh once, Wait:
// another run's window is not over).
func (s *person) syncOnce(ctx workflow.Context) error {
	if err := s.loadRoutes(ctx); err != nil {
		return err
	}
	for try := 0; ; try++ {
		fresh := s.NeedFetch || len(s.Snapshot) == 0
		req := activities.PostUserDataRequest{Remember: s.closes, LastHash: s.LastHash, LastFetchedAt: s.LastFetchedAt, Fresh: fresh}
		record, mapped, err := s.record(ctx, fresh)
		if err != nil {
			return err
		}
		req.FetchedAt = s.LastFetchedAt
		var body activities.UserDataBody
		if mapped != nil {
			body = *mapped
		} else if err := workflow.ExecuteLocalActivity(localOpts(ctx, activities.ErrTypeMapping, activities.ErrTypeConfig), a.MapUserData,
			activities.MapUserDataRequest{Email: s.Email, Record: record}).Get(ctx, &body); err != nil {
			s.NeedFetch = true
			return err
		}
		if !s.closes && body.Hash == s.LastHash {
			s.Unchanged++
			return nil // Centercode already holds exactly this: no write
		}
		req.Window = window(s.window)
		res, err := s.write(ctx, body, req)
		switch {
		case err != nil:
			return err
		case res.Wait > 0:
			// An earlier run wrote inside the window: sync again once it
			// passed (what arrives meanwhile coalesces) — from this snapshot,
			// or from a new read.
			s.wait = res.Wait
			s.LastFetchedAt = req.LastFetchedAt // not applied
			if fresh {
				s.NeedFetch = true
			} else {
				s.Snapshot, s.SnapshotAt = record, req.FetchedAt
			}
			return nil
		case res.Stale && try == 0:
			// Older than what an earlier run wrote: read Aha! afresh.
			s.Stale++
			s.LastFetchedAt = req.LastFetchedAt // not applied
			s.NeedFetch = true
			continue
		}
		return nil
	}
}

// loadRoutes asks the worker's current config how it treats user data.
func (s *person) loadRoutes(ctx workflow.Context) error {
	var routes activities.UserDataRoutes
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, a.UserDataRoutes).Get(ctx, &routes); err != nil {
		return err
	}
	s.routes, s.window = &routes, routes.Debounce
	s.ConfigHash = routes.ConfigHash
	if !routes.Enabled {
		s.NeedFetch = true // read afresh once user data is configured again
		return temporal.NewNonRetryableApplicationError("the current config has no user_data section", activities.ErrTypeConfig, nil)
	}
	return nil
}

// record is what to map: Aha! read afresh (fresh), or the newest snapshot.
// A read by runs of version 1 ("person-hydrate-maps") comes back mapped:
// history keeps the body written and its hash, not the person's record.
func (s *person) record(ctx workflow.Context, fresh bool) ([]byte, *activities.UserDataBody, error) {
	if !fresh {
		record := s.Snapshot
		s.InAha = true
		s.LastFetchedAt = s.SnapshotAt
		s.Snapshot, s.SnapshotAt = nil, time.Time{}
		return record, nil, nil
	}
	s.NeedFetch = false
	hydrate := a.HydratePerson
	if workflow.GetVersion(ctx, "person-hydrate-maps", workflow.DefaultVersion, 1) >= 1 {
		hydrate = a.HydrateAndMapPerson
	}
	var pr activities.PersonRecord
	if err := workflow.ExecuteActivity(s.callOpts(ctx, "read Aha! person "+s.Email), hydrate,
		activities.HydratePersonRequest{Email: s.Email}).Get(ctx, &pr); err != nil {
		s.NeedFetch = true
		return nil, nil, err
	}
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
	return pr.JSON, pr.Mapped, nil
}

// write sends the mapped body to the listener. It is a local activity: it
// runs inside the workflow task that mapped the body, so a person's sync
// costs the server one workflow task instead of a task, an activity and a
// second task — what lets a backfill keep Centercode's budget busy on the
// embedded server. It waits for the shared Centercode budget like an
// activity and retries the same way; the write ledger keeps it to one write
// per step when the task is run again (see activities.PostUserData).
func (s *person) write(ctx workflow.Context, body activities.UserDataBody, req activities.PostUserDataRequest) (res activities.PostUserDataResult, err error) {
	req.Email, req.Body, req.Hash, req.Step = body.Email, body.Body, body.Hash, s.Syncs
	if err := workflow.ExecuteLocalActivity(s.writeOpts(ctx, "write user data for "+s.Email), a.PostUserData, req).Get(ctx, &res); err != nil {
		s.NeedFetch = true
		return res, err
	}
	s.kept = res.Kept && res.Wait == 0 && !res.Stale
	switch {
	case res.Stale, res.Wait > 0:
		return res, nil
	case res.Unchanged:
		s.Unchanged++
		s.LastHash = body.Hash
		return res, nil
	}
	if res.UnknownUser {
		s.UnknownSkips++
		s.SyncState = contract.StateSkipped
		s.SkippedReason = res.Reason
		workflow.GetLogger(ctx).Info("user data skipped", "email", s.Email, "reason", "unknown_user", "detail", res.Reason)
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": "unknown_user"}).Counter("ahacc_user_data_skipped_total").Inc(1)
		return res, nil
	}
	s.LastHash = body.Hash
	s.Writes++
	s.LastWrite = workflow.Now(ctx)
	return res, nil
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
	upsertEntity(ctx, s, s.ConfigHash, false,
		keyword{contract.KeySyncState, s.SyncState}, keyword{contract.KeyAhaRecordType, contract.KindPerson}, keyword{contract.KeyAhaReference, s.Email})
}

func (s *person) updateDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, s.Summary())
}

// String names the person in logs.
func (s *person) String() string { return fmt.Sprintf("person %s", s.Email) }
