package dedup

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// testRedis connects to the real Redis CI starts (REDIS_TEST_URL, default
// 127.0.0.1:6379); the test is skipped, saying so, when none answers.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Skipf("no Redis at %s (CI starts one): %v", url, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestClaimConfirmRelease(t *testing.T) {
	ctx := context.Background()
	rdb := testRedis(t)
	prefix := fmt.Sprintf("ahacc:test:%d:", time.Now().UnixNano())
	s := New(rdb, time.Minute, prefix)

	st, owner, err := s.Claim(ctx, "aha", "1")
	require.NoError(t, err)
	require.Equal(t, Claimed, st, "first claim wins")
	st, _, err = s.Claim(ctx, "aha", "1")
	require.NoError(t, err)
	require.Equal(t, InFlight, st, "a concurrent delivery sees the pending claim: not done, not a duplicate")

	// Only the owner releases its claim.
	require.NoError(t, s.Release(ctx, "aha", "1", "pending:someone-else"))
	st, _, _ = s.Claim(ctx, "aha", "1")
	require.Equal(t, InFlight, st)
	// A failed hand-off releases the claim: the redelivery is not a duplicate.
	require.NoError(t, s.Release(ctx, "aha", "1", owner))
	st, owner, err = s.Claim(ctx, "aha", "1")
	require.NoError(t, err)
	require.Equal(t, Claimed, st)
	require.LessOrEqual(t, rdb.PTTL(ctx, prefix+"aha:1").Val(), PendingTTL, "a dead owner's claim expires")

	// Confirmed ids stay for the TTL and cannot be released by a late failure.
	require.NoError(t, s.Confirm(ctx, "aha", "1"))
	require.NoError(t, s.Release(ctx, "aha", "1", owner))
	st, _, err = s.Claim(ctx, "aha", "1")
	require.NoError(t, err)
	require.Equal(t, Done, st)
	ttl := rdb.TTL(ctx, prefix+"aha:1").Val()
	require.Greater(t, ttl, 50*time.Second)

	// Sources are separate namespaces.
	st, _, err = s.Claim(ctx, "centercode", "1")
	require.NoError(t, err)
	require.Equal(t, Claimed, st)
}

func TestUnreachableRedisErrors(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	s := New(rdb, 0, "")
	_, _, err := s.Claim(context.Background(), "aha", "1")
	require.Error(t, err)
	require.Error(t, s.Ping(context.Background()))
}

// PendingFor bounds a dead owner's claim by the given time, not PendingTTL.
func TestPendingFor(t *testing.T) {
	ctx := context.Background()
	rdb := testRedis(t)
	prefix := fmt.Sprintf("ahacc:test:%d:", time.Now().UnixNano())
	s := New(rdb, time.Minute, prefix, PendingFor(3*time.Minute))
	st, _, err := s.Claim(ctx, "userdata", "1")
	require.NoError(t, err)
	require.Equal(t, Claimed, st)
	ttl, err := rdb.PTTL(ctx, prefix+"userdata:1").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, PendingTTL, "the claim lives longer than the default")
	require.LessOrEqual(t, ttl, 3*time.Minute)
}
