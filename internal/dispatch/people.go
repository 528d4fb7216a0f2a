package dispatch

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
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
	return kind, contract.AhaPeopleWorkflowID(kind, a.AuditableID.String()), ""
}

// dispatchPeople dedups a people audit and signals-with-start its resolver
// (AhaPeopleWorkflow), with the same claim / release / confirm steps as the
// feedback path.
func (d *Dispatcher) dispatchPeople(ctx context.Context, a *aha.Audit, source, kind, wfID string) (Outcome, error) {
	return d.signalAudit(ctx, a, ahaEvent(a, source), wfID, func() (client.StartWorkflowOptions, any, any) {
		id := a.AuditableID.String()
		return client.StartWorkflowOptions{
			ID:        wfID,
			TaskQueue: d.TaskQueue,
			// The resolver completes when idle; a later event starts it again.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:         fmt.Sprintf("Aha! %s %s → Centercode user data", kind, id),
			TypedSearchAttributes: temporal.NewSearchAttributes(
				contract.KeyAhaRecordType.ValueSet(kind),
				contract.KeyAhaReference.ValueSet(id),
				contract.KeySyncState.ValueSet(contract.StateSyncing),
			),
		}, workflows.AhaPeopleWorkflow, workflows.AhaPeopleInput{Kind: kind, AhaID: id}
	})
}
