package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// While a resolver is parked, a busy record's audits keep coming: what it
// carries for them stays bounded (the next read coalesces them all), and the
// retry hands on the latest.
func TestParkedResolverKeepsABoundedAuditList(t *testing.T) {
	defer func(n int) { peopleEventsPerRun = n }(peopleEventsPerRun)
	peopleEventsPerRun = 10000
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.UserDataRoutes, mock.Anything).Return(activities.UserDataRoutes{Enabled: true, Debounce: time.Second}, nil)
	var got [][]string
	fail := true
	env.OnActivity(a.ResolvePeople, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.ResolvePeopleRequest) (activities.ResolvePeopleResult, error) {
			got = append(got, req.AuditIDs)
			if fail {
				return activities.ResolvePeopleResult{}, temporal.NewNonRetryableApplicationError("403 Forbidden", activities.ErrTypePermanent, nil)
			}
			return activities.ResolvePeopleResult{People: 1, Emails: []string{"a@example.com"}}, nil
		})
	const n = 600
	for i := 0; i < n; i++ {
		i := i
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: fmt.Sprint(i), Action: "update"})
		}, time.Duration(i+1)*time.Millisecond)
	}
	var parked AhaPeopleState
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(contract.QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&parked))
		fail = false
		env.SignalWorkflow(contract.SignalRetry, nil)
	}, time.Minute)
	env.ExecuteWorkflow(AhaPeopleWorkflow, AhaPeopleInput{Kind: "idea_user", AhaID: "42"})
	require.True(t, env.IsWorkflowCompleted())
	require.Equal(t, contract.StateParked, parked.SyncState)
	require.LessOrEqual(t, len(parked.Unresolved), unresolvedLimit, "bounded while parked")
	last := got[len(got)-1]
	require.LessOrEqual(t, len(last), unresolvedLimit)
	require.Equal(t, fmt.Sprint(n-1), last[len(last)-1], "the retry hands on the latest audit")
}
