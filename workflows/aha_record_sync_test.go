package workflows

import (
	"context"
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

// A record with no event for sync.idle_close completes, after keeping its
// links for the next run; an event inside the window keeps it running. One
// timer serves all the waits (a timer is a billed action).
func TestIdleRecordCompletesAfterKeepingItsLinks(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	syncs := 0
	env.OnActivity(a.SyncRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
			syncs++
			res := synced(req, "4821")
			res.Routes.IdleClose = time.Hour
			return res, nil
		})
	var kept []activities.RecordSync
	env.OnActivity(a.RememberRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, rec activities.RecordSync) error { kept = append(kept, rec); return nil })
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "1", Action: "create"}) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"}) }, 40*time.Minute)
	env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, 2, syncs)
	require.Len(t, kept, 1)
	assert.Equal(t, "4821", kept[0].Links[0].FeedbackID)
	idle := env.Now().Sub(start)
	assert.GreaterOrEqual(t, idle, 100*time.Minute, "an hour after the last event (40 min)")
	assert.Less(t, idle, 110*time.Minute)
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
