package simkit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInjectorZeroValueInjectsNothing(t *testing.T) {
	inj := NewInjector(Faults{})
	for i := 0; i < 100; i++ {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		require.False(t, inj.Before(w, r))
		require.False(t, inj.AfterCommit(w, r))
	}
	s := inj.Stats()
	assert.EqualValues(t, 100, s.Requests)
	assert.EqualValues(t, 0, s.Errors)
	assert.EqualValues(t, 100, s.Writes)
	assert.EqualValues(t, 0, s.CommitTimeouts)
}

func TestInjectorErrorRate(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		codes []int
		lo    int
		hi    int
	}{
		{"none", 0, nil, 0, 0},
		{"all", 1, []int{503}, 1000, 1000},
		{"thirty percent", 0.3, nil, 240, 360},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj := NewInjector(Faults{ErrorRate: tc.rate, ErrorCodes: tc.codes, Seed: 7})
			got := 0
			seen := map[int]bool{}
			for i := 0; i < 1000; i++ {
				w := httptest.NewRecorder()
				if inj.Before(w, httptest.NewRequest(http.MethodGet, "/x", nil)) {
					got++
					seen[w.Code] = true
					var body map[string]any
					require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
					assert.Contains(t, body["error"], "injected")
				}
			}
			assert.GreaterOrEqual(t, got, tc.lo)
			assert.LessOrEqual(t, got, tc.hi)
			assert.EqualValues(t, got, inj.Stats().Errors)
			allowed := tc.codes
			if allowed == nil {
				allowed = DefaultErrorCodes
			}
			for c := range seen {
				assert.Contains(t, allowed, c)
			}
			if tc.rate == 0.3 {
				assert.Len(t, seen, 4, "every default code is used")
			}
		})
	}
}

func TestInjectorSeedIsReproducible(t *testing.T) {
	run := func() []bool {
		inj := NewInjector(Faults{ErrorRate: 0.5, Seed: 42})
		var out []bool
		for i := 0; i < 50; i++ {
			out = append(out, inj.Before(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)))
		}
		return out
	}
	assert.Equal(t, run(), run())
}

func TestInjectorLatency(t *testing.T) {
	inj := NewInjector(Faults{Latency: 50 * time.Millisecond})
	start := time.Now()
	require.False(t, inj.Before(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)))
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	assert.EqualValues(t, 1, inj.Stats().Delayed)

	// A cancelled request stops waiting.
	inj.Set(Faults{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	require.True(t, inj.Before(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)))
	assert.Less(t, time.Since(start), time.Second)
}

func TestInjectorSetGet(t *testing.T) {
	inj := NewInjector(Faults{})
	f := Faults{ErrorRate: 0.2, ErrorCodes: []int{500}, Latency: time.Millisecond, CommitTimeoutRate: 0.1, Seed: 3}
	inj.Set(f)
	assert.Equal(t, f, inj.Get())
	g := inj.Get()
	g.ErrorCodes[0] = 999
	assert.Equal(t, 500, inj.Get().ErrorCodes[0], "Get returns a copy")
}

// TestCommitThenTimeout runs a real server: the write is committed, the client gets
// no answer, its connection is closed after the delay.
func TestCommitThenTimeout(t *testing.T) {
	inj := NewInjector(Faults{CommitTimeoutRate: 1, CommitTimeoutDelay: 100 * time.Millisecond})
	var mu sync.Mutex
	committed := 0
	rec := NewRecorder(10)
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inj.Before(w, r) {
			return
		}
		if r.Method == http.MethodPost {
			mu.Lock()
			committed++
			mu.Unlock()
		}
		if inj.AfterCommit(w, r) {
			return
		}
		WriteJSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
	}), nil)
	srv := httptest.NewServer(h)
	defer srv.Close()

	start := time.Now()
	resp, err := http.Post(srv.URL+"/things", "application/json", strings.NewReader(`{}`))
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err, "no response must arrive")
	assert.True(t, errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"), err.Error())
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	mu.Lock()
	assert.Equal(t, 1, committed, "the write was committed")
	mu.Unlock()
	assert.EqualValues(t, 1, inj.Stats().CommitTimeouts)

	// Reads are never chosen.
	resp, err = http.Get(srv.URL + "/things")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)

	// The recorder saw the dropped request with status 0 (it may be recorded after the
	// client saw the connection close).
	require.Eventually(t, func() bool { return rec.Total() == 2 }, 2*time.Second, 5*time.Millisecond)
	assert.Equal(t, map[int]int64{0: 1, 201: 1}, rec.StatusCounts())

	// A client timeout shorter than the delay ends the wait early.
	inj.Set(Faults{CommitTimeoutRate: 1, CommitTimeoutDelay: time.Hour})
	c := &http.Client{Timeout: 100 * time.Millisecond}
	start = time.Now()
	_, err = c.Post(srv.URL+"/things", "application/json", strings.NewReader(`{}`))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestRateLimiterWindows(t *testing.T) {
	l := NewRateLimiter(20, 300)
	now := time.Unix(1_700_000_000, 0)
	allowed := 0
	var last RateDecision
	for i := 0; i < 50; i++ {
		d := l.Allow("acct", now.Add(time.Duration(i)*time.Millisecond))
		if d.Allowed {
			allowed++
			assert.Equal(t, 20-allowed, d.Remaining, "request %d", i)
		} else {
			last = d
		}
	}
	assert.Equal(t, 20, allowed)
	assert.False(t, last.Allowed)
	assert.Equal(t, "second", last.Window)
	assert.Equal(t, 20, last.Limit)
	assert.Equal(t, 0, last.Remaining)
	assert.Equal(t, 1, last.Reset)
	assert.Equal(t, 1, last.RetryAfter)

	// Another key has its own budget.
	assert.True(t, l.Allow("other", now).Allowed)

	// After a second the per-second window frees.
	assert.True(t, l.Allow("acct", now.Add(1100*time.Millisecond)).Allowed)
	a, lim := l.Counts()
	assert.EqualValues(t, 22, a)
	assert.EqualValues(t, 30, lim)
}

func TestRateLimiterMinuteWindow(t *testing.T) {
	l := NewRateLimiter(0, 5) // per-second disabled
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 5; i++ {
		d := l.Allow("k", now.Add(time.Duration(i)*10*time.Second))
		require.True(t, d.Allowed)
		assert.Equal(t, "minute", d.Window)
	}
	d := l.Allow("k", now.Add(45*time.Second))
	require.False(t, d.Allowed)
	assert.Equal(t, 5, d.Limit)
	assert.Equal(t, 15, d.Reset, "the first request (t=0) leaves the window at t=60")
	assert.Equal(t, 15, d.RetryAfter)
	assert.True(t, l.Allow("k", now.Add(60*time.Second+time.Millisecond)).Allowed)

	l.SetLimits(0, 0)
	d = l.Allow("k", now)
	assert.True(t, d.Allowed)
	w := httptest.NewRecorder()
	d.WriteHeaders(w)
	assert.Empty(t, w.Header().Get("X-Ratelimit-Limit"), "no limit, no headers")
}

func TestRateDecisionHeaders(t *testing.T) {
	w := httptest.NewRecorder()
	RateDecision{Allowed: false, Limit: 20, Remaining: 0, Reset: 1, RetryAfter: 1, Window: "second"}.WriteHeaders(w)
	assert.Equal(t, "20", w.Header().Get("X-Ratelimit-Limit"))
	assert.Equal(t, "0", w.Header().Get("X-Ratelimit-Remaining"))
	assert.Equal(t, "1", w.Header().Get("X-Ratelimit-Reset"))
	assert.Equal(t, "1", w.Header().Get("Retry-After"))

	w = httptest.NewRecorder()
	RateDecision{Allowed: true, Limit: 300, Remaining: 299, Reset: 60, Window: "minute"}.WriteHeaders(w)
	assert.Equal(t, "299", w.Header().Get("X-Ratelimit-Remaining"))
	assert.Empty(t, w.Header().Get("Retry-After"))
}

func TestRateLimiterConcurrent(t *testing.T) {
	l := NewRateLimiter(20, 0)
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Allow("k", now).Allowed {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 20, ok)
}

func TestRecorderRingAndCounts(t *testing.T) {
	rc := NewRecorder(3)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		rc.Record(RequestRecord{Time: t0.Add(time.Duration(i) * time.Second), Method: "GET", Path: "/p", Pattern: "GET /p", Status: 200 + i%2})
	}
	first, last := rc.Span()
	assert.Equal(t, t0, first, "the span outlives the ring")
	assert.Equal(t, t0.Add(4*time.Second), last)
	ents := rc.Entries()
	require.Len(t, ents, 3)
	assert.Equal(t, 200, ents[0].Status) // the 3rd, 4th and 5th records: 200, 201, 200
	assert.Equal(t, 201, ents[1].Status)
	assert.EqualValues(t, 5, rc.Total())
	assert.Equal(t, map[string]map[int]int64{"GET /p": {200: 3, 201: 2}}, rc.Counts())
	assert.Equal(t, map[int]int64{200: 3, 201: 2}, rc.StatusCounts())
	assert.Equal(t, []string{"GET /p"}, rc.Routes())
	rc.Reset()
	assert.Empty(t, rc.Entries())
	first, last = rc.Span()
	assert.True(t, first.IsZero() && last.IsZero())
}

func TestRecorderMiddlewareUsesMuxPattern(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("GET /__sim/state", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	rc := NewRecorder(0)
	h := rc.Middleware(mux, func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/__sim/") })
	for _, p := range []string{"/items/1", "/items/2", "/nope", "/__sim/state"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	c := rc.Counts()
	assert.Equal(t, int64(2), c["GET /items/{id}"][200])
	assert.Equal(t, int64(1), c["GET /nope"][404])
	assert.Len(t, c, 2, "skipped paths are not recorded")
}

func TestWriteJSONAndReadJSON(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusTeapot, map[string]int{"a": 1})
	assert.Equal(t, http.StatusTeapot, w.Code)
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"a":1}`, w.Body.String())

	w = httptest.NewRecorder()
	WriteJSON(w, http.StatusOK, func() {})
	assert.Equal(t, http.StatusInternalServerError, w.Code)

	var v map[string]any
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"n": 12345678901234567890}`))
	require.NoError(t, ReadJSON(r, 1<<10, &v))
	assert.Equal(t, json.Number("12345678901234567890"), v["n"])
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 100)))
	require.Error(t, ReadJSON(r, 10, &v))
}
