package aha

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// failing serves fail(n) for the n-th request (1-based) or, when it returns
// 0, an idea.
func failing(t *testing.T, fail func(n int64) int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch code := fail(n.Add(1)); code {
		case 0:
			_, _ = w.Write([]byte(`{"idea":{"id":"1","reference_num":"PRJ1-I-1","name":"x"}}`))
		case -1:
			simkit.DropConnection(w)
		default:
			w.WriteHeader(code)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// pauses makes c record its read-retry pauses instead of sleeping them.
func pauses(c *Client) *[]time.Duration {
	var got []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { got = append(got, d); return ctx.Err() }
	return &got
}

// A GET that got no answer, or a 500/502/503/504, is repeated twice, after
// about 250 ms and 500 ms, each try waiting for the limiter.
func TestReadRetriesRepeatTransientGETs(t *testing.T) {
	for _, first := range []int{500, 502, 503, 504, -1} {
		srv, n := failing(t, func(n int64) int {
			if n <= 2 {
				return first
			}
			return 0
		})
		lim := &countLimiter{}
		c := New(srv.URL, testKey, WithLimiter(lim))
		got := pauses(c)
		rec, err := c.GetIdea(context.Background(), "PRJ1-I-1")
		require.NoError(t, err, "first answers %d", first)
		assert.Equal(t, "PRJ1-I-1", rec.ReferenceNum)
		assert.EqualValues(t, 3, n.Load(), "requests")
		assert.EqualValues(t, 3, lim.n.Load(), "each try waits for the budget")
		require.Len(t, *got, 2)
		assert.InDelta(t, 250*time.Millisecond, (*got)[0], float64(63*time.Millisecond))
		assert.InDelta(t, 500*time.Millisecond, (*got)[1], float64(125*time.Millisecond))
	}
}

// After the repeats the last error is returned, classified as before.
func TestReadRetriesGiveUpWithTheLastError(t *testing.T) {
	srv, n := failing(t, func(int64) int { return 503 })
	c := New(srv.URL, testKey)
	pauses(c)
	_, err := c.GetIdea(context.Background(), "x")
	var ae *Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 503, ae.Status)
	assert.True(t, ae.Retryable())
	assert.EqualValues(t, 3, n.Load())

	srv, n = failing(t, func(int64) int { return 503 })
	c = New(srv.URL, testKey, WithReadRetries(0, time.Second))
	pauses(c)
	_, err = c.GetIdea(context.Background(), "x")
	require.ErrorAs(t, err, &ae)
	assert.EqualValues(t, 1, n.Load(), "WithReadRetries(0, …) turns it off")
}

// Writes, 429s and answers that will not change are not repeated.
func TestReadRetriesLeaveTheRestAlone(t *testing.T) {
	for _, code := range []int{429, 400, 401, 403, 404, 422} {
		srv, n := failing(t, func(int64) int { return code })
		c := New(srv.URL, testKey)
		got := pauses(c)
		_, err := c.GetIdea(context.Background(), "x")
		require.Error(t, err)
		assert.EqualValues(t, 1, n.Load(), "GET answered %d", code)
		assert.Empty(t, *got)
	}
	for _, code := range []int{500, 504, -1} {
		srv, n := failing(t, func(int64) int { return code })
		c := New(srv.URL, testKey)
		got := pauses(c)
		_, err := c.CreateIdea(context.Background(), "PRJ1", map[string]any{"name": "x"})
		require.Error(t, err)
		assert.EqualValues(t, 1, n.Load(), "a write answered %d is the workflow's to retry", code)
		assert.Empty(t, *got)
	}
}

// The caller's cancellation ends the pause and returns the error it had.
func TestReadRetriesStopWhenTheCallerDoes(t *testing.T) {
	srv, n := failing(t, func(int64) int { return 500 })
	ctx, cancel := context.WithCancel(context.Background())
	c := New(srv.URL, testKey)
	c.sleep = func(ctx context.Context, d time.Duration) error { cancel(); return sleepCtx(ctx, d) }
	_, err := c.GetIdea(ctx, "x")
	var ae *Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 500, ae.Status)
	assert.EqualValues(t, 1, n.Load())
}

// A GET that timed out is not repeated: three timeouts could outlast the
// activity's start-to-close; Temporal's retry takes it.
func TestReadRetriesLeaveTimeoutsToTheWorkflow(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	c := New(srv.URL, testKey, WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	got := pauses(c)
	_, err := c.GetIdea(context.Background(), "x")
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Timeout())
	assert.EqualValues(t, 1, n.Load())
	assert.Empty(t, *got)
}
