// Package ratelimit is the shared rate budget every Aha! (and Centercode) call passes
// through, across all worker processes: two GCRA limiters (per second and per minute)
// kept in Redis with github.com/go-redis/redis_rate/v10.
//
// # Two limits, one grant
//
// A call is granted only when both limiters allow it. redis_rate's GCRA does not record a
// refused call, so a refusal by the first limiter asked costs nothing, while a refusal by
// the second after the first has granted burns the first one's token (GCRA has no exact
// "give it back": a refund applied after the time it covered has passed would let a
// later call through early). The budget therefore:
//
//   - asks the limiter with the lower sustained rate first. It is the one that refuses in
//     steady state (for Aha!'s defaults the per-minute one: 300/min = 5/s < 20/s), and
//     with burst 1 (the default, below) it spaces grants at least its emission interval
//     apart (202 ms), far more than the other needs (50.5 ms), so the second limiter
//     never refuses and no token is burned: the achieved rate is the full budget.
//   - when the first limiter may burst (WithBurst > 1), peeks at the second one first
//     (AllowN with n = 0, which reports the tokens left without taking any) and takes
//     nothing when it would refuse. Only a race with another process between the peek
//     and the take can then burn a token — one, rarely (waiters within one process take
//     turns, so only two processes waking in the same fraction of a millisecond race).
//     The peek costs one more Redis round trip per attempt, which is why it is only made
//     when it can matter.
//
// One Wait therefore costs one Redis round trip per refusal and two per grant (one more
// each with the peek).
//
// # Sliding windows, not token buckets
//
// Aha! documents "20 per second and 300 per minute"; the simulator (and, conservatively,
// Aha! itself) enforces them as sliding windows: never more than N calls in any window of
// the period. A GCRA with rate R per period and burst B grants up to B + R - 1 calls in
// such a window, so a bucket with burst = N refilled at N per period would let 2N-1 calls
// through in the first period and draw 429s. The budget therefore uses rate N - B + 1
// with burst B, which never exceeds N in any window.
//
// By default a limit banks a quarter of a slot (autoLimit): with burst 1 every grant
// must be taken in its own slot, and a waiter that wakes late — a Redis round trip, timer
// slack, a busy machine: 1–2 ms — loses that time for good (3–4% of the rate at 300/min
// on a loaded machine, ~10% at 50/s). The budget therefore counts a call as 4 units with
// a burst of 5 units: a grant may come up to a quarter slot early, so lateness is made up,
// while any window still holds at most N calls. Where the quarter slot would leave less
// than minSlack of headroom (a slow per-second limit such as 10/s) it keeps burst 1.
// WithBurst sets whole-call bursts explicitly (burst 20 at 300/min gives 20 calls at once
// but only 281/min afterwards).
//
// A small headroom (default 1% and at least 30 ms, WithHeadroom) stretches both periods
// so that network jitter between the grant and the request reaching the far side cannot
// squeeze N+1 calls into one of its windows: any 301 consecutive grants at 300/min span
// at least 60.6 s instead of exactly 60 s. The sustained rate is then 99% of the limit
// per minute, 97% per second.
//
// # Redis outage
//
// With fail-open (the default) a Redis error makes the budget fall back to an in-process
// GCRA with the same limits, logged at most once a minute; Redis is probed again every
// few seconds and used as soon as it answers. While Redis is down the budget is per
// process (per Budget value): N worker processes may together send up to N times the
// rate, and the far side's 429s (handled by the clients' retry path) are the backstop.
// WithFailOpen(false) makes Wait return the Redis error instead.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

const (
	// KeyPrefix starts every Redis key of a budget: ahacc:rate:<name>:s and :m.
	KeyPrefix = "ahacc:rate:"

	// DefaultHeadroom is the fraction by which both periods are stretched (at least
	// minStretch).
	DefaultHeadroom = 0.01

	redisTimeout  = time.Second     // one limiter round trip, before falling back
	probeInterval = 5 * time.Second // how long to stay local after a Redis error
	logInterval   = time.Minute     // at most one "degraded" log line per interval
	maxSleep      = 2 * time.Second // longest single sleep; long waits are re-checked
	maxJitter     = time.Millisecond
)

// Budget is a rate budget shared by every process that builds one with the same name on
// the same Redis. It is safe for concurrent use. A nil *Budget never waits.
type Budget struct {
	name     string
	limits   []limitSpec // tighter first
	redis    *redis_rate.Limiter
	local    *localGCRA
	onWait   func(time.Duration)
	log      *slog.Logger
	failOpen bool
	disabled bool
	peek     bool // look at the second limit before taking from the first
	turn     chan struct{}
	now      func() time.Time

	burned atomic.Int64 // tokens of the first limit taken for a call the second refused

	mu        sync.Mutex
	degraded  bool      // last Redis attempt failed
	retryAt   time.Time // when to probe Redis again
	probing   bool      // one goroutine is probing Redis
	lastLogAt time.Time // last "degraded" log line
}

type limitSpec struct {
	key   string
	limit redis_rate.Limit
	cost  int // units one call takes (limit.Rate and Burst count units)
}

// interval is the spacing of calls at the limit's sustained rate.
func (l limitSpec) interval() time.Duration { return emission(l.limit) * time.Duration(l.cost) }

// sustained is the limit's long-run rate in calls per second.
func (l limitSpec) sustained() float64 {
	return float64(l.limit.Rate) / float64(l.cost) / l.limit.Period.Seconds()
}

// canBurst reports whether a grant may come before its slot (then the second limit is
// peeked at before the first is taken).
func (l limitSpec) canBurst() bool { return l.limit.Burst > l.cost }

type config struct {
	onWait         func(time.Duration)
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

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithFailOpen chooses what happens when Redis does not answer: true (the default) limits
// per process with an in-process limiter; false makes Wait return the error.
func WithFailOpen(on bool) Option { return func(c *config) { c.failOpen = on } }

// WithBurst sets how many calls may go out at once for the per-second and the per-minute
// limit (default: a quarter slot banked, see windowSpec; values are clamped to 1..limit). A burst B lowers that limit's
// sustained rate to limit-B+1 per period, so no window of the period ever holds more than
// the limit.
func WithBurst(perSecond, perMinute int) Option {
	return func(c *config) { c.burstS, c.burstM = perSecond, perMinute }
}

// WithHeadroom stretches both periods by the fraction f (default 0.01, clamped to 0..0.5),
// leaving that much slack for jitter between a grant and the request reaching the far side.
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
		local:    newLocalGCRA(),
		onWait:   cfg.onWait,
		log:      cfg.log,
		failOpen: cfg.failOpen,
		now:      time.Now,
		turn:     make(chan struct{}, 1),
	}
	if rdb != nil {
		b.redis = redis_rate.NewLimiter(keyed{rdb})
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
	b.peek = len(b.limits) == 2 && b.limits[0].canBurst()
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

const (
	// minStretch is the least headroom a period gets (when headroom is on): the jitter
	// between a grant and its request reaching the far side that a one-second window
	// tolerates. 1% of a second (10 ms) let 7 of 10,000 listener writes at 50/s arrive
	// as the 51st of a second under load.
	minStretch = 30 * time.Millisecond
	// minSlack is the headroom a quarter-slot bank must leave (else burst 1 is kept).
	minSlack = 20 * time.Millisecond
	// quarter: a call is 4 units, the bank 1 unit.
	quarter = 4
)

// windowSpec is the GCRA limit that never grants more than n calls in any window of
// period, over the period stretched by headroom. Burst b ≥ 1: b whole calls at once and
// rate n-b+1 (a burst B grants up to B + R - 1 calls in a window). b = 0: the default —
// a quarter slot banked (4 units a call, burst 5 units, rate 4n units: a grant may come
// T/4 early, so any window holds ⌊(W + T/4)/T⌋ + 1 ≤ n calls while the stretch exceeds
// T/4) when that leaves minSlack of the stretch, else burst 1.
func windowSpec(key string, n, b int, period time.Duration, headroom float64) *limitSpec {
	stretch := time.Duration(float64(period) * headroom)
	if headroom > 0 {
		stretch = max(stretch, minStretch)
	}
	p := period + stretch
	if b == 0 {
		if stretch-p/time.Duration(quarter*n) >= minSlack {
			return &limitSpec{key: key, cost: quarter, limit: redis_rate.Limit{Rate: quarter * n, Burst: quarter + 1, Period: p}}
		}
		b = 1
	}
	b = min(max(b, 1), n)
	return &limitSpec{key: key, cost: 1, limit: redis_rate.Limit{Rate: n - b + 1, Burst: b, Period: p}}
}

// Name returns the budget's name (the <name> in its Redis keys).
func (b *Budget) Name() string {
	if b == nil {
		return ""
	}
	return b.name
}

// Wait blocks until a call is allowed by every limit, sleeping the wait the limiter
// reports (plus a few milliseconds of jitter so waiters do not wake in step). It returns
// ctx's error if ctx ends first, and a Redis error only with WithFailOpen(false).
func (b *Budget) Wait(ctx context.Context) error {
	if b == nil || b.disabled {
		return ctx.Err()
	}
	// One waiter per Budget (per process) asks Redis at a time; the others queue here.
	// This keeps N waiting activities from polling Redis N times per grant, gives FIFO-ish
	// order, and leaves only cross-process races between a peek and its take.
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.turn }()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := b.attempt(ctx)
		if err != nil {
			return err
		}
		if d <= 0 {
			return nil
		}
		d += rand.N(min(d/16, maxJitter) + 1)
		d = min(d, maxSleep)
		if b.onWait != nil {
			b.onWait(d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// attempt asks for one grant: 0 when granted, else how long to wait before asking again.
func (b *Budget) attempt(ctx context.Context) (time.Duration, error) {
	if b.redis == nil {
		return b.try(ctx, localStore{b.local, b.now})
	}
	if !b.failOpen || b.useRedis() {
		rctx, cancel := context.WithTimeout(ctx, redisTimeout)
		d, err := b.try(rctx, redisStore{b.redis})
		cancel()
		if err == nil {
			b.redisOK()
			return d, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			b.probeDone()
			return 0, cerr
		}
		b.redisFailed(err)
		if !b.failOpen {
			return 0, fmt.Errorf("rate budget %q: redis: %w", b.name, err)
		}
	}
	return b.try(ctx, localStore{b.local, b.now})
}

// try asks every limit for one token, tighter first (after a peek at the second when the
// first may burst): 0 when all granted, else the wait the refusing limiter reports.
func (b *Budget) try(ctx context.Context, st store) (time.Duration, error) {
	if b.peek {
		l := b.limits[1]
		ok, wait, err := st.peek(ctx, l.key, l.limit, l.cost)
		if err != nil {
			return 0, err
		}
		if !ok {
			return max(wait, time.Millisecond), nil
		}
	}
	for i, l := range b.limits {
		ok, wait, err := st.take(ctx, l.key, l.limit, l.cost)
		if err != nil {
			return 0, err
		}
		if !ok {
			if i > 0 {
				b.burned.Add(1)
			}
			return max(wait, time.Millisecond), nil
		}
	}
	return 0, nil
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
