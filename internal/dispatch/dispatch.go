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
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
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

// Hand-off errors; each says what the sender should do.
var (
	// ErrUnavailable wraps a failure to hand the event to Temporal: nothing
	// was marked as seen; callers answer 503 (try again).
	ErrUnavailable = errors.New("temporal cannot take the event now")
	// ErrInFlight: another delivery of the same event is being handed over
	// right now (or its starter died mid-way and its claim has not expired):
	// not done yet, so not a duplicate; callers answer 409 (try again).
	ErrInFlight = errors.New("another delivery of this event is being handed over")
	// ErrInvalid: Temporal refused the event as invalid input; sending it
	// again cannot help; callers answer 400 (reconcile skips it).
	ErrInvalid = errors.New("temporal refused the event as invalid")
)

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
	if !feedsFeedback(cfg, kind) {
		return "", "", fmt.Sprintf("no feedback type is fed by %q records", kind)
	}
	if a.AuditableID.String() == "" {
		return "", "", "audit has no auditable_id"
	}
	return kind, contract.AhaRecordWorkflowID(kind, a.AuditableID.String()), ""
}

// Dispatch routes, dedups and signals-with-start one audit. source is
// "webhook", "reconcile" or "replay". An error wraps ErrUnavailable,
// ErrInFlight or ErrInvalid (see each); nothing was marked as seen.
func (d *Dispatcher) Dispatch(ctx context.Context, a *aha.Audit, source string) (Outcome, error) {
	if id := a.AuditableID.String(); id != "" && !aha.ValidID(id) {
		// A webhook's ids are checked at parse time; this is a REST audit
		// (reconcile) or a replay, refused before it reaches Redis or Temporal.
		return Outcome{}, fmt.Errorf("%w: auditable_id %.40q is not an Aha! id", ErrInvalid, id)
	}
	if aha.IsChildType(a.AuditableType) {
		return d.dispatchChild(ctx, a, source)
	}
	kind, wfID, ignored := d.Route(a)
	if ignored != "" {
		return Outcome{Status: Ignored, Reason: ignored}, nil
	}
	if peopleKind(d.Config(), kind) {
		return d.dispatchPeople(ctx, a, source, kind, wfID)
	}
	return d.signalAudit(ctx, a, ahaEvent(a, source), wfID, d.recordStart(kind, a.AuditableID.String()))
}

// recordStart starts a record's AhaRecordWorkflow when the signal finds none.
func (d *Dispatcher) recordStart(kind, id string) startFunc {
	return func() (client.StartWorkflowOptions, any, any) {
		return client.StartWorkflowOptions{
			ID:        contract.AhaRecordWorkflowID(kind, id),
			TaskQueue: d.TaskQueue,
			// A record whose workflow ended (e.g. it was deleted) may come back.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:         fmt.Sprintf("Aha! %s %s → Centercode", kind, id),
			TypedSearchAttributes: temporal.NewSearchAttributes(
				contract.KeyAhaRecordType.ValueSet(kind),
				contract.KeySyncState.ValueSet(contract.StateSyncing),
			),
		}, workflows.AhaRecordWorkflow, workflows.AhaRecordInput{Kind: kind, AhaID: id}
	}
}

// dispatchChild hands a child audit — a description edit (note), a vote
// (endorsement), a comment — to its parent record's workflow, which
// re-reads the record: the parent named by associated_id is signalled at
// once; one named only by reference in auditable_url (the webhook's case) is
// resolved by an AuditParentWorkflow, as the handler must not call Aha!.
func (d *Dispatcher) dispatchChild(ctx context.Context, a *aha.Audit, source string) (Outcome, error) {
	kind, id, ref, ok := aha.AuditParent(a)
	if !ok {
		return Outcome{Status: Ignored, Reason: fmt.Sprintf("%s audit names no idea or feature it belongs to (no associated_id, auditable_url %.80q)",
			a.AuditableType, a.AuditableURL)}, nil
	}
	if !feedsFeedback(d.Config(), kind) {
		return Outcome{Status: Ignored, Reason: fmt.Sprintf("no feedback type is fed by %q records", kind)}, nil
	}
	ev := ahaEvent(a, source)
	ev.Action = "update" // a child's create or destroy changes its parent
	if id != "" {
		return d.signalAudit(ctx, a, ev, contract.AhaRecordWorkflowID(kind, id), d.recordStart(kind, id))
	}
	wfID := contract.AuditParentWorkflowID(a.ID.String())
	return d.handOff(ctx, "aha", a.ID.String(), wfID, func(hctx context.Context) error {
		_, err := d.Temporal.ExecuteWorkflow(hctx, client.StartWorkflowOptions{
			ID:                                       wfID,
			TaskQueue:                                d.TaskQueue,
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			StaticSummary:                            fmt.Sprintf("Aha! %s of %s %s → its record's workflow", a.AuditableType, kind, ref),
			TypedSearchAttributes: temporal.NewSearchAttributes(
				contract.KeyAhaRecordType.ValueSet(kind),
				contract.KeyAhaReference.ValueSet(ref),
			),
		}, workflows.AuditParentWorkflow, workflows.AuditParentInput{Kind: kind, Reference: ref, Event: ev})
		return err
	})
}

// startFunc builds what SignalWithStart needs (options, workflow, input). It
// runs only once the delivery is claimed, so a duplicate costs none of it.
type startFunc func() (opts client.StartWorkflowOptions, wf, input any)

// signalAudit dedups an audit by its id and signals-with-start the workflow
// with its event: the one hand-off every Aha! path (webhook, reconcile,
// replay, feedback records and people) goes through.
func (d *Dispatcher) signalAudit(ctx context.Context, a *aha.Audit, ev contract.AhaEvent, wfID string, start startFunc) (Outcome, error) {
	return d.handOff(ctx, "aha", a.ID.String(), wfID, func(hctx context.Context) error {
		opts, wf, input := start()
		_, err := d.Temporal.SignalWithStartWorkflow(hctx, wfID, contract.SignalAhaEvent, ev, opts, wf, input)
		return err
	})
}

// ahaEvent is the signal an audit becomes.
func ahaEvent(a *aha.Audit, source string) contract.AhaEvent {
	ev := contract.AhaEvent{AuditID: a.ID.String(), Action: a.AuditAction, AuditableType: a.AuditableType, Source: source}
	if t, err := time.Parse(time.RFC3339Nano, a.CreatedAt); err == nil {
		ev.CreatedAt = t
	}
	for _, c := range a.Changes {
		ev.Fields = append(ev.Fields, c.FieldName)
	}
	return ev
}

// feedsFeedback reports whether some feedback type is fed by records of this
// kind: len(cfg.FeedbackTypesFor(kind)) > 0 without building the list.
func feedsFeedback(cfg *mapping.Config, kind string) bool {
	for _, n := range cfg.FeedbackTypeNames() {
		if ft := cfg.FeedbackTypes[n]; ft != nil && slices.Contains(ft.RecordTypes, kind) {
			return true
		}
	}
	return false
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}
