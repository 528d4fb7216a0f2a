package ratelimit

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// store runs GCRA steps on one key: take one token, or peek whether one is there.
type store interface {
	// take takes cost units; peek looks whether cost units could be taken now.
	take(ctx context.Context, key string, limit redis_rate.Limit, cost int) (ok bool, wait time.Duration, err error)
	peek(ctx context.Context, key string, limit redis_rate.Limit, cost int) (ok bool, wait time.Duration, err error)
}

// emission is a limit's emission interval (period / rate), rounded up: a nanosecond too
// long is safe, too short is not.
func emission(l redis_rate.Limit) time.Duration {
	return (l.Period + time.Duration(l.Rate) - 1) / time.Duration(l.Rate)
}

// redisStore is the shared store: redis_rate's Lua script, atomic on the Redis server,
// timed by the server's clock (so worker clocks need not agree).
type redisStore struct{ l *redis_rate.Limiter }

func (s redisStore) take(ctx context.Context, key string, limit redis_rate.Limit, cost int) (bool, time.Duration, error) {
	res, err := s.l.AllowN(ctx, key, limit, cost)
	if err != nil {
		return false, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
}

// peek runs the script with n = 0: it never takes a token and reports ResetAfter (the
// theoretical arrival time minus now, 0 when the bucket is full), from which the wait for
// cost units is ResetAfter - (burst-cost) emission intervals. (Remaining is not used: it is
// the float (now - tat + burst*interval) / interval truncated by Redis, and rounding
// makes a full bucket of burst 1 read 0.)
func (s redisStore) peek(ctx context.Context, key string, limit redis_rate.Limit, cost int) (bool, time.Duration, error) {
	res, err := s.l.AllowN(ctx, key, limit, 0)
	if err != nil {
		return false, 0, err
	}
	wait := res.ResetAfter - time.Duration(limit.Burst-cost)*emission(limit)
	if wait <= 0 {
		return true, 0, nil
	}
	return false, wait, nil
}

// redisRatePrefix is what redis_rate puts before every key; keyed strips it so the keys
// in Redis are exactly ahacc:rate:<name>:s and :m.
const redisRatePrefix = "rate:"

// keyed hands redis_rate a client whose script and delete calls drop redis_rate's own key
// prefix. Every other method is the wrapped client's.
type keyed struct{ redis.UniversalClient }

func stripKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, redisRatePrefix)
	}
	return out
}

func (k keyed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.Eval(ctx, script, stripKeys(keys), args...)
}

func (k keyed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalSha(ctx, sha1, stripKeys(keys), args...)
}

func (k keyed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalRO(ctx, script, stripKeys(keys), args...)
}

func (k keyed) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalShaRO(ctx, sha1, stripKeys(keys), args...)
}

func (k keyed) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return k.UniversalClient.Del(ctx, stripKeys(keys)...)
}

// localGCRA is the in-process fallback: the same algorithm as redis_rate's script, step
// for step, so the budget behaves the same (only no longer shared) while Redis is down.
type localGCRA struct {
	mu  sync.Mutex
	tat map[string]time.Time // theoretical arrival time per key
}

func newLocalGCRA() *localGCRA { return &localGCRA{tat: map[string]time.Time{}} }

// allowN is redis_rate's allowN script: n tokens (0 to look whether cost could be taken)
// from key at now.
func (g *localGCRA) allowN(now time.Time, key string, limit redis_rate.Limit, n, cost int) (bool, time.Duration) {
	ei := emission(limit)
	g.mu.Lock()
	defer g.mu.Unlock()
	tat := g.tat[key]
	if tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(ei * time.Duration(n))
	allowAt := newTat.Add(-ei * time.Duration(limit.Burst))
	if n == 0 {
		// Looking: are cost tokens there, and if not, when will they be?
		allowOne := allowAt.Add(ei * time.Duration(cost))
		if now.Before(allowOne) {
			return false, allowOne.Sub(now)
		}
		return true, 0
	}
	if now.Before(allowAt) {
		return false, allowAt.Sub(now)
	}
	g.tat[key] = newTat
	return true, 0
}

// localStore adapts localGCRA to store; it never fails.
type localStore struct {
	g   *localGCRA
	now func() time.Time
}

func (s localStore) take(_ context.Context, key string, limit redis_rate.Limit, cost int) (bool, time.Duration, error) {
	ok, wait := s.g.allowN(s.now(), key, limit, cost, cost)
	return ok, wait, nil
}

func (s localStore) peek(_ context.Context, key string, limit redis_rate.Limit, cost int) (bool, time.Duration, error) {
	ok, wait := s.g.allowN(s.now(), key, limit, 0, cost)
	return ok, wait, nil
}
