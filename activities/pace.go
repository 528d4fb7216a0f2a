package activities

import (
	"context"
	"sync"
	"time"

	"github.com/ahacc/ahacc/internal/ratelimit"
	"github.com/ahacc/ahacc/mapping"
)

// pacer spaces events at a steady interval. A caller that fell behind (a
// pause between two backfill pages) may catch up by at most burst events, so
// the gap is filled without a flood. It keeps no tokens: it only decides when
// the next event may go, and it is safe for concurrent use.
type pacer struct {
	mu   sync.Mutex
	next time.Time
}

// wait blocks until the caller's turn under interval and burst (interval ≤ 0:
// no wait) or ctx ends.
func (p *pacer) wait(ctx context.Context, interval time.Duration, burst int) error {
	if interval <= 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if earliest := now.Add(-time.Duration(burst) * interval); p.next.Before(earliest) {
		p.next = earliest
	}
	at := p.next
	p.next = p.next.Add(interval)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sustainedInterval is the spacing of a budget's sustained rate as the shared
// budget grants it (the tighter limit, after burst and headroom); 0 when it
// has none.
func sustainedInterval(r mapping.Rate) time.Duration {
	perSec := ratelimit.SustainedRate(r.PerSecond, r.PerMinute)
	if perSec <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / perSec)
}
