package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/ahacc/ahacc/internal/sandbox/simkit"
	"github.com/ahacc/ahacc/workflows"
)

// Burst shape (issue 4, "Done when"): 500 webhook deliveries for 100 ideas —
// 350 audits the Aha! simulator delivers itself (100 creates, updates, one
// destroy; description edits arrive as "note" audits, routed to their idea)
// plus 150 re-posts of already-made payloads (30%), shuffled so
// some arrive before their original and some long after it.
const (
	burstIdeas      = 100
	burstOriginals  = 350
	burstDuplicates = 150
	burstFeedback   = "bugs" // the feedback type examples/ahacc.yaml feeds with ideas
	deletedIdea     = 7      // index of the idea deleted mid-burst
)

var ideaStatuses = []string{"New", "Under consideration", "In progress", "Planned", "Shipped", "Will not implement"}

// burstConfig is examples/ahacc.yaml with the worker's Aha! budget raised
// from 300 to 1,200 requests a minute. At Aha!'s real 300/min the budget
// binds: a burst needs about 300 Aha! calls (hydrations, their retries after
// injected faults and 429s), so each burst test would take over a minute on
// the budget alone. The budget itself is tested in internal/ratelimit; these
// tests are about loss and duplicates, and still meet 429 bursts from the
// simulator (below the budget's 20/s).
//
// Reconcile runs once a day (at 00:00 UTC; the Schedule's interval counts from
// the epoch), not every 5 minutes: a reconcile that ran at a 5-minute mark
// during the burst handed on audits the simulator had not delivered yet, and
// their webhooks were then, rightly, answered duplicate, which the burst's
// count of "accepted once per routed audit" cannot tell from a lost one (CI
// saw 282 of 294 accepted across 20:00:00).
func burstConfig(t *testing.T) string {
	return configWith(t, "per_minute: 300   # (default)", "per_minute: 1200",
		"reconcile_every: 5m", "reconcile_every: 24h")
}

// burst is one run of the burst against a stack.
type burst struct {
	e     *e2eEnv
	rng   *rand.Rand
	mark  string // last audit id before the burst
	ideas []ahasim.RecordInfo
	// per idea: its current name, status index and severity
	names    []string
	status   []int
	severity []int
	audits   int // audits made (= webhooks the simulator delivers)
	notes    int // of which "note" audits (routed to their idea)
	posted   answerCounts
	wg       sync.WaitGroup
	start    time.Time
	relax    *time.Timer // ends the 429 burst
	// refusals: processes die mid-burst (the cluster fault test), so some
	// deliveries are refused (5xx) or fail; reconcile recovers them before
	// the checks, which then count what reached the workflows, not the door.
	refusals bool
}

// burstHooks lets a test act in the middle of the burst.
type burstHooks struct {
	// midBurst runs once half of the simulator's deliveries were made, while
	// the rest and the first wave of duplicates are still in flight.
	midBurst func(b *burst)
}

// runBurst drives the whole burst with faults on and returns when every
// delivery was made and every re-post answered (not when the records are
// synced: the caller waits for quiet).
func runBurst(t *testing.T, e *e2eEnv, h burstHooks) *burst {
	t.Helper()
	aha, cc := e.stack.AhaSim, e.stack.CCSim
	require.NotNil(t, aha)
	require.NotNil(t, cc)
	b := &burst{e: e, rng: rand.New(rand.NewSource(42)), mark: aha.LastAuditID(), start: time.Now()}

	// Faults on both sides: 20% of calls answer 500 or 504. Aha!'s account
	// limit drops to 1 request/s for the first 10 s of the burst, well below
	// the worker's own budget (20/s and 300/min from the config), so the
	// creates' fetches meet a burst of 429s; then it is 20/s.
	faults := simkit.Faults{ErrorRate: 0.2, ErrorCodes: []int{http.StatusInternalServerError, http.StatusGatewayTimeout}, Seed: 7}
	aha.SetFaults(faults)
	cc.SetFaults(faults)
	aha.SetRateLimits(1, 0)
	b.relax = time.AfterFunc(10*time.Second, func() { aha.SetRateLimits(20, 0) })
	t.Cleanup(func() { b.relax.Stop() })

	// 100 creates.
	for i := 0; i < burstIdeas; i++ {
		name := fmt.Sprintf("E2E burst idea %03d", i)
		sev := i % 4
		info, err := aha.CreateIdea("PRJ1", map[string]any{
			"name":          name,
			"description":   fmt.Sprintf("<p>First description of idea %d.</p>", i),
			"custom_fields": map[string]any{"severity": fmt.Sprintf("P%d", sev+1)},
		})
		require.NoError(t, err)
		b.ideas = append(b.ideas, info)
		b.names = append(b.names, name)
		b.status = append(b.status, 0)
		b.severity = append(b.severity, sev)
		b.audits++
	}

	// Updates, first half; then the first wave of duplicates, the mid-burst
	// action, the delete, the second half and the second wave.
	updatesTotal := burstOriginals - burstIdeas - 1 // one audit left for the destroy
	half := updatesTotal / 2
	b.update(t, half, -1)
	b.duplicates(burstDuplicates / 2)
	waitDeliveries(t, aha, burstOriginals/2, 60*time.Second)
	if h.midBurst != nil {
		h.midBurst(b)
	}
	b.waitLinked(t, deletedIdea, 200*time.Second)
	require.NoError(t, aha.DeleteIdea(b.ideas[deletedIdea].ID))
	b.audits++
	b.update(t, updatesTotal-half, deletedIdea)
	require.Equal(t, burstOriginals, b.audits, "audits made")
	b.duplicates(burstDuplicates - burstDuplicates/2)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, aha.WaitWebhooks(ctx))
	b.wg.Wait()
	return b
}

// update makes n audits by changing random ideas (never skip).
func (b *burst) update(t *testing.T, n, skip int) {
	t.Helper()
	aha := b.e.stack.AhaSim
	for made := 0; made < n; {
		i := b.rng.Intn(burstIdeas)
		if i == skip || (skip >= 0 && i == deletedIdea) {
			continue
		}
		id := b.ideas[i].ID
		var fields map[string]any
		audits := 1
		switch k := b.rng.Intn(4); {
		case k == 0:
			b.names[i] = fmt.Sprintf("E2E burst idea %03d rev %d", i, b.audits)
			fields = map[string]any{"name": b.names[i]}
		case k == 1:
			b.status[i] = (b.status[i] + 1 + b.rng.Intn(len(ideaStatuses)-1)) % len(ideaStatuses)
			fields = map[string]any{"workflow_status": ideaStatuses[b.status[i]]}
		case k == 2:
			b.severity[i] = (b.severity[i] + 1 + b.rng.Intn(3)) % 4
			fields = map[string]any{"custom_fields": map[string]any{"severity": fmt.Sprintf("P%d", b.severity[i]+1)}}
		default:
			if made+2 > n {
				continue // a name+description change makes two audits
			}
			b.names[i] = fmt.Sprintf("E2E burst idea %03d rev %d", i, b.audits)
			fields = map[string]any{"name": b.names[i], "description": fmt.Sprintf("<p>Described at audit %d.</p>", b.audits)}
			audits = 2 // the idea's update and the note's
			b.notes++
		}
		require.NoError(t, aha.UpdateIdea(id, fields))
		made += audits
		b.audits += audits
	}
}

// duplicates re-posts n payloads the simulator made (or is about to deliver),
// shuffled, from 8 concurrent senders, in the background.
func (b *burst) duplicates(n int) {
	payloads := b.e.stack.AhaSim.WebhookPayloads(b.mark)
	picks := b.rng.Perm(len(payloads))[:n]
	jobs := make(chan []byte, n)
	for _, p := range picks {
		jobs <- payloads[p]
	}
	close(jobs)
	for w := 0; w < 8; w++ {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for body := range jobs {
				// 409: the same audit's other delivery is being handed over
				// right now; a sender tries again after Retry-After (here
				// sooner), as Aha! or a proxy would.
				ans, err := b.e.post(body)
				for try := 0; err == nil && ans.Code == http.StatusConflict && try < 20; try++ {
					time.Sleep(250 * time.Millisecond)
					ans, err = b.e.post(body)
				}
				b.posted.add(ans, err)
			}
		}()
	}
}

// waitLinked waits until idea i's workflow has created its feedback.
func (b *burst) waitLinked(t *testing.T, i int, timeout time.Duration) {
	t.Helper()
	wfID := contract.AhaRecordWorkflowID("idea", b.ideas[i].ID)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := b.e.stack.Client.QueryWorkflow(ctx, wfID, "", contract.QueryState)
		if err != nil {
			return false
		}
		var st workflows.State
		if v.Get(&st) != nil {
			return false
		}
		for _, l := range st.Links {
			if l.FeedbackID != "" {
				return true
			}
		}
		return false
	}, timeout, 250*time.Millisecond, "idea %d (%s) gets its feedback", i, b.ideas[i].ReferenceNum)
}

func waitDeliveries(t *testing.T, aha *ahasim.Server, n int, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return len(aha.Deliveries()) >= n }, timeout, 20*time.Millisecond,
		"the simulator delivers %d webhooks", n)
}

// verifyBurst waits for quiet and checks the promises: exactly one
// feedback per idea with the content of the idea's final state, on_destroy
// applied to the deleted idea's feedback, description edits (note audits)
// handed to their idea, every
// delivery answered 2xx, every routed audit counted once. It returns the
// summed record states.
func verifyBurst(t *testing.T, b *burst, quietTimeout time.Duration, redisFlushed bool) quietState {
	t.Helper()
	e := b.e
	aha, cc := e.stack.AhaSim, e.stack.CCSim
	if b.refusals {
		// Reconcile recovers what was refused. It hands over only audits Redis
		// does not hold as done, so it may hand over at most the audits whose
		// delivery got no 2xx: an audit answered 2xx but never handed over (a
		// starter acknowledging before Temporal took it) would show up here.
		// (No waiting for quiet first: a record whose only delivery was
		// refused has no workflow until reconcile.)
		notTaken := 0
		for _, d := range aha.Deliveries() {
			if !d.Suppressed && inBurst(d.AuditID, b.mark) && d.Status != http.StatusOK && d.Status != http.StatusAccepted {
				notTaken++
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		rr, err := e.stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.stack.Env.TaskQueue},
			workflows.ReconcileWorkflow, workflows.ReconcileInput{AfterID: b.mark})
		require.NoError(t, err)
		var rs workflows.ReconcileState
		require.NoError(t, rr.Get(ctx, &rs), "reconcile")
		cancel()
		t.Logf("reconcile after the burst: %d audits read, %d handed over; %d deliveries had no 2xx", rs.Audits, rs.Accepted, notTaken)
		assert.LessOrEqual(t, rs.Accepted, notTaken, "reconcile handed over an audit whose delivery was answered 2xx: acknowledged, never handed to Temporal")
	}
	states := e.waitQuiet(burstIdeas, false, quietTimeout)
	elapsed := time.Since(b.start)

	// Faults off for the checks (reading the expected content from Aha!).
	injectedAha, injectedCC := aha.Injector().Stats(), cc.Inspect(true).Faults
	aha.SetFaults(simkit.Faults{})
	cc.SetFaults(simkit.Faults{})
	b.relax.Stop()
	aha.SetRateLimits(1000, 0)
	ahaStats := aha.RequestStats()

	// Every delivery was answered 2xx: nothing lost at the door.
	var simCodes = map[int]int{}
	deliveries := 0
	for _, d := range aha.Deliveries() {
		if d.Suppressed || !inBurst(d.AuditID, b.mark) {
			continue
		}
		deliveries++
		simCodes[d.Status]++
	}
	// A copy that lands while another copy of the same audit is being handed
	// over is answered 409 (in flight, not done: the sender may retry); the
	// copy in flight is the one that counts. On the cluster a hand-off takes
	// longer, so a re-post meets its original there more often.
	require.Equal(t, burstOriginals, deliveries, "the simulator's deliveries")
	for code, n := range simCodes {
		if b.refusals && (code >= 500 || code == 0) {
			continue // refused or failed while a process was down: recovered by reconcile, checked below
		}
		assert.Contains(t, []int{http.StatusOK, http.StatusAccepted, http.StatusConflict}, code, "%d deliveries answered %d", n, code)
	}
	if !b.refusals {
		assert.Zero(t, b.posted.Fail+b.posted.Other, "re-posts: %s", b.posted.String())
		assert.Equal(t, burstDuplicates, b.posted.Accepted+b.posted.Duplicate+b.posted.InFlight+b.posted.Ignored, "re-posts: %s", b.posted.String())
	}

	// One workflow per idea, none for anything else; every routed audit
	// reached its workflow exactly once.
	routed := burstOriginals // note audits count on their idea
	q := summarize(states)
	want := map[string]bool{}
	for _, info := range b.ideas {
		want[contract.AhaRecordWorkflowID("idea", info.ID)] = true
	}
	for id := range states {
		assert.True(t, want[id], "unexpected record workflow %s", id)
	}
	assert.Equal(t, routed, q.Events, "routed audits counted once by the workflows")
	if !redisFlushed && !b.refusals {
		assert.Zero(t, q.Duplicates, "with Redis intact, no duplicate reaches a workflow")
		// Of the 500 posts, those of note audits are ignored; of the rest,
		// each routed audit is accepted once and answered duplicate after.
		assert.Equal(t, routed, simCodes[http.StatusAccepted]+b.posted.Accepted, "accepted once per routed audit")
		assert.Equal(t, burstOriginals+burstDuplicates-b.posted.Ignored-routed,
			simCodes[http.StatusOK]+simCodes[http.StatusConflict]+b.posted.Duplicate+b.posted.InFlight,
			"every other post of a routed audit answered duplicate (or in flight)")
	}

	// Exactly one feedback per idea, and nothing else.
	byRef := feedbackByRef(cc)
	total := 0
	for ref, list := range byRef {
		total += len(list)
		assert.Len(t, list, 1, "feedback for %s", ref)
	}
	assert.Equal(t, burstIdeas, total, "feedback in Centercode")
	assert.Equal(t, burstIdeas, len(byRef), "distinct references")

	// Each live idea's feedback carries the idea's final state; the deleted
	// one carries the destroy comment.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := e.ahaClient()
	mismatches, compared := 0, 0
	var keys []string
	for i, info := range b.ideas {
		list := byRef[info.ReferenceNum]
		if !assert.Len(t, list, 1, info.ReferenceNum) {
			continue
		}
		got := content(list[0])
		st := states[contract.AhaRecordWorkflowID("idea", info.ID)]
		if i == deletedIdea {
			assert.True(t, st.Destroyed, "%s: %+v", info.ReferenceNum, st)
			ft := e.stack.Config.FeedbackType(burstFeedback)
			if assert.Len(t, list[0].Comments, 1, "on_destroy: comment, once, through the comment listener") {
				assert.Equal(t, ft.DestroyComment, list[0].Comments[0].Text)
			}
			continue
		}
		raw, err := client.idea(ctx, info.ReferenceNum)
		require.NoError(t, err, info.ReferenceNum)
		wantBody := expectedBody(t, e.stack.Config, burstFeedback, raw)
		require.Equal(t, b.names[i], wantBody["Title"], "the test's own record of idea %d", i)
		require.Equal(t, ideaStatuses[b.status[i]], rawStatus(t, raw), "the test's own record of idea %d", i)
		if keys == nil {
			for k := range wantBody {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		}
		compared += len(wantBody)
		for k, v := range wantBody {
			if got[k] != v {
				mismatches++
				assert.Equal(t, v, got[k], "%s element %q (feedback %d)", info.ReferenceNum, k, list[0].ID)
			}
		}
	}
	assert.Zero(t, mismatches, "elements differing from the ideas' final state")
	t.Logf("compared %d element values of %d live ideas with their final Aha! state (elements: %s)", compared, burstIdeas-1, strings.Join(keys, ", "))

	ccc := centercodeCounts(cc)
	t.Logf("burst summary: %d deliveries (%d by the Aha! simulator: %v; %d re-posts: %s) for %d ideas, %d of them note audits; "+
		"Centercode: %d feedback (%d distinct refs), %d creates, %d listener writes, %d requests, %d injected errors; "+
		"Aha!: %d requests, %d answered 429, %d injected errors; workflows: %d records, %d events, %d duplicates seen in-workflow, %d syncs, %d writes; "+
		"quiet %s after the burst began",
		deliveries+burstDuplicates, deliveries, simCodes, burstDuplicates, b.posted.String(), burstIdeas, b.notes,
		total, len(byRef), ccc.SourceCreates, ccc.ListenerWrites, ccc.Requests, injectedCC.Errors,
		ahaStats.Total, ahaStats.RateLimited, injectedAha.Errors, q.Records, q.Events, q.Duplicates, q.Syncs, q.Writes,
		elapsed.Round(time.Millisecond))
	return q
}

// rawStatus reads workflow_status.name from an Aha! record.
func rawStatus(t *testing.T, raw []byte) string {
	t.Helper()
	var rec struct {
		WorkflowStatus struct {
			Name string `json:"name"`
		} `json:"workflow_status"`
	}
	require.NoError(t, json.Unmarshal(raw, &rec))
	return rec.WorkflowStatus.Name
}

// inBurst reports whether an audit id was made after mark.
func inBurst(id, mark string) bool {
	if mark == "" {
		return true
	}
	if len(id) != len(mark) {
		return len(id) > len(mark)
	}
	return strings.Compare(id, mark) > 0
}

// TestBurstUnderFaults is issue 4's first "Done when" bullet.
func TestBurstUnderFaults(t *testing.T) {
	e := startStack(t, func(o *devstack.Options) { o.ConfigPath = burstConfig(t) })
	b := runBurst(t, e, burstHooks{})
	verifyBurst(t, b, 180*time.Second, false)
}

// TestBurstRedisFlushed is issue 4's third "Done when" bullet: Redis loses
// every delivery id in the middle of the burst; re-posts of audits it forgot
// are accepted again and handed to the workflows, whose seen-id sets drop
// them: still exactly one feedback per idea.
func TestBurstRedisFlushed(t *testing.T) {
	e := startStack(t, func(o *devstack.Options) { o.ConfigPath = burstConfig(t) })
	var flushedKeys int64
	b := runBurst(t, e, burstHooks{midBurst: func(b *burst) {
		ctx := context.Background()
		n, err := e.rdb.DBSize(ctx).Result()
		require.NoError(t, err)
		require.NoError(t, e.rdb.FlushDB(ctx).Err())
		flushedKeys = n
		t.Logf("Redis FLUSHDB at %s into the burst: %d delivery ids forgotten", time.Since(b.start).Round(time.Millisecond), n)
	}})
	q := verifyBurst(t, b, 180*time.Second, true)
	require.Positive(t, flushedKeys, "the flush forgot delivery ids")
	// The flush mattered: some re-posts of audits made before it were
	// accepted again, and the workflows' seen-id sets dropped them.
	assert.Positive(t, q.Duplicates, "duplicates caught inside the workflows")
	t.Logf("after the flush: %d re-posts accepted again, %d duplicates dropped by the workflows' seen-id sets", b.posted.Accepted, q.Duplicates)
}
