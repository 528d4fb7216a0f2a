// Package dispatch hands Aha! audits to Temporal: route by record kind,
// dedup by delivery id, SignalWithStart the record's entity workflow. The
// webhook handler, the reconcile activity and the replay command all use it,
// so every path into the workflows dedups and routes the same way.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

// Outcome statuses.
const (
	Accepted  = "accepted"
	Duplicate = "duplicate"
	Ignored   = "ignored"
)

// Outcome is what happened to one audit.
type Outcome struct {
	Status     string `json:"status"`
	WorkflowID string `json:"workflow_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Degraded: Redis was unavailable, the workflow layers deduped alone.
	Degraded bool `json:"-"`
}

// ErrUnavailable wraps a failure to hand the event to Temporal; callers answer 503.
var ErrUnavailable = errors.New("temporal cannot take the event now")

// Dispatcher routes audits to entity workflows.
type Dispatcher struct {
	Temporal  client.Client
	TaskQueue string
	Config    func() *mapping.Config
	Dedup     *dedup.Store // nil: no Redis layer
	Logger    *slog.Logger
	// Timeout bounds the hand-off (Aha! allows 5 s for the whole answer).
	Timeout time.Duration
}

// Route decides where an audit goes without side effects: the workflow id and
// the record kind, or why it is ignored.
func (d *Dispatcher) Route(a *aha.Audit) (kind, workflowID, ignored string) {
	cfg := d.Config()
	typ := aha.NormalizeAuditableType(a.AuditableType)
	kind, ok := cfg.Aha.Kind(typ)
	if !ok {
		return "", "", fmt.Sprintf("auditable_type %q is not routed (aha.record_types)", a.AuditableType)
	}
	switch a.AuditAction {
	case "create", "update", "destroy":
	default:
		return "", "", fmt.Sprintf("audit_action %q is not handled", a.AuditAction)
	}
	if peopleKind(cfg, kind) {
		return peopleRoute(kind, a)
	}
	if len(cfg.FeedbackTypesFor(kind)) == 0 {
		return "", "", fmt.Sprintf("no feedback type is fed by %q records", kind)
	}
	if a.AuditableID.String() == "" {
		return "", "", "audit has no auditable_id"
	}
	return kind, workflows.AhaRecordWorkflowID(kind, a.AuditableID.String()), ""
}

// Dispatch routes, dedups and signals-with-start one audit. source is
// "webhook", "reconcile" or "replay". An error wraps ErrUnavailable: nothing
// was marked as seen, and the caller must tell the sender to try again.
func (d *Dispatcher) Dispatch(ctx context.Context, a *aha.Audit, source string) (Outcome, error) {
	kind, wfID, ignored := d.Route(a)
	if ignored != "" {
		return Outcome{Status: Ignored, Reason: ignored}, nil
	}
	if peopleKind(d.Config(), kind) {
		return d.dispatchPeople(ctx, a, source, kind, wfID)
	}
	auditID := a.ID.String()
	out := Outcome{WorkflowID: wfID}
	claimed := false
	if d.Dedup != nil && auditID != "" {
		ok, err := d.Dedup.Claim(ctx, "aha", auditID)
		switch {
		case err != nil:
			out.Degraded = true
			d.logger().Warn("redis dedup unavailable; relying on workflow dedup", "error", err)
		case !ok:
			out.Status = Duplicate
			return out, nil
		default:
			claimed = true
		}
	}
	ev := workflows.AhaEvent{AuditID: auditID, Action: a.AuditAction, AuditableType: a.AuditableType, Source: source}
	if t, err := time.Parse(time.RFC3339Nano, a.CreatedAt); err == nil {
		ev.CreatedAt = t
	}
	for _, c := range a.Changes {
		ev.Fields = append(ev.Fields, c.FieldName)
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := d.Temporal.SignalWithStartWorkflow(hctx, wfID, workflows.SignalAhaEvent, ev, client.StartWorkflowOptions{
		ID:        wfID,
		TaskQueue: d.TaskQueue,
		// A record whose workflow ended (e.g. it was deleted) may come back.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Aha! %s %s → Centercode", kind, a.AuditableID.String()),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.KeyAhaRecordType.ValueSet(kind),
			workflows.KeySyncState.ValueSet(workflows.StateSyncing),
		),
	}, workflows.AhaRecordWorkflow, workflows.AhaRecordInput{Kind: kind, AhaID: a.AuditableID.String()})
	if err != nil {
		if claimed {
			// Use a fresh context: hctx may be what failed.
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			if rerr := d.Dedup.Release(rctx, "aha", auditID); rerr != nil {
				d.logger().Warn("could not release dedup claim", "audit_id", auditID, "error", rerr)
			}
			rcancel()
		}
		return Outcome{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if claimed {
		if err := d.Dedup.Confirm(ctx, "aha", auditID); err != nil {
			out.Degraded = true
			d.logger().Warn("could not confirm dedup claim", "audit_id", auditID, "error", err)
		}
	}
	out.Status = Accepted
	return out, nil
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}
