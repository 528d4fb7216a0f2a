package simkit

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimiter keeps, per key, sliding windows of one second and one minute. A request is
// allowed when both windows have room; only allowed requests are recorded, so a client
// that keeps retrying while limited is not locked out forever. A limit of 0 disables
// that window. It is safe for concurrent use.
type RateLimiter struct {
	mu        sync.Mutex
	perSecond int
	perMinute int
	keys      map[string][]time.Time // allowed request times within the last minute, oldest first
	allowed   int64
	limited   int64
}

// RateDecision is the outcome of RateLimiter.Allow.
type RateDecision struct {
	Allowed bool `json:"allowed"`
	// Limit, Remaining and Reset describe the binding window: the one that denied the
	// request, or, when allowed, the one with the fewest remaining requests.
	Limit     int `json:"limit"`
	Remaining int `json:"remaining"`
	// Reset is the number of seconds until the binding window frees a slot (rounded
	// up; at least 1 when the window is full).
	Reset int `json:"reset"`
	// RetryAfter is the number of seconds to wait before retrying; 0 when allowed.
	RetryAfter int `json:"retry_after"`
	// Window is "second", "minute" or "" (no limit configured).
	Window string `json:"window"`
}

// NewRateLimiter returns a limiter allowing perSecond requests per second and perMinute
// per minute for every key (0 disables a window).
func NewRateLimiter(perSecond, perMinute int) *RateLimiter {
	return &RateLimiter{perSecond: perSecond, perMinute: perMinute, keys: map[string][]time.Time{}}
}

// SetLimits changes the limits; recorded requests are kept.
func (l *RateLimiter) SetLimits(perSecond, perMinute int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.perSecond, l.perMinute = perSecond, perMinute
}

// Limits returns the current limits.
func (l *RateLimiter) Limits() (perSecond, perMinute int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perSecond, l.perMinute
}

// Counts returns how many requests were allowed and how many were limited.
func (l *RateLimiter) Counts() (allowed, limited int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.allowed, l.limited
}

// Reset forgets every recorded request (the counters are kept).
func (l *RateLimiter) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = map[string][]time.Time{}
}

type window struct {
	name  string
	limit int
	span  time.Duration
}

// Allow records a request for key at now when it fits both windows, and reports the
// decision with the values for the X-Ratelimit-* and Retry-After headers.
func (l *RateLimiter) Allow(key string, now time.Time) RateDecision {
	l.mu.Lock()
	defer l.mu.Unlock()

	// Drop entries older than a minute.
	ts := l.keys[key]
	cut := 0
	for cut < len(ts) && !ts[cut].After(now.Add(-time.Minute)) {
		cut++
	}
	ts = ts[cut:]

	var windows []window
	if l.perSecond > 0 {
		windows = append(windows, window{"second", l.perSecond, time.Second})
	}
	if l.perMinute > 0 {
		windows = append(windows, window{"minute", l.perMinute, time.Minute})
	}
	if len(windows) == 0 {
		l.keys[key] = ts
		l.allowed++
		return RateDecision{Allowed: true}
	}

	type state struct {
		w      window
		inWin  []time.Time // entries inside this window, oldest first
		remain int
	}
	states := make([]state, len(windows))
	allowed := true
	for i, w := range windows {
		start := now.Add(-w.span)
		j := len(ts)
		for j > 0 && ts[j-1].After(start) {
			j--
		}
		in := ts[j:]
		states[i] = state{w: w, inWin: in, remain: w.limit - len(in)}
		if len(in) >= w.limit {
			allowed = false
		}
	}

	// Binding window: the first that denies, else the one with the fewest remaining.
	b := 0
	for i, s := range states {
		if !allowed {
			if s.remain <= 0 {
				b = i
				break
			}
			continue
		}
		if s.remain < states[b].remain {
			b = i
		}
	}
	s := states[b]
	d := RateDecision{Allowed: allowed, Limit: s.w.limit, Window: s.w.name}
	if allowed {
		ts = append(ts, now)
		l.allowed++
		d.Remaining = s.remain - 1
	} else {
		l.limited++
		d.Remaining = 0
	}
	l.keys[key] = ts

	// Reset: when the window will have a free slot again. If it still has room after
	// this request, a slot is free now, and Reset says when the oldest entry leaves.
	inWin := s.inWin
	if allowed {
		inWin = append(inWin[:len(inWin):len(inWin)], now)
	}
	if len(inWin) > 0 {
		// The slot that frees first once the window is full is the one at index
		// len(inWin)-limit (the oldest one whose expiry brings the count below limit).
		idx := len(inWin) - s.w.limit
		if idx < 0 {
			idx = 0
		}
		wait := inWin[idx].Add(s.w.span).Sub(now)
		d.Reset = ceilSeconds(wait)
	}
	if !allowed {
		if d.Reset < 1 {
			d.Reset = 1
		}
		d.RetryAfter = d.Reset
	}
	return d
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// WriteHeaders writes X-Ratelimit-Limit, X-Ratelimit-Remaining and X-Ratelimit-Reset
// (seconds until a slot frees), and Retry-After (seconds) when the request was denied.
// Nothing is written when no limit is configured.
func (d RateDecision) WriteHeaders(w http.ResponseWriter) {
	if d.Window == "" {
		return
	}
	h := w.Header()
	h.Set("X-Ratelimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-Ratelimit-Reset", strconv.Itoa(d.Reset))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(d.RetryAfter))
	}
}
