package dedup

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Memo keeps small values with no expiry under "ahacc:memo:<key>": what a
// completed workflow hands to the next run of its id (a record's links when
// its workflow closed for being idle).
type Memo struct{ rdb redis.UniversalClient }

// NewMemo returns a Memo on rdb.
func NewMemo(rdb redis.UniversalClient) *Memo { return &Memo{rdb: rdb} }

// Put stores value under key.
func (m *Memo) Put(ctx context.Context, key string, value []byte) error {
	return m.rdb.Set(ctx, "ahacc:memo:"+key, value, 0).Err()
}

// Get reads key's value; false when there is none.
func (m *Memo) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := m.rdb.Get(ctx, "ahacc:memo:"+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return v, err == nil, err
}

// Delete forgets key.
func (m *Memo) Delete(ctx context.Context, key string) error {
	return m.rdb.Del(ctx, "ahacc:memo:"+key).Err()
}
