package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a manual clock for the in-process limiter.
type fakeClock struct{ t time.Time }

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

// simulate has waiters queue on b, on the local store with a fake clock, as Wait does:
// each reserves the next slot (sleeping while it is further out than reserveAhead); it
// returns the slot times of n calls.
func simulate(t *testing.T, b *Budget, n int) []time.Time {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var grants []time.Time
	for len(grants) < n {
		ok, d, err := b.local.reserve(clk.t, b.limits, reserveAhead)
		require.NoError(t, err)
		if ok {
			grants = append(grants, clk.t.Add(d))
			continue
		}
		clk.t = clk.t.Add(max(d-reserveAhead, time.Millisecond))
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
		{"aha defaults", 20, 300, nil, 1000, 5, 300.0 / 60 / 1.01, 20, 300},
		{"aha defaults, no headroom", 20, 300, []Option{WithHeadroom(0)}, 1000, 5, 5, 20, 300},
		{"per second binds", 20, 6000, nil, 500, 20, 20 / 1.035, 20, 6000},
		{"bursts", 20, 300, []Option{WithBurst(10, 20)}, 1000, 20, 281.0 / 60 / 1.01, 20, 300},
		{"small", 5, 12, []Option{WithBurst(1, 12)}, 40, 5, 1.0 / 60 / 1.01, 5, 12},
		{"per second only", 10, 0, nil, 100, 10, 10 / 1.035, 10, 600},
		{"per minute only", 0, 60, nil, 100, 1, 1 / 1.01, 60, 60},
		{"fast per second", 50, 0, nil, 500, 49, 50 / 1.035, 50, 3000},
		{"centercode bench", 50, 3000, nil, 2000, 49, 50 / 1.035, 50, 3000},
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

// With one step for both limits a bursting limit loses nothing to the other: 300/min
// with burst 20 (281/min sustained) and 20/s with burst 1 give the burst of 20 (50.5 ms
// apart) plus 281 per 60.6 s. (Taking from one limit and then being refused by the other
// would burn the first one's tokens.)
func TestBurstingLimitLosesNoToken(t *testing.T) {
	b := New(nil, "burst", 20, 300, WithBurst(1, 20))
	require.Equal(t, KeyPrefix+"burst:m", b.limits[0].key)
	g := simulate(t, b, 200)
	end := g[0].Add(10 * time.Second)
	n := 0
	for _, at := range g {
		if at.Before(end) {
			n++
		}
	}
	assert.InDelta(t, 20+10*281/60.6, n, 1.5, "the burst of 20 plus 10 s of the minute rate")
	assert.LessOrEqual(t, maxInWindow(g, time.Second), 20)
	assert.LessOrEqual(t, maxInWindow(g, time.Minute), 300)
}

// A slot is reserved once and kept: a caller that makes its call late, and only then
// asks for the next, delays only its own call — the next slot is where the previous
// reservation put it, not where the late call happened. (Asking, sleeping and asking again
// lost that lateness on every call: 4 ms late at 50/s is 16% of the rate.)
func TestLateCallersKeepTheRate(t *testing.T) {
	b := New(nil, "late", 50, 0)
	iv := b.limits[0].every
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var slots []time.Time
	for len(slots) < 500 {
		ok, d, err := b.local.reserve(clk.t, b.limits, reserveAhead)
		require.NoError(t, err)
		require.True(t, ok)
		slots = append(slots, clk.t.Add(d))
		clk.t = clk.t.Add(d + 4*time.Millisecond) // the call goes 4 ms after its slot
	}
	for i := 1; i < len(slots); i++ {
		require.Equal(t, iv, slots[i].Sub(slots[i-1]), "slot %d", i)
	}
}

// A waiter that wakes more than maxLate after its slot pushes the schedule back by the
// excess before it calls: a stalled process must not send a late call into the window of
// the slots after it. Other waiters late in the same stall do not push again.
func TestLateWaiterPushesTheSchedule(t *testing.T) {
	var mu sync.Mutex
	var stall time.Duration // how far the budget's clock is ahead of the real one
	var onSleep func()
	var reported []time.Duration
	b := New(nil, "stall", 50, 0, WithOnWait(func(time.Duration) {
		mu.Lock()
		f := onSleep
		mu.Unlock()
		if f != nil {
			f()
		}
	}), WithOnPush(func(d time.Duration) { mu.Lock(); reported = append(reported, d); mu.Unlock() }))
	b.maxLate = 100 * time.Millisecond // a loaded test machine's timers may be 5 ms late
	b.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(stall)
	}
	reserve := func() time.Duration {
		ok, d, err := b.local.reserve(b.now(), b.limits, reserveAhead)
		require.NoError(t, err)
		require.True(t, ok)
		return d
	}
	iv := b.limits[0].every
	ctx := context.Background()
	start := b.now()
	require.Zero(t, reserve())
	// The waiter's slot is an interval out; while it sleeps 10 more are handed out, then
	// its sleep overruns by 300 ms: 200 ms beyond maxLate.
	onSleep = func() {
		for range 10 {
			reserve()
		}
		mu.Lock()
		stall += 300 * time.Millisecond
		onSleep = nil
		mu.Unlock()
	}
	require.NoError(t, b.Wait(ctx))
	n, by := b.Pushed()
	assert.Equal(t, int64(1), n)
	assert.InDelta(t, 200*time.Millisecond, by, float64(20*time.Millisecond), "pushed by the excess over maxLate")
	mu.Lock()
	assert.Equal(t, []time.Duration{by}, reported, "WithOnPush hears of it")
	mu.Unlock()
	// The next slot comes after the 11 handed out, plus the push.
	next := b.now().Add(reserve()).Sub(start)
	assert.InDelta(t, 12*iv+by, next, float64(10*time.Millisecond))

	// A second waiter, due in the same stall as a first one, does not push again.
	b.pushes.Store(0)
	b.pushed.Store(0)
	var wg sync.WaitGroup
	onSleep = func() {
		mu.Lock()
		defer mu.Unlock()
		if onSleep != nil {
			stall += 300 * time.Millisecond
			onSleep = nil
		}
	}
	for range 2 {
		wg.Go(func() { assert.NoError(t, b.Wait(ctx)) })
	}
	wg.Wait()
	n, by = b.Pushed()
	assert.Equal(t, int64(1), n, "one push for one stall")
	assert.InDelta(t, 200*time.Millisecond, by, float64(30*time.Millisecond))
}

// A push made while a waiter queued for its turn moved slots before the waiter's own, so
// it is no discount: the waiter, late in a stall of its own, pushes again.
func TestPushWhileQueuedIsNoDiscount(t *testing.T) {
	var mu sync.Mutex
	var stall time.Duration
	stallNext := false
	b := New(nil, "queued", 50, 0, WithOnWait(func(time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if stallNext {
			stall += 300 * time.Millisecond
			stallNext = false
		}
	}))
	b.maxLate = 100 * time.Millisecond
	b.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(stall)
	}
	ctx := context.Background()
	require.NoError(t, b.Wait(ctx)) // a first slot, so the next one is an interval out
	b.turn <- struct{}{}            // another waiter holds the turn
	done := make(chan error)
	go func() { done <- b.Wait(ctx) }()
	time.Sleep(20 * time.Millisecond)                     // the Wait is queued for the turn
	require.NoError(t, b.push(ctx, 220*time.Millisecond)) // its slot stays within reach
	mu.Lock()
	stallNext = true
	mu.Unlock()
	<-b.turn
	require.NoError(t, <-done)
	n, _ := b.Pushed()
	assert.Equal(t, int64(2), n, "the queued waiter, late by 300 ms, pushed too")
}

// Beyond reserveAhead nothing is taken: the answer is the wait until the next free slot.
func TestReserveBeyondReachTakesNothing(t *testing.T) {
	g := newLocalGCRA()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	limits := []limitSpec{*windowSpec("k", 3, 3, time.Second, 0)} // burst 3, 1 per second
	for range 3 {
		ok, d, err := g.reserve(now, limits, 0)
		require.NoError(t, err)
		require.True(t, ok)
		require.Zero(t, d)
	}
	ok, wait, _ := g.reserve(now, limits, 0)
	assert.False(t, ok)
	assert.Equal(t, time.Second, wait)
	ok, wait2, _ := g.reserve(now, limits, 0)
	assert.False(t, ok)
	assert.Equal(t, wait, wait2, "a refused reservation took nothing")
	ok, d, _ := g.reserve(now, limits, 5*time.Second)
	assert.True(t, ok)
	assert.Equal(t, time.Second, d, "within reach the slot is reserved")
	ok, d, _ = g.reserve(now, limits, 5*time.Second)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, d, "and the next one after it")
	ok, _, _ = g.reserve(now.Add(2*time.Second), limits, 0)
	assert.False(t, ok, "the reserved slots are taken")
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
