// Package dedup is the fast-path dedup layer: a Redis key per delivery id,
// claimed with SET NX before the hand-off to Temporal and confirmed only after
// Temporal accepted the event, so a failed hand-off never leaves an id marked
// as seen. It is one of three layers (the others are deterministic workflow
// ids and the seen-id set inside each entity workflow), so losing Redis costs
// speed, not correctness.
package dedup

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	statePending = "pending"
	stateDone    = "done"
	// DefaultTTL is how long a delivery id is remembered (design: 7 days).
	DefaultTTL = 7 * 24 * time.Hour
	// pendingTTL bounds a claim whose owner died between claim and confirm.
	pendingTTL = 30 * time.Second
)

// releaseScript deletes the key only while it is still a pending claim.
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Store claims and confirms delivery ids in Redis.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// New returns a Store; keys are "<prefix><source>:<id>" (prefix default "ahacc:seen:").
func New(rdb redis.UniversalClient, ttl time.Duration, prefix string) *Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if prefix == "" {
		prefix = "ahacc:seen:"
	}
	return &Store{rdb: rdb, prefix: prefix, ttl: ttl}
}

// Claim marks a delivery as in flight. It returns false (and no error) when
// the id was already claimed or confirmed: a duplicate delivery.
func (s *Store) Claim(ctx context.Context, source, id string) (bool, error) {
	return s.rdb.SetNX(ctx, s.key(source, id), statePending, pendingTTL).Result()
}

// Confirm records that Temporal accepted the delivery; the id is then
// remembered for the TTL.
func (s *Store) Confirm(ctx context.Context, source, id string) error {
	return s.rdb.Set(ctx, s.key(source, id), stateDone, s.ttl).Err()
}

// Release drops a pending claim after a failed hand-off, so a redelivery (or
// the reconcile run) is not mistaken for a duplicate.
func (s *Store) Release(ctx context.Context, source, id string) error {
	return releaseScript.Run(ctx, s.rdb, []string{s.key(source, id)}, statePending).Err()
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

func (s *Store) key(source, id string) string { return s.prefix + source + ":" + id }
