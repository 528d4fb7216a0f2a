package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/devstack"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/ahacc/ahacc/workflows"
)

// TestSIGTERMDuringBurst is issue 7's drain check: the Aha! simulator posts a
// 500-event burst to a starter process while a worker process syncs; both get
// SIGTERM halfway. The starter answers every request it accepted (no delivery
// sees a reset or an empty reply — only refused connections once it stopped
// listening), the worker exits within its deadline, and after a restart plus
// the reconcile run (which recovers what Aha! could not deliver) every idea
// has exactly one feedback with its final content.
func TestSIGTERMDuringBurst(t *testing.T) {
	starterBin, workerBin := buildBin(t, "./starter"), buildBin(t, "./worker")
	e := startStack(t, func(o *devstack.Options) { o.NoWorker = true; o.ConfigPath = burstConfig(t) })
	const shutdown = 10 * time.Second
	httpAddr := freeAddr(t)
	starterEnv := []string{"AHACC_HTTP_ADDR=" + httpAddr, fmt.Sprintf("AHACC_SHUTDOWN_TIMEOUT=%s", shutdown)}
	w1 := startProc(t, e, workerBin, "worker-1")
	s1 := startProc(t, e, starterBin, "starter-1", starterEnv...)
	aha := e.stack.AhaSim
	hook := "http://" + httpAddr + "/webhooks/aha/" + e.token
	aha.SetWebhook(hook, false)
	mark := aha.LastAuditID()

	const ideas, total = 100, 500
	var refs []ahasim.RecordInfo
	names := map[string]string{}
	for i := 0; i < ideas; i++ {
		info, err := aha.CreateIdea("PRJ1", map[string]any{"name": fmt.Sprintf("SIGTERM idea %03d v0", i)})
		require.NoError(t, err)
		refs = append(refs, info)
		names[info.ReferenceNum] = fmt.Sprintf("SIGTERM idea %03d v0", i)
	}
	var wDur, sDur time.Duration
	waitDeliveries(t, aha, ideas, time.Minute)
	for n := ideas; n < total; n++ {
		if n < total/2 {
			time.Sleep(10 * time.Millisecond) // a steady stream, not one instant batch
		}
		if n == total/2 {
			// Halfway, once the simulator has caught up to about here: both
			// processes get SIGTERM while deliveries and syncs run.
			waitDeliveries(t, aha, n-20, time.Minute)
			done := make(chan time.Duration)
			go func() { done <- w1.term(t, 5*time.Second+shutdown) }()
			sDur = s1.term(t, shutdown+5*time.Second)
			wDur = <-done
			t.Logf("SIGTERM at %d/%d audits: starter exited in %s, worker in %s", n, total, sDur.Round(time.Millisecond), wDur.Round(time.Millisecond))
		}
		ref := refs[n%ideas].ReferenceNum
		name := fmt.Sprintf("SIGTERM idea %03d v%d", n%ideas, n/ideas)
		require.NoError(t, aha.UpdateIdea(ref, map[string]any{"name": name}))
		names[ref] = name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, aha.WaitWebhooks(ctx))

	// Every delivery the starter took was answered; the rest were refused.
	answered, refused := 0, 0
	for _, d := range aha.Deliveries() {
		if d.Suppressed || !inBurst(d.AuditID, mark) {
			continue
		}
		switch {
		case d.Status == http.StatusAccepted || d.Status == http.StatusOK:
			answered++
		case d.Status == 0 && (strings.Contains(d.Error, "refused") || strings.Contains(d.Error, "dial tcp")):
			// Never connected: the listener was closed (refused), or closed
			// with the connection still in its backlog (reset while dialing).
			refused++
		default:
			t.Errorf("delivery %s: status %d, error %q (accepted but not answered?)", d.AuditID, d.Status, d.Error)
		}
	}
	assert.Equal(t, total, answered+refused, "every delivery answered or refused")
	assert.Greater(t, refused, 0, "some deliveries came after the starter stopped")
	t.Logf("deliveries: %d answered, %d refused after the starter stopped", answered, refused)

	// Restart both; the reconcile run recovers the refused deliveries.
	startProc(t, e, workerBin, "worker-2")
	startProc(t, e, starterBin, "starter-2", starterEnv...)
	run, err := e.stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.stack.Env.TaskQueue},
		workflows.ReconcileWorkflow, workflows.ReconcileInput{AfterID: mark})
	require.NoError(t, err)
	var rs workflows.ReconcileState
	require.NoError(t, run.Get(ctx, &rs))
	t.Logf("reconcile: %d audits read, %d recovered", rs.Audits, rs.Accepted)
	assert.GreaterOrEqual(t, rs.Accepted, refused, "reconcile hands over at least every refused delivery")

	states := e.waitQuiet(ideas, false, 3*time.Minute)
	q := summarize(states)
	assert.Zero(t, q.Parked)
	byRef := feedbackByRef(e.stack.CCSim)
	for _, info := range refs {
		list := byRef[info.ReferenceNum]
		if assert.Len(t, list, 1, "exactly one feedback for %s", info.ReferenceNum) {
			assert.Equal(t, names[info.ReferenceNum], content(list[0])["Title"], "final content of %s", info.ReferenceNum)
		}
	}
	assert.Len(t, byRef, ideas)
}
