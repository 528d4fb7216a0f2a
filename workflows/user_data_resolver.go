package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
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
	r := &resolver{AhaPeopleState: carriedOr(in.Carried,
		AhaPeopleState{Kind: in.Kind, AhaID: in.AhaID, Reference: in.AhaID, SyncState: contract.StateSyncing})}
	r.seen = newSeenSet(&r.Seen, SeenLimit)
	return runEntity(ctx, r, contract.SignalAhaEvent, r.onEvent,
		entityOptions{eventsPerRun: peopleEventsPerRun, idle: peopleIdleTimeout})
}

type resolver struct {
	AhaPeopleState
	seen   seenSet
	window time.Duration // the coalescing window (sync.debounce)
	source string
}

// status is the entity loop's view of the people record.
func (r *resolver) status() entityStatus {
	return entityStatus{pending: r.Pending, parked: r.SyncState == contract.StateParked,
		lastSync: r.LastRun, window: r.window, events: r.Events + r.Duplicates, parkedReason: r.ParkedReason}
}

func (r *resolver) state() any { return r.AhaPeopleState }

func (r *resolver) carry(ctx workflow.Context) error {
	carried := r.AhaPeopleState
	return workflow.NewContinueAsNewError(ctx, AhaPeopleWorkflow, AhaPeopleInput{Kind: r.Kind, AhaID: r.AhaID, Carried: &carried})
}

func (r *resolver) onEvent(ev contract.AhaEvent) {
	if ev.AuditID != "" {
		if !r.seen.add(ev.AuditID) {
			r.Duplicates++
			return
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

func (r *resolver) retry(ctx workflow.Context, _ contract.RetryRequest) {
	r.ParkedReason = ""
	r.SyncState = contract.StateSyncing
	r.Pending = true
	r.LastRun = time.Time{}
	r.updateDetails(ctx)
}

func (r *resolver) skip(ctx workflow.Context) {
	if r.SyncState != contract.StateParked {
		return
	}
	r.ParkedReason = ""
	r.SyncState = contract.StateSkipped
	r.Pending = false
	r.Unresolved = nil
	r.upsert(ctx)
}

// sync resolves the record's people once.
func (r *resolver) sync(ctx workflow.Context) (finished bool) {
	r.Pending = false
	r.Resolves++
	err := r.resolveOnce(ctx)
	r.LastRun = workflow.Now(ctx)
	if err != nil {
		r.SyncState = contract.StateParked
		r.ParkedReason = reason(err)
		workflow.GetLogger(ctx).Warn("people record parked", "kind", r.Kind, "aha_id", r.AhaID, "reason", r.ParkedReason)
	} else {
		r.SyncState = contract.StateSynced
		r.ParkedReason = ""
	}
	r.upsert(ctx)
	return false
}

func (r *resolver) resolveOnce(ctx workflow.Context) error {
	var routes activities.UserDataRoutes
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, a.UserDataRoutes).Get(ctx, &routes); err != nil {
		return err
	}
	r.window = routes.Debounce
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
	upsertEntity(ctx, r, "", false,
		keyword{contract.KeySyncState, r.SyncState}, keyword{contract.KeyAhaRecordType, r.Kind}, keyword{contract.KeyAhaReference, r.AhaID})
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
