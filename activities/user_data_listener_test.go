package activities

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/dedup"
)

// Only the documented unknown-user answer (404 naming the email element,
// Assumption 4) skips a person; any other 404 — a wrong listener URL above
// all — parks with Centercode's own words instead of dropping everyone's data.
func TestUserDataListener404(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		skipped    bool
	}{
		{"unknown user", `{"error":"not_found","message":"no user with this email","element":"email"}`, true},
		{"unknown listener", `{"error":"not_found","message":"unknown listener"}`, false},
		{"a 404 naming nothing", `<html>Not Found</html>`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			cfg := mcConfig(t, map[string]string{"CC_USER_DATA_LISTENER_URL": srv.URL + "/l?apiKey=k"})
			acts := New(Deps{Configs: NewConfigStore(cfg), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			v, err := mcEnv(acts).ExecuteActivity(acts.PostUserData, PostUserDataRequest{Email: "ada@example.com", Body: []byte(`{"email":"ada@example.com"}`)})
			if tt.skipped {
				require.NoError(t, err)
				var res PostUserDataResult
				require.NoError(t, v.Get(&res))
				assert.True(t, res.UnknownUser)
				return
			}
			ae := appErr(t, err)
			assert.True(t, ae.NonRetryable(), "parks")
			assert.Contains(t, ae.Message(), "404")
		})
	}
}

// The write ledger keeps one listener write per workflow step however often
// the step runs: a rerun after a confirmed write writes nothing; a failed
// attempt releases its claim so the retry writes; an attempt that finds the
// step claimed by another still running retries instead of writing; without
// the ledger (no Redis, or an old history's step 0) every attempt writes.
func TestPostUserDataWriteLedger(t *testing.T) {
	var posts atomic.Int64
	answer := atomic.Int64{} // status code of the next answer (0: 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch code := int(answer.Swap(0)); code {
		case 0:
			_, _ = w.Write([]byte(`{"ok":true}`))
		case http.StatusNotFound:
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"error":"not_found","message":"no user with this email","element":"email"}`))
		default:
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"error":"unavailable"}`))
		}
	}))
	defer srv.Close()
	rdb := ledgerRedis(t)
	prefix := fmt.Sprintf("ahacc:test:written:%d:", time.Now().UnixNano())
	ledger := dedup.New(rdb, time.Minute, prefix, dedup.PendingFor(time.Minute))
	cfg := mcConfig(t, map[string]string{"CC_USER_DATA_LISTENER_URL": srv.URL + "/l?apiKey=k"})
	acts := New(Deps{Configs: NewConfigStore(cfg), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	acts.Writes = ledger
	env := mcEnv(acts)
	post := func(step int) error {
		_, err := env.ExecuteActivity(acts.PostUserData, PostUserDataRequest{Email: "ada@example.com", Body: []byte(`{"email":"ada@example.com"}`), Step: step})
		return err
	}

	require.NoError(t, post(1))
	require.NoError(t, post(1), "the step run again")
	assert.EqualValues(t, 1, posts.Load(), "one write for step 1")
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	stepKey := strings.TrimSuffix(strings.TrimPrefix(keys[0], prefix+"userdata:"), ":1") // workflow id:run id

	require.NoError(t, post(2))
	assert.EqualValues(t, 2, posts.Load(), "a new step writes")
	// The task run again with a signal more (its completion was refused for
	// it) maps newer data into the same step: that body is written too.
	_, err = env.ExecuteActivity(acts.PostUserData, PostUserDataRequest{Email: "ada@example.com", Body: []byte(`{"email":"ada@example.com","name":"Ada King"}`), Hash: "newer", Step: 2})
	require.NoError(t, err)
	assert.EqualValues(t, 3, posts.Load(), "step 2 again with another body writes it")

	answer.Store(http.StatusServiceUnavailable)
	require.Error(t, post(3))
	require.NoError(t, post(3), "the retry after a failed attempt")
	require.NoError(t, post(3))
	assert.EqualValues(t, 5, posts.Load(), "step 3: a failed and a written attempt, then nothing")

	answer.Store(http.StatusNotFound) // unknown user: nothing stored, nothing confirmed
	require.NoError(t, post(4))
	require.NoError(t, post(4))
	assert.EqualValues(t, 7, posts.Load(), "an unknown user's step is asked again")

	st, _, err := ledger.Claim(context.Background(), "userdata", stepKey+":5")
	require.NoError(t, err)
	require.Equal(t, dedup.Claimed, st)
	ae := appErr(t, post(5))
	assert.Equal(t, ErrTypeWriteInFlight, ae.Type())
	assert.False(t, ae.NonRetryable(), "retried until the other attempt ends or its claim expires")
	assert.EqualValues(t, 7, posts.Load(), "no write while another attempt holds the step")

	require.NoError(t, post(0))
	require.NoError(t, post(0))
	assert.EqualValues(t, 9, posts.Load(), "step 0 (histories from before the ledger): no ledger")

	acts.Writes = dedup.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), time.Minute, prefix)
	require.NoError(t, post(6), "Redis down: the write still goes")
	assert.EqualValues(t, 10, posts.Load())
}

// ledgerRedis is the real Redis CI starts (REDIS_TEST_URL, default
// 127.0.0.1:6379); skipped, saying so, when none answers.
func ledgerRedis(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Skipf("no Redis at %s (CI starts one): %v", url, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// A person's runs complete once synced (Remember): the write is decided from
// what earlier runs kept in Redis — an unchanged body writes nothing, a
// snapshot read before data already written is refused as stale (read Aha!
// afresh), a fresh read is always taken — and what was written is kept
// (Kept), so the next run starts from it. Redis down: the write still goes,
// not Kept (the run then keeps its state and stays).
func TestPostUserDataRemembersAcrossRuns(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	rdb := ledgerRedis(t)
	cfg := mcConfig(t, map[string]string{"CC_USER_DATA_LISTENER_URL": srv.URL + "/l?apiKey=k"})
	acts := New(Deps{Configs: NewConfigStore(cfg), Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	acts.Memo = dedup.NewMemo(rdb)
	email := fmt.Sprintf("ada-%d@example.com", time.Now().UnixNano())
	t.Cleanup(func() { _ = acts.Memo.Delete(context.Background(), personMemoKey(email)) })
	env := mcEnv(acts)
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	post := func(req PostUserDataRequest) PostUserDataResult {
		req.Email, req.Body, req.Remember = email, []byte(`{"email":"`+email+`"}`), true
		v, err := env.ExecuteActivity(acts.PostUserData, req)
		require.NoError(t, err)
		var res PostUserDataResult
		require.NoError(t, v.Get(&res))
		return res
	}

	res := post(PostUserDataRequest{Hash: "h1", FetchedAt: t0.Add(time.Minute)}) // a run's backfill snapshot
	assert.Equal(t, PostUserDataResult{Kept: true}, res)
	assert.EqualValues(t, 1, posts.Load())

	// The next runs know nothing themselves (LastHash, LastFetchedAt empty).
	res = post(PostUserDataRequest{Hash: "h1", FetchedAt: t0.Add(2 * time.Minute), Fresh: true})
	assert.Equal(t, PostUserDataResult{Unchanged: true, Kept: true}, res, "same body: nothing written")
	res = post(PostUserDataRequest{Hash: "h0", FetchedAt: t0})
	assert.True(t, res.Stale && !res.Unchanged, "a snapshot read before what was written")
	res = post(PostUserDataRequest{Hash: "h0", FetchedAt: t0.Add(90 * time.Second)})
	assert.True(t, res.Stale, "read before the unchanged read kept at 2m: still older than what Centercode holds")
	assert.EqualValues(t, 1, posts.Load())
	res = post(PostUserDataRequest{Hash: "h2", FetchedAt: t0, Fresh: true})
	assert.Equal(t, PostUserDataResult{Kept: true}, res, "a fresh read is what Aha! holds now (its clock may lag)")
	assert.EqualValues(t, 2, posts.Load())
	res = post(PostUserDataRequest{Hash: "h2", FetchedAt: t0.Add(3 * time.Minute)})
	assert.True(t, res.Unchanged)

	// The run's own knowledge counts where Redis lags it.
	res = post(PostUserDataRequest{Hash: "h9", FetchedAt: t0.Add(4 * time.Minute), LastHash: "h3", LastFetchedAt: t0.Add(5 * time.Minute)})
	assert.True(t, res.Stale)
	res = post(PostUserDataRequest{Hash: "h2", FetchedAt: t0.Add(3 * time.Minute)})
	assert.True(t, res.Unchanged, "the same write again (its task was lost): nothing to do, not stale")

	// Inside the coalescing window of the last write, nothing is written yet.
	res = post(PostUserDataRequest{Hash: "h5", FetchedAt: t0.Add(6 * time.Minute), Fresh: true, Window: time.Hour})
	assert.InDelta(t, time.Hour, res.Wait, float64(5*time.Second), "wait out the window of the write above")
	assert.EqualValues(t, 2, posts.Load())

	acts.Memo = dedup.NewMemo(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}))
	res = post(PostUserDataRequest{Hash: "h4", FetchedAt: t0.Add(6 * time.Minute), LastHash: "h2", LastFetchedAt: t0.Add(3 * time.Minute)})
	assert.Equal(t, PostUserDataResult{}, res, "Redis down: written, not kept")
	assert.EqualValues(t, 3, posts.Load())
	res = post(PostUserDataRequest{Hash: "h0", FetchedAt: t0})
	assert.True(t, res.Stale, "Redis down and the run knows nothing: a snapshot may be older than what was written; read Aha! afresh")
	res = post(PostUserDataRequest{Hash: "h5", FetchedAt: t0, Fresh: true})
	assert.Equal(t, PostUserDataResult{}, res, "a fresh read is written")
	assert.EqualValues(t, 4, posts.Load())
}

// The coalescing window across runs is PostUserData's to keep; within a run
// the workflow's loop spaces its own writes (from the sync's start), so a
// run that wrote already is not answered Wait for the time Centercode took
// to answer its last write (an extra timer and Aha! read; found by review).
func TestDecideWaitsOnlyForAnotherRunsWrite(t *testing.T) {
	now := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	kept := PersonKept{Hash: "h1", FetchedAt: now.Add(-3 * time.Second), WrittenAt: now.Add(-1800 * time.Millisecond)}
	req := PostUserDataRequest{Remember: true, Hash: "h2", FetchedAt: now, Fresh: true, Window: 2 * time.Second}
	res, write, _ := req.Decide(kept, now)
	assert.False(t, write)
	assert.Equal(t, 200*time.Millisecond, res.Wait, "a new run waits out the last run's window")

	req.LastHash, req.LastFetchedAt = "h1", kept.FetchedAt // this run wrote h1 itself
	res, write, next := req.Decide(kept, now)
	assert.True(t, write, "its own loop spaced this sync: %+v", res)
	assert.Equal(t, now, next.WrittenAt)
}
