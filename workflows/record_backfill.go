package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// RecordBackfillInput starts (or continues) a RecordBackfillWorkflow.
type RecordBackfillInput struct {
	// FeedbackType is the feedback type whose Aha! records are brought in.
	FeedbackType string `json:"feedback_type"`
	// Since reads only records updated since then (zero: all).
	Since time.Time `json:"since,omitempty"`
	// PagesPerRun continues-as-new after this many pages (default 20).
	PagesPerRun int `json:"pages_per_run,omitempty"`
	// Carried is the progress handed over by continue-as-new.
	Carried *RecordBackfillProgress `json:"carried,omitempty"`
}

// RecordBackfillProgress is what a record backfill has done, answered by the
// progress query.
type RecordBackfillProgress struct {
	FeedbackType string    `json:"feedback_type"`
	Since        time.Time `json:"since,omitempty"`
	Kinds        []string  `json:"kinds"`
	KindIndex    int       `json:"kind_index"` // the kind being paged
	NextPage     int       `json:"next_page"`
	TotalPages   int       `json:"total_pages"`
	Pages        int       `json:"pages"`
	Records      int       `json:"records"`
	Signalled    int       `json:"signalled"`
	Runs         int       `json:"runs"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at,omitempty"`
	Done         bool      `json:"done,omitempty"`
	// RunID names this backfill's deliveries (a later backfill re-sends).
	RunID string `json:"run_id"`
}

// Summary is the one line operators see in the UI.
func (p *RecordBackfillProgress) Summary() string {
	state := "running"
	if p.Done {
		state = "done"
	}
	return fmt.Sprintf("backfill of %s from Aha! %s: %s — %d records handed to their workflows, page %d of %d",
		p.FeedbackType, strings.Join(p.Kinds, ", "), state, p.Signalled, p.Pages, p.TotalPages)
}

// RecordBackfillWorkflow brings the Aha! records that exist into Centercode:
// it pages the records of each kind a feedback type is fed by (200 a page,
// only those updated since Since when set) and hands each to its record's
// AhaRecordWorkflow, as a webhook would — the same routing, hydration,
// mapping and rate budget; a record already linked is updated only when
// its content changed, never created twice. It continues as new every
// PagesPerRun pages, answers the progress query and shows a summary.
func RecordBackfillWorkflow(ctx workflow.Context, in RecordBackfillInput) (RecordBackfillProgress, error) {
	perRun := in.PagesPerRun
	if perRun <= 0 {
		perRun = DefaultBackfillPagesPerRun
	}
	var p RecordBackfillProgress
	if in.Carried != nil {
		p = *in.Carried
	} else {
		p = RecordBackfillProgress{FeedbackType: in.FeedbackType, Since: in.Since, NextPage: 1, StartedAt: workflow.Now(ctx),
			RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID}
		var kinds activities.RoutesForTypeResult
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
		if err := workflow.ExecuteLocalActivity(lctx, a.KindsOfFeedbackType, activities.RoutesForTypeRequest{FeedbackType: in.FeedbackType}).Get(ctx, &kinds); err != nil {
			return p, err
		}
		p.Kinds = kinds.Kinds
	}
	p.Runs++
	if err := workflow.SetQueryHandler(ctx, contract.QueryProgress, func() (RecordBackfillProgress, error) { return p, nil }); err != nil {
		return p, err
	}
	details := func() { workflow.SetCurrentDetails(ctx, p.Summary()) }
	details()
	var retry retrying
	for pages := 0; p.KindIndex < len(p.Kinds); pages++ {
		if pages >= perRun {
			return p, workflow.NewContinueAsNewError(ctx, RecordBackfillWorkflow, RecordBackfillInput{
				FeedbackType: in.FeedbackType, Since: in.Since, PagesPerRun: perRun, Carried: &p,
			})
		}
		kind := p.Kinds[p.KindIndex]
		pctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    10 * time.Minute,
			HeartbeatTimeout:       time.Minute,
			ScheduleToCloseTimeout: retry.retryFor(),
			RetryPolicy:            retry.policy(),
			Summary:                "read Aha! " + kind + " records, page " + strconv.Itoa(p.NextPage),
		})
		var res activities.RecordsPageResult
		if err := workflow.ExecuteActivity(pctx, a.BackfillRecordsPage, activities.RecordsPageRequest{
			Kind: kind, Page: p.NextPage, Since: p.Since, BackfillID: p.RunID,
		}).Get(ctx, &res); err != nil {
			details()
			return p, err
		}
		p.Pages++
		p.Records += res.Records
		p.Signalled += res.Signalled
		p.TotalPages = res.TotalPages
		p.NextPage++
		if res.Records == 0 || p.NextPage > res.TotalPages {
			p.KindIndex++
			p.NextPage = 1
		}
		details()
	}
	p.Done = true
	p.FinishedAt = workflow.Now(ctx)
	details()
	return p, nil
}
