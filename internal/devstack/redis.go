package devstack

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Redis is the Redis the dev stack uses: the one REDIS_URL names, or an
// in-process Redis-protocol server (miniredis) on a free loopback port.
type Redis struct {
	URL      string
	Embedded bool
	mini     *miniredis.Miniredis
}

// StartRedis returns url unchanged when set, otherwise starts miniredis.
// miniredis keeps data in memory only; it is a dev convenience, not a store.
func StartRedis(url string) (*Redis, error) {
	if url != "" {
		return &Redis{URL: url}, nil
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start in-process redis: %w", err)
	}
	return &Redis{URL: "redis://" + m.Addr() + "/0", Embedded: true, mini: m}, nil
}

// Stop stops the embedded server, if any.
func (r *Redis) Stop() {
	if r.mini != nil {
		r.mini.Close()
	}
}
