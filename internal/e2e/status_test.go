package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	"github.com/ahacc/ahacc/workflows"
)

// TestFromAhaStatusSetsCentercodeWithoutEcho is status_rules.from_aha end to
// end. This test's config maps Aha!'s "Shipped" to "Will Fix", a Centercode
// status that runs push-to-aha when a person sets it, and names the listener
// that sets it (the dev stack makes one per status). An idea synced to bugs
// feedback moves to Shipped in Aha!: the feedback becomes Will Fix, once; the
// status change Centercode reports back is recognised as ahacc's own and runs
// no macro (no second idea); a later rename of the idea does not set the
// status again.
func TestFromAhaStatusSetsCentercodeWithoutEcho(t *testing.T) {
	cfg := configWith(t, "    Shipped: Fixed\n", "    Shipped: Will Fix\n",
		"    Won't Fix: ${CC_STATUS_WONT_FIX_LISTENER_URL}\n", "    Won't Fix: ${CC_STATUS_WONT_FIX_LISTENER_URL}\n    Will Fix: ${CC_STATUS_WILL_FIX_LISTENER_URL}\n")
	e := startStack(t, func(o *devstack.Options) { o.ConfigPath = cfg })
	aha, cc := e.stack.AhaSim, e.stack.CCSim

	idea, err := aha.CreateIdea("PRJ1", map[string]any{"name": "Export stalls", "custom_fields": map[string]any{"severity": "P2"}})
	require.NoError(t, err)
	wfID := contract.AhaRecordWorkflowID("idea", idea.ID)
	st := e.waitState(t, wfID, 30*time.Second, "the idea syncs", func(s workflows.State) bool {
		return s.SyncState == contract.StateSynced && len(s.Links) == 1 && s.Links[0].FeedbackID != ""
	})
	fid, err := strconv.ParseInt(st.Links[0].FeedbackID, 10, 64)
	require.NoError(t, err)
	fb, ok := cc.Feedback(fid)
	require.True(t, ok)
	require.NotEqual(t, "Will Fix", fb.Status)
	ideas := aha.Counts().Ideas
	// The dev stack's listener whose macro sets Will Fix.
	setWillFix := func() int64 { return cc.ListenerWrites().ByListener["set-will-fix"] }

	require.NoError(t, aha.UpdateIdea(idea.ID, map[string]any{"workflow_status": "Shipped"}))
	e.waitState(t, wfID, 30*time.Second, "the record sets the status", func(s workflows.State) bool {
		return len(s.Links) == 1 && s.Links[0].LastStatus == "Will Fix"
	})
	fb, _ = cc.Feedback(fid)
	assert.Equal(t, "Will Fix", fb.Status)
	assert.EqualValues(t, 1, setWillFix(), "the status, set once through its listener")

	// Centercode reports the change (its ahacc-status macro fires on every
	// status change); the feedback's workflow takes it as the echo it was
	// told to expect.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cc.WaitDeliveries(ctx))
	var reported []int
	for _, d := range cc.Deliveries() {
		if d.Macro == devstack.CCStatusMacro && d.FeedbackID == fid {
			reported = append(reported, d.StatusCode)
		}
	}
	require.Len(t, reported, 1, "Centercode reported the change once")
	assert.Contains(t, []int{200, 202}, reported[0])
	var fs workflows.FeedbackState
	require.Eventually(t, func() bool {
		v, err := e.stack.Client.QueryWorkflow(ctx, contract.FeedbackWorkflowID(st.Links[0].FeedbackID), "", contract.QueryState)
		return err == nil && v.Get(&fs) == nil && fs.Status == "Will Fix"
	}, 15*time.Second, 100*time.Millisecond, "the feedback's workflow saw the change")
	assert.Equal(t, 1, fs.Echoes, "recognised as ahacc's own")
	assert.Empty(t, fs.Runs, "no macro ran")
	assert.Empty(t, fs.Expected, "the expectation was used up")

	// A rename syncs the feedback's fields but leaves its status alone.
	require.NoError(t, aha.UpdateIdea(idea.ID, map[string]any{"name": "Export stalls on large files"}))
	require.Eventually(t, func() bool {
		fb, _ = cc.Feedback(fid)
		return content(fb)["Title"] == "Export stalls on large files"
	}, 30*time.Second, 100*time.Millisecond, "the rename reaches the feedback")
	time.Sleep(e.stack.Config.Sync.Debounce + time.Second)
	fb, _ = cc.Feedback(fid)
	assert.Equal(t, "Will Fix", fb.Status)
	assert.EqualValues(t, 1, setWillFix(), "the status was not sent again")
	assert.Equal(t, ideas, aha.Counts().Ideas, "no idea was pushed back to Aha!")
	final, err := e.queryState(t, wfID)
	require.NoError(t, err)
	t.Logf("idea %s → feedback %d: status %q, %d writes, echoes %d, macro runs %d",
		idea.ReferenceNum, fid, fb.Status, final.Writes, fs.Echoes, len(fs.Runs))
}
