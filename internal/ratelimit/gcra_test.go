package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a manual clock for the in-process limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// maxInWindow is the largest number of grants inside any half-open window [t, t+span).
func maxInWindow(grants []time.Time, span time.Duration) int {
	best, j := 0, 0
	for i := range grants {
		for j < len(grants) && grants[j].Sub(grants[i]) < span {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

// simulate asks b for n grants as fast as it allows, on the local store with a fake clock,
// and returns the grant times.
func simulate(t *testing.T, b *Budget, n int) []time.Time {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := localStore{b.local, clk.now}
	var grants []time.Time
	for len(grants) < n {
		d, err := b.try(context.Background(), st)
		require.NoError(t, err)
		if d == 0 {
			grants = append(grants, clk.t)
			continue
		}
		clk.t = clk.t.Add(d)
	}
	return grants
}

func TestWindowsNeverExceededAndRateIsKept(t *testing.T) {
	tests := []struct {
		name                    string
		perSecond, perMinute    int
		opts                    []Option
		n                       int
		wantFirstSecond         int     // grants in the first second
		wantRate                float64 // sustained grants per second
		wantMaxSecond, wantMaxM int     // bounds that must hold in every window
	}{
		{"aha defaults", 20, 300, nil, 1000, 6, 300.0 / 60 / 1.01, 20, 300},
		{"aha defaults, no headroom", 20, 300, []Option{WithHeadroom(0)}, 1000, 5, 5, 20, 300},
		{"per second binds", 20, 6000, nil, 500, 20, 20 / 1.03, 20, 6000},
		{"bursts", 20, 300, []Option{WithBurst(10, 20)}, 1000, 20, 281.0 / 60 / 1.01, 20, 300},
		{"small", 5, 12, []Option{WithBurst(1, 12)}, 40, 5, 1.0 / 60 / 1.01, 5, 12},
		{"per second only", 10, 0, nil, 100, 10, 10 / 1.03, 10, 600},
		{"per minute only", 0, 60, nil, 100, 2, 1 / 1.01, 60, 60},
		{"fast per second: a quarter slot banked", 50, 0, nil, 500, 49, 50 / 1.03, 50, 3000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(nil, "sim", tc.perSecond, tc.perMinute, tc.opts...)
			g := simulate(t, b, tc.n)
			assert.LessOrEqual(t, maxInWindow(g, time.Second), tc.wantMaxSecond, "per-second window")
			assert.LessOrEqual(t, maxInWindow(g, time.Minute), tc.wantMaxM, "per-minute window")
			first := 0
			for _, at := range g {
				if at.Sub(g[0]) < time.Second {
					first++
				}
			}
			assert.Equal(t, tc.wantFirstSecond, first, "grants in the first second")
			// Sustained rate over the tail, after any initial burst is spent.
			tail := g[len(g)/2:]
			rate := float64(len(tail)-1) / tail[len(tail)-1].Sub(tail[0]).Seconds()
			assert.InEpsilon(t, tc.wantRate, rate, 0.01, "sustained rate %.4f/s", rate)
		})
	}
}

func TestTighterLimitAskedFirst(t *testing.T) {
	tests := []struct {
		perSecond, perMinute int
		opts                 []Option
		first                string
	}{
		{20, 300, nil, ":m"},
		{20, 6000, nil, ":s"},
		{1, 600, nil, ":s"},
		{5, 300, nil, ":s"}, // 5 per 1.02 s is tighter than 299 per 60.6 s
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/s %d/min", tc.perSecond, tc.perMinute), func(t *testing.T) {
			b := New(nil, "order", tc.perSecond, tc.perMinute, tc.opts...)
			require.Len(t, b.limits, 2)
			assert.Equal(t, KeyPrefix+"order"+tc.first, b.limits[0].key)
		})
	}
}

// countingStore counts the tokens taken per key.
type countingStore struct {
	store
	taken map[string]int
}

func (c countingStore) take(ctx context.Context, key string, limit redis_rate.Limit, cost int) (bool, time.Duration, error) {
	ok, wait, err := c.store.take(ctx, key, limit, cost)
	if ok {
		c.taken[key]++
	}
	return ok, wait, err
}

func TestBurstyFirstLimitBurnsNoToken(t *testing.T) {
	// 300/min with burst 20 (281/min sustained) is asked first; 20/s with burst 1 spaces
	// calls 50.5 ms apart, so without the peek most of the minute burst would be taken
	// for calls the per-second limit then refuses.
	for _, peek := range []bool{true, false} {
		t.Run(fmt.Sprintf("peek=%v", peek), func(t *testing.T) {
			b := New(nil, "burn", 20, 300, WithBurst(1, 20))
			require.Equal(t, KeyPrefix+"burn:m", b.limits[0].key)
			require.True(t, b.peek, "a bursting first limit turns the peek on")
			b.peek = peek
			clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			st := countingStore{localStore{b.local, clk.now}, map[string]int{}}
			grants := 0
			for clk.t.Before(time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)) {
				d, err := b.try(context.Background(), st)
				require.NoError(t, err)
				if d == 0 {
					grants++
				}
				clk.t = clk.t.Add(d)
			}
			if peek {
				assert.Zero(t, b.burned.Load())
				assert.Equal(t, grants, st.taken[KeyPrefix+"burn:m"], "every minute token taken became a call")
				// 20 at once plus 281/60.6 s for 10 s.
				assert.InDelta(t, 20+10*281/60.6, grants, 1.5)
			} else {
				assert.Positive(t, b.burned.Load())
				assert.Less(t, float64(grants), 20+10*281/60.6-5, "burned tokens cost calls")
			}
		})
	}
}

func TestPeekReportsWaitWithoutTaking(t *testing.T) {
	g := newLocalGCRA()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := windowSpec("k", 3, 3, time.Second, 0).limit // burst 3, 1 per second
	for range 3 {
		ok, _ := g.allowN(now, "k", lim, 0, 1)
		require.True(t, ok)
		ok, _ = g.allowN(now, "k", lim, 1, 1)
		require.True(t, ok)
	}
	ok, wait := g.allowN(now, "k", lim, 0, 1)
	assert.False(t, ok)
	assert.Equal(t, time.Second, wait)
	ok, wait2 := g.allowN(now, "k", lim, 1, 1)
	assert.False(t, ok)
	assert.Equal(t, wait, wait2, "peek and take agree on the wait")
	ok, _ = g.allowN(now.Add(wait), "k", lim, 1, 1)
	assert.True(t, ok, "the peeks took nothing")
}

func TestDisabledAndNil(t *testing.T) {
	ctx := context.Background()
	for _, b := range []*Budget{Disabled(), nil, New(nil, "off", 0, 0)} {
		start := time.Now()
		for range 1000 {
			require.NoError(t, b.Wait(ctx))
		}
		assert.Less(t, time.Since(start), 50*time.Millisecond)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, Disabled().Wait(cctx), context.Canceled)
}
