package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

// ParkedRecord is one parked entity workflow.
type ParkedRecord struct {
	WorkflowID string
	Reference  string
	Reason     string
}

// ListParked finds parked records through visibility (SyncState="Parked") and
// asks each for its reason through the `state` query.
func ListParked(ctx context.Context, c client.Client, extraQuery string) ([]ParkedRecord, error) {
	q := fmt.Sprintf(`%s = %q AND ExecutionStatus = "Running"`, contract.SASyncState, contract.StateParked)
	if extraQuery != "" {
		q += " AND " + extraQuery
	}
	var out []ParkedRecord
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list parked records: %w", err)
		}
		for _, e := range resp.Executions {
			p := ParkedRecord{WorkflowID: e.Execution.WorkflowId}
			if v, err := c.QueryWorkflow(ctx, p.WorkflowID, "", contract.QueryState); err == nil {
				var st workflows.State
				if v.Get(&st) == nil {
					p.Reference, p.Reason = st.Reference, st.ParkedReason
				}
			}
			out = append(out, p)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return out, nil
		}
	}
}

// RetryParked retries the parked records (all, or those matching ahaID as a
// numeric id or a reference) through the retry Update, printing each answer
// ("retried: parked on … since …"); a workflow without the Update (a macro
// run, or a run of an older worker) gets the retry signal instead. It counts
// the retries taken.
func RetryParked(ctx context.Context, c client.Client, ahaID string, w io.Writer) (int, error) {
	extra := ""
	if ahaID != "" && !isNumeric(ahaID) {
		extra = fmt.Sprintf(`%s = %q`, contract.SAAhaReference, ahaID)
	}
	parked, err := ListParked(ctx, c, extra)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range parked {
		if ahaID != "" && isNumeric(ahaID) && !strings.HasSuffix(p.WorkflowID, ":"+ahaID) {
			continue
		}
		answer, err := retryUpdate(ctx, c, p.WorkflowID)
		switch {
		case err == nil:
			fmt.Fprintf(w, "%s (%s): %s\n", p.WorkflowID, p.Reference, answer)
			n++
		case unknownUpdate(err):
			if err := c.SignalWorkflow(ctx, p.WorkflowID, "", contract.SignalRetry, nil); err != nil {
				return n, fmt.Errorf("signal retry to %s: %w", p.WorkflowID, err)
			}
			fmt.Fprintf(w, "%s (%s): retry sent — was: %s\n", p.WorkflowID, p.Reference, p.Reason)
			n++
		default: // refused (it synced since it was listed), or Temporal failed
			fmt.Fprintf(w, "%s (%s): %v\n", p.WorkflowID, p.Reference, err)
		}
	}
	return n, nil
}

// retryUpdate sends the retry Update and waits for its answer.
func retryUpdate(ctx context.Context, c client.Client, workflowID string) (string, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: contract.UpdateRetry,
		Args: []any{contract.RetryRequest{}}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", err
	}
	var answer string
	err = h.Get(ctx, &answer)
	return answer, err
}

// unknownUpdate: the workflow registers no such Update (the SDK's words).
func unknownUpdate(err error) bool { return strings.Contains(err.Error(), "unknown update") }

// Replay re-syncs one Aha! record now: it resolves a reference to the numeric
// id through the Aha! API and sends the record's workflow a replay event.
func Replay(ctx context.Context, d *dispatch.Dispatcher, cfg *mapping.Config, kind, idOrRef string) (dispatch.Outcome, error) {
	id := idOrRef
	if !isNumeric(idOrRef) {
		rec, err := NewAhaClient(cfg, ClientOptions{}).GetRecord(ctx, kind, idOrRef)
		if err != nil {
			return dispatch.Outcome{}, fmt.Errorf("resolve %s %s: %w", kind, idOrRef, err)
		}
		id = rec.ID.String()
	}
	typ := ""
	for t, k := range cfg.Aha.RecordTypes {
		if k == kind {
			typ = t
			break
		}
	}
	if typ == "" {
		return dispatch.Outcome{}, fmt.Errorf("kind %q is not in aha.record_types", kind)
	}
	audit := &aha.Audit{ID: aha.FlexID(fmt.Sprintf("replay-%d", time.Now().UnixNano())), AuditAction: "update",
		AuditableType: typ, AuditableID: aha.FlexID(id), CreatedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	return d.Dispatch(ctx, audit, "replay")
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// UpgradeRunning signals upgrade to every running AhaRecordWorkflow and
// FeedbackWorkflow: each continues as new at its next quiet moment, so what a
// deploy changed behind workflow.GetVersion (decided once per run) applies
// to them too. Run it once the new workers poll. It returns how many it asked.
func UpgradeRunning(ctx context.Context, c client.Client) (int, error) {
	q := `(WorkflowType = "AhaRecordWorkflow" OR WorkflowType = "FeedbackWorkflow") AND ExecutionStatus = "Running"`
	n := 0
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			return n, fmt.Errorf("list running workflows: %w", err)
		}
		for _, e := range resp.Executions {
			if err := c.SignalWorkflow(ctx, e.Execution.WorkflowId, "", contract.SignalUpgrade, nil); err != nil {
				return n, fmt.Errorf("signal %s: %w", e.Execution.WorkflowId, err)
			}
			n++
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return n, nil
		}
	}
}
