package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

// queryState asks one record's workflow for its state.
func (e *e2eEnv) queryState(t *testing.T, wfID string) (workflows.State, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := e.stack.Client.QueryWorkflow(ctx, wfID, "", contract.QueryState)
	if err != nil {
		return workflows.State{}, err
	}
	var st workflows.State
	return st, v.Get(&st)
}

// waitState waits until cond holds for the record's state and returns it.
func (e *e2eEnv) waitState(t *testing.T, wfID string, timeout time.Duration, what string, cond func(workflows.State) bool) workflows.State {
	t.Helper()
	var last workflows.State
	var lastErr error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		st, err := e.queryState(t, wfID)
		last, lastErr = st, err
		if err == nil && cond(st) {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last state %+v, error %v", what, timeout, last, lastErr)
	return last
}

// TestUnmappedValueParksUntilConfigFixed is issue 4's fourth "Done when"
// bullet: an idea whose severity is P0 (examples/ahacc.yaml maps P1..P4 onto
// the Severity choice's options, without a fallback) parks with a reason that
// names the value; after the worker loads a config whose map gains P0 and
// `retry-parked --all` runs, it syncs once.
func TestUnmappedValueParksUntilConfigFixed(t *testing.T) {
	e := startStack(t, nil)
	ctx := context.Background()
	ft := e.stack.Config.FeedbackType(burstFeedback)
	require.NotNil(t, ft)

	idea, err := e.stack.AhaSim.CreateIdea("PRJ1", map[string]any{"name": "Crashes on start", "custom_fields": map[string]any{"severity": "P0"}})
	require.NoError(t, err)
	wfID := contract.AhaRecordWorkflowID("idea", idea.ID)

	parked := e.waitState(t, wfID, 30*time.Second, "the P0 idea parks", func(s workflows.State) bool { return s.SyncState == contract.StateParked })
	t.Logf("parked reason: %s", parked.ParkedReason)
	assert.Contains(t, parked.ParkedReason, "P0", "the reason names the value")
	assert.Contains(t, parked.ParkedReason, "Severity", "the reason names the element")
	assert.Equal(t, idea.ReferenceNum, parked.Reference)
	assert.Equal(t, 1, parked.Syncs)
	assert.Zero(t, parked.Writes)
	assert.Empty(t, feedbackByRef(e.stack.CCSim)[idea.ReferenceNum], "nothing was sent")

	// Visibility finds it by SyncState = "Parked" (what `starter parked` lists).
	var list []app.ParkedRecord
	require.Eventually(t, func() bool {
		list, err = app.ListParked(ctx, e.stack.Client, "")
		return err == nil && len(list) == 1
	}, 15*time.Second, 100*time.Millisecond, "the parked list shows the record (last error %v)", err)
	assert.Equal(t, wfID, list[0].WorkflowID)
	assert.Equal(t, idea.ReferenceNum, list[0].Reference)
	assert.Equal(t, parked.ParkedReason, list[0].Reason)

	// The fixed config: the same file with P0 in the Severity map.
	fixedPath := configWith(t, "map: {P1: Critical, P2: Major, P3: Minor, P4: Trivial}",
		"map: {P0: Critical, P1: Critical, P2: Major, P3: Minor, P4: Trivial}")
	fixed, err := mapping.LoadFileWithOptions(fixedPath, mapping.LoadOptions{LookupEnv: e.lookup})
	require.NoError(t, err)
	require.NotEqual(t, e.stack.Config.ShortHash(), fixed.ShortHash())
	e.stack.Worker.Reload(fixed)

	var out bytes.Buffer
	n, err := app.RetryParked(ctx, e.stack.Client, "", &out) // starter retry-parked --all
	require.NoError(t, err)
	require.Equal(t, 1, n, out.String())
	assert.Contains(t, out.String(), wfID)

	synced := e.waitState(t, wfID, 30*time.Second, "the retried idea syncs", func(s workflows.State) bool {
		return s.SyncState == contract.StateSynced && !s.Pending
	})
	// Past the debounce window nothing else happens: it synced once.
	time.Sleep(e.stack.Config.Sync.Debounce + time.Second)
	final, err := e.queryState(t, wfID)
	require.NoError(t, err)
	assert.Equal(t, synced.Syncs, final.Syncs)
	assert.Equal(t, 2, final.Syncs, "one parked sync, one after the retry")
	assert.Equal(t, 1, final.Writes, "one write: the create")
	assert.Empty(t, final.ParkedReason)
	assert.Equal(t, fixed.ShortHash(), final.ConfigHash, "synced with the reloaded config")

	fb := feedbackByRef(e.stack.CCSim)[idea.ReferenceNum]
	require.Len(t, fb, 1, "exactly one feedback")
	assert.Equal(t, "Critical", fb[0].Elements["Severity"])
	assert.Equal(t, "Crashes on start", fb[0].Elements["Title"])
	assert.Equal(t, 1, e.stack.CCSim.Inspect(true).FeedbackCount)

	// Nothing is parked any more; a second retry-parked finds nothing.
	require.Eventually(t, func() bool {
		list, err = app.ListParked(ctx, e.stack.Client, "")
		return err == nil && len(list) == 0
	}, 15*time.Second, 100*time.Millisecond)
	n, err = app.RetryParked(ctx, e.stack.Client, "", &out)
	require.NoError(t, err)
	assert.Zero(t, n)
	t.Logf("P0: parked after %d sync, synced after retry-parked with config %s; %d feedback, %d writes",
		parked.Syncs, fixed.ShortHash(), len(fb), final.Writes)
}

// TestDeletedRecordFoundGoneAppliesOnDestroy: a linked idea changes and is
// deleted in Aha! before its follow-up sync fetches it. The fetch answers 404,
// and Aha!'s history holds the deletion: the record is gone, so on_destroy is
// applied at once and the workflow ends — no park for an operator. The
// destroy webhook that arrives after starts a fresh run that has nothing to
// tell (no second comment).
func TestDeletedRecordFoundGoneAppliesOnDestroy(t *testing.T) {
	e := startStack(t, nil)
	sim := e.stack.AhaSim
	sim.SetWebhook(e.webhookURL(e.token), true) // the test posts each webhook itself
	mark := sim.LastAuditID()
	idea, err := sim.CreateIdea("PRJ1", map[string]any{"name": "Short-lived idea"})
	require.NoError(t, err)
	wfID := contract.AhaRecordWorkflowID("idea", idea.ID)
	payloads := sim.WebhookPayloads(mark)
	require.Len(t, payloads, 1)
	post := func(body []byte) {
		t.Helper()
		ans, err := e.post(body)
		require.NoError(t, err)
		require.Equal(t, 202, ans.Code, ans.Body)
		require.Equal(t, "accepted", ans.Status, ans.Body)
	}
	post(payloads[0])
	linked := e.waitState(t, wfID, 30*time.Second, "the idea syncs", func(s workflows.State) bool {
		return s.SyncState == contract.StateSynced && len(s.Links) == 1 && s.Links[0].FeedbackID != ""
	})

	require.NoError(t, sim.UpdateIdea(idea.ID, map[string]any{"name": "Short-lived idea, renamed"}))
	require.NoError(t, sim.DeleteIdea(idea.ID))
	payloads = sim.WebhookPayloads(mark)
	require.Len(t, payloads, 3)
	var destroy struct {
		Audit struct {
			AuditAction string `json:"audit_action"`
		} `json:"audit"`
	}
	require.NoError(t, json.Unmarshal(payloads[2], &destroy))
	require.Equal(t, "destroy", destroy.Audit.AuditAction)

	// The update arrives; its sync finds the record deleted: on_destroy.
	post(payloads[1])
	fid := mustInt(t, linked.Links[0].FeedbackID)
	comments := func() []string {
		fb, ok := e.stack.CCSim.Feedback(fid)
		require.True(t, ok)
		var out []string
		for _, c := range fb.Comments {
			out = append(out, c.Text)
		}
		return out
	}
	require.Eventually(t, func() bool { return len(comments()) == 1 }, 30*time.Second, 100*time.Millisecond, "on_destroy: comment, once")
	assert.Equal(t, e.stack.Config.FeedbackType(burstFeedback).DestroyComment, comments()[0])
	final := e.waitState(t, wfID, 15*time.Second, "the record is done", func(s workflows.State) bool {
		return s.Destroyed && s.SyncState == contract.StateSynced && !s.Pending
	})
	assert.Empty(t, final.ParkedReason)

	// The destroy webhook arrives after: a fresh run, nothing left to tell.
	post(payloads[2])
	time.Sleep(e.stack.Config.Sync.Debounce + time.Second)
	assert.Len(t, comments(), 1, "no second comment")
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, json.Unmarshal([]byte(s), &n), s)
	return n
}
