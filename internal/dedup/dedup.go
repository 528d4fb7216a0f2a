// Package dedup is the fast-path dedup layer: a Redis key per delivery id,
// claimed with SET NX before the hand-off to Temporal and confirmed only after
// Temporal accepted the event, so a failed hand-off never leaves an id marked
// as seen. It is one of three layers (the others are deterministic workflow
// ids and the seen-id set inside each entity workflow), so losing Redis costs
// speed, not correctness.
package dedup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim answers.
const (
	// Claimed: this caller owns the delivery now; it must Confirm or Release.
	Claimed = "claimed"
	// InFlight: another caller's hand-off of it is under way (or its owner
	// died and the claim has not expired): not done, so not a duplicate.
	InFlight = "in_flight"
	// Done: Temporal accepted it before: a duplicate.
	Done = "done"
)

const (
	statePending = "pending:" // + the owner's token
	stateDone    = "done"
	// DefaultTTL is how long a delivery id is remembered (design: 7 days).
	DefaultTTL = 7 * 24 * time.Hour
	// PendingTTL bounds a claim whose owner died between claim and confirm;
	// a hand-off must end within it (see app.MaxHandoffTimeout).
	PendingTTL = 30 * time.Second
)

// claimScript takes the key when nobody has it (SET NX) and otherwise says
// what is there, so a pending claim is told apart from a done one.
var claimScript = redis.NewScript(`local v = redis.call("GET", KEYS[1])
if v then return v end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return false`)

// releaseScript deletes the key only while it is still this owner's claim.
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Store claims and confirms delivery ids in Redis.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	ttl     time.Duration
	pending time.Duration
}

// Option adjusts a Store.
type Option func(*Store)

// PendingFor bounds a pending claim by d instead of PendingTTL: the longest
// the claimed work can take, so a dead owner's claim frees itself.
func PendingFor(d time.Duration) Option { return func(s *Store) { s.pending = d } }

// New returns a Store; keys are "<prefix><source>:<id>" (prefix default "ahacc:seen:").
func New(rdb redis.UniversalClient, ttl time.Duration, prefix string, opts ...Option) *Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if prefix == "" {
		prefix = "ahacc:seen:"
	}
	s := &Store{rdb: rdb, prefix: prefix, ttl: ttl, pending: PendingTTL}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Claim marks a delivery as in flight for this caller: Claimed with the
// owner token Release needs, InFlight when another hand-off of it is under
// way, Done when it was handed over before (a duplicate).
func (s *Store) Claim(ctx context.Context, source, id string) (state, owner string, err error) {
	owner = statePending + newToken()
	v, err := claimScript.Run(ctx, s.rdb, []string{s.key(source, id)}, owner, s.pending.Milliseconds()).Text()
	switch {
	case err == redis.Nil:
		return Claimed, owner, nil
	case err != nil:
		return "", "", err
	case strings.HasPrefix(v, statePending):
		return InFlight, "", nil
	}
	return Done, "", nil
}

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Confirm records that Temporal accepted the delivery; the id is then
// remembered for the TTL.
func (s *Store) Confirm(ctx context.Context, source, id string) error {
	return s.rdb.Set(ctx, s.key(source, id), stateDone, s.ttl).Err()
}

// Release drops this owner's pending claim after a failed hand-off, so a
// redelivery (or the reconcile run) is not mistaken for a duplicate; a claim
// that expired and was taken by another caller stays theirs.
func (s *Store) Release(ctx context.Context, source, id, owner string) error {
	return releaseScript.Run(ctx, s.rdb, []string{s.key(source, id)}, owner).Err()
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

func (s *Store) key(source, id string) string { return s.prefix + source + ":" + id }
