package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/codec"
	"github.com/ahacc/ahacc/internal/metrics"
	"github.com/ahacc/ahacc/mapping"
)

// DialTemporal connects to Temporal using the SDK's environment conventions
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY, and
// the optional TOML profile), with Env's address and namespace as defaults.
// It fails when the frontend does not answer (the CLI commands).
func DialTemporal(ctx context.Context, env Env, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts, err := temporalOptions(env, logger, metrics)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
	}
	return c, nil
}

// LazyTemporal is DialTemporal for the long-running processes: the client
// connects on first use and reconnects by itself, so a worker or starter
// started while the frontend is away (a restart, everything started at
// once) comes up and waits for it instead of exiting.
func LazyTemporal(env Env, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts, err := temporalOptions(env, logger, metrics)
	if err != nil {
		return nil, err
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, fmt.Errorf("temporal client for %s: %w", opts.HostPort, err)
	}
	return c, nil
}

// WaitForTemporal returns once the frontend answers a health check, asking
// again with backoff (0.2 s doubling to 5 s) and logging every miss, or
// ctx's error when it ends first. An answer no wait mends — credentials or
// TLS refused, a wrong namespace — is returned at once, so the process exits.
func WaitForTemporal(ctx context.Context, c client.Client, logger *slog.Logger) error {
	wait := 200 * time.Millisecond
	for {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.CheckHealth(hctx, &client.CheckHealthRequest{})
		cancel()
		if err == nil {
			return nil
		}
		switch serviceerror.ToStatus(err).Code() {
		case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.NotFound:
			return fmt.Errorf("temporal refused the connection: %w", err)
		}
		logger.Warn("temporal frontend not answering; waiting for it", "retry_in", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for temporal: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func temporalOptions(env Env, logger *slog.Logger, metrics client.MetricsHandler) (client.Options, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return opts, fmt.Errorf("temporal client config: %w", err)
	}
	if opts.HostPort == "" {
		opts.HostPort = env.TemporalAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = env.Namespace
	}
	opts.Logger = sdklog.NewStructuredLogger(logger.With("component", "temporal-sdk"))
	if metrics != nil {
		opts.MetricsHandler = metrics
	}
	if env.PayloadKeys != "" {
		c, err := codec.ParseKeys(env.PayloadKeys)
		if err != nil {
			return opts, fmt.Errorf("AHACC_PAYLOAD_KEYS: %w", err)
		}
		opts.DataConverter = c.DataConverter()
	}
	return opts, nil
}

// AhaLimiter is what the Aha! and Centercode clients wait on before each call.
type AhaLimiter interface {
	Wait(ctx context.Context) error
}

// ClientOptions carries the optional pieces the clients are built with.
type ClientOptions struct {
	AhaLimiter        AhaLimiter
	CentercodeLimiter AhaLimiter
	// Transport wraps outbound HTTP (metrics); nil uses the default transport.
	Transport func(target string, next http.RoundTripper) http.RoundTripper
	Logger    *slog.Logger
}

// NewAhaClient builds the Aha! client from the config's aha section.
func NewAhaClient(cfg *mapping.Config, o ClientOptions) *aha.Client {
	opts := []aha.Option{aha.WithHTTPClient(httpClient("aha", o)), aha.WithUserAgent("ahacc")}
	if o.AhaLimiter != nil {
		opts = append(opts, aha.WithLimiter(o.AhaLimiter))
	}
	return aha.New(cfg.Aha.BaseURL, cfg.Aha.APIKey.Value(), opts...)
}

// NewCentercodeClient builds the Centercode client.
func NewCentercodeClient(o ClientOptions) *centercode.Client {
	opts := []centercode.Option{centercode.WithHTTPClient(httpClient("centercode", o)), centercode.WithUserAgent("ahacc")}
	if o.CentercodeLimiter != nil {
		opts = append(opts, centercode.WithLimiter(o.CentercodeLimiter))
	}
	if o.Logger != nil {
		opts = append(opts, centercode.WithLogger(o.Logger))
	}
	return centercode.New(opts...)
}

func httpClient(target string, o ClientOptions) *http.Client {
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if o.Transport != nil {
		rt = o.Transport(target, rt)
	}
	// Under Aha!'s 5 s budget for their side is not our concern here: this
	// bounds one outbound call; Temporal retries the activity.
	return &http.Client{Transport: rt, Timeout: 30 * time.Second}
}

// AhaReader adapts the Aha! client to the activities' AhaAPI.
type AhaReader struct{ Client *aha.Client }

// GetRecord fetches one record and keeps its header fields.
func (r AhaReader) GetRecord(ctx context.Context, kind, id string) (activities.AhaRecord, error) {
	rec, err := r.Client.GetRecord(ctx, kind, id)
	if err != nil {
		return activities.AhaRecord{}, err
	}
	return activities.AhaRecord{ID: rec.ID.String(), Reference: rec.ReferenceNum, URL: rec.URL, Name: rec.Name, JSON: rec.Raw}, nil
}

// Conn is what every ahacc process opens first: the config, its metrics
// registry, the Temporal client (with those metrics) and Redis (nil when
// REDIS_URL is unset).
type Conn struct {
	Config   *mapping.Config
	Metrics  *metrics.Metrics
	Temporal client.Client
	Redis    *redis.Client
}

// Connect loads the config and makes the Temporal and Redis clients for a
// component ("starter", "worker"). Neither connects until first used (see
// LazyTemporal, WaitForTemporal): a bad config fails here, an absent server
// does not.
func Connect(ctx context.Context, env Env, component string, logger *slog.Logger) (*Conn, error) {
	cfg, err := LoadConfig(env)
	if err != nil {
		return nil, err
	}
	m := metrics.New(component)
	tc, err := LazyTemporal(env, logger, m.SDKHandler())
	if err != nil {
		return nil, err
	}
	rdb, err := NewRedis(ctx, env.RedisURL)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return &Conn{Config: cfg, Metrics: m, Temporal: tc, Redis: rdb}, nil
}

// Close closes the Temporal and Redis clients.
func (c *Conn) Close() {
	c.Temporal.Close()
	if c.Redis != nil {
		_ = c.Redis.Close()
	}
}
