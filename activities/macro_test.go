package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	ccsim "github.com/ahacc/ahacc/internal/sandbox/centercode"
	"github.com/ahacc/ahacc/mapping"
)

const mcAhaKey = "macro-test-key-123456"

// mcConfig loads examples/ahacc.yaml with the given variables.
func mcConfig(t *testing.T, vars map[string]string) *mapping.Config {
	t.Helper()
	cfg, err := mapping.LoadFileWithOptions(filepath.Join("..", "examples", "ahacc.yaml"), mapping.LoadOptions{
		LookupEnv: func(k string) (string, bool) {
			if k == "AHA_INTEGRATION_ID" && vars[k] == "" {
				return ahasim.CentercodeIntegrationID, true // the simulator's, as the dev stack sets it
			}
			v, ok := vars[k]
			return v, ok
		},
		AllowUnsetEnv: true,
	})
	require.NoError(t, err)
	return cfg
}

func mcActivities(t *testing.T, cfg *mapping.Config, ahaURL string) *Activities {
	acts := New(Deps{Configs: NewConfigStore(cfg), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	acts.AhaWriter = aha.New(ahaURL, mcAhaKey, aha.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))
	return acts
}

// mcAhaSim is an Aha! simulator without rate limits, closed with the test.
func mcAhaSim(t *testing.T) *ahasim.Server {
	t.Helper()
	as := ahasim.New(ahasim.Options{APIKey: mcAhaKey, RatePerSecond: -1, RatePerMinute: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, as.Start("127.0.0.1:0"))
	t.Cleanup(func() { as.Close() })
	return as
}

func mcEnv(acts *Activities) *testsuite.TestActivityEnvironment {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return env
}

func mcPlan() MacroPlan {
	return MacroPlan{Macro: "push-to-aha", Action: mapping.ActionCreateIdea, Product: "PRJ1", FeedbackID: "1001",
		Body: json.RawMessage(`{"name":"Crash on save"}`)}
}

// Every status code of aha.md §3 is classified: 429 and 5xx retry (honouring
// the server's wait), 400/401/403/404/406/422 do not and carry Aha!'s text.
func TestPushToAhaClassifiesEveryStatusCode(t *testing.T) {
	tests := []struct {
		code      int
		retryable bool
		typ       string
	}{
		{400, false, ErrTypePermanent},
		{401, false, ErrTypePermanent},
		{403, false, ErrTypePermanent},
		{404, false, ErrTypeNotFound},
		{406, false, ErrTypePermanent},
		{422, false, ErrTypePermanent},
		{429, true, ErrTypeTransient},
		{500, true, ErrTypeTransient},
		{502, true, ErrTypeTransient},
		{503, true, ErrTypeTransient},
		{504, true, ErrTypeTransient},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.code)
				fmt.Fprintf(w, `{"error": "answer %d from Aha!"}`, tc.code)
			}))
			defer srv.Close()
			env := mcEnv(mcActivities(t, mcConfig(t, nil), srv.URL))
			_, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: mcPlan()})
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			require.Equal(t, tc.typ, appErr.Type())
			require.Equal(t, !tc.retryable, appErr.NonRetryable())
			require.Contains(t, appErr.Message(), fmt.Sprintf("answer %d from Aha!", tc.code), "Aha!'s error text reaches the operator")
			require.Contains(t, appErr.Message(), "Centercode feedback 1001")
		})
	}
	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(500 * time.Millisecond):
			}
		}))
		defer srv.Close()
		acts := mcActivities(t, mcConfig(t, nil), srv.URL)
		acts.AhaWriter = aha.New(srv.URL, mcAhaKey, aha.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
		_, err := mcEnv(acts).ExecuteActivity(mca.PushToAha, PushRequest{Plan: mcPlan()})
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "%v", err)
		require.Equal(t, ErrTypeTransient, appErr.Type())
		require.False(t, appErr.NonRetryable())
	})
}

// NextRetryDelay comes from Retry-After (seconds or HTTP date) or from
// X-Ratelimit-Reset (seconds to wait, or an epoch time).
func TestPushToAhaNextRetryDelayFromBothHeaderForms(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
		slack   time.Duration
	}{
		{"retry-after seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, 0},
		{"retry-after date", map[string]string{"Retry-After": now.Add(30 * time.Second).UTC().Format(http.TimeFormat)}, 30 * time.Second, 2 * time.Second},
		{"reset seconds", map[string]string{"X-Ratelimit-Reset": "12"}, 12 * time.Second, 0},
		{"reset epoch", map[string]string{"X-Ratelimit-Reset": strconv.FormatInt(now.Add(20*time.Second).Unix(), 10)}, 20 * time.Second, 2 * time.Second},
		{"capped", map[string]string{"Retry-After": "86400"}, maxServerDelay, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"error":"Rate limit exceeded"}`)
			}))
			defer srv.Close()
			_, err := mcEnv(mcActivities(t, mcConfig(t, nil), srv.URL)).ExecuteActivity(mca.PushToAha, PushRequest{Plan: mcPlan()})
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			require.Equal(t, ErrTypeTransient, appErr.Type())
			got := appErr.NextRetryDelay()
			require.InDelta(t, float64(tc.want), float64(got), float64(tc.slack), "got %s", got)
		})
	}
}

func TestPlanMacroMapsTheExampleMacros(t *testing.T) {
	acts := mcActivities(t, mcConfig(t, nil), "http://127.0.0.1:1")
	env := mcEnv(acts)
	v, err := env.ExecuteLocalActivity(acts.PlanMacro, PlanMacroRequest{Macro: "push-to-aha",
		Payload: json.RawMessage(`{"feedbackId": 1001, "title": "  Crash on save ", "severity": "Major", "submitterEmail": "ada@example.com",
			"customData": {"Aha!": {"aha_reference": "PRJ1-I-9"}}}`)})
	require.NoError(t, err)
	var plan MacroPlan
	require.NoError(t, v.Get(&plan))
	require.Equal(t, mapping.ActionCreateIdea, plan.Action)
	require.Equal(t, "PRJ1", plan.Product)
	require.Equal(t, "1001", plan.FeedbackID)
	require.Equal(t, "PRJ1-I-9", plan.Target)
	var body map[string]any
	require.NoError(t, json.Unmarshal(plan.Body, &body))
	require.Equal(t, "Crash on save", body["name"])
	require.Equal(t, map[string]any{"severity": "P2", "centercode_feedback_id": "1001"}, body["custom_fields"])

	_, err = env.ExecuteLocalActivity(acts.PlanMacro, PlanMacroRequest{Macro: "push-to-aha", Payload: json.RawMessage(`{"feedbackId": 1001}`)})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, ErrTypeMapping, appErr.Type())
	require.Contains(t, appErr.Message(), `"title"`)

	_, err = env.ExecuteLocalActivity(acts.PlanMacro, PlanMacroRequest{Macro: "nope", Payload: json.RawMessage(`{}`)})
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, ErrTypeConfig, appErr.Type())
}

// Against the simulators: create, stamp, a lookup-first create adopts the
// stamped idea instead of creating a second, a comment finds the linked idea,
// and the write-back stores the link on the feedback.
func TestMacroActivitiesAgainstSimulators(t *testing.T) {
	as := mcAhaSim(t)
	cc, fid, fbID := mcFeedback(t)

	cfg := mcConfig(t, map[string]string{"CC_FEEDBACK_LISTENER_URL": cc.ListenerURL("feedback-data")})
	acts := mcActivities(t, cfg, as.URL())
	env := mcEnv(acts)
	plan := mcPlan()
	plan.FeedbackID = fid

	v, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan})
	require.NoError(t, err)
	var created PushResult
	require.NoError(t, v.Get(&created))
	require.True(t, created.Created)
	require.NotEmpty(t, created.Reference)

	_, err = env.ExecuteActivity(mca.StampAhaRecord, StampRequest{IdeaID: created.ID, FeedbackID: fid})
	require.NoError(t, err)
	ideas := as.Counts().Ideas

	v, err = env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan, LookupFirst: true})
	require.NoError(t, err)
	var again PushResult
	require.NoError(t, v.Get(&again))
	require.True(t, again.Adopted)
	require.Equal(t, created.ID, again.ID)
	require.Equal(t, ideas, as.Counts().Ideas, "no second idea")

	comment := MacroPlan{Macro: "comment-to-aha", Action: mapping.ActionComment, FeedbackID: fid, Body: json.RawMessage(`{"body":"<p>from Centercode</p>"}`)}
	v, err = env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: comment})
	require.NoError(t, err)
	var commented PushResult
	require.NoError(t, v.Get(&commented))
	require.Equal(t, created.Reference, commented.Reference, "the comment went to the linked idea")

	comment.FeedbackID = "999999"
	_, err = env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: comment})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, ErrTypeNotFound, appErr.Type())
	require.Contains(t, appErr.Message(), "no Aha! idea is linked to Centercode feedback 999999")

	_, err = env.ExecuteActivity(mca.WriteBackLink, WriteBackRequest{FeedbackID: fid, AhaReference: created.Reference, AhaURL: created.URL})
	require.NoError(t, err)
	got, ok := cc.Feedback(fbID)
	require.True(t, ok)
	require.Equal(t, created.Reference, got.CustomData["Aha!"][WriteBackKeyReference])
	require.Equal(t, created.URL, got.CustomData["Aha!"][WriteBackKeyURL])
}

func TestPayloadTarget(t *testing.T) {
	require.Equal(t, "PRJ1-I-3", payloadTarget([]byte(`{"ahaReference":"PRJ1-I-3","customData":{"Aha!":{"aha_reference":"X"}}}`)))
	require.Equal(t, "X", payloadTarget([]byte(`{"customData":{"Aha!":{"aha_reference":"X"}}}`)))
	require.Equal(t, "PRJ1-I-4", payloadTarget([]byte(`{"ahaReference":"PRJ1-I-4","customData":[1]}`)))
	require.Equal(t, "", payloadTarget([]byte(`{}`)))
}

// mcFeedback starts a Centercode simulator (its default config, closed with
// the test) and submits one bugs feedback: its id as text and as a number.
func mcFeedback(t *testing.T) (*ccsim.Server, string, int64) {
	t.Helper()
	cc, err := ccsim.New(ccsim.DefaultConfig())
	require.NoError(t, err)
	require.NoError(t, cc.Start())
	t.Cleanup(func() { _ = cc.Close() })
	ref, err := centercode.New().SubmitFeedback(context.Background(), cc.SourceURL("beta", "bugs"), []byte(`{"Title": "Crash on save"}`))
	require.NoError(t, err)
	id, err := strconv.ParseInt(ref.ID, 10, 64)
	require.NoError(t, err)
	return cc, ref.ID, id
}

// mca names activities for the test environment (like the workflows' nil pointer).
var mca *Activities

// ahaReader is the worker's Aha! reader (app.AhaReader) for these tests.
type ahaReader struct{ c *aha.Client }

func (r ahaReader) GetRecord(ctx context.Context, kind, id string) (AhaRecord, error) {
	rec, err := r.c.GetRecord(ctx, kind, id)
	if err != nil {
		return AhaRecord{}, err
	}
	return AhaRecord{ID: rec.ID.String(), Reference: rec.ReferenceNum, URL: rec.URL, Name: rec.Name, JSON: rec.Raw}, nil
}

// An ambiguous create (committed in Aha!, the answer lost) leaves an idea no
// stamp names: the retried push finds it by the body it sent, in the product,
// since the run first pushed — and leaves ideas stamped for other feedback,
// older ideas and ideas with another name alone.
func TestPushToAhaAdoptsTheUnstampedIdeaOfAnAmbiguousCreate(t *testing.T) {
	as := mcAhaSim(t)
	cfg := mcConfig(t, nil)
	acts := mcActivities(t, cfg, as.URL())
	client := aha.New(as.URL(), mcAhaKey)
	acts.Aha = ahaReader{client}
	env := mcEnv(acts)
	ctx := context.Background()

	// An older idea of the same name, before the run first pushed.
	_, err := as.CreateIdea("PRJ1", map[string]any{"name": "Export hangs", "description": "<p>steps</p>"})
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond) // created_at has second precision
	since := time.Now()
	// Another run's idea, same name and description, already stamped.
	other, err := as.CreateIdea("PRJ1", map[string]any{"name": "Export hangs", "description": "<p>steps</p>"})
	require.NoError(t, err)
	_, err = client.SetIntegrationField(ctx, aha.KindIdea, other.ID, ahasim.CentercodeIntegrationID, cfg.Aha.IntegrationField, "2002")
	require.NoError(t, err)
	// What the ambiguous create of feedback 2001 committed.
	orphan, err := as.CreateIdea("PRJ1", map[string]any{"name": "Export hangs", "description": "<p>steps</p>"})
	require.NoError(t, err)
	ideas := as.Counts().Ideas

	plan := MacroPlan{Macro: "push-to-aha", Action: mapping.ActionCreateIdea, Product: "PRJ1", FeedbackID: "2001",
		Body: json.RawMessage(`{"name":"Export hangs","description":"<p>steps</p>"}`)}
	v, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan, LookupFirst: true, Since: since.Add(-time.Second)})
	require.NoError(t, err)
	var got PushResult
	require.NoError(t, v.Get(&got))
	require.True(t, got.Adopted, "%+v", got)
	require.Equal(t, orphan.ID, got.ID, "the unstamped idea created since the first push, not the stamped or the older one")
	require.Equal(t, ideas, as.Counts().Ideas, "no second idea")

	// Another description: no twin, a new idea.
	plan.Body = json.RawMessage(`{"name":"Export hangs","description":"<p>other steps</p>"}`)
	v, err = env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan, LookupFirst: true, Since: since})
	require.NoError(t, err)
	require.NoError(t, v.Get(&got))
	require.True(t, got.Created)
	require.Equal(t, ideas+1, as.Counts().Ideas)
}

// Features are not stamped: a feature whose create answer was lost is found
// in its release by the name and description that were sent.
func TestPushToAhaAdoptsTheFeatureOfAnAmbiguousCreate(t *testing.T) {
	as := mcAhaSim(t)
	cfg := mcConfig(t, nil)
	acts := mcActivities(t, cfg, as.URL())
	acts.Aha = ahaReader{aha.New(as.URL(), mcAhaKey)}
	env := mcEnv(acts)

	since := time.Now().Add(-time.Second)
	orphan, err := as.CreateFeature("PRJ1-R-1", map[string]any{"name": "Bulk export", "description": "<p>as asked in beta</p>"})
	require.NoError(t, err)
	_, err = as.CreateFeature("PRJ1-R-1", map[string]any{"name": "Bulk export", "description": "<p>something else</p>"})
	require.NoError(t, err)
	features := as.Counts().Features

	plan := MacroPlan{Macro: "feature-to-aha", Action: mapping.ActionCreateFeature, Release: "PRJ1-R-1", FeedbackID: "3001",
		Body: json.RawMessage(`{"name":"Bulk export","description":"<p>as asked in beta</p>"}`)}
	v, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan, LookupFirst: true, Since: since})
	require.NoError(t, err)
	var got PushResult
	require.NoError(t, v.Get(&got))
	require.True(t, got.Adopted, "%+v", got)
	require.Equal(t, orphan.ID, got.ID)
	require.Equal(t, features, as.Counts().Features, "no second feature")
}

// A Centercode listener does one thing: a status ahacc sets goes to the
// listener whose macro sets it (status_rules.from_aha, on_destroy: status),
// an on_destroy comment to the comment listener, or, without one, is stored as
// a value by the feedback listener. A status without a listener parks.
func TestStatusAndDestroyGoToTheirListeners(t *testing.T) {
	cc, fid, fbID := mcFeedback(t)
	status := func() string { f, _ := cc.Feedback(fbID); return f.Status }
	require.Equal(t, "New", status())

	cfg := mcConfig(t, map[string]string{
		"CC_FEEDBACK_LISTENER_URL": cc.ListenerURL("feedback-data"),
		"CC_COMMENT_LISTENER_URL":  cc.ListenerURL("feedback-comment"),
	})
	cfg.Centercode.StatusListeners = map[string]mapping.Secret{"Will Fix": mapping.Secret(cc.ListenerURL("will-fix"))}
	acts := mcActivities(t, cfg, "http://127.0.0.1:1")
	env := mcEnv(acts)

	_, err := env.ExecuteActivity(mca.SetCentercodeStatus, SetStatusRequest{FeedbackID: fid, Status: "will fix"})
	require.NoError(t, err)
	assert.Equal(t, "Will Fix", status(), "the will-fix listener's macro set it")

	_, err = env.ExecuteActivity(mca.SetCentercodeStatus, SetStatusRequest{FeedbackID: fid, Status: "Closed"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, ErrTypeConfig, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, appErr.Message(), `no listener for that status`)
	assert.Equal(t, "Will Fix", status())

	bugs := cfg.FeedbackType("bugs")
	require.Equal(t, mapping.OnDestroyComment, bugs.OnDestroy)
	destroy := DestroyRequest{FeedbackType: "bugs", FeedbackID: fid, Reference: "PRJ1-I-9"}
	_, err = env.ExecuteActivity(mca.NotifyDestroyed, destroy)
	require.NoError(t, err)
	f, _ := cc.Feedback(fbID)
	require.Len(t, f.Comments, 1, "a comment, through the comment listener")
	assert.Equal(t, bugs.DestroyComment, f.Comments[0].Text)
	assert.Empty(t, f.CustomData["Aha!"]["comment"])

	cfg.Centercode.CommentListenerURL = ""
	_, err = env.ExecuteActivity(mca.NotifyDestroyed, destroy)
	require.NoError(t, err)
	f, _ = cc.Feedback(fbID)
	assert.Len(t, f.Comments, 1)
	assert.Equal(t, bugs.DestroyComment, f.CustomData["Aha!"]["comment"], "without a comment listener: stored as a value")

	_, _, err = cc.SetStatus(fbID, "New")
	require.NoError(t, err)
	bugs.OnDestroy, bugs.DestroyStatus = mapping.OnDestroyStatus, "Will Fix"
	_, err = env.ExecuteActivity(mca.NotifyDestroyed, destroy)
	require.NoError(t, err)
	assert.Equal(t, "Will Fix", status(), "on_destroy: status, through the status's listener")
}

// Exactly once per feedback, not per run: a second run of a create macro for
// a feedback already linked (a manual run after the Will Fix rule, a re-run)
// updates the linked idea (on_linked: update, the default) or leaves it alone
// (skip); it never creates a second idea.
func TestSecondRunForLinkedFeedbackCreatesNothing(t *testing.T) {
	as := mcAhaSim(t)
	_, fid, _ := mcFeedback(t)
	cfg := mcConfig(t, nil)
	acts := mcActivities(t, cfg, as.URL())
	env := mcEnv(acts)
	plan := mcPlan()
	plan.FeedbackID, plan.OnLinked = fid, mapping.OnLinkedUpdate
	push := func(p MacroPlan) PushResult {
		v, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: p})
		require.NoError(t, err)
		var out PushResult
		require.NoError(t, v.Get(&out))
		return out
	}
	first := push(plan)
	require.True(t, first.Created)
	_, err := env.ExecuteActivity(mca.StampAhaRecord, StampRequest{IdeaID: first.ID, FeedbackID: fid, Kind: first.Kind})
	require.NoError(t, err)
	ideas := as.Counts().Ideas

	plan.Body = json.RawMessage(`{"name":"Crash on save (retitled)","created_by":"tester@example.com"}`)
	second := push(plan)
	assert.False(t, second.Created)
	assert.Equal(t, "updated", second.Linked)
	assert.True(t, second.Stamped)
	assert.Equal(t, first.Reference, second.Reference)
	assert.Equal(t, ideas, as.Counts().Ideas, "no second idea")
	rec, err := aha.New(as.URL(), mcAhaKey).GetIdea(t.Context(), first.Reference)
	require.NoError(t, err)
	assert.Contains(t, string(rec.Raw), "Crash on save (retitled)", "the linked idea got the mapped fields")

	plan.OnLinked = mapping.OnLinkedSkip
	plan.Body = json.RawMessage(`{"name":"Ignored title"}`)
	third := push(plan)
	assert.Equal(t, "skipped", third.Linked)
	assert.Equal(t, ideas, as.Counts().Ideas)
	rec, err = aha.New(as.URL(), mcAhaKey).GetIdea(t.Context(), first.Reference)
	require.NoError(t, err)
	assert.NotContains(t, string(rec.Raw), "Ignored title")
}

// A feature a macro creates is stamped and found again by its stamp: a
// second run creates no second feature.
func TestFeatureIsStampedAndFoundAgain(t *testing.T) {
	as := mcAhaSim(t)
	_, fid, _ := mcFeedback(t)
	acts := mcActivities(t, mcConfig(t, nil), as.URL())
	env := mcEnv(acts)
	plan := MacroPlan{Macro: "feature", Action: mapping.ActionCreateFeature, Release: "PRJ1-R-1", FeedbackID: fid,
		Body: json.RawMessage(`{"name":"Faster export"}`), OnLinked: mapping.OnLinkedSkip}
	v, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan})
	require.NoError(t, err)
	var first PushResult
	require.NoError(t, v.Get(&first))
	require.True(t, first.Created)
	require.Equal(t, aha.KindFeature, first.Kind)
	_, err = env.ExecuteActivity(mca.StampAhaRecord, StampRequest{IdeaID: first.ID, FeedbackID: fid, Kind: first.Kind})
	require.NoError(t, err)
	features := as.Counts().Features
	v, err = env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan})
	require.NoError(t, err)
	var second PushResult
	require.NoError(t, v.Get(&second))
	assert.Equal(t, "skipped", second.Linked)
	assert.Equal(t, first.ID, second.ID)
	assert.Equal(t, features, as.Counts().Features)
	rec, err := aha.New(as.URL(), mcAhaKey).GetFeature(t.Context(), first.ID)
	require.NoError(t, err)
	assert.Equal(t, fid, integrationValue(rec.Raw, "centercode_feedback_id"), "the feature carries the stamp its echo is recognised by")
}

// A retried comment whose first post committed (its answer lost) is not
// posted again.
func TestRetriedCommentIsNotPostedTwice(t *testing.T) {
	as := mcAhaSim(t)
	_, fid, _ := mcFeedback(t)
	acts := mcActivities(t, mcConfig(t, nil), as.URL())
	env := mcEnv(acts)
	since := time.Now().Add(-time.Second)
	comment := MacroPlan{Macro: "comment-to-aha", Action: mapping.ActionComment, FeedbackID: fid, Target: "PRJ1-I-1",
		Body: json.RawMessage(`{"body":"<p>from Centercode</p>"}`)}
	// The first attempt: Aha! posts it, the answer never arrives.
	_, err := as.AddComment("idea", "PRJ1-I-1", "<p>from Centercode</p>")
	require.NoError(t, err)
	count := func() int {
		cs, _, err := aha.New(as.URL(), mcAhaKey).ListComments(t.Context(), aha.KindIdea, "PRJ1-I-1", 1, 200)
		require.NoError(t, err)
		return len(cs)
	}
	before := count()
	v, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: comment, LookupFirst: true, Since: since})
	require.NoError(t, err)
	var out PushResult
	require.NoError(t, v.Get(&out))
	assert.True(t, out.Adopted)
	assert.Equal(t, before, count(), "not posted twice")

	// A different text is a new comment.
	comment.Body = json.RawMessage(`{"body":"<p>another</p>"}`)
	_, err = env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: comment, LookupFirst: true, Since: since})
	require.NoError(t, err)
	assert.Equal(t, before+1, count())
}

// An operator's retry of a run whose update of the linked idea failed (or an
// attempt after a 503) still updates it: only a record this run created is
// adopted as it is.
func TestOnLinkedUpdateSurvivesARetry(t *testing.T) {
	as := mcAhaSim(t)
	_, fid, _ := mcFeedback(t)
	acts := mcActivities(t, mcConfig(t, nil), as.URL())
	env := mcEnv(acts)
	plan := mcPlan()
	plan.FeedbackID, plan.OnLinked = fid, mapping.OnLinkedUpdate
	v, err := env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan})
	require.NoError(t, err)
	var first PushResult
	require.NoError(t, v.Get(&first))
	_, err = env.ExecuteActivity(mca.StampAhaRecord, StampRequest{IdeaID: first.ID, FeedbackID: fid, Kind: first.Kind})
	require.NoError(t, err)

	// A later run, on its operator's retry (its first push began after the idea existed).
	plan.Body = json.RawMessage(`{"name":"retitled"}`)
	v, err = env.ExecuteActivity(mca.PushToAha, PushRequest{Plan: plan, LookupFirst: true, Since: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	var again PushResult
	require.NoError(t, v.Get(&again))
	assert.Equal(t, "updated", again.Linked)
	rec, err := aha.New(as.URL(), mcAhaKey).GetIdea(t.Context(), first.Reference)
	require.NoError(t, err)
	assert.Contains(t, string(rec.Raw), "retitled")
}
