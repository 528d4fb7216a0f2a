// Package farside is what the Aha! and Centercode clients share about the far
// side's answers: which HTTP statuses are worth repeating, and how long the
// server asked to wait. One copy, so the two clients cannot disagree (they
// once did, on 408); hand-built because it is a policy, not a protocol.
package farside

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryableStatus reports whether repeating a request that got this answer
// may succeed: 408 (the server gave up waiting), 429 and every 5xx. Every
// other 4xx (400, 401, 403, 404, 406, 409, 422, …) is permanent.
func RetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// AmbiguousStatus reports whether a write that got this answer may
// nevertheless have been applied: a 5xx (the server failed somewhere, perhaps
// after committing). A 4xx, 408 and 429 included, was refused before acting.
func AmbiguousStatus(code int) bool { return code >= 500 }

// epochThreshold separates an epoch time from a number of seconds in
// X-Ratelimit-Reset (which of the two Aha! sends is not documented).
const epochThreshold = 1_000_000_000

// RetryAfter is the wait a response asks for: Retry-After (seconds or an HTTP
// date), else X-Ratelimit-Reset (a Unix time when larger than 10^9, else
// seconds), relative to now; 0 when it names none or a time already past.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil {
			return positive(time.Duration(secs * float64(time.Second)))
		}
		if t, err := http.ParseTime(v); err == nil {
			return positive(t.Sub(now))
		}
	}
	if v := strings.TrimSpace(h.Get("X-Ratelimit-Reset")); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		if n > epochThreshold {
			sec := int64(n)
			return positive(time.Unix(sec, int64((n-float64(sec))*1e9)).Sub(now))
		}
		return positive(time.Duration(n * float64(time.Second)))
	}
	return 0
}

func positive(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
