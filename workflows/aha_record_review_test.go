package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// A run continued-as-new (upgrade, eventsPerRun, suggestion) carries its
// routes, so it closes when idle like the run before it (found by review: it
// had no routes until its first sync, and never closed).
func TestCarriedRunClosesWhenIdle(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.SyncRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
			res := synced(req, "4821")
			res.Routes.IdleClose = time.Hour
			return res, nil
		})
	remembered := 0
	env.OnActivity(a.RememberRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, rec activities.RecordSync) error { remembered++; return nil })
	carried := State{RecordSync: activities.RecordSync{Kind: "idea", AhaID: "6776",
		Links: []activities.Link{{FeedbackType: "bugs", FeedbackID: "4821", LastHash: "h1"}}}, SyncState: contract.StateSynced}
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Hour)
	env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776", Carried: &carried,
		Routes: &activities.Routes{FeedbackTypes: []string{"bugs"}, IdleClose: time.Hour}})
	var ce *temporal.CanceledError
	assert.False(t, errors.As(env.GetWorkflowError(), &ce), "still running after 10h with idle_close 1h")
	assert.NoError(t, env.GetWorkflowError())
	assert.Equal(t, 1, remembered)
}

// Redis down at idle time: keeping the links fails after a short try, the
// run goes on, and an event arriving meanwhile is synced at once (found by
// review: the keep retried for retry_for and held the event).
func TestRememberingDoesNotHoldUpEvents(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	start := env.Now()
	var syncAt []time.Duration
	env.OnActivity(a.SyncRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SyncRecordRequest) (activities.SyncRecordResult, error) {
			syncAt = append(syncAt, env.Now().Sub(start))
			res := synced(req, "4821")
			res.Routes.IdleClose = time.Hour
			return res, nil
		})
	env.OnActivity(a.RememberRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, rec activities.RecordSync) error {
			if env.Now().Sub(start) < 3*time.Hour {
				return temporal.NewApplicationError("redis down", activities.ErrTypeTransient)
			}
			return nil
		})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "1", Action: "create"}) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"}) }, 62*time.Minute)
	env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	if assert.Len(t, syncAt, 2) {
		assert.Less(t, syncAt[1], 65*time.Minute, "the update of 62 min is synced promptly")
	}
}
