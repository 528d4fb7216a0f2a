package app

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/codec"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/internal/httpapi"
	"github.com/ahacc/ahacc/mapping"
)

// StarterOptions builds the webhook server.
type StarterOptions struct {
	Env      Env
	Config   func() *mapping.Config
	Temporal client.Client
	Redis    *redis.Client // nil: no Redis dedup layer
	Logger   *slog.Logger
	Metrics  httpapi.Metrics
	// MetricsHandler serves /metrics (nil: not served).
	MetricsHandler http.Handler
}

// Starter is the webhook server and its dispatcher.
type Starter struct {
	HTTP       *httpapi.Server
	Dispatcher *dispatch.Dispatcher
}

// NewStarter builds the Fiber app with every route.
func NewStarter(o StarterOptions) *Starter {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Config != nil {
		o.Env = o.Env.WithConfig(o.Config()) // read once: a reload does not change them
	}
	d := &dispatch.Dispatcher{Temporal: o.Temporal, TaskQueue: o.Env.TaskQueue, Config: o.Config, Logger: o.Logger}
	if o.Redis != nil {
		d.Dedup = dedup.New(o.Redis, o.Config().Sync.DedupTTL, "")
	}
	ccd := *d // Centercode does not retry: wait longer before refusing
	ccd.Timeout = o.Env.CentercodeHandoffTimeout
	ho := httpapi.Options{
		Temporal:       o.Temporal,
		Redis:          o.Redis,
		Logger:         o.Logger,
		Aha:            &httpapi.AhaWebhook{Tokens: o.Env.AhaTokens, Dispatcher: d, Metrics: o.Metrics},
		Centercode:     &httpapi.CentercodeWebhook{Tokens: o.Env.CentercodeTokens, Dispatcher: &ccd, Config: o.Config, Metrics: o.Metrics},
		MetricsHandler: o.MetricsHandler,
	}
	if o.Env.WebhookRatePerMinute > 0 {
		// Per-source request limit: one misbehaving sender cannot crowd out
		// the others. In memory, per starter: a guard, not the budget.
		ho.WebhookLimit = limiter.New(limiter.Config{
			Max: o.Env.WebhookRatePerMinute, Expiration: time.Minute, LimiterMiddleware: limiter.SlidingWindow{},
			LimitReached: func(c *fiber.Ctx) error {
				if o.Metrics != nil {
					o.Metrics.Webhook(webhookSource(c.Path()), "rate_limited")
				}
				c.Set(fiber.HeaderRetryAfter, "60")
				return c.Status(fiber.StatusTooManyRequests).JSON(fiber.Map{"status": "error", "error": "too many requests from this source"})
			},
		})
	}
	if o.Env.PayloadKeys != "" {
		if c, err := codec.ParseKeys(o.Env.PayloadKeys); err == nil {
			// The Web UI's codec endpoint: decoded payloads for operators with the token.
			ho.Codec = c.Handler(o.Env.CodecToken, o.Env.CodecCORSOrigin)
		}
	}
	srv := httpapi.New(ho)
	return &Starter{HTTP: srv, Dispatcher: d}
}

func webhookSource(path string) string {
	switch {
	case strings.HasPrefix(path, "/webhooks/aha"):
		return "aha"
	case strings.HasPrefix(path, "/webhooks/centercode/status"):
		return "centercode_status"
	default:
		return "centercode_macro"
	}
}

// NewRedis connects to REDIS_URL; nil (and no error) when it is unset.
func NewRedis(ctx context.Context, url string) (*redis.Client, error) {
	if url == "" {
		return nil, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout = 2 * time.Second
	// Every webhook makes one or two Redis round trips; a pool smaller than
	// the request concurrency makes requests queue for a connection.
	if opt.PoolSize < 64 {
		opt.PoolSize = 64
	}
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	return redis.NewClient(opt), nil
}
