package activities

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/ratelimit"
)

// requireTransient asserts err classifies as a retryable Transient error.
func requireTransient(t *testing.T, err error) {
	t.Helper()
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, ErrTypeTransient, ae.Type(), ae.Message())
	assert.False(t, ae.NonRetryable(), ae.Message())
}

// cancelSoon is an activity context the worker cancels, as the SDK does with
// ErrWorkerShutdown once the stop timeout passes.
func cancelSoon(t *testing.T) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	go func() { time.Sleep(100 * time.Millisecond); cancel(errors.New("worker is now shutdown")) }()
	return ctx
}

// A call cancelled by a worker's shutdown is retried (on another worker), never
// parked: waiting on the rate budget, or in flight, on either far side.
func TestCancelledCallsAreTransient(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer slow.Close()
	spent := func() *ratelimit.Budget {
		b := ratelimit.New(nil, "t", 0, 1) // 1 a minute, in-process
		require.NoError(t, b.Wait(context.Background()))
		return b
	}

	t.Run("centercode waiting on the budget", func(t *testing.T) {
		_, err := centercode.New(centercode.WithLimiter(spent())).SubmitFeedback(cancelSoon(t), slow.URL+"/x?apiKey=k", []byte(`{}`))
		requireTransient(t, Classify("create bugs feedback", err))
	})
	t.Run("centercode in flight", func(t *testing.T) {
		_, err := centercode.New().SubmitFeedback(cancelSoon(t), slow.URL+"/x?apiKey=k", []byte(`{}`))
		requireTransient(t, Classify("create bugs feedback", err))
	})
	t.Run("aha waiting on the budget", func(t *testing.T) {
		_, err := aha.New(slow.URL, "key", aha.WithLimiter(spent())).GetRecord(cancelSoon(t), "idea", "1")
		requireTransient(t, Classify("fetch idea 1", err))
	})
	t.Run("aha in flight", func(t *testing.T) {
		_, err := aha.New(slow.URL, "key").GetRecord(cancelSoon(t), "idea", "1")
		requireTransient(t, Classify("fetch idea 1", err))
	})
}

// Both clients classify every HTTP answer from 400 to 599 the same way, through
// internal/farside (they once disagreed on 408): retryable (408, 429, 5xx), and
// ambiguous for a write (5xx).
func TestBothClientsClassifyStatusesAlike(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(path.Base(r.URL.Path))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error":"no"}`))
	}))
	defer srv.Close()
	ahaClient := aha.New(srv.URL, "key", aha.WithReadRetries(0, 0))
	for code := 400; code <= 599; code++ {
		_, ccErr := centercode.New().SubmitFeedback(context.Background(), srv.URL+"/"+strconv.Itoa(code)+"?apiKey=k", []byte(`{}`))
		_, ahaErr := ahaClient.GetRecord(context.Background(), "idea", strconv.Itoa(code))
		var cs, as statusError
		require.ErrorAs(t, ccErr, &cs, "HTTP %d", code)
		require.ErrorAs(t, ahaErr, &as, "HTTP %d", code)
		require.Equal(t, code, cs.StatusCode())
		require.Equal(t, code, as.StatusCode())
		want := code == 408 || code == 429 || code >= 500
		assert.Equal(t, want, cs.Retryable(), "Centercode, HTTP %d", code)
		assert.Equal(t, want, as.Retryable(), "Aha!, HTTP %d", code)
		assert.Equal(t, code >= 500, Ambiguous(ahaErr), "Aha!, HTTP %d", code)
		assert.Equal(t, code >= 500, Ambiguous(ccErr), "Centercode, HTTP %d", code)
		assert.Equal(t, code >= 500, centercode.Ambiguous(ccErr), "centercode.Ambiguous, HTTP %d", code)
		var cc, ah *temporal.ApplicationError
		require.ErrorAs(t, Classify("cc", ccErr), &cc)
		require.ErrorAs(t, Classify("aha", ahaErr), &ah)
		assert.Equal(t, !want, cc.NonRetryable(), "Centercode, HTTP %d", code)
		assert.Equal(t, !want, ah.NonRetryable(), "Aha!, HTTP %d", code)
	}
}
