package activities

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/centercode"
	ccsim "github.com/ahacc/ahacc/internal/sandbox/centercode"
)

func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	return ae
}

// A failed create says whether it may have committed: a 4xx refusal did not
// (Rejected: the record may be sent again); a failure after sending did, and
// without a lookup it parks (Ambiguous) instead of creating a second feedback.
func TestFailedCreateSaysWhetherItMayHaveCommitted(t *testing.T) {
	code := 400
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"message":"no"}`))
	}))
	defer srv.Close()
	submit := func(lookup string) error {
		vars := map[string]string{"CC_BUGS_SOURCE_URL": srv.URL + "/src?apiKey=k", "CC_LOOKUP_URL": lookup}
		acts := New(Deps{Configs: NewConfigStore(mcConfig(t, vars)), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		_, err := mcEnv(acts).ExecuteActivity(acts.SubmitFeedback, SubmitRequest{FeedbackType: "bugs", Body: []byte(`{"Title":"x"}`), Reference: "PRJ1-I-1"})
		return err
	}
	ae := appErr(t, submit(""))
	assert.Equal(t, ErrTypeRejected, ae.Type(), ae.Message())
	assert.True(t, ae.NonRetryable())

	code = 504
	ae = appErr(t, submit(""))
	assert.Equal(t, ErrTypeAmbiguous, ae.Type(), ae.Message())
	assert.True(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), "centercode.lookup.url")

	ae = appErr(t, submit(srv.URL+"/lookup?apiKey=k"))
	assert.Equal(t, ErrTypeTransient, ae.Type(), "with a lookup the retry looks first")
	assert.False(t, ae.NonRetryable())
}

// FindFeedback finds what an earlier create made, by its external
// reference; without a lookup it says what the operator can do.
func TestFindFeedback(t *testing.T) {
	cc, err := ccsim.New(ccsim.DefaultConfig())
	require.NoError(t, err)
	require.NoError(t, cc.Start())
	t.Cleanup(func() { _ = cc.Close() })
	ref, err := centercode.New().SubmitFeedback(t.Context(), cc.SourceURL("beta", "bugs"), []byte(`{"Title": "Crash", "Aha Reference": "PRJ1-I-7"}`))
	require.NoError(t, err)
	vars := map[string]string{"CC_LOOKUP_URL": cc.FeedbackURL("beta")}
	acts := New(Deps{Configs: NewConfigStore(mcConfig(t, vars)), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	find := func(acts *Activities, reference string) (FindFeedbackResult, error) {
		v, err := mcEnv(acts).ExecuteActivity(acts.FindFeedback, FindFeedbackRequest{FeedbackType: "bugs", Reference: reference})
		if err != nil {
			return FindFeedbackResult{}, err
		}
		var out FindFeedbackResult
		require.NoError(t, v.Get(&out))
		return out, nil
	}
	got, err := find(acts, "PRJ1-I-7")
	require.NoError(t, err)
	assert.Equal(t, ref.ID, got.FeedbackID)
	got, err = find(acts, "PRJ1-I-8")
	require.NoError(t, err)
	assert.Empty(t, got.FeedbackID)

	noLookup := New(Deps{Configs: NewConfigStore(mcConfig(t, nil)), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	_, err = find(noLookup, "PRJ1-I-7")
	ae := appErr(t, err)
	assert.True(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), `retry with {"create": true}`)
}

// A lookup needs the record's external reference: without one, a create
// that failed after sending parks like one without a lookup URL.
func TestAmbiguousCreateWithoutReferenceParks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGatewayTimeout) }))
	defer srv.Close()
	vars := map[string]string{"CC_BUGS_SOURCE_URL": srv.URL + "/s?apiKey=k", "CC_LOOKUP_URL": srv.URL + "/l?apiKey=k"}
	acts := New(Deps{Configs: NewConfigStore(mcConfig(t, vars)), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	_, err := mcEnv(acts).ExecuteActivity(acts.SubmitFeedback, SubmitRequest{FeedbackType: "bugs", Body: []byte(`{"Title":"x"}`)})
	ae := appErr(t, err)
	assert.True(t, ae.NonRetryable())
	assert.Equal(t, ErrTypeAmbiguous, ae.Type())
}

// A feedback is submitted on behalf of the record's submitter (by email);
// one Centercode does not know — or none — goes as the feedback type's
// default_submitter instead of parking.
func TestSubmitterFallsBackToTheDefault(t *testing.T) {
	ccCfg := ccsim.DefaultConfig()
	for i := range ccCfg.Sources {
		ccCfg.Sources[i].DefaultSubmitter = "" // Submitter is required, as in Centercode without a Default Submitter
	}
	cc, err := ccsim.New(ccCfg)
	require.NoError(t, err)
	require.NoError(t, cc.Start())
	t.Cleanup(func() { _ = cc.Close() })
	vars := map[string]string{"CC_BUGS_SOURCE_URL": cc.SourceURL("beta", "bugs"), "CC_DEFAULT_SUBMITTER": "pm@example.com"}
	acts := New(Deps{Configs: NewConfigStore(mcConfig(t, vars)), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	submit := func(body string) string {
		v, err := mcEnv(acts).ExecuteActivity(acts.SubmitFeedback, SubmitRequest{FeedbackType: "bugs", Body: []byte(body), Reference: "PRJ1-I-1"})
		require.NoError(t, err)
		var res SubmitResult
		require.NoError(t, v.Get(&res))
		f, ok := cc.Feedback(mustParse(t, res.FeedbackID))
		require.True(t, ok)
		return f.Submitter
	}
	assert.Equal(t, "ada@example.com", submit(`{"Title":"a","Submitter":"Ada@Example.com"}`), "a Centercode user: on their behalf")
	assert.Equal(t, "pm@example.com", submit(`{"Title":"b","Submitter":"stranger@example.org"}`), "unknown to Centercode: the default")
	assert.Equal(t, "pm@example.com", submit(`{"Title":"c"}`), "none: the default")
}

func mustParse(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}
