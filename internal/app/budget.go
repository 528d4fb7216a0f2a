package app

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/activity"

	"github.com/ahacc/ahacc/internal/metrics"
	"github.com/ahacc/ahacc/internal/ratelimit"
	"github.com/ahacc/ahacc/mapping"
)

// Budgets builds the shared rate budgets: one per Aha! account and one per
// Centercode host, kept in Redis (GCRA) so every worker process draws from the
// same budget. Without Redis each process keeps its own.
func Budgets(cfg *mapping.Config, rdb *redis.Client, m *metrics.Metrics, logger *slog.Logger) (ahaBudget, ccBudget AhaLimiter) {
	account := cfg.Aha.Account
	if account == "" {
		account = hostOf(cfg.Aha.BaseURL)
	}
	ccHost := "centercode"
	for _, name := range cfg.FeedbackTypeNames() {
		if h := hostOf(cfg.FeedbackType(name).SourceURL.Value()); h != "" {
			ccHost = h
			break
		}
	}
	var uc redis.UniversalClient
	if rdb != nil {
		uc = rdb
	}
	mk := func(name string, r mapping.Rate) AhaLimiter {
		m.RateBudget(name)
		b := ratelimit.New(uc, name, r.PerSecond, r.PerMinute, ratelimit.WithLogger(logger),
			ratelimit.WithOnWait(func(d time.Duration) { m.RateWait(name, d) }),
			ratelimit.WithOnPush(func(d time.Duration) { m.RatePush(name, d) }))
		return heartbeatLimiter{b}
	}
	return mk("aha:"+account, cfg.Aha.Rate), mk("centercode:"+ccHost, cfg.Centercode.Rate)
}

// heartbeatLimiter heartbeats the calling activity while it waits for the
// budget (carrying its checkpoint), so a long wait survives as a live activity
// rather than a heartbeat timeout.
type heartbeatLimiter struct{ inner AhaLimiter }

func (h heartbeatLimiter) Wait(ctx context.Context) error {
	if !activity.IsActivity(ctx) {
		return h.inner.Wait(ctx)
	}
	defer heartbeatEvery(ctx, 5*time.Second)()
	return h.inner.Wait(ctx)
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
