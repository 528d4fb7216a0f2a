package ratelimit

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
)

// The budget is what the Aha! and Centercode clients wait on.
var (
	_ aha.Limiter        = (*Budget)(nil)
	_ centercode.Limiter = (*Budget)(nil)
)

// testRedis connects to REDIS_TEST_URL (default redis://127.0.0.1:6379/0) or skips.
func testRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	u := os.Getenv("REDIS_TEST_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	require.NoError(t, err, "REDIS_TEST_URL")
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Skipf("no Redis answers at %s (set REDIS_TEST_URL; CI starts one): %v", opt.Addr, err)
	}
	return rdb
}

// uniqueName is a budget name no other test (or earlier run) uses; its keys are deleted
// at the end.
func uniqueName(t testing.TB, rdb redis.UniversalClient) string {
	name := "test:" + strings.ReplaceAll(t.Name(), "/", "_") + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { rdb.Del(context.Background(), KeyPrefix+name+":s", KeyPrefix+name+":m") })
	return name
}

// grantLog records when Waits returned.
type grantLog struct {
	mu sync.Mutex
	at []time.Time
}

func (g *grantLog) add() {
	now := time.Now()
	g.mu.Lock()
	g.at = append(g.at, now)
	g.mu.Unlock()
}

func (g *grantLog) sorted() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := append([]time.Time(nil), g.at...)
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// waitAll runs perWorker Waits on each budget from its own goroutine and logs the grants.
func waitAll(t *testing.T, budgets []*Budget, perWorker int) (*grantLog, time.Duration) {
	t.Helper()
	var g grantLog
	var wg sync.WaitGroup
	errs := make(chan error, len(budgets)*perWorker)
	start := time.Now()
	for _, b := range budgets {
		wg.Go(func() {
			for range perWorker {
				if err := b.Wait(context.Background()); err != nil {
					errs <- err
					return
				}
				g.add()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return &g, time.Since(start)
}

// 1: 20/s — 60 Waits from 4 goroutines take about 3 s (the first at once, then one every
// 50.5 ms) and no 1 s window holds more than 20 grants.
func TestPerSecondLimitAcrossGoroutines(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	b := New(rdb, uniqueName(t, rdb), 20, 6000)
	g, elapsed := waitAll(t, []*Budget{b, b, b, b}, 15)
	grants := g.sorted()
	require.Len(t, grants, 60)
	ei := b.limits[0].every
	t.Logf("60 grants in %v (theory %v), busiest 1 s window %d", elapsed, 59*ei, maxInWindow(grants, time.Second))
	assert.GreaterOrEqual(t, elapsed, 59*ei-10*time.Millisecond)
	assert.Less(t, elapsed, 4*time.Second, "the budget is used, not just respected")
	assert.LessOrEqual(t, maxInWindow(grants, time.Second), 20)
}

// 2a: 5/s and 12/min with the whole minute as burst — the first 12 calls go out at the
// per-second pace, the 13th within the minute waits for the minute to pass.
func TestPerMinuteLimitHoldsTheMinute(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	b := New(rdb, uniqueName(t, rdb), 5, 12, WithBurst(1, 12))
	require.Equal(t, ":m", b.limits[0].key[len(b.limits[0].key)-2:], "12/min is tighter than 5/s")
	g, elapsed := waitAll(t, []*Budget{b, b}, 6)
	grants := g.sorted()
	t.Logf("12 grants in %v", elapsed)
	assert.GreaterOrEqual(t, elapsed, 11*b.limits[1].every-10*time.Millisecond, "paced by 5/s")
	assert.Less(t, elapsed, 3500*time.Millisecond)
	assert.LessOrEqual(t, maxInWindow(grants, time.Second), 5)

	time.Sleep(250 * time.Millisecond) // past the per-second spacing: only the minute is left
	ok, d, err := reserveRedis(context.Background(), b.redis, b.limits, 0)
	require.NoError(t, err)
	require.False(t, ok, "nothing within reach")
	t.Logf("13th call would wait %v", d)
	assert.Greater(t, d, 55*time.Second, "the 13th call waits for the minute")
	assert.Less(t, d, 61*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, b.Wait(ctx), context.DeadlineExceeded)
}

// 2b: with the default burst the per-minute limit spreads calls evenly: 5/s and 120/min
// grant every 505 ms (120 per 60.6 s), not every 202 ms.
func TestPerMinuteLimitSpreadsCalls(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	b := New(rdb, uniqueName(t, rdb), 5, 120)
	_, elapsed := waitAll(t, []*Budget{b, b}, 2)
	t.Logf("4 grants in %v", elapsed)
	assert.GreaterOrEqual(t, elapsed, 3*505*time.Millisecond-10*time.Millisecond)
	assert.Less(t, elapsed, 2500*time.Millisecond)
}

// 3: two Budgets on two connections (two worker processes) with one name share one limit;
// a budget with another name is not slowed by them.
func TestBudgetsWithOneNameShareTheLimit(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	name := uniqueName(t, rdb)
	other := redis.NewClient(rdb.(*redis.Client).Options())
	t.Cleanup(func() { _ = other.Close() })
	b1 := New(rdb, name, 20, 300000)
	b2 := New(other, name, 20, 300000)

	otherName := New(rdb, uniqueName(t, rdb), 20, 300000)
	done := make(chan time.Duration)
	go func() {
		time.Sleep(300 * time.Millisecond) // while b1 and b2 are busy
		start := time.Now()
		for range 5 {
			_ = otherName.Wait(context.Background())
		}
		done <- time.Since(start)
	}()

	g, elapsed := waitAll(t, []*Budget{b1, b2, b1, b2}, 10)
	grants := g.sorted()
	ei := b1.limits[0].every
	t.Logf("40 grants over two budgets in %v (theory %v), busiest 1 s window %d", elapsed, 39*ei, maxInWindow(grants, time.Second))
	assert.GreaterOrEqual(t, elapsed, 39*ei-10*time.Millisecond)
	assert.Less(t, elapsed, 3*time.Second)
	assert.LessOrEqual(t, maxInWindow(grants, time.Second), 20)
	assert.Less(t, <-done, 4*ei+100*time.Millisecond, "another name has its own budget")
}

// The keys in Redis are exactly ahacc:rate:<name>:s and :m, and they expire.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	name := uniqueName(t, rdb)
	require.NoError(t, New(rdb, name, 20, 300).Wait(context.Background()))
	ctx := context.Background()
	for _, k := range []string{KeyPrefix + name + ":s", KeyPrefix + name + ":m"} {
		ttl, err := rdb.TTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, "key %s exists with a TTL", k)
		assert.LessOrEqual(t, ttl, time.Second)
	}
	n, err := rdb.Exists(ctx, "rate:"+KeyPrefix+name+":m").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "redis_rate's own prefix is not used")
}

// A limit so loose its bucket is full again within the same second still gets a valid
// expiry (the script once sent EX 0, Redis refused it, and the budget quietly fell back to
// per-process limiting).
func TestRedisLooseLimitKeepsRedis(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	b := New(rdb, uniqueName(t, rdb), 1_000_000_000, 1_000_000_000, WithFailOpen(false))
	for range 100 {
		require.NoError(t, b.Wait(context.Background()))
	}
}

// slowRedis is a go-redis hook that holds every command for delay (once armed), before
// sending it or, with answers, after its answer came.
type slowRedis struct {
	answers bool
	mu      sync.Mutex
	delay   time.Duration
}

func (h *slowRedis) arm(d time.Duration) {
	h.mu.Lock()
	h.delay = d
	h.mu.Unlock()
}

func (h *slowRedis) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *slowRedis) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		d := h.delay
		h.mu.Unlock()
		if !h.answers {
			time.Sleep(d)
		}
		err := next(ctx, cmd)
		if h.answers {
			time.Sleep(d)
		}
		return err
	}
}

func (h *slowRedis) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// slowClient is a second connection to rdb's Redis through hook.
func slowClient(t *testing.T, rdb redis.UniversalClient, hook *slowRedis) *redis.Client {
	slow := redis.NewClient(rdb.(*redis.Client).Options())
	t.Cleanup(func() { _ = slow.Close() })
	slow.AddHook(hook)
	return slow
}

// A slot's answer read late (a stalled process) is lateness, not a later slot: the
// waiter pushes the schedule back as if it had woken late.
func TestRedisSlowAnswerCountsAsLate(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	hook := &slowRedis{answers: true}
	b := New(slowClient(t, rdb, hook), uniqueName(t, rdb), 50, 0)
	b.maxLate = 100 * time.Millisecond
	ctx := context.Background()
	require.NoError(t, b.Wait(ctx))
	n, _ := b.Pushed()
	require.Zero(t, n)
	hook.arm(300 * time.Millisecond)
	require.NoError(t, b.Wait(ctx))
	n, by := b.Pushed()
	assert.Equal(t, int64(1), n)
	assert.InDelta(t, 200*time.Millisecond, by, float64(50*time.Millisecond), "late by the answer's 300 ms less maxLate")
}

// A reservation that reached Redis late never makes its call early: the waiter sleeps the
// answered wait from when the answer came.
func TestRedisSlowAskNeverCallsEarly(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	hook := &slowRedis{}
	b := New(slowClient(t, rdb, hook), uniqueName(t, rdb), 2, 0) // a slot every 520 ms
	b.maxLate = time.Second                                      // no pushes: only the spacing is looked at
	ctx := context.Background()
	require.NoError(t, b.Wait(ctx))
	first := time.Now()
	hook.arm(300 * time.Millisecond)
	require.NoError(t, b.Wait(ctx))
	assert.GreaterOrEqual(t, time.Since(first), b.limits[0].every-5*time.Millisecond,
		"the second call waits its whole interval, however late the reservation reached Redis")
}

// Against real Redis both limits are stepped at once: a bursting limit loses no token to
// the other one.
func TestRedisBurstingLimitLosesNoToken(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	b := New(rdb, uniqueName(t, rdb), 20, 300, WithBurst(1, 20))
	g, elapsed := waitAll(t, []*Budget{b, b, b, b}, 10)
	grants := g.sorted()
	t.Logf("40 grants in %v, busiest 1 s window %d", elapsed, maxInWindow(grants, time.Second))
	assert.LessOrEqual(t, maxInWindow(grants, time.Second), 20)
	// 20 minute tokens at once (at 20/s) plus 281 per 60.6 s: 40 calls need about 4.3 s.
	assert.InDelta(t, 20/(281/60.6), elapsed.Seconds(), 0.4)
}

// Many waiters on one budget (a backlog, as a backfill makes) get the full rate: each
// reserves its slot once, so no waiter's lateness is lost.
func TestRedisBacklogKeepsTheRate(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	b := New(rdb, uniqueName(t, rdb), 50, 3000)
	budgets := make([]*Budget, 40)
	for i := range budgets {
		budgets[i] = b
	}
	g, _ := waitAll(t, budgets, 5)
	grants := g.sorted()
	span := grants[len(grants)-1].Sub(grants[0])
	theory := time.Duration(len(grants)-1) * b.limits[0].every
	t.Logf("%d grants in %v (theory %v, %.4f×), busiest 1 s window %d", len(grants), span, theory,
		span.Seconds()/theory.Seconds(), maxInWindow(grants, time.Second))
	assert.Less(t, span.Seconds()/theory.Seconds(), 1.01, "the backlog is served at the budget's rate")
	assert.LessOrEqual(t, maxInWindow(grants, time.Second), 50)
}

// 4: cancellation returns promptly, and a cancelled Wait takes no token.
func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	b := New(rdb, uniqueName(t, rdb), 1, 0)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, b.Wait(cancelled), context.Canceled)
	n, err := rdb.Exists(context.Background(), b.limits[0].key).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a cancelled Wait does not touch the budget")

	require.NoError(t, b.Wait(context.Background()))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, b.Wait(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 250*time.Millisecond)

	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	start = time.Now()
	require.ErrorIs(t, b.Wait(ctx2), context.Canceled)
	assert.Less(t, time.Since(start), 200*time.Millisecond)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// 5: with Redis unreachable the budget still limits, in process, and says so once.
func TestFailOpenLimitsLocally(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: closedPort(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	var logs syncBuffer
	b := New(rdb, "failopen", 10, 0, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	g, elapsed := waitAll(t, []*Budget{b, b}, 6)
	grants := g.sorted()
	ei := b.limits[0].every
	t.Logf("12 local grants in %v, busiest 1 s window %d", elapsed, maxInWindow(grants, time.Second))
	assert.GreaterOrEqual(t, elapsed, 11*ei-10*time.Millisecond)
	assert.Less(t, elapsed, 3*time.Second)
	assert.LessOrEqual(t, maxInWindow(grants, time.Second), 10)
	assert.Equal(t, 1, strings.Count(logs.String(), "cannot reach redis"), logs.String())
	assert.Contains(t, logs.String(), "budget=failopen")
}

// With fail-open off, an unreachable Redis is an error, returned promptly.
func TestFailClosedReturnsError(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: closedPort(t), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	b := New(rdb, "failclosed", 10, 300, WithFailOpen(false), WithLogger(slog.New(slog.DiscardHandler)))
	for range 2 {
		start := time.Now()
		err := b.Wait(context.Background())
		require.Error(t, err)
		assert.NotErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), `rate budget "failclosed": redis:`)
		assert.Less(t, time.Since(start), 1500*time.Millisecond)
	}
}

// After an outage the budget goes back to the shared Redis limit.
func TestRecoversWhenRedisAnswers(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	name := uniqueName(t, rdb)
	var logs syncBuffer
	b := New(rdb, name, 20, 0, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	b.redisFailed(assert.AnError) // as if the last call had failed
	b.retryAt = time.Now().Add(200 * time.Millisecond)
	ctx := context.Background()
	require.NoError(t, b.Wait(ctx))
	n, _ := rdb.Exists(ctx, b.limits[0].key).Result()
	assert.Zero(t, n, "during the outage the local limiter is used")
	time.Sleep(250 * time.Millisecond)
	require.NoError(t, b.Wait(ctx))
	n, _ = rdb.Exists(ctx, b.limits[0].key).Result()
	assert.Equal(t, int64(1), n, "after probeInterval Redis is used again")
	assert.Contains(t, logs.String(), "back on redis")
}

// 6: the OnWait hook sees every sleep.
func TestOnWaitHook(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	var mu sync.Mutex
	var waits []time.Duration
	b := New(rdb, uniqueName(t, rdb), 10, 0, WithOnWait(func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	}))
	for range 3 {
		require.NoError(t, b.Wait(context.Background()))
	}
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(waits), 2)
	var sum time.Duration
	for _, d := range waits {
		assert.Positive(t, d)
		assert.LessOrEqual(t, d, maxSleep)
		sum += d
	}
	assert.GreaterOrEqual(t, sum, 2*b.limits[0].every-10*time.Millisecond)
}

// BenchmarkWaitUnderLimit is the cost of one allowed Wait against real Redis (one script
// run for both limits).
func BenchmarkWaitUnderLimit(b *testing.B) {
	rdb := testRedis(b)
	bud := New(rdb, uniqueName(b, rdb), 1_000_000_000, 1_000_000_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := bud.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWaitUnderLimitParallel is the same from many goroutines at once.
func BenchmarkWaitUnderLimitParallel(b *testing.B) {
	rdb := testRedis(b)
	bud := New(rdb, uniqueName(b, rdb), 1_000_000_000, 1_000_000_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bud.Wait(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWaitDisabled is the "limiter disabled" baseline.
func BenchmarkWaitDisabled(b *testing.B) {
	bud := Disabled()
	ctx := context.Background()
	for b.Loop() {
		_ = bud.Wait(ctx)
	}
}
