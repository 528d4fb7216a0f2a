package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
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
