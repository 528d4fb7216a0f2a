package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// reserveScript reserves one call on every limit at once (KEYS: the limits' keys; ARGV:
// how far ahead a slot may be, then per key its emission interval and its tolerance, in
// seconds). It answers {1, wait} with the slot reserved wait seconds from now, or
// {0, wait} taking nothing when the earliest slot is further than allowed. A TAT is kept
// as redis_rate keeps it: float seconds since 2017-01-01, the key expiring when the
// bucket is full again. Numbers travel as strings (Redis would truncate a Lua float).
var reserveScript = redis.NewScript(`
local epoch = 1483228800
local t = redis.call("TIME")
local now = (t[1] - epoch) + t[2] / 1000000
local ahead = tonumber(ARGV[1])
local at = now
local tats = {}
for i, key in ipairs(KEYS) do
  local every = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call("GET", key) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local allow = tat - tolerance
  if allow > at then at = allow end
end
if at - now > ahead then
  return {0, tostring(at - now)}
end
for i, key in ipairs(KEYS) do
  local every = tonumber(ARGV[2 * i])
  local tat = tats[i]
  if tat < at then tat = at end
  tat = tat + every
  redis.call("SET", key, tostring(tat), "EX", math.max(1, math.ceil(tat - now)))
end
return {1, tostring(at - now)}
`)

// pushScript moves every key's TAT ARGV[1] seconds later (one already past too: a late
// call with no slots queued after it still moves the next one). A key that has expired
// (a full bucket, nothing recent) is left alone.
var pushScript = redis.NewScript(`
local epoch = 1483228800
local t = redis.call("TIME")
local now = (t[1] - epoch) + t[2] / 1000000
local d = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local tat = tonumber(redis.call("GET", key))
  if tat and tat + d > now then
    tat = tat + d
    redis.call("SET", key, tostring(tat), "EX", math.max(1, math.ceil(tat - now)))
  end
end
return 1
`)

// pushRedis runs pushScript for limits.
func pushRedis(ctx context.Context, rdb redis.Scripter, limits []limitSpec, d time.Duration) error {
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.key
	}
	return pushScript.Run(ctx, rdb, keys, d.Seconds()).Err()
}

// reserveRedis runs reserveScript for limits: the shared store, atomic on the Redis
// server and timed by its clock.
func reserveRedis(ctx context.Context, rdb redis.Scripter, limits []limitSpec, ahead time.Duration) (bool, time.Duration, error) {
	keys := make([]string, len(limits))
	args := make([]any, 0, 1+2*len(limits))
	args = append(args, ahead.Seconds())
	for i, l := range limits {
		keys[i] = l.key
		args = append(args, l.every.Seconds(), l.tolerance().Seconds())
	}
	res, err := reserveScript.Run(ctx, rdb, keys, args...).Slice()
	if err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("rate budget script: unexpected answer %v", res)
	}
	ok, _ := res[0].(int64)
	s, _ := res[1].(string)
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false, 0, fmt.Errorf("rate budget script: wait %q: %w", s, err)
	}
	return ok == 1, time.Duration(secs * float64(time.Second)), nil
}

// localGCRA is the in-process fallback: the same reservation as reserveScript, step for
// step, so the budget behaves the same (only no longer shared) while Redis is down.
type localGCRA struct {
	mu  sync.Mutex
	tat map[string]time.Time // theoretical arrival time per key
}

func newLocalGCRA() *localGCRA { return &localGCRA{tat: map[string]time.Time{}} }

// reserve is reserveScript at now.
func (g *localGCRA) reserve(now time.Time, limits []limitSpec, ahead time.Duration) (bool, time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	at := now
	tats := make([]time.Time, len(limits))
	for i, l := range limits {
		tat := g.tat[l.key]
		if tat.Before(now) {
			tat = now
		}
		tats[i] = tat
		if allow := tat.Add(-l.tolerance()); allow.After(at) {
			at = allow
		}
	}
	if at.Sub(now) > ahead {
		return false, at.Sub(now), nil
	}
	for i, l := range limits {
		tat := tats[i]
		if tat.Before(at) {
			tat = at
		}
		g.tat[l.key] = tat.Add(l.every)
	}
	return true, at.Sub(now), nil
}

// push is pushScript at now.
func (g *localGCRA) push(now time.Time, limits []limitSpec, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range limits {
		if tat, ok := g.tat[l.key]; ok && tat.Add(d).After(now) {
			g.tat[l.key] = tat.Add(d)
		}
	}
}
