package e2e

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/devstack"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
)

// Bringing in what exists: 500 ideas made in Aha! while no webhook reached
// ahacc (it was not set up yet) become 500 feedback items, once; a second
// backfill creates none. The Aha! budget is raised (as in the burst tests):
// the budget is tested elsewhere, and at 300 reads a minute this would be a
// two-minute test.
func TestBackfillRecordsCreatesOnce(t *testing.T) {
	cfg := configWith(t, "per_minute: 300   # (default)", "per_minute: 6000",
		"    per_second: 10    # (default)\n    per_minute: 600   # (default)", "    per_second: 100\n    per_minute: 6000",
		"reconcile_every: 5m", "reconcile_every: 24h")
	e := startStack(t, func(o *devstack.Options) {
		o.ConfigPath = cfg
		o.AhaSim = func(so *ahasim.Options) { so.RatePerSecond, so.RatePerMinute = 100, -1 }
	})
	aha, cc := e.stack.AhaSim, e.stack.CCSim
	aha.SetWebhook(e.webhookURL(e.token), true) // nobody had pasted the hook URL yet
	const n = 500
	var refs []string
	for i := 0; i < n; i++ {
		info, err := aha.CreateIdea("PRJ1", map[string]any{"name": fmt.Sprintf("Existing idea %03d", i),
			"custom_fields": map[string]any{"severity": fmt.Sprintf("P%d", 1+i%4)}})
		require.NoError(t, err)
		refs = append(refs, info.ReferenceNum)
	}
	before := len(cc.FeedbackList())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	p, err := app.BackfillRecords(ctx, e.stack.Client, e.stack.Env, "bugs", time.Time{}, io.Discard)
	require.NoError(t, err)
	require.True(t, p.Done)
	require.GreaterOrEqual(t, p.Signalled, n, "every idea handed to its workflow (and the seeded ones)")
	byRef := map[string]int{}
	require.Eventually(t, func() bool {
		byRef = map[string]int{}
		for ref, list := range feedbackByRef(cc) {
			byRef[ref] = len(list)
		}
		for _, ref := range refs {
			if byRef[ref] == 0 {
				return false
			}
		}
		return true
	}, 4*time.Minute, 500*time.Millisecond, "all 500 ideas have their feedback")
	for _, ref := range refs {
		assert.Equal(t, 1, byRef[ref], "%s: one feedback", ref)
	}
	states, err := e.recordStates(ctx)
	require.NoError(t, err)
	e.waitQuiet(len(states), true, 3*time.Minute) // the seeded ideas too
	created := len(cc.FeedbackList()) - before
	t.Logf("backfill: %d records over %d pages handed over, %d feedback created in %s", p.Signalled, p.Pages, created, time.Since(start).Round(time.Millisecond))

	// A second backfill: every record is handed over again; none is created.
	p2, err := app.BackfillRecords(ctx, e.stack.Client, e.stack.Env, "bugs", time.Time{}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, p.Signalled, p2.Signalled)
	e.waitQuiet(len(states), true, 3*time.Minute)
	assert.Equal(t, created, len(cc.FeedbackList())-before, "the second backfill created nothing")
}
