package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	"github.com/ahacc/ahacc/workflows"
)

// TestCentercodeWebhooksWaitOutShortTemporalOutage: Centercode does not
// retry a macro's call, so a status change or a hand run that reaches the
// starter while the Temporal frontend is unreachable for a few seconds must
// wait for it (AHACC_CENTERCODE_HANDOFF_TIMEOUT) rather than be refused.
func TestCentercodeWebhooksWaitOutShortTemporalOutage(t *testing.T) {
	var proxy *cutProxy
	e := startStack(t, func(o *devstack.Options) {
		o.TemporalClientAddr = func(frontend string) (string, error) {
			proxy = startCutProxy(t, frontend)
			return proxy.addr(), nil
		}
	})
	cc := e.stack.CCSim
	var ids []int64
	for i := range 2 {
		ref, err := centercode.New().SubmitFeedback(context.Background(), e.stack.Vars["CC_BUGS_SOURCE_URL"],
			fmt.Appendf(nil, `{"Title": "Outage report %d", "Aha Reference": "outage-%d"}`, i, i))
		require.NoError(t, err)
		ids = append(ids, mustInt(t, ref.ID))
	}

	// 4 s: the client reconnects 4.2-6.3 s after the cut (its backoff), past
	// the half of the 10 s hand-off one SDK call gets.
	const outage = 4 * time.Second
	proxy.cut()
	cutAt := time.Now()
	time.AfterFunc(outage, proxy.restore)
	_, _, err := cc.SetStatus(ids[0], "Will Fix") // fires push-to-aha's rule through the status macro
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ds, err := cc.RunMacro(ctx, "push-to-aha", ids[1])
	require.NoError(t, err)
	require.NotEmpty(t, ds)
	assert.Equal(t, 202, ds[0].StatusCode, "the hand run, answered %s after the cut: %s", time.Since(cutAt).Round(time.Millisecond), ds[0].ResponseBody)

	require.NoError(t, cc.WaitDeliveries(ctx))
	for _, d := range cc.Deliveries() {
		if d.Macro == devstack.CCStatusMacro && d.FeedbackID == ids[0] {
			assert.Contains(t, []int{200, 202}, d.StatusCode, "the status change: %s", d.ResponseBody)
		}
	}
	for _, id := range ids {
		fid := strconv.FormatInt(id, 10)
		require.Eventually(t, func() bool {
			f, _ := cc.Feedback(id)
			return f.CustomData["Aha!"]["aha_reference"] != ""
		}, 30*time.Second, 100*time.Millisecond, "feedback %s pushed to Aha! and linked", fid)
	}
	v, err := e.stack.Client.QueryWorkflow(ctx, contract.FeedbackWorkflowID(strconv.FormatInt(ids[0], 10)), "", contract.QueryState)
	require.NoError(t, err)
	var fs workflows.FeedbackState
	require.NoError(t, v.Get(&fs))
	require.Len(t, fs.Runs, 1)
	assert.Equal(t, "push-to-aha", fs.Runs[0].Macro)
}

// TestProcessesWaitForTemporalAtStart: a worker and a starter started while
// the frontend is unreachable (a restart, compose starting everything at
// once) stay up, not ready, and become ready when it answers; the worker then
// syncs. Before, both exited at once (the invariant harness, seed 122: a
// worker restarted during an outage never came back).
func TestProcessesWaitForTemporalAtStart(t *testing.T) {
	starterBin, workerBin := buildBin(t, "./starter"), buildBin(t, "./worker")
	var proxy *cutProxy
	e := startStack(t, func(o *devstack.Options) {
		o.NoWorker = true
		o.TemporalClientAddr = func(frontend string) (string, error) {
			proxy = startCutProxy(t, frontend)
			return proxy.addr(), nil
		}
	})
	proxy.cut()
	const outage = 5 * time.Second
	restored := time.Now().Add(outage)
	time.AfterFunc(outage, proxy.restore)
	s := launchProc(t, e, starterBin, "starter-1", "AHACC_HTTP_ADDR="+freeAddr(t))
	w := launchProc(t, e, workerBin, "worker-1")
	for _, p := range []*proc{s, w} { // up (it answers), not ready, while the frontend is away
		code := 0
		for code == 0 && time.Until(restored) > 500*time.Millisecond {
			if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
				resp.Body.Close()
				code = resp.StatusCode
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
		assert.Equal(t, http.StatusServiceUnavailable, code, "%s answers /readyz 503 while it waits", p.name)
	}
	s.waitReady(t, 30*time.Second)
	w.waitReady(t, 30*time.Second)
	assert.False(t, time.Now().Before(restored), "ready before the frontend answered")
	assert.Contains(t, readFile(t, w.log), "temporal frontend not answering; waiting for it")

	idea, err := e.stack.AhaSim.CreateIdea("PRJ1", map[string]any{"name": "After the outage", "custom_fields": map[string]any{"severity": "P2"}})
	require.NoError(t, err)
	e.waitState(t, contract.AhaRecordWorkflowID("idea", idea.ID), 30*time.Second, "the idea syncs", func(s workflows.State) bool {
		return s.SyncState == contract.StateSynced && len(s.Links) == 1 && s.Links[0].FeedbackID != ""
	})
}
