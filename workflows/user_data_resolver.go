package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/mapping"
)

// peopleIdleTimeout is how long a resolver waits for more events before it
// completes (a later event starts it again). A variable so tests can lower it.
var peopleIdleTimeout = 10 * time.Minute

// peopleEventsPerRun caps events per run before continue-as-new.
var peopleEventsPerRun = 1000

// unresolvedLimit bounds the audit ids a resolver hands on at once: they all
// concern its one record, and its next read covers them all, so the latest
// stand for the rest (a parked busy record would otherwise carry thousands).
var unresolvedLimit = 100 // a variable so tests could change it

// AhaPeopleWorkflow resolves one Aha! people record (id aha:<kind>:<aha id>:
// an idea user, a portal user or an organization) to the people it concerns.
// A people audit carries no email, and the webhook handler must answer
// without calling Aha!, so this small entity workflow does it: it dedups the
// audits, and (leading edge, then once per coalescing window) runs
// ResolvePeople, which reads the record and signals-with-start each person's
// UserDataWorkflow (user:<email>) — one person for a user, every member for an
// organization. It remembers the emails a user resolved to, so a changed
// email also clears the old key, and completes after a quiet period.
func AhaPeopleWorkflow(ctx workflow.Context, in AhaPeopleInput) error {
	r := &resolver{}
	if in.Carried != nil {
		r.AhaPeopleState = *in.Carried
	} else {
		r.AhaPeopleState = AhaPeopleState{Kind: in.Kind, AhaID: in.AhaID, Reference: in.AhaID, SyncState: StateSyncing}
	}
	r.seen = make(map[string]bool, len(r.Seen))
	for _, id := range r.Seen {
		r.seen[id] = true
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (AhaPeopleState, error) { return r.AhaPeopleState, nil }); err != nil {
		return err
	}
	events := workflow.GetSignalChannel(ctx, SignalAhaEvent)
	retries := workflow.GetSignalChannel(ctx, SignalRetry)
	skips := workflow.GetSignalChannel(ctx, SignalSkip)
	r.updateDetails(ctx)

	startEvents := r.Events + r.Duplicates
	for {
		r.drain(ctx, events, retries, skips)
		if r.Pending && r.SyncState != StateParked {
			wait := time.Duration(0)
			if !r.LastRun.IsZero() {
				wait = r.LastRun.Add(r.debounce).Sub(workflow.Now(ctx))
			}
			if wait <= 0 {
				r.resolve(ctx)
				continue
			}
			r.waitFor(ctx, wait, events, retries, skips)
			continue
		}
		if r.Events+r.Duplicates-startEvents >= peopleEventsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			carried := r.AhaPeopleState
			return workflow.NewContinueAsNewError(ctx, AhaPeopleWorkflow, AhaPeopleInput{Kind: in.Kind, AhaID: in.AhaID, Carried: &carried})
		}
		if r.SyncState == StateParked {
			r.waitFor(ctx, 0, events, retries, skips) // an operator decides
			continue
		}
		if !r.waitFor(ctx, peopleIdleTimeout, events, retries, skips) {
			// Quiet for the idle period: finish, unless something slipped in.
			r.drain(ctx, events, retries, skips)
			if !r.Pending {
				return nil
			}
		}
	}
}

type resolver struct {
	AhaPeopleState
	seen     map[string]bool
	debounce time.Duration
	source   string
}

func (r *resolver) drain(ctx workflow.Context, events, retries, skips workflow.ReceiveChannel) {
	for {
		var ev AhaEvent
		if events.ReceiveAsync(&ev) {
			r.onEvent(ev)
			continue
		}
		if retries.ReceiveAsync(nil) {
			r.onRetry(ctx)
			continue
		}
		if skips.ReceiveAsync(nil) {
			r.onSkip(ctx)
			continue
		}
		return
	}
}

// waitFor blocks until a signal arrives (true) or d passes (false; d <= 0: no timer).
func (r *resolver) waitFor(ctx workflow.Context, d time.Duration, events, retries, skips workflow.ReceiveChannel) bool {
	sel := workflow.NewSelector(ctx)
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	got := true
	if d > 0 {
		sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) { got = false })
	}
	sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
		var ev AhaEvent
		c.Receive(ctx, &ev)
		r.onEvent(ev)
	})
	sel.AddReceive(retries, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		r.onRetry(ctx)
	})
	sel.AddReceive(skips, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		r.onSkip(ctx)
	})
	sel.Select(ctx)
	return got
}

func (r *resolver) onEvent(ev AhaEvent) {
	if ev.AuditID != "" {
		if r.seen[ev.AuditID] {
			r.Duplicates++
			return
		}
		r.seen[ev.AuditID] = true
		r.Seen = append(r.Seen, ev.AuditID)
		if len(r.Seen) > SeenLimit {
			delete(r.seen, r.Seen[0])
			r.Seen = r.Seen[1:]
		}
		r.Unresolved = append(r.Unresolved, ev.AuditID)
		if len(r.Unresolved) > unresolvedLimit {
			r.Unresolved = r.Unresolved[len(r.Unresolved)-unresolvedLimit:]
		}
	}
	r.Events++
	if ev.Source != "" {
		r.source = ev.Source
	}
	r.Pending = true
}

func (r *resolver) onRetry(ctx workflow.Context) {
	r.ParkedReason = ""
	r.SyncState = StateSyncing
	r.Pending = true
	r.LastRun = time.Time{}
	r.updateDetails(ctx)
}

func (r *resolver) onSkip(ctx workflow.Context) {
	if r.SyncState != StateParked {
		return
	}
	r.ParkedReason = ""
	r.SyncState = StateSkipped
	r.Pending = false
	r.Unresolved = nil
	r.upsert(ctx)
}

func (r *resolver) resolve(ctx workflow.Context) {
	r.Pending = false
	r.Resolves++
	err := r.resolveOnce(ctx)
	r.LastRun = workflow.Now(ctx)
	if err != nil {
		r.SyncState = StateParked
		r.ParkedReason = reason(err)
		workflow.GetLogger(ctx).Warn("people record parked", "kind", r.Kind, "aha_id", r.AhaID, "reason", r.ParkedReason)
	} else {
		r.SyncState = StateSynced
		r.ParkedReason = ""
	}
	r.upsert(ctx)
}

func (r *resolver) resolveOnce(ctx workflow.Context) error {
	var routes activities.UserDataRoutes
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, a.UserDataRoutes).Get(ctx, &routes); err != nil {
		return err
	}
	r.debounce = routes.Debounce
	if r.debounce <= 0 {
		r.debounce = mapping.DefaultDebounce
	}
	if !routes.Enabled {
		return temporal.NewNonRetryableApplicationError("the current config has no user_data section", activities.ErrTypeConfig, nil)
	}
	source := r.source
	if source == "" {
		source = "webhook"
	}
	// A page of people: up to 10 minutes (it waits for the budgets),
	// heartbeated, retried as the config says (see retrying).
	retry := retrying(routes.Retry)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    10 * time.Minute,
		HeartbeatTimeout:       time.Minute,
		ScheduleToCloseTimeout: retry.retryFor(),
		Summary:                "find the people of Aha! " + r.Kind + " " + r.AhaID,
		RetryPolicy:            retry.policy(),
	})
	var res activities.ResolvePeopleResult
	if err := workflow.ExecuteActivity(actx, a.ResolvePeople, activities.ResolvePeopleRequest{
		Kind: r.Kind, AhaID: r.AhaID, AuditIDs: r.Unresolved, PreviousEmails: r.Emails, Source: source,
	}).Get(ctx, &res); err != nil {
		return err
	}
	r.Unresolved = nil
	r.People += res.People
	if r.Kind != mapping.KindIdeaOrganization && !res.Gone && len(res.Emails) > 0 {
		r.Emails = res.Emails[:1] // the current email; older ones were cleared
	}
	return nil
}

func (r *resolver) upsert(ctx workflow.Context) {
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		KeySyncState.ValueSet(r.SyncState),
		KeyAhaRecordType.ValueSet(r.Kind),
		KeyAhaReference.ValueSet(r.AhaID),
	); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
	}
	r.updateDetails(ctx)
}

func (r *resolver) updateDetails(ctx workflow.Context) {
	line := "Aha! " + r.Kind + " " + r.AhaID + " → "
	switch {
	case r.Kind == mapping.KindIdeaOrganization:
		line += "its idea users"
	case len(r.Emails) > 0:
		line += "person " + r.Emails[0]
	default:
		line += "person (not resolved yet)"
	}
	line += ": " + strings.ToLower(r.SyncState)
	if r.ParkedReason != "" {
		line += " — " + r.ParkedReason
	}
	workflow.SetCurrentDetails(ctx, line)
}
