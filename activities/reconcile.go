package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/mapping"
)

// AuditLister is the part of the Aha! client the reconcile run needs.
type AuditLister interface {
	ListAudits(ctx context.Context, q aha.AuditQuery) ([]aha.Audit, aha.Pagination, error)
}

// AuditInvalid is the status of an audit Temporal refuses as invalid input:
// reconcile skips it (it would fail the same way on every run).
const AuditInvalid = "invalid"

// AuditDispatcher hands one audit to its entity workflow through the same
// routing and dedup as the webhook; it returns accepted, duplicate or ignored.
type AuditDispatcher interface {
	DispatchAudit(ctx context.Context, a *aha.Audit, source string) (status string, err error)
}

// ReconcileRequest pages Aha!'s activity history from a watermark.
type ReconcileRequest struct {
	// AfterID is the last audit id already handled (the cursor).
	AfterID string `json:"after_id,omitempty"`
	// Since bounds the first run, which has no watermark.
	Since time.Time `json:"since,omitempty"`
	// MaxPages bounds one activity (the workflow continues from the result).
	MaxPages int `json:"max_pages,omitempty"`
	PerPage  int `json:"per_page,omitempty"`
}

// ReconcileResult reports one reconcile pass.
type ReconcileResult struct {
	LastID     string `json:"last_id,omitempty"`
	Audits     int    `json:"audits"`
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	Ignored    int    `json:"ignored"`
	// Invalid counts audits skipped because Temporal refuses them (logged).
	Invalid int `json:"invalid,omitempty"`
	// More is set when MaxPages stopped the pass before the end of the history.
	More bool `json:"more,omitempty"`
}

// ReconcileAudits reads /api/v1/audits after the watermark and feeds every
// audit through the same dedup and workflows as the webhook, so deliveries
// Aha! never made (or never retried) are recovered. Progress is heartbeated
// per audit: a retried attempt resumes after the last audit it handed over.
func (a *Activities) ReconcileAudits(ctx context.Context, req ReconcileRequest) (ReconcileResult, error) {
	if a.Audits == nil || a.Dispatcher == nil {
		return ReconcileResult{}, fmt.Errorf("reconcile is not wired in this worker")
	}
	res := ReconcileResult{LastID: req.AfterID}
	if activity.HasHeartbeatDetails(ctx) {
		var prev ReconcileResult
		if err := activity.GetHeartbeatDetails(ctx, &prev); err == nil && prev.LastID != "" {
			res = prev
		}
	}
	perPage := req.PerPage
	if perPage <= 0 || perPage > 200 {
		perPage = 200
	}
	maxPages := req.MaxPages
	if maxPages <= 0 {
		maxPages = 50
	}
	for page := 0; page < maxPages; page++ {
		q := aha.AuditQuery{AfterID: res.LastID, PerPage: perPage, Page: 1}
		if res.LastID == "" {
			q.CreatedSince = req.Since
		}
		audits, _, err := a.Audits.ListAudits(ctx, q)
		if err != nil {
			return res, Classify("list Aha! audits after "+res.LastID, err)
		}
		for i := range audits {
			au := &audits[i]
			status, err := a.Dispatcher.DispatchAudit(ctx, au, "reconcile")
			if err != nil {
				return res, Classify("hand audit "+au.ID.String()+" to Temporal", err)
			}
			switch status {
			case "accepted":
				res.Accepted++
			case "duplicate":
				res.Duplicates++
			case AuditInvalid:
				res.Invalid++
			default:
				res.Ignored++
			}
			res.Audits++
			res.LastID = au.ID.String()
			Checkpoint(ctx, res)
		}
		if len(audits) < perPage {
			res.More = false
			return res, nil
		}
		res.More = true
	}
	return res, nil
}

// RouteToParentRequest is a child audit to hand to its parent record.
type RouteToParentRequest struct {
	Kind          string    `json:"kind"`
	Reference     string    `json:"reference"`
	AuditID       string    `json:"audit_id"`
	AuditableType string    `json:"auditable_type"`
	CreatedAt     time.Time `json:"created_at"`
	Source        string    `json:"source"`
}

// RouteToParent reads the parent record a child audit names by reference and
// hands the audit to the parent's workflow (as an update of it) through the
// dispatcher. A retry hands it over again; the parent's seen-set drops the
// repeat. A parent that is gone (404) has nothing to sync: done.
func (a *Activities) RouteToParent(ctx context.Context, req RouteToParentRequest) error {
	if a.Dispatcher == nil {
		return fmt.Errorf("routing to a parent record is not wired in this worker")
	}
	rec, err := a.Aha.GetRecord(ctx, req.Kind, req.Reference)
	if err != nil {
		c := Classify(fmt.Sprintf("read Aha! %s %s", req.Kind, req.Reference), err)
		var ae *temporal.ApplicationError
		if errors.As(c, &ae) && ae.Type() == ErrTypeNotFound {
			a.Logger.Info("the record a child audit changed is gone; nothing to sync", "kind", req.Kind, "reference", req.Reference, "audit_id", req.AuditID)
			return nil
		}
		return c
	}
	typ := "ideas/idea"
	if req.Kind == aha.KindFeature {
		typ = "feature"
	}
	// A derived delivery id: the child's own id is already marked as seen by
	// the hand-off that started this run.
	au := &aha.Audit{ID: aha.FlexID("parent:" + req.AuditID), AuditAction: "update", AuditableType: typ,
		AuditableID: aha.FlexID(rec.ID), CreatedAt: req.CreatedAt.Format(time.RFC3339Nano)}
	if _, err := a.Dispatcher.DispatchAudit(ctx, au, req.Source); err != nil {
		return Classify(fmt.Sprintf("hand audit %s to %s %s", req.AuditID, req.Kind, req.Reference), err)
	}
	return nil
}

// RoutesForTypeRequest asks which record kinds feed a feedback type.
type RoutesForTypeRequest struct {
	FeedbackType string `json:"feedback_type"`
}

// RoutesForTypeResult lists them.
type RoutesForTypeResult struct {
	Kinds []string `json:"kinds"`
}

// KindsOfFeedbackType names the record kinds a feedback type is fed by
// under the current config (run as a local activity); an unknown type fails.
func (a *Activities) KindsOfFeedbackType(ctx context.Context, req RoutesForTypeRequest) (RoutesForTypeResult, error) {
	ft := a.config().FeedbackType(req.FeedbackType)
	if ft == nil {
		return RoutesForTypeResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("feedback type %q is not in the current config", req.FeedbackType), ErrTypeConfig, nil)
	}
	return RoutesForTypeResult{Kinds: ft.RecordTypes}, nil
}

// RecordLister lists a page of Aha! records of a kind (ideas, features).
type RecordLister interface {
	ListRecords(ctx context.Context, kind string, q aha.ListQuery) ([]aha.Record, aha.Pagination, error)
}

// RecordsPageRequest is one page of a record backfill.
type RecordsPageRequest struct {
	Kind  string    `json:"kind"`
	Page  int       `json:"page"`
	Since time.Time `json:"since,omitempty"`
	// BackfillID names the backfill's deliveries (one per record per backfill).
	BackfillID string `json:"backfill_id"`
}

// RecordsPageResult reports one page.
type RecordsPageResult struct {
	Records    int `json:"records"`
	Signalled  int `json:"signalled"`
	TotalPages int `json:"total_pages"`
}

// backfillPerPage is Aha!'s largest page.
const backfillPerPage = 200

// BackfillRecordsPage reads one page of a kind's records from Aha! and hands
// each to its record's workflow through the dispatcher, as a webhook audit
// would be (delivery id backfill:<backfill>:<record id>: a retried page is
// a duplicate, a later backfill is not). Progress is heartbeated per record.
func (a *Activities) BackfillRecordsPage(ctx context.Context, req RecordsPageRequest) (RecordsPageResult, error) {
	if a.Records == nil || a.Dispatcher == nil {
		return RecordsPageResult{}, fmt.Errorf("record backfill is not wired in this worker")
	}
	recs, pag, err := a.Records.ListRecords(ctx, req.Kind, aha.ListQuery{Page: req.Page, PerPage: backfillPerPage, UpdatedSince: req.Since})
	if err != nil {
		return RecordsPageResult{}, Classify(fmt.Sprintf("list Aha! %s records, page %d", req.Kind, req.Page), err)
	}
	res := RecordsPageResult{Records: len(recs), TotalPages: pag.TotalPages}
	typ := auditTypeOf(a.config(), req.Kind)
	for i := range recs {
		id := recs[i].ID.String()
		au := &aha.Audit{ID: aha.FlexID("backfill:" + req.BackfillID + ":" + id), AuditAction: "update", AuditableType: typ, AuditableID: aha.FlexID(id)}
		status, err := a.Dispatcher.DispatchAudit(ctx, au, "backfill")
		if err != nil {
			return res, Classify("hand "+req.Kind+" "+id+" to its workflow", err)
		}
		if status == "accepted" || status == "duplicate" {
			res.Signalled++
		}
		Checkpoint(ctx, i)
	}
	return res, nil
}

// auditTypeOf is the webhook auditable_type aha.record_types maps to a kind.
func auditTypeOf(cfg *mapping.Config, kind string) string {
	types := slices.Sorted(maps.Keys(cfg.Aha.RecordTypes))
	for _, t := range types {
		if cfg.Aha.RecordTypes[t] == kind {
			return t
		}
	}
	return kind
}
