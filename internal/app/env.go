// Package app wires ahacc's processes: it reads the environment, builds the
// clients, and runs the worker and the webhook server. The worker/ and starter/
// main packages and the dev stack call into it, so all three behave the same.
package app

import (
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/mapping"
)

// MaxHandoffTimeout caps the Centercode hand-off timeout (from
// AHACC_CENTERCODE_HANDOFF_TIMEOUT or starter.centercode_handoff_timeout)
// below the life of a delivery's Redis claim, so a copy arriving while the
// hand-off still runs is told "in flight", never handed off a second time beside it.
const MaxHandoffTimeout = dedup.PendingTTL - 5*time.Second

// Env is the process configuration read from the environment. Secrets stay here
// (and in the mapping config's expanded values); they are never passed to workflows.
// MaxActivities, WebhookRatePerMinute and CentercodeHandoffTimeout are
// behaviour knobs also set in the YAML (see WithConfig): environment > YAML > default.
type Env struct {
	ConfigPath       string        // AHACC_CONFIG
	HTTPAddr         string        // AHACC_HTTP_ADDR (starter)
	WorkerHealthAddr string        // AHACC_WORKER_HEALTH_ADDR (worker /healthz, /readyz, /metrics)
	TemporalAddress  string        // TEMPORAL_ADDRESS
	Namespace        string        // TEMPORAL_NAMESPACE
	TaskQueue        string        // AHACC_TASK_QUEUE
	RedisURL         string        // REDIS_URL
	AhaTokens        []string      // AHACC_AHA_WEBHOOK_TOKEN, comma-separated for rotation
	CentercodeTokens []string      // AHACC_CENTERCODE_WEBHOOK_TOKEN, comma-separated
	ShutdownTimeout  time.Duration // AHACC_SHUTDOWN_TIMEOUT
	// CentercodeHandoffTimeout bounds how long a Centercode webhook waits for
	// Temporal to take its event before the answer is 503
	// (AHACC_CENTERCODE_HANDOFF_TIMEOUT, default 10s). Centercode is assumed not
	// to retry a failed call (centercode.md), so a burst is better answered
	// slowly than refused; Aha!'s webhooks keep 3 s (Aha! allows 5 s, and the
	// reconcile run recovers what they lose). YAML: starter.centercode_handoff_timeout.
	CentercodeHandoffTimeout time.Duration
	// WebhookRatePerMinute caps webhook requests per source address
	// (AHACC_WEBHOOK_RATE_PER_MINUTE, default 6000; 0 turns it off).
	// YAML: starter.webhook_rate_per_minute.
	WebhookRatePerMinute int
	// TLSCert and TLSKey serve the starter over HTTPS (AHACC_TLS_CERT, AHACC_TLS_KEY).
	TLSCert, TLSKey string
	// MaxActivities bounds activities running at once per worker (AHACC_MAX_ACTIVITIES,
	// default 64). YAML: worker.max_activities.
	MaxActivities int
	// RateBudgetOff turns the shared rate budgets off (AHACC_RATE_BUDGET=off):
	// Aha!'s and Centercode's 429s are then only handled reactively, by the
	// activities' retries. For measuring what the budget saves; never in production.
	RateBudgetOff bool
	// PayloadKeys turns on payload encryption: "id:base64key,..." (first encrypts).
	PayloadKeys string // AHACC_PAYLOAD_KEYS
	// CodecToken guards the starter's /codec endpoint the Web UI decodes through.
	CodecToken string // AHACC_CODEC_TOKEN
	// CodecCORSOrigin is the Web UI origin allowed to call /codec.
	CodecCORSOrigin string // AHACC_CODEC_CORS_ORIGIN

	// fromEnv records which knobs the environment set, so that WithConfig
	// leaves those alone.
	fromEnv struct{ maxActivities, webhookRate, handoff bool }
}

// EnvFromOS reads Env from the process environment with documented defaults.
func EnvFromOS() Env { return EnvFrom(os.Getenv) }

// EnvFrom reads Env through getenv (tests pass a map lookup).
func EnvFrom(getenv func(string) string) Env {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	e := Env{
		ConfigPath:               get("AHACC_CONFIG", "ahacc.yaml"),
		HTTPAddr:                 get("AHACC_HTTP_ADDR", "127.0.0.1:8080"),
		WorkerHealthAddr:         get("AHACC_WORKER_HEALTH_ADDR", "127.0.0.1:9090"),
		TemporalAddress:          get("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		Namespace:                get("TEMPORAL_NAMESPACE", "default"),
		TaskQueue:                get("AHACC_TASK_QUEUE", contract.DefaultTaskQueue),
		RedisURL:                 get("REDIS_URL", ""),
		AhaTokens:                splitList(getenv("AHACC_AHA_WEBHOOK_TOKEN")),
		CentercodeTokens:         splitList(getenv("AHACC_CENTERCODE_WEBHOOK_TOKEN")),
		ShutdownTimeout:          30 * time.Second,
		CentercodeHandoffTimeout: mapping.DefaultCentercodeHandoffTimeout,
		PayloadKeys:              getenv("AHACC_PAYLOAD_KEYS"),
		CodecToken:               getenv("AHACC_CODEC_TOKEN"),
		CodecCORSOrigin:          get("AHACC_CODEC_CORS_ORIGIN", "http://127.0.0.1:8233"),
	}
	e.TLSCert, e.TLSKey = getenv("AHACC_TLS_CERT"), getenv("AHACC_TLS_KEY")
	e.WebhookRatePerMinute = mapping.DefaultWebhookRatePerMinute
	if n, err := strconv.Atoi(get("AHACC_WEBHOOK_RATE_PER_MINUTE", "")); err == nil && n >= 0 {
		e.WebhookRatePerMinute, e.fromEnv.webhookRate = n, true
	}
	e.MaxActivities = mapping.DefaultMaxActivities
	if n, err := strconv.Atoi(get("AHACC_MAX_ACTIVITIES", "")); err == nil && n > 0 {
		e.MaxActivities, e.fromEnv.maxActivities = n, true
	}
	e.RateBudgetOff = strings.EqualFold(strings.TrimSpace(get("AHACC_RATE_BUDGET", "")), "off")
	if d, err := time.ParseDuration(get("AHACC_CENTERCODE_HANDOFF_TIMEOUT", "")); err == nil && d > 0 {
		// At most MaxHandoffTimeout: a delivery's Redis claim must outlive its hand-off.
		e.CentercodeHandoffTimeout, e.fromEnv.handoff = min(d, MaxHandoffTimeout), true
	}
	if d, err := time.ParseDuration(get("AHACC_SHUTDOWN_TIMEOUT", "")); err == nil && d > 0 {
		e.ShutdownTimeout = d
	}
	return e
}

// WithConfig takes the knobs the environment did not set from cfg's worker:
// and starter: sections (mapping's defaults where the YAML names none):
// environment > YAML > default. The hand-off timeout stays at most
// MaxHandoffTimeout, whichever set it.
func (e Env) WithConfig(cfg *mapping.Config) Env {
	if cfg == nil {
		return e
	}
	if !e.fromEnv.maxActivities {
		e.MaxActivities = cfg.Worker.MaxActivities
	}
	if !e.fromEnv.webhookRate {
		e.WebhookRatePerMinute = cfg.Starter.WebhookRatePerMinute
	}
	if !e.fromEnv.handoff {
		e.CentercodeHandoffTimeout = min(cfg.Starter.CentercodeHandoffTimeout, MaxHandoffTimeout)
	}
	return e
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// HTTPAddrForProbe is the address a local probe should call: a wildcard
// listen address (0.0.0.0:8080, :8080) is reached on loopback.
func (e Env) HTTPAddrForProbe() string {
	host, port, err := net.SplitHostPort(e.HTTPAddr)
	if err != nil {
		return e.HTTPAddr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
