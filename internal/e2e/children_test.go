package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/workflows"
)

// Aha! audits a description edit on the idea's note and a vote on an
// endorsement, never on the idea: both reach the idea's feedback (the
// webhook names the parent only by its URL, so an AuditParentWorkflow finds
// its id), and so do the same audits read back by reconcile (REST audits
// name the parent by associated_id).
func TestDescriptionEditsAndVotesReachTheFeedback(t *testing.T) {
	e := startStack(t, nil)
	aha, cc := e.stack.AhaSim, e.stack.CCSim
	idea, err := aha.CreateIdea("PRJ1", map[string]any{"name": "Dark mode", "custom_fields": map[string]any{"severity": "P3"}})
	require.NoError(t, err)
	wfID := contract.AhaRecordWorkflowID("idea", idea.ID)
	st := e.waitState(t, wfID, 30*time.Second, "the idea syncs", func(s workflows.State) bool {
		return s.SyncState == contract.StateSynced && len(s.Links) == 1 && s.Links[0].FeedbackID != ""
	})
	fid := mustInt(t, st.Links[0].FeedbackID)

	require.NoError(t, aha.UpdateIdea(idea.ID, map[string]any{"description": "<p>Please add a dark theme</p>"}))
	require.Eventually(t, func() bool {
		f, _ := cc.Feedback(fid)
		return content(f)["Description"] == "Please add a dark theme"
	}, 30*time.Second, 100*time.Millisecond, "the description edit (a note audit) reaches the feedback")

	require.NoError(t, aha.Endorse(idea.ID, "fan@example.com"))
	require.NoError(t, aha.Endorse(idea.ID, "other@example.com"))
	require.Eventually(t, func() bool {
		f, _ := cc.Feedback(fid)
		return content(f)["Votes"] == "2"
	}, 30*time.Second, 100*time.Millisecond, "the votes (endorsement audits) reach the feedback")
	for ref, fs := range feedbackByRef(cc) {
		require.Len(t, fs, 1, "feedback of %s doubled", ref)
	}

	// Missed webhooks: reconcile reads the same kinds of audits back (they
	// name the idea by associated_id) and hands them to the idea.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mark := aha.LastAuditID()
	aha.SetWebhook(e.stack.HTTPURL+"/webhooks/aha/never-called", true)
	require.NoError(t, aha.UpdateIdea(idea.ID, map[string]any{"description": "<p>Dark theme, and high contrast</p>"}))
	require.NoError(t, aha.Endorse(idea.ID, "third@example.com"))
	run, err := e.stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.stack.Env.TaskQueue},
		workflows.ReconcileWorkflow, workflows.ReconcileInput{AfterID: mark})
	require.NoError(t, err)
	var rs workflows.ReconcileState
	require.NoError(t, run.Get(ctx, &rs))
	require.Equal(t, 2, rs.Accepted, "the note and the endorsement audits")
	require.Eventually(t, func() bool {
		f, _ := cc.Feedback(fid)
		c := content(f)
		return c["Description"] == "Dark theme, and high contrast" && c["Votes"] == "3"
	}, 30*time.Second, 100*time.Millisecond, "reconciled child audits reach the feedback")
	final, err := e.queryState(t, wfID)
	require.NoError(t, err)
	t.Logf("idea %s → feedback %d: %d events, %d writes; Votes %s", idea.ReferenceNum, fid, final.Events, final.Writes,
		strconv.Quote(func() string { f, _ := cc.Feedback(fid); return content(f)["Votes"] }()))
}
