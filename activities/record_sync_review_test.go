package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/mapping"
)

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
	r, id := newSyncRig(t, 5*time.Second)
	b, err := os.ReadFile(filepath.Join("..", "examples", "ahacc.yaml"))
	require.NoError(t, err)
	y := strings.Replace(string(b), "\n  features:\n", "\n  requests:\n    source_url: ${CC_REQUESTS_SOURCE_URL}\n    record_types: [idea]\n    external_reference: Aha Reference\n    default_submitter: ada@example.com\n"+
		"    elements:\n      Title: {path: $.name, required: true}\n      Aha Reference: {path: [$.reference_num, $.id], required: true}\n\n  features:\n", 1)
	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
	vars := map[string]string{"CC_BUGS_SOURCE_URL": r.cc.SourceURL("beta", "bugs"), "CC_REQUESTS_SOURCE_URL": r.cc.SourceURL("beta", "ideas"),
		"CC_LOOKUP_URL": r.cc.FeedbackURL("beta"), "CC_FEEDBACK_LISTENER_URL": r.cc.ListenerURL("feedback-data"), "CC_PROJECT_KEY": "beta"}
	cfg, err := mapping.LoadFileWithOptions(p, mapping.LoadOptions{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, AllowUnsetEnv: true})
	require.NoError(t, err)
	r.acts.Configs.Store(cfg)
	routes, _ := r.acts.RoutesFor(context.Background(), RoutesRequest{Kind: "idea"})
	require.Len(t, routes.FeedbackTypes, 2)
	require.False(t, routes.ByContent)
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
