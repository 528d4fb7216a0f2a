package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// backfillPages fakes /api/v1/idea_users with total users, 200 a page.
type backfillPages struct {
	mu    sync.Mutex
	total int
	pages []int
	times []time.Time
}

func (b *backfillPages) page(env *testsuite.TestWorkflowEnvironment) func(context.Context, activities.BackfillPageRequest) (activities.BackfillPageResult, error) {
	return func(_ context.Context, req activities.BackfillPageRequest) (activities.BackfillPageResult, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.pages = append(b.pages, req.Page)
		b.times = append(b.times, env.Now())
		totalPages := (b.total + req.PerPage - 1) / req.PerPage
		users := req.PerPage
		if req.Page == totalPages {
			users = b.total - (totalPages-1)*req.PerPage
		}
		if req.Page > totalPages {
			users = 0
		}
		return activities.BackfillPageResult{Page: req.Page, TotalPages: totalPages, TotalRecords: b.total, Users: users,
			Signalled: users, AhaCalls: 1}, nil
	}
}

func udBackfillEnv(t *testing.T, b *backfillPages) *testsuite.TestWorkflowEnvironment {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.BackfillUsersPage, mock.Anything, mock.Anything).Return(b.page(env))
	return env
}

func TestBackfillPagesUntilTheLastPageAndContinuesAsNew(t *testing.T) {
	b := &backfillPages{total: 1050} // 6 pages of 200
	env := udBackfillEnv(t, b)
	env.ExecuteWorkflow(UserBackfillWorkflow, UserBackfillInput{PagesPerRun: 4})
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "got %v", env.GetWorkflowError())
	var next UserBackfillInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, []int{1, 2, 3, 4}, b.pages)
	require.NotNil(t, next.Carried)
	require.Equal(t, 5, next.Carried.NextPage)
	require.Equal(t, 800, next.Carried.Signalled)
	require.Equal(t, 4, next.PagesPerRun)

	// The next run picks up at page 5 and finishes.
	env2 := udBackfillEnv(t, b)
	env2.ExecuteWorkflow(UserBackfillWorkflow, next)
	require.True(t, env2.IsWorkflowCompleted())
	require.NoError(t, env2.GetWorkflowError())
	var p BackfillProgress
	require.NoError(t, env2.GetWorkflowResult(&p))
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, b.pages)
	require.True(t, p.Done)
	require.Equal(t, 1050, p.Signalled)
	require.Equal(t, 6, p.Pages)
	require.Equal(t, 6, p.AhaCalls)
	require.Equal(t, 2, p.Runs)
	require.Contains(t, p.Summary(), "done: page 6 of 6, 1050 of 1050")
}

func TestBackfillPauseAndResume(t *testing.T) {
	b := &backfillPages{total: 1000} // 5 pages
	env := udBackfillEnv(t, b)
	var paused BackfillProgress
	// Pause before the first page; look while paused; resume an hour later.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalPause, nil) }, 0)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(contract.QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&paused))
		env.SignalWorkflow(contract.SignalResume, nil)
	}, time.Hour)
	start := env.Now()
	env.ExecuteWorkflow(UserBackfillWorkflow, UserBackfillInput{})
	require.NoError(t, env.GetWorkflowError())
	require.True(t, paused.Paused)
	require.Equal(t, 0, paused.Pages, "paused before the first page: nothing read")
	require.Contains(t, paused.Summary(), "paused")
	var p BackfillProgress
	require.NoError(t, env.GetWorkflowResult(&p))
	require.True(t, p.Done)
	require.False(t, p.Paused)
	require.Equal(t, []int{1, 2, 3, 4, 5}, b.pages)
	require.GreaterOrEqual(t, b.times[0].Sub(start), time.Hour, "page 1 waited for the resume")
}

func TestBackfillSinceIsPassedToEveryPage(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var got []activities.BackfillPageRequest
	env.OnActivity(a.BackfillUsersPage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.BackfillPageRequest) (activities.BackfillPageResult, error) {
			got = append(got, req)
			return activities.BackfillPageResult{Page: req.Page, TotalPages: 2, TotalRecords: 300, Users: 150, Signalled: 150}, nil
		})
	env.ExecuteWorkflow(UserBackfillWorkflow, UserBackfillInput{Since: since, PerPage: 500})
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, got, 2)
	for _, r := range got {
		require.True(t, r.Since.Equal(since))
		require.Equal(t, 200, r.PerPage, "per_page is capped at Aha!'s 200")
	}
}

// The resolver of one people record dedups audits, runs ResolvePeople on the
// leading edge and once per window, remembers the email, and completes when idle.
func TestAhaPeopleResolverCoalescesAndRemembersEmail(t *testing.T) {
	defer func(d time.Duration) { peopleIdleTimeout = d }(peopleIdleTimeout)
	peopleIdleTimeout = time.Minute
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	cfg := udConfig(t)
	cfg.Sync.RetryFor, cfg.Sync.RetryMaxInterval = 3*time.Hour, 7*time.Second
	env.RegisterActivity(activities.New(activities.Deps{Configs: activities.NewConfigStore(cfg)}))
	seen := recordActivityOptions(env)
	var reqs []activities.ResolvePeopleRequest
	emails := []string{"old@example.com", "new@example.com"}
	env.OnActivity(a.ResolvePeople, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.ResolvePeopleRequest) (activities.ResolvePeopleResult, error) {
			e := emails[0]
			if len(reqs) > 0 {
				e = emails[1]
			}
			reqs = append(reqs, req)
			return activities.ResolvePeopleResult{Emails: append([]string{e}, req.PreviousEmails...), People: 1}, nil
		})
	send := func(at time.Duration, id string) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: id, Action: "update", Source: "webhook"})
		}, at)
	}
	send(0, "a1")
	send(500*time.Millisecond, "a2")
	send(time.Second, "a2") // duplicate
	send(1500*time.Millisecond, "a3")
	env.ExecuteWorkflow(AhaPeopleWorkflow, AhaPeopleInput{Kind: "idea_user", AhaID: "42"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "completes after the idle period")
	require.Len(t, reqs, 2)
	require.Equal(t, []string{"a1"}, reqs[0].AuditIDs)
	require.Equal(t, []string{"a2", "a3"}, reqs[1].AuditIDs)
	require.Equal(t, []string{"old@example.com"}, reqs[1].PreviousEmails, "the old email is cleared too")
	o, ok := seen.get("ResolvePeople")
	require.True(t, ok)
	require.Equal(t, 7*time.Second, o.RetryPolicy.MaximumInterval, "sync.retry_max_interval")
	require.Equal(t, 3*time.Hour, o.ScheduleToCloseTimeout, "sync.retry_for")
}
