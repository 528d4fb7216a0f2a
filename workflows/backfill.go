package workflows

import (
	"strconv"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// DefaultBackfillPagesPerRun is how many pages one run of the backfill reads
// before it continues as new (bounds its history: ~12 events per page).
const DefaultBackfillPagesPerRun = 20

// UserBackfillWorkflow pages Aha!'s /api/v1/idea_users (per_page=200, only
// those updated since Since when set) and signals each person's
// UserDataWorkflow with a snapshot read from the page, so the person's data
// group reaches Centercode without one Aha! call per person. It continues as
// new every PagesPerRun pages, can be paused and resumed (signals pause and
// resume, taking effect between pages), answers the progress query, and shows
// a summary in the UI. Aha! calls go through the shared rate budget (the
// client's limiter); Centercode writes happen in the people's workflows,
// through the Centercode budget.
func UserBackfillWorkflow(ctx workflow.Context, in UserBackfillInput) (BackfillProgress, error) {
	perPage := in.PerPage
	if perPage <= 0 || perPage > activities.BackfillPerPage {
		perPage = activities.BackfillPerPage
	}
	perRun := in.PagesPerRun
	if perRun <= 0 {
		perRun = DefaultBackfillPagesPerRun
	}
	var p BackfillProgress
	if in.Carried != nil {
		p = *in.Carried
	} else {
		p = BackfillProgress{Since: in.Since, NextPage: 1, StartedAt: workflow.Now(ctx)}
	}
	p.Runs++
	if err := workflow.SetQueryHandler(ctx, contract.QueryProgress, func() (BackfillProgress, error) { return p, nil }); err != nil {
		return p, err
	}
	pauses := workflow.GetSignalChannel(ctx, contract.SignalPause)
	resumes := workflow.GetSignalChannel(ctx, contract.SignalResume)
	details := func() { workflow.SetCurrentDetails(ctx, p.Summary()) }
	// Pause and resume are applied in the order they were sent.
	control := func() {
		for {
			switch {
			case pauses.ReceiveAsync(nil):
				p.Paused = true
			case resumes.ReceiveAsync(nil):
				p.Paused = false
			default:
				return
			}
		}
	}
	details()

	// A page: up to 10 minutes (it waits for the budgets), heartbeated by the
	// worker, so a dead worker's page moves on within a minute; retried with
	// the default settings (see retrying).
	var retry retrying
	pageOpts := workflow.ActivityOptions{
		StartToCloseTimeout:    10 * time.Minute,
		HeartbeatTimeout:       time.Minute,
		ScheduleToCloseTimeout: retry.retryFor(),
		RetryPolicy:            retry.policy(),
	}
	for pages := 0; ; pages++ {
		control()
		for p.Paused {
			details()
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(pauses, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); p.Paused = true })
			sel.AddReceive(resumes, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); p.Paused = false })
			sel.Select(ctx)
			control()
		}
		if pages >= perRun {
			details()
			return p, workflow.NewContinueAsNewError(ctx, UserBackfillWorkflow, UserBackfillInput{
				Since: in.Since, PerPage: perPage, PagesPerRun: perRun, Carried: &p,
			})
		}
		var res activities.BackfillPageResult
		pageOpts.Summary = "read Aha! idea users, page " + strconv.Itoa(p.NextPage)
		pctx := workflow.WithActivityOptions(ctx, pageOpts)
		if err := workflow.ExecuteActivity(pctx, a.BackfillUsersPage, activities.BackfillPageRequest{
			Page: p.NextPage, PerPage: perPage, Since: in.Since,
		}).Get(ctx, &res); err != nil {
			details()
			return p, err
		}
		p.Pages++
		p.TotalPages, p.TotalRecords = res.TotalPages, res.TotalRecords
		p.Users += res.Users
		p.Signalled += res.Signalled
		p.NoEmail += res.NoEmail
		p.AhaCalls += res.AhaCalls
		p.NextPage++
		if res.Users == 0 || p.NextPage > res.TotalPages {
			p.Done = true
			p.FinishedAt = workflow.Now(ctx)
			details()
			return p, nil
		}
		details()
	}
}
