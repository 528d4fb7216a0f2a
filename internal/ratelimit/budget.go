// Package ratelimit is the shared rate budget every Aha! and Centercode call
// passes through, across all worker processes. It guarantees:
//
//   - No window of a limit's period (any second, any minute) holds more granted
//     calls than the limit; a headroom of 1% (at least 35 ms) absorbs lateness
//     between a grant and the request reaching the far side.
//   - Both limits are stepped by one Lua script: a call is granted by both or
//     by neither. The state is GCRA arrival times in Redis
//     (ahacc:rate:<name>:s and :m), timed by the Redis server's clock.
//   - A waiter is handed a slot (a reservation, one round trip) and does not
//     ask again; one that wakes more than 5 ms late pushes the slots not yet
//     handed out back by the excess instead of bunching calls.
//   - With Redis down each process falls back to an in-process limiter with
//     the same limits (fail-open, the default: N processes may then send N
//     times the rate, the far side's 429s are the backstop), or Wait returns
//     the error (WithFailOpen(false)).
//
// Hand-built because no kept library reserves slots over Redis with
// sliding-window limits (redis_rate answers "retry after", x/time/rate is per
// process); BENCHMARKS.md §3 has the measurements behind each choice.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// KeyPrefix starts every Redis key of a budget: ahacc:rate:<name>:s and :m.
	KeyPrefix = "ahacc:rate:"

	// DefaultHeadroom is the fraction by which both periods are stretched (at least
	// minStretch).
	DefaultHeadroom = 0.01

	// minStretch is the least headroom a period gets (when headroom is on): how late the
	// first of N+1 consecutive calls may reach the far side before a one-second window
	// there could hold N+1. With the whole stack in one process on 2 busy cores, 1 in
	// 1,000 listener writes took 22–28 ms from Wait to the simulator's rate check in a
	// 10,000-write backfill at 50/s — more than the 25 ms that 30 ms leaves once maxLate
	// is taken; at 35 ms (three runs) and 40 ms none was a second's 51st.
	minStretch = 35 * time.Millisecond

	// reserveAhead is how far into the future a slot is handed out: less than any
	// limit's period, so a push (maxLate) moves the end of every window that starts at
	// the late call.
	reserveAhead = 250 * time.Millisecond

	// maxLate is how late after its slot a call may go as it is; a later one pushes the
	// schedule back by the excess first. It is part of minStretch: the rest (25 ms) is
	// for the way from Wait to the far side.
	maxLate = 5 * time.Millisecond

	redisTimeout  = time.Second     // one script run, before falling back
	probeInterval = 5 * time.Second // how long to stay local after a Redis error
	logInterval   = time.Minute     // at most one "degraded" log line per interval
	maxSleep      = 2 * time.Second // longest single sleep; long waits are re-checked
)

// Budget is a rate budget shared by every process that builds one with the same name on
// the same Redis. It is safe for concurrent use. A nil *Budget never waits.
type Budget struct {
	name     string
	limits   []limitSpec // tighter first
	redis    redis.UniversalClient
	local    *localGCRA
	onWait   func(time.Duration)
	onPush   func(time.Duration)
	log      *slog.Logger
	failOpen bool
	disabled bool
	turn     chan struct{}
	now      func() time.Time

	maxLate time.Duration // how late after its slot a call may go without a push
	pushes  atomic.Int64  // pushes made by waiters that woke later than that
	pushed  atomic.Int64  // the time they pushed the schedule back by, in ns

	mu        sync.Mutex
	degraded  bool      // last Redis attempt failed
	retryAt   time.Time // when to probe Redis again
	probing   bool      // one goroutine is probing Redis
	lastLogAt time.Time // last "degraded" log line
}

// limitSpec is one GCRA limit: a call every `every`, up to burst calls at once.
type limitSpec struct {
	key   string
	every time.Duration // emission interval: the spacing at the sustained rate
	burst int           // calls that may go at once (≥ 1)
}

// sustained is the limit's long-run rate in calls per second.
func (l limitSpec) sustained() float64 { return float64(time.Second) / float64(l.every) }

// tolerance is how far ahead of its TAT a call may come: burst-1 intervals.
func (l limitSpec) tolerance() time.Duration { return time.Duration(l.burst-1) * l.every }

type config struct {
	onWait         func(time.Duration)
	onPush         func(time.Duration)
	log            *slog.Logger
	failOpen       bool
	burstS, burstM int
	headroom       float64
}

// Option configures a Budget.
type Option func(*config)

// WithOnWait calls f with the duration of every sleep Wait is about to make (a long wait is
// made of several sleeps of at most 2 s). The worker heartbeats the activity and counts
// waits through it. f must be quick and safe for concurrent use.
func WithOnWait(f func(d time.Duration)) Option { return func(c *config) { c.onWait = f } }

// WithOnPush calls f with d each time a late waiter pushed the schedule back by d (see
// Pushed): a process whose waiters wake late is short of CPU. f must be quick and safe
// for concurrent use.
func WithOnPush(f func(d time.Duration)) Option { return func(c *config) { c.onPush = f } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithFailOpen chooses what happens when Redis does not answer: true (the default) limits
// per process with an in-process limiter; false makes Wait return the error.
func WithFailOpen(on bool) Option { return func(c *config) { c.failOpen = on } }

// WithBurst sets how many calls may go out at once for the per-second and the per-minute
// limit (default 1; values are clamped to 1..limit). A burst B lowers that limit's
// sustained rate to limit-B+1 per period, so no window of the period ever holds more than
// the limit.
func WithBurst(perSecond, perMinute int) Option {
	return func(c *config) { c.burstS, c.burstM = perSecond, perMinute }
}

// WithHeadroom stretches both periods by the fraction f (default 0.01, at least 35 ms when
// above 0; clamped to 0..0.5), leaving that much slack for lateness between a slot and the
// request reaching the far side.
func WithHeadroom(f float64) Option { return func(c *config) { c.headroom = f } }

// New returns the budget name on rdb allowing perSecond calls in any second and perMinute
// calls in any minute. A limit ≤ 0 is not enforced; with both ≤ 0 the budget never waits.
// A nil rdb gives an in-process budget (the fail-open fallback, always).
func New(rdb redis.UniversalClient, name string, perSecond, perMinute int, opts ...Option) *Budget {
	cfg := config{failOpen: true, headroom: DefaultHeadroom}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	cfg.headroom = min(max(cfg.headroom, 0), 0.5)

	b := &Budget{
		name:     name,
		redis:    rdb,
		local:    newLocalGCRA(),
		onWait:   cfg.onWait,
		onPush:   cfg.onPush,
		log:      cfg.log,
		failOpen: cfg.failOpen,
		now:      time.Now,
		turn:     make(chan struct{}, 1),
		maxLate:  maxLate,
	}
	var sec, minute *limitSpec
	if perSecond > 0 {
		sec = windowSpec(KeyPrefix+name+":s", perSecond, cfg.burstS, time.Second, cfg.headroom)
	}
	if perMinute > 0 {
		minute = windowSpec(KeyPrefix+name+":m", perMinute, cfg.burstM, time.Minute, cfg.headroom)
	}
	switch {
	case sec != nil && minute != nil:
		if sec.sustained() < minute.sustained() {
			b.limits = []limitSpec{*sec, *minute}
		} else {
			b.limits = []limitSpec{*minute, *sec}
		}
	case sec != nil:
		b.limits = []limitSpec{*sec}
	case minute != nil:
		b.limits = []limitSpec{*minute}
	default:
		b.disabled = true
	}
	return b
}

// Disabled returns a Budget that never waits (for the "limiter disabled" benchmark).
func Disabled() *Budget { return &Budget{disabled: true} }

// SustainedRate is the long-run calls per second a default Budget with these limits
// grants (the tighter limit after headroom): what a producer feeding callers of the
// budget should pace itself at. 0 when neither limit is set.
func SustainedRate(perSecond, perMinute int) float64 {
	r := 0.0
	if perSecond > 0 {
		r = windowSpec("", perSecond, 0, time.Second, DefaultHeadroom).sustained()
	}
	if perMinute > 0 {
		if m := windowSpec("", perMinute, 0, time.Minute, DefaultHeadroom).sustained(); r == 0 || m < r {
			r = m
		}
	}
	return r
}

// windowSpec is the GCRA limit that never grants more than n calls in any window of
// period, over the period stretched by headroom: burst b (0 means 1) and rate n-b+1 (a
// burst B grants up to B + R - 1 calls in a window). The interval is rounded up: a
// nanosecond too long is safe, too short is not.
func windowSpec(key string, n, b int, period time.Duration, headroom float64) *limitSpec {
	stretch := time.Duration(float64(period) * headroom)
	if headroom > 0 {
		stretch = max(stretch, minStretch)
	}
	p := period + stretch
	b = min(max(b, 1), n)
	rate := time.Duration(n - b + 1)
	return &limitSpec{key: key, every: (p + rate - 1) / rate, burst: b}
}

// Name returns the budget's name (the <name> in its Redis keys).
func (b *Budget) Name() string {
	if b == nil {
		return ""
	}
	return b.name
}

// Wait blocks until a call is allowed by every limit: it reserves the next slot and
// sleeps until it; a waiter that wakes more than maxLate after its slot first pushes the
// schedule back by the excess (less what this process pushed meanwhile). It returns ctx's error if ctx ends first (a slot already
// reserved is then left unused), and a Redis error only with WithFailOpen(false).
func (b *Budget) Wait(ctx context.Context) error {
	if b == nil || b.disabled {
		return ctx.Err()
	}
	s, err := b.reserveSlot(ctx)
	if err != nil {
		return err
	}
	// Pushes finished from here on moved only slots after this one (see push).
	pushed := b.pushed.Load()
	if err := b.sleep(ctx, s.latest.Sub(b.now())); err != nil {
		return err
	}
	// What this process pushed since the slot was reserved counts: one stall makes
	// every waiter due in it late, and the first push covers the others.
	if late := b.now().Sub(s.earliest) - b.maxLate - time.Duration(b.pushed.Load()-pushed); late > 0 {
		return b.push(ctx, late)
	}
	return nil
}

// Pushed is how many late waiters pushed the schedule back, and by how much in all.
func (b *Budget) Pushed() (int64, time.Duration) {
	if b == nil {
		return 0, 0
	}
	return b.pushes.Load(), time.Duration(b.pushed.Load())
}

// push moves every limit's TAT d later (where Redis keeps them, or locally while it is
// down), so that the slots not yet handed out keep their distance from a late call.
//
// A push is counted (Pushed, and the discount a waiter late in the same stall takes) only
// once it is done: a waiter discounts only pushes that finished after its own slot was
// reserved, which moved slots after its own.
func (b *Budget) push(ctx context.Context, d time.Duration) error {
	done, err := b.viaRedis(ctx, func(rctx context.Context) error {
		return pushRedis(rctx, b.redis, b.limits, d)
	})
	if err != nil {
		return err
	}
	if !done {
		b.local.push(b.now(), b.limits, d)
	}
	b.pushes.Add(1)
	b.pushed.Add(int64(d))
	if b.onPush != nil {
		b.onPush(d)
	}
	return nil
}

// viaRedis runs f on Redis when the budget uses it (always while Redis is healthy; while
// it is not, only for the goroutine probing it): true when f ran and succeeded. A Redis
// error puts the budget on its local fallback (false, nil), or is returned with
// fail-open off; ctx's own error is returned as it is.
func (b *Budget) viaRedis(ctx context.Context, f func(context.Context) error) (bool, error) {
	if b.redis == nil || (b.failOpen && !b.useRedis()) {
		return false, nil
	}
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	err := f(rctx)
	cancel()
	if err == nil {
		b.redisOK()
		return true, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		b.probeDone()
		return false, cerr
	}
	b.redisFailed(err)
	if !b.failOpen {
		return false, fmt.Errorf("rate budget %q: redis: %w", b.name, err)
	}
	return false, nil
}

// slot is when a reserved slot is on this process's clock: the store answered a wait
// counted from some moment between asking and reading the answer. A waiter sleeps until
// the latest (never calling before its slot: that would bunch it with the slot before)
// and counts its lateness from the earliest (so an answer read late, a stalled process,
// shows as lateness and pushes the schedule, instead of hiding as a later slot).
type slot struct{ earliest, latest time.Time }

// reserveSlot takes the turn of this process's waiters and reserves a slot, sleeping
// while the next free one is further out than reserveAhead.
func (b *Budget) reserveSlot(ctx context.Context) (slot, error) {
	// One waiter per Budget (per process) asks at a time; the others queue here. This
	// keeps N waiting activities from polling Redis N times per slot and serves them in
	// order of arrival.
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return slot{}, ctx.Err()
	}
	defer func() { <-b.turn }()
	for {
		if err := ctx.Err(); err != nil {
			return slot{}, err
		}
		ok, at, err := b.attempt(ctx)
		if err != nil {
			return slot{}, err
		}
		if ok {
			return at, nil
		}
		if err := b.sleep(ctx, max(at.latest.Sub(b.now())-reserveAhead, time.Millisecond)); err != nil {
			return slot{}, err
		}
	}
}

// sleep sleeps d (in steps of at most maxSleep, each reported to onWait) or until ctx ends.
func (b *Budget) sleep(ctx context.Context, d time.Duration) error {
	for d > 0 {
		step := min(d, maxSleep)
		d -= step
		if b.onWait != nil {
			b.onWait(step)
		}
		t := time.NewTimer(step)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}

// attempt asks for a slot within reserveAhead: (true, the slot) when reserved, (false,
// the next free slot) when that is further out.
func (b *Budget) attempt(ctx context.Context) (bool, slot, error) {
	var (
		ok bool
		at slot
	)
	done, err := b.viaRedis(ctx, func(rctx context.Context) error {
		asked := b.now()
		var d time.Duration
		var err error
		ok, d, err = reserveRedis(rctx, b.redis, b.limits, reserveAhead)
		at = slot{earliest: asked.Add(d), latest: b.now().Add(d)}
		return err
	})
	if err != nil || done {
		return ok, at, err
	}
	now := b.now()
	ok, d, err := b.local.reserve(now, b.limits, reserveAhead)
	return ok, slot{earliest: now.Add(d), latest: now.Add(d)}, err
}

// useRedis reports whether this attempt should go to Redis: always when Redis is healthy;
// when it is not, only for the one goroutine that probes it after probeInterval.
func (b *Budget) useRedis() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.degraded {
		return true
	}
	if !b.probing && !b.now().Before(b.retryAt) {
		b.probing = true
		return true
	}
	return false
}

func (b *Budget) probeDone() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

func (b *Budget) redisOK() {
	b.mu.Lock()
	was := b.degraded
	b.degraded, b.probing = false, false
	b.mu.Unlock()
	if was {
		b.log.Info("rate budget back on redis; limits are shared again", "budget", b.name)
	}
}

func (b *Budget) redisFailed(err error) {
	now := b.now()
	b.mu.Lock()
	b.degraded, b.probing = true, false
	b.retryAt = now.Add(probeInterval)
	logIt := b.lastLogAt.IsZero() || now.Sub(b.lastLogAt) >= logInterval
	if logIt {
		b.lastLogAt = now
	}
	b.mu.Unlock()
	if !logIt {
		return
	}
	if b.failOpen {
		b.log.Warn("rate budget cannot reach redis; limiting per process until it answers",
			"budget", b.name, "error", err.Error())
	} else {
		b.log.Error("rate budget cannot reach redis; calls fail until it answers",
			"budget", b.name, "error", err.Error())
	}
}
