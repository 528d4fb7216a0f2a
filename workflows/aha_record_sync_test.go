package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// Runs of version 4: a sync is one SyncRecord activity, and the workflow
// keeps what it hands back.

// syncRecordRun runs a record workflow of today's version for one create
// audit, answering SyncRecord with answer (called with each request), and
// returns the requests and the state it ended with.
func syncRecordRun(t *testing.T, answer func(n int, req activities.SyncRecordRequest) (activities.SyncRecordResult, error)) ([]activities.SyncRecordRequest, State) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	var reqs []activities.SyncRecordRequest
	env.OnActivity(a.SyncRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
			reqs = append(reqs, req)
			return answer(len(reqs), req)
		})
	var st State
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "1", Action: "create"}) }, time.Millisecond)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(contract.QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&st))
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	require.True(t, env.IsWorkflowCompleted())
	return reqs, st
}

func synced(req activities.SyncRecordRequest, id string) activities.SyncRecordResult {
	rec := req.Record
	rec.Reference = "PRJ1-I-10"
	rec.Links = []activities.Link{{FeedbackType: "bugs", FeedbackID: id, LastHash: "h1"}}
	rec.Writes++
	return activities.SyncRecordResult{Record: rec, Routes: activities.Routes{FeedbackTypes: []string{"bugs"}, Debounce: 2 * time.Second}}
}

func TestOneActivityPerSync(t *testing.T) {
	reqs, st := syncRecordRun(t, func(_ int, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
		return synced(req, "4821"), nil
	})
	require.Len(t, reqs, 1)
	assert.Equal(t, 4, reqs[0].Version)
	assert.Equal(t, "6776", reqs[0].Record.AhaID)
	assert.Equal(t, contract.StateSynced, st.SyncState)
	assert.Equal(t, "4821", st.Links[0].FeedbackID)
	assert.Equal(t, "PRJ1-I-10", st.Reference)
}

// A sync that created (or may have) and then failed hands back what it
// learned; the workflow goes on from it at once, never from the state
// before (which would create again).
func TestHandedBackFailureGoesOnFromWhatWasLearned(t *testing.T) {
	reqs, st := syncRecordRun(t, func(n int, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
		if n == 1 {
			rec := req.Record
			rec.Links = []activities.Link{{FeedbackType: "bugs", MaybeCreated: true, ExternalRef: "PRJ1-I-10"}}
			return activities.SyncRecordResult{Record: rec, Failure: &activities.SyncFailure{Message: "create bugs feedback: 504", Type: activities.ErrTypeTransient}}, nil
		}
		return synced(req, "4821"), nil
	})
	require.Len(t, reqs, 2)
	assert.True(t, reqs[1].Record.Links[0].MaybeCreated, "the second call starts from what the first learned")
	assert.Equal(t, contract.StateSynced, st.SyncState)
}

// A final failure parks the record with its reason, keeping what the sync
// learned (the reference the operator looks for); the mapping's refusal
// waits for the record's next change.
func TestFinalFailureParksWithWhatWasLearned(t *testing.T) {
	reqs, st := syncRecordRun(t, func(_ int, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
		rec := req.Record
		rec.Reference = "PRJ1-I-10"
		return activities.SyncRecordResult{}, temporal.NewApplicationErrorWithOptions(`Severity: "Sev 9" is not an option`, activities.ErrTypeMapping,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{activities.SyncRecordResult{Record: rec,
				Routes: activities.Routes{FeedbackTypes: []string{"bugs"}, Debounce: 7 * time.Second}}}})
	})
	require.Len(t, reqs, 1)
	assert.Equal(t, contract.StateParked, st.SyncState)
	assert.Equal(t, `Severity: "Sev 9" is not an option`, st.ParkedReason)
	assert.True(t, st.ParkedOnContent)
	assert.Equal(t, "PRJ1-I-10", st.Reference)
}

// idleRig runs a record workflow whose SyncRecord answers synced with
// idle_close one hour; syncAt holds when each sync ran (since start) and
// remember answers RememberRecord (nil: keep and succeed).
type idleRig struct {
	env      *testsuite.TestWorkflowEnvironment
	start    time.Time
	syncAt   []time.Duration
	kept     []activities.RecordSync
	remember func(activities.RecordSync) error
}

func newIdleRig() *idleRig {
	var ts testsuite.WorkflowTestSuite
	r := &idleRig{env: ts.NewTestWorkflowEnvironment()}
	r.start = r.env.Now()
	r.env.RegisterActivity(&activities.Activities{})
	r.env.OnActivity(a.SyncRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
			r.syncAt = append(r.syncAt, r.env.Now().Sub(r.start))
			res := synced(req, "4821")
			res.Routes.IdleClose = time.Hour
			return res, nil
		})
	r.env.OnActivity(a.RememberRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, rec activities.RecordSync) error {
			if r.remember != nil {
				if err := r.remember(rec); err != nil {
					return err
				}
			}
			r.kept = append(r.kept, rec)
			return nil
		})
	return r
}

// event signals an audit at `at`.
func (r *idleRig) event(at time.Duration, id, action string) {
	r.env.RegisterDelayedCallback(func() {
		r.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: id, Action: action})
	}, at)
}

// A record with no event for sync.idle_close completes, after keeping its
// links for the next run; an event inside the window keeps it running. One
// timer serves all the waits (a timer is a billed action).
func TestIdleRecordCompletesAfterKeepingItsLinks(t *testing.T) {
	r := newIdleRig()
	r.event(time.Millisecond, "1", "create")
	r.event(40*time.Minute, "2", "update")
	r.env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	require.True(t, r.env.IsWorkflowCompleted())
	require.NoError(t, r.env.GetWorkflowError())
	assert.Len(t, r.syncAt, 2)
	require.Len(t, r.kept, 1)
	assert.Equal(t, "4821", r.kept[0].Links[0].FeedbackID)
	idle := r.env.Now().Sub(r.start)
	assert.GreaterOrEqual(t, idle, 100*time.Minute, "an hour after the last event (40 min)")
	assert.Less(t, idle, 110*time.Minute)
}

// A run continued-as-new (upgrade, eventsPerRun, suggestion) carries its
// routes, so it closes when idle like the run before it (found by review: it
// had no routes until its first sync, and never closed).
func TestCarriedRunClosesWhenIdle(t *testing.T) {
	r := newIdleRig()
	carried := State{RecordSync: activities.RecordSync{Kind: "idea", AhaID: "6776",
		Links: []activities.Link{{FeedbackType: "bugs", FeedbackID: "4821", LastHash: "h1"}}}, SyncState: contract.StateSynced}
	r.env.RegisterDelayedCallback(func() { r.env.CancelWorkflow() }, 10*time.Hour)
	r.env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776", Carried: &carried,
		Routes: &activities.Routes{FeedbackTypes: []string{"bugs"}, IdleClose: time.Hour}})
	var ce *temporal.CanceledError
	assert.False(t, errors.As(r.env.GetWorkflowError(), &ce), "still running after 10h with idle_close 1h")
	assert.NoError(t, r.env.GetWorkflowError())
	assert.Len(t, r.kept, 1)
}

// Redis down at idle time: keeping the links fails after a short try, the
// run goes on, and an event arriving meanwhile is synced at once (found by
// review: the keep retried for retry_for and held the event).
func TestRememberingDoesNotHoldUpEvents(t *testing.T) {
	r := newIdleRig()
	r.remember = func(activities.RecordSync) error {
		if r.env.Now().Sub(r.start) < 3*time.Hour {
			return temporal.NewApplicationError("redis down", activities.ErrTypeTransient)
		}
		return nil
	}
	r.event(time.Millisecond, "1", "create")
	r.event(62*time.Minute, "2", "update")
	r.env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	if assert.Len(t, r.syncAt, 2) {
		assert.Less(t, r.syncAt[1], 65*time.Minute, "the update of 62 min is synced promptly")
	}
}

// A final failure hands back the config's routes too, so a parked record
// retries and carries them as configured (found by review: they were lost,
// and the next run started with none).
func TestFinalFailureKeepsTheRoutes(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.SyncRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
			return activities.SyncRecordResult{}, temporal.NewApplicationErrorWithOptions("refused", activities.ErrTypePermanent,
				temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{activities.SyncRecordResult{Record: req.Record,
					Routes: activities.Routes{FeedbackTypes: []string{"bugs"}, Debounce: 7 * time.Second, IdleClose: time.Hour}}}})
		})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "1", Action: "create"}) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalUpgrade, nil) }, time.Minute)
	env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	var next AhaRecordInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Routes)
	assert.Equal(t, 7*time.Second, next.Routes.Debounce)
	assert.Equal(t, contract.StateParked, next.Carried.SyncState)
}
