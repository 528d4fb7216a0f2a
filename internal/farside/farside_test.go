package farside

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"retry-after seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"retry-after date", map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{"retry-after past date", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"reset seconds", map[string]string{"X-Ratelimit-Reset": "2"}, 2 * time.Second},
		{"reset epoch", map[string]string{"X-Ratelimit-Reset": "1767323105"}, 60 * time.Second}, // now+60s
		{"retry-after wins", map[string]string{"Retry-After": "3", "X-Ratelimit-Reset": "50"}, 3 * time.Second},
		{"reset fractional epoch", map[string]string{"X-Ratelimit-Reset": "1767323105.5"}, 60500 * time.Millisecond},
		{"reset past epoch", map[string]string{"X-Ratelimit-Reset": "1767322000"}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"none", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.h {
				h.Set(k, v)
			}
			assert.Equal(t, tc.want, RetryAfter(h, now))
		})
	}
}

func TestRetryableStatus(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503, 504, 599} {
		assert.True(t, RetryableStatus(code), "%d", code)
	}
	for _, code := range []int{200, 400, 401, 403, 404, 406, 409, 422} {
		assert.False(t, RetryableStatus(code), "%d", code)
	}
}

func TestAmbiguousStatus(t *testing.T) {
	for code := 400; code <= 599; code++ {
		assert.Equal(t, code >= 500, AmbiguousStatus(code), "%d", code)
	}
}
