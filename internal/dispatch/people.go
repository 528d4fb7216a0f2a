package dispatch

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

// peopleKind reports whether audits of this kind feed user data: an idea user
// or portal user the user_data section accepts, or an organization when it
// accepts idea users (an organization's fields reach people through the
// organizations embedded in their idea user).
func peopleKind(cfg *mapping.Config, kind string) bool {
	ud := cfg.UserData
	if ud == nil {
		return false
	}
	switch kind {
	case mapping.KindIdeaUser, mapping.KindPortalUser:
		return ud.Accepts(kind)
	case mapping.KindIdeaOrganization:
		return ud.Accepts(mapping.KindIdeaOrganization) || ud.Accepts(mapping.KindIdeaUser)
	}
	return false
}

// peopleRoute is Route for a people kind: the record's resolver workflow
// (aha:<kind>:<aha id>), which finds the people it concerns inside Temporal —
// a people audit carries no email and the handler must not call Aha!.
func peopleRoute(kind string, a *aha.Audit) (string, string, string) {
	if a.AuditableID.String() == "" {
		return "", "", "audit has no auditable_id"
	}
	return kind, workflows.AhaPeopleWorkflowID(kind, a.AuditableID.String()), ""
}

// dispatchPeople dedups a people audit and signals-with-start its resolver
// (AhaPeopleWorkflow), with the same claim / release / confirm steps as the
// feedback path.
func (d *Dispatcher) dispatchPeople(ctx context.Context, a *aha.Audit, source, kind, wfID string) (Outcome, error) {
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
	id := a.AuditableID.String()
	_, err := d.Temporal.SignalWithStartWorkflow(hctx, wfID, workflows.SignalAhaEvent, ev, client.StartWorkflowOptions{
		ID:        wfID,
		TaskQueue: d.TaskQueue,
		// The resolver completes when idle; a later event starts it again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Aha! %s %s → Centercode user data", kind, id),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.KeyAhaRecordType.ValueSet(kind),
			workflows.KeyAhaReference.ValueSet(id),
			workflows.KeySyncState.ValueSet(workflows.StateSyncing),
		),
	}, workflows.AhaPeopleWorkflow, workflows.AhaPeopleInput{Kind: kind, AhaID: id})
	if err != nil {
		if claimed {
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
