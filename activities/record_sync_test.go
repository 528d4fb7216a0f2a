package activities

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	ccsim "github.com/ahacc/ahacc/internal/sandbox/centercode"
	"github.com/ahacc/ahacc/internal/sandbox/simkit"
	"github.com/ahacc/ahacc/mapping"
)

// syncRig is an Aha! and a Centercode simulator and the activities wired to
// both, as the worker wires them.
type syncRig struct {
	t    *testing.T
	acts *Activities
	aha  *ahasim.Server
	cc   *ccsim.Server
}

func newSyncRig(t *testing.T, ccTimeout time.Duration) (*syncRig, string) {
	as := mcAhaSim(t)
	cc, err := ccsim.New(ccsim.DefaultConfig())
	require.NoError(t, err)
	require.NoError(t, cc.Start())
	t.Cleanup(func() { _ = cc.Close() })
	vars := map[string]string{"CC_BUGS_SOURCE_URL": cc.SourceURL("beta", "bugs"), "CC_LOOKUP_URL": cc.FeedbackURL("beta"),
		"CC_FEEDBACK_LISTENER_URL": cc.ListenerURL("feedback-data"), "CC_PROJECT_KEY": "beta"}
	acts := New(Deps{Configs: NewConfigStore(mcConfig(t, vars)), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Centercode: centercode.New(centercode.WithHTTPClient(&http.Client{Timeout: ccTimeout}))})
	acts.Aha = ahaReader{aha.New(as.URL(), mcAhaKey)}
	idea, err := as.CreateIdea("PRJ1", map[string]any{"name": "Export hangs", "description": "<p>Steps: open the big project</p>"})
	require.NoError(t, err)
	return &syncRig{t: t, acts: acts, aha: as, cc: cc}, idea.ID
}

// sync runs SyncRecord once from state.
func (r *syncRig) sync(state RecordSync) (SyncRecordResult, error) {
	v, err := mcEnv(r.acts).ExecuteActivity(r.acts.SyncRecord, SyncRecordRequest{Record: state, Version: 4})
	if err != nil {
		return SyncRecordResult{}, err
	}
	var res SyncRecordResult
	require.NoError(r.t, v.Get(&res))
	return res, nil
}

// One activity hydrates, maps and creates; the next, on a changed record,
// updates; one on an unchanged record writes nothing. What it hands back —
// what history keeps — is the decision (link, hash), not the record.
func TestSyncRecordCreatesUpdatesAndKeepsNoRecord(t *testing.T) {
	r, id := newSyncRig(t, 5*time.Second)
	res, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	require.NoError(t, err)
	require.Nil(t, res.Failure)
	require.Len(t, res.Record.Links, 1)
	link := res.Record.Links[0]
	assert.NotEmpty(t, link.FeedbackID)
	assert.NotEmpty(t, link.LastHash)
	assert.NotEmpty(t, res.Record.Reference)
	assert.Equal(t, 1, res.Record.Writes)
	assert.Len(t, r.cc.FeedbackList(), 1)
	b, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Less(t, len(b), 1024, "the result is the decision, not the record: %s", b)
	assert.NotContains(t, string(b), "big project", "no record content in history")

	again, err := r.sync(res.Record)
	require.NoError(t, err)
	assert.Equal(t, 1, again.Record.Writes, "unchanged: no write")

	require.NoError(t, r.aha.UpdateIdea(id, map[string]any{"name": "Export hangs on big projects"}))
	updated, err := r.sync(again.Record)
	require.NoError(t, err)
	assert.Equal(t, 2, updated.Record.Writes, "changed: one update")
	assert.Equal(t, link.FeedbackID, updated.Record.Links[0].FeedbackID)
	assert.NotEqual(t, link.LastHash, updated.Record.Links[0].LastHash)
	assert.Len(t, r.cc.FeedbackList(), 1)
}

// A create that committed but was never answered: the attempt does not fail
// (a retry of it would create again); it hands back the link marked
// MaybeCreated with the failure, and the next call finds the feedback by its
// reference instead of creating a second one.
func TestSyncRecordHandsBackACreateThatMayHaveCommitted(t *testing.T) {
	r, id := newSyncRig(t, 300*time.Millisecond)
	r.cc.SetFaults(simkit.Faults{CommitTimeoutRate: 1, CommitTimeoutDelay: time.Second})
	res, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	require.NoError(t, err, "the attempt hands back what it learned instead of failing")
	require.NotNil(t, res.Failure)
	assert.Equal(t, ErrTypeTransient, res.Failure.Type, res.Failure.Message)
	require.Len(t, res.Record.Links, 1)
	assert.True(t, res.Record.Links[0].MaybeCreated)
	require.Len(t, r.cc.FeedbackList(), 1, "the create committed")

	r.cc.SetFaults(simkit.Faults{})
	next, err := r.sync(res.Record)
	require.NoError(t, err)
	require.Nil(t, next.Failure)
	assert.Equal(t, r.cc.FeedbackList()[0].ID, mustParse(t, next.Record.Links[0].FeedbackID), "found, not created again")
	assert.Len(t, r.cc.FeedbackList(), 1)
}

// A failure before anything was written is the activity's error (retried
// like any call); one the retry policy would not retry comes back with the
// state so the parked record still shows its reference.
func TestSyncRecordFailures(t *testing.T) {
	r, id := newSyncRig(t, 5*time.Second)
	r.aha.SetFaults(simkit.Faults{ErrorRate: 1, ErrorCodes: []int{503}})
	_, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	ae := appErr(t, err)
	assert.Equal(t, ErrTypeTransient, ae.Type(), ae.Message())
	assert.Empty(t, r.cc.FeedbackList())
	r.aha.SetFaults(simkit.Faults{})

	r.cc.SetFaults(simkit.Faults{ErrorRate: 1, ErrorCodes: []int{503}})
	res, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	require.NoError(t, err, "a 503 to a create may have committed: handed back, not retried blind")
	require.NotNil(t, res.Failure)
	assert.True(t, res.Record.Links[0].MaybeCreated)
	r.cc.SetFaults(simkit.Faults{})

	// A final failure fails the activity (the UI and the failure metrics see
	// it) and carries the state in its details.
	_, err = r.sync(RecordSync{Kind: "idea", AhaID: "999999"})
	ae = appErr(t, err)
	assert.True(t, ae.NonRetryable())
	assert.Equal(t, ErrTypeNotFound, ae.Type(), ae.Message())
	var kept SyncRecordResult
	require.NoError(t, ae.Details(&kept))
	assert.Equal(t, "999999", kept.Record.AhaID)
}

// A call that is safe to repeat is tried again within the attempt on a
// transient failure (the attempt makes several calls; failing it for one
// would repeat the others); a create never is.
func TestSyncRecordRepeatsSafeCallsWithinTheAttempt(t *testing.T) {
	r, id := newSyncRig(t, 5*time.Second)
	r.aha.SetFaults(simkit.Faults{ErrorRate: 0.7, ErrorCodes: []int{503}, Seed: 7})
	ok := 0
	for range 10 {
		if _, err := r.sync(RecordSync{Kind: "idea", AhaID: id}); err == nil {
			ok++
		}
		r.cc.Reset()
	}
	t.Logf("%d of 10 attempts through", ok)
	assert.GreaterOrEqual(t, ok, 8, "most fetches fail; three tries each get most attempts through")
}

// mapMemo is a Memo in memory.
type mapMemo map[string][]byte

func (m mapMemo) Put(_ context.Context, k string, v []byte) error { m[k] = v; return nil }
func (m mapMemo) Get(_ context.Context, k string) ([]byte, bool, error) {
	v, ok := m[k]
	return v, ok, nil
}
func (m mapMemo) Delete(_ context.Context, k string) error { delete(m, k); return nil }

// A deleted record's links do not outlive it: after an idle close kept them
// and a new run applied the destroy, a late audit's run finds none and
// applies on_destroy no second time (found by review: it commented twice).
func TestSyncRecordAfterADestroyAppliesOnDestroyOnce(t *testing.T) {
	r, id := newSyncRig(t, 5*time.Second)
	cfg := mcConfig(t, map[string]string{"CC_BUGS_SOURCE_URL": r.cc.SourceURL("beta", "bugs"),
		"CC_FEEDBACK_LISTENER_URL": r.cc.ListenerURL("feedback-data"), "CC_PROJECT_KEY": "beta",
		"CC_COMMENT_LISTENER_URL": r.cc.ListenerURL("feedback-comment")})
	r.acts.Configs.Store(cfg)
	r.acts.Audits = aha.New(r.aha.URL(), mcAhaKey)
	memo := mapMemo{}
	r.acts.Memo = memo
	res, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	require.NoError(t, err)
	require.Nil(t, res.Failure)
	require.NoError(t, r.acts.RememberRecord(context.Background(), res.Record)) // idle close
	require.NoError(t, r.aha.DeleteIdea(id))
	// run B: the destroy audit
	b, err := r.sync(RecordSync{Kind: "idea", AhaID: id, Destroyed: true})
	require.NoError(t, err)
	require.Nil(t, b.Failure)
	require.Len(t, r.cc.FeedbackList()[0].Comments, 1)
	// run C: a late audit (e.g. a child's destroy) of the deleted idea
	c, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	require.NoError(t, err)
	assert.Empty(t, c.Record.Links, "run C: %+v", c.Failure)
	assert.Len(t, r.cc.FeedbackList()[0].Comments, 1, "on_destroy applied once")
}

// An idea feeds two types (fan-out, no when:) in one project, both with the
// Aha reference as external reference. An attempt > 1 (its first failed on
// the fetch, say) looks up before every create: the second type adopts the
// first type's new feedback instead of creating its own.
func TestRetriedAttemptCreatesEachTypeItsOwnFeedback(t *testing.T) {
	r, id, routes := twoTypeRig(t)
	rec := RecordSync{Kind: "idea", AhaID: id}
	for round := 0; round < 4; round++ { // what syncInOne does: call again while the sync says there is more
		retried := round == 0 // the first call is a retried attempt (its first try failed on the fetch)
		err := rec.Sync(&directCalls{a: r.acts, ctx: context.Background(), retried: retried}, routes, 4)
		if !errors.Is(err, errMoreToSync) {
			require.NoError(t, err)
			break
		}
	}
	assert.Len(t, r.cc.FeedbackList(), 2, "one feedback per type")
	assert.NotEqual(t, rec.Links[0].FeedbackID, rec.Links[1].FeedbackID)
}

// The same two types; the call that creates the second type's feedback is a
// retried attempt: its look-up by reference finds the first type's feedback
// (same project, same reference) and must not adopt it — nor write the
// second type's body into it (found by review).
func TestRetriedSecondTypeDoesNotAdoptTheFirstTypesFeedback(t *testing.T) {
	r, id, routes := twoTypeRig(t)
	rec := RecordSync{Kind: "idea", AhaID: id}
	require.ErrorIs(t, rec.Sync(&directCalls{a: r.acts, ctx: context.Background()}, routes, 4), errMoreToSync, "call 1 creates the first type's")
	require.NoError(t, rec.Sync(&directCalls{a: r.acts, ctx: context.Background(), retried: true}, routes, 4), "call 2, a retried attempt")
	list := r.cc.FeedbackList()
	require.Len(t, list, 2, "one feedback per type")
	assert.Empty(t, list[0].CustomData, "nothing of the second type written into the first's feedback")
	assert.NotEqual(t, rec.Links[0].FeedbackID, rec.Links[1].FeedbackID)

	// A create that may have committed is looked up the same way.
	rec.Links[1] = Link{FeedbackType: rec.Links[1].FeedbackType, MaybeCreated: true, ExternalRef: rec.Links[1].ExternalRef}
	require.NoError(t, rec.Sync(&directCalls{a: r.acts, ctx: context.Background()}, routes, 4))
	assert.Equal(t, strconv.FormatInt(list[1].ID, 10), rec.Links[1].FeedbackID, "found its own, not the first type's")
	assert.Len(t, r.cc.FeedbackList(), 2)
}

// twoTypeRig feeds an idea into two types (fan-out, no when:) in one
// project, both with the Aha reference as external reference.
func twoTypeRig(t *testing.T) (*syncRig, string, Routes) {
	r, id := newSyncRig(t, 5*time.Second)
	r.acts.Configs.Store(twoTypeConfig(t, r, true))
	routes, _ := r.acts.RoutesFor(context.Background(), RoutesRequest{Kind: "idea"})
	require.Len(t, routes.FeedbackTypes, 2)
	require.False(t, routes.ByContent)
	return r, id, routes
}

// twoTypeConfig is the example config with a second type, requests, fed by
// ideas into the same project; withRef gives it the Aha reference as its
// external reference.
func twoTypeConfig(t *testing.T, r *syncRig, withRef bool) *mapping.Config {
	b, err := os.ReadFile(filepath.Join("..", "examples", "ahacc.yaml"))
	require.NoError(t, err)
	requests := "\n  requests:\n    source_url: ${CC_REQUESTS_SOURCE_URL}\n    record_types: [idea]\n    default_submitter: ada@example.com\n" +
		"    elements:\n      Title: {path: $.name, required: true}\n"
	if withRef {
		requests = strings.Replace(requests, "    default_submitter", "    external_reference: Aha Reference\n    default_submitter", 1) +
			"      Aha Reference: {path: [$.reference_num, $.id], required: true}\n"
	}
	y := strings.Replace(string(b), "\n  features:\n", requests+"\n  features:\n", 1)
	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
	vars := map[string]string{"CC_BUGS_SOURCE_URL": r.cc.SourceURL("beta", "bugs"), "CC_REQUESTS_SOURCE_URL": r.cc.SourceURL("beta", "ideas"),
		"CC_LOOKUP_URL": r.cc.FeedbackURL("beta"), "CC_FEEDBACK_LISTENER_URL": r.cc.ListenerURL("feedback-data"), "CC_PROJECT_KEY": "beta"}
	cfg, err := mapping.LoadFileWithOptions(p, mapping.LoadOptions{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, AllowUnsetEnv: true})
	require.NoError(t, err)
	return cfg
}

// destroyCalls notify through fail (nil: success) and count per feedback.
type destroyCalls struct {
	RecordCalls
	fail     func(id string) error
	notified map[string]int
}

func (d *destroyCalls) NotifyDestroyed(_ string, req DestroyRequest) error {
	if err := d.fail(req.FeedbackID); err != nil {
		return err
	}
	d.notified[req.FeedbackID]++
	return nil
}

// A destroy that fails on its second link and goes on later does not apply
// on_destroy to the first again (a comment is not idempotent; found by
// review). Runs of version 3 keep their recorded behaviour.
func TestDestroyGoesOnWithoutNotifyingTwice(t *testing.T) {
	for _, version := range []int{3, 4} {
		down := true
		c := &destroyCalls{notified: map[string]int{}, fail: func(id string) error {
			if id == "2" && down {
				return temporal.NewApplicationError("503", ErrTypeTransient)
			}
			return nil
		}}
		rec := RecordSync{Kind: "idea", AhaID: "1", Destroyed: true,
			Links: []Link{{FeedbackType: "bugs", FeedbackID: "1"}, {FeedbackType: "requests", FeedbackID: "2"}}}
		require.Error(t, rec.Sync(c, Routes{}, version))
		assert.Equal(t, version >= 4, learnedLinks([]Link{{FeedbackType: "bugs", FeedbackID: "1"}, {FeedbackType: "requests", FeedbackID: "2"}}, rec.Links),
			"version %d: the applied on_destroy is handed back, not retried blind", version)
		down = false
		require.NoError(t, rec.Sync(c, Routes{}, version))
		want := 1
		if version < 4 {
			want = 2
		}
		assert.Equal(t, want, c.notified["1"], "version %d", version)
		assert.Equal(t, 1, c.notified["2"])
	}
}

// An attempt created the feedback and its answer never reached Temporal (a
// worker died, the frontend was cut); the record changed before the retried
// attempt, which finds that feedback by its reference and adopts it. The
// adopted feedback holds the first attempt's body, so the retried attempt
// writes the record as it is now (seed 813749452 of the invariant harness:
// the feedback stayed at the create's content while the record was synced).
func TestRetriedAttemptUpdatesTheFeedbackItAdopts(t *testing.T) {
	r, id := newSyncRig(t, 5*time.Second)
	routes, _ := r.acts.RoutesFor(context.Background(), RoutesRequest{Kind: "idea"})
	first := RecordSync{Kind: "idea", AhaID: id}
	require.NoError(t, first.Sync(&directCalls{a: r.acts, ctx: context.Background()}, routes, 4))
	require.Len(t, r.cc.FeedbackList(), 1)

	require.NoError(t, r.aha.UpdateIdea(id, map[string]any{"name": "Export hangs on big projects"}))
	retried := RecordSync{Kind: "idea", AhaID: id} // the first attempt's result was lost
	require.NoError(t, retried.Sync(&directCalls{a: r.acts, ctx: context.Background(), retried: true}, routes, 4))
	list := r.cc.FeedbackList()
	require.Len(t, list, 1, "adopted, not created again")
	title := list[0].Elements["Title"]
	for _, g := range list[0].CustomData { // updates land in the listener's data group
		if v, ok := g["Title"]; ok {
			title = v
		}
	}
	assert.Equal(t, "Export hangs on big projects", title, "the adopted feedback holds the record as it is now")
	assert.Equal(t, list[0].ID, mustParse(t, retried.Links[0].FeedbackID))

	again := retried
	require.NoError(t, again.Sync(&directCalls{a: r.acts, ctx: context.Background()}, routes, 4))
	assert.Equal(t, retried.Writes, again.Writes, "in step: the next sync writes nothing")
}

// A record's run closed for being idle and Redis then lost what it kept
// (FLUSHALL, an instance without persistence): the next change's run has no
// links. A record older than sync.idle_close may have had such a run, so it
// looks its feedback up by reference before creating (with a lookup
// configured): the change updates the feedback, never creates a second.
func TestRecordOlderThanIdleCloseLooksUpBeforeCreating(t *testing.T) {
	r, id := newSyncRig(t, 5*time.Second)
	r.acts.Memo = mapMemo{}
	cfg := r.acts.config()
	cfg.Sync.IdleClose = time.Millisecond // every record is older than that
	first, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	require.NoError(t, err)
	require.Len(t, r.cc.FeedbackList(), 1)
	require.NoError(t, r.aha.UpdateIdea(id, map[string]any{"name": "Export hangs on big projects"}))

	// Its links are gone (no memo, no state): the next run starts from nothing.
	res, err := r.sync(RecordSync{Kind: "idea", AhaID: id})
	require.NoError(t, err)
	require.Nil(t, res.Failure)
	assert.Len(t, r.cc.FeedbackList(), 1, "found by its reference, not created again")
	assert.Equal(t, first.Record.Links[0].FeedbackID, res.Record.Links[0].FeedbackID)

	// A record younger than idle_close cannot have had an idle-closed run:
	// no look-up before its first create.
	cfg.Sync.IdleClose = time.Hour
	fresh, err := r.aha.CreateIdea("PRJ1", map[string]any{"name": "New today"})
	require.NoError(t, err)
	before := r.cc.Requests().Total
	_, err = r.sync(RecordSync{Kind: "idea", AhaID: fresh.ID})
	require.NoError(t, err)
	assert.EqualValues(t, 1, r.cc.Requests().Total-before, "the create alone: no look-up for a record younger than idle_close")
	assert.Len(t, r.cc.FeedbackList(), 2)
}

// An Aha! record older than sync.idle_close whose (second) feedback type has
// no external_reference: nothing was ever created, yet the precautionary
// look-up failed non-retryably and the create never happened (the record
// parked; found by review): with no reference there is nothing to look up.
func TestOldRecordOfATypeWithoutExternalReferenceIsCreated(t *testing.T) {
	r, id := newSyncRig(t, 5*time.Second)
	cfg := twoTypeConfig(t, r, false)
	cfg.Sync.IdleClose = time.Millisecond // the idea is older than that
	r.acts.Configs.Store(cfg)
	r.acts.Memo = mapMemo{}
	state := RecordSync{Kind: "idea", AhaID: id}
	for i := 0; i < 3; i++ {
		res, err := r.sync(state)
		require.NoError(t, err, "call %d", i)
		require.Nil(t, res.Failure)
		state = res.Record
		if !res.More {
			break
		}
	}
	assert.Len(t, r.cc.FeedbackList(), 2, "one feedback per type")
}

// Two types of one project share the reference; the first type's create
// was answered without an id and the second's may have committed. A look-up
// by reference cannot tell whose feedback it finds: the record parks with
// what to do rather than link (and write) one type's feedback as the
// other's (found by review).
func TestLookUpParksWhenAnotherTypesCreateIsUncertain(t *testing.T) {
	r, id, routes := twoTypeRig(t)
	rec := RecordSync{Kind: "idea", AhaID: id}
	require.ErrorIs(t, rec.Sync(&directCalls{a: r.acts, ctx: context.Background()}, routes, 4), errMoreToSync)
	require.NoError(t, rec.Sync(&directCalls{a: r.acts, ctx: context.Background()}, routes, 4))
	list := r.cc.FeedbackList()
	require.Len(t, list, 2)
	rec.Links[0].FeedbackID, rec.Links[0].MaybeCreated = "", true
	rec.Links[1].FeedbackID, rec.Links[1].MaybeCreated, rec.Links[1].LastHash = "", true, ""
	for _, retried := range []bool{false, true} {
		err := rec.Sync(&directCalls{a: r.acts, ctx: context.Background(), retried: retried}, routes, 4)
		ae := appErr(t, err)
		assert.Equal(t, ErrTypeAmbiguous, ae.Type(), ae.Message())
		assert.True(t, ae.NonRetryable())
		assert.Contains(t, ae.Message(), "share the reference")
	}
	assert.Empty(t, r.cc.FeedbackList()[0].CustomData, "nothing of one type written into the other's feedback")
	assert.Empty(t, r.cc.FeedbackList()[1].CustomData)
	assert.Len(t, r.cc.FeedbackList(), 2)

	// A retried attempt creating the first type while the second's create is
	// uncertain would look up by the shared reference before creating: parks.
	rec.Links = []Link{{FeedbackType: rec.Links[1].FeedbackType, MaybeCreated: true}}
	ae := appErr(t, rec.Sync(&directCalls{a: r.acts, ctx: context.Background(), retried: true}, routes, 4))
	assert.Equal(t, ErrTypeAmbiguous, ae.Type(), ae.Message())
	assert.Len(t, r.cc.FeedbackList(), 2, "nothing created, nothing adopted")
}
