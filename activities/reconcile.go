package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

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
