// Package metrics is ahacc's Prometheus instrumentation: the ahacc_* metric
// families the starter and worker record, the Temporal SDK metrics (through
// SDKHandler), and the /metrics HTTP handler. Every Metrics owns its registry,
// so tests and the dev binary (starter and worker in one process) never fight
// over prometheus.DefaultRegisterer.
//
// Label values passed to the helpers are restricted to short tokens
// ([A-Za-z0-9_.-], at most 64 bytes); anything else is recorded as "other".
// That keeps cardinality bounded and guarantees that a URL, path or query
// string (Centercode URLs carry apiKey=) can never end up in a label.
//
// All methods are safe on a nil *Metrics (they do nothing), so code under test
// can run without metrics.
//
// Wiring, once per process:
//
//	m := metrics.New(metrics.ComponentWorker)
//	c, _ := client.Dial(client.Options{MetricsHandler: m.SDKHandler(), ...})
//	httpc := &http.Client{Transport: m.Transport(metrics.TargetAha, nil)}
//	app.Get("/metrics", adaptor.HTTPHandler(m.Handler())) // Fiber
package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
)

// Namespace prefixes every ahacc metric name.
const Namespace = "ahacc"

// Components passed to New.
const (
	ComponentStarter = "starter"
	ComponentWorker  = "worker"
	ComponentDev     = "dev"
)

// Webhook sources (label "source").
const (
	SourceAha              = "aha"
	SourceCentercodeMacro  = "centercode_macro"
	SourceCentercodeStatus = "centercode_status"
)

const (
	labelOther             = "other"
	labelUnknown           = "unknown"
	maxLabelValueLen       = 64
	statusError            = "error"
	defaultScrapeTimeout   = 10 * time.Second
	defaultScrapesInFlight = 4
)

// Webhook results (label "result" of webhooks_total).
const (
	ResultAccepted     = "accepted"
	ResultDuplicate    = "duplicate"
	ResultIgnored      = "ignored"
	ResultBadRequest   = "bad_request"
	ResultUnauthorized = "unauthorized"
	ResultTooLarge     = "too_large"
	ResultUnavailable  = "unavailable"
	ResultRateLimited  = "rate_limited"
)

// Outbound targets (label "target").
const (
	TargetAha        = "aha"
	TargetCentercode = "centercode"
)

// Unpark decisions (label "how" of unparked_total).
const (
	UnparkRetry = "retry"
	UnparkSkip  = "skip"
)

// Sync results (label "result" of syncs_total).
const (
	SyncCreated   = "created"
	SyncUpdated   = "updated"
	SyncUnchanged = "unchanged"
	SyncParked    = "parked"
)

var (
	webhookSources = []string{SourceAha, SourceCentercodeMacro, SourceCentercodeStatus}
	webhookResults = []string{
		ResultAccepted, ResultDuplicate, ResultIgnored, ResultBadRequest,
		ResultUnauthorized, ResultTooLarge, ResultUnavailable, ResultRateLimited,
	}
)

// Histogram buckets, in seconds.
var (
	// HandoffBuckets spans 0.5 ms .. 5 s (webhook received → Temporal accepted).
	HandoffBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	// OutboundBuckets spans 5 ms .. 60 s (Aha!/Centercode API calls).
	OutboundBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	// RateWaitBuckets spans 1 ms .. 5 min (waiting for a rate budget slot).
	RateWaitBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	// SDKTimerBuckets spans 1 ms .. 10 min (Temporal SDK timers: request,
	// schedule-to-start, execution and long-poll latencies); an OpenTelemetry
	// view gives them to every histogram behind SDKHandler.
	SDKTimerBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
)

// Metrics holds ahacc's registry and metric families. Build it once per
// process with New and share it.
type Metrics struct {
	component string
	reg       *prometheus.Registry
	handler   http.Handler
	sdk       client.MetricsHandler

	webhooks        *prometheus.CounterVec
	dedupHits       *prometheus.CounterVec
	dedupDegraded   prometheus.Counter
	handoff         *prometheus.HistogramVec
	outbound        *prometheus.CounterVec
	outboundSeconds *prometheus.HistogramVec
	rateWaits       *prometheus.CounterVec
	rateWaitSeconds *prometheus.HistogramVec
	ratePushes      *prometheus.CounterVec
	ratePushSeconds *prometheus.CounterVec
	parked          *prometheus.CounterVec
	unparked        *prometheus.CounterVec
	parkedRecords   *prometheus.GaugeVec
	syncs           *prometheus.CounterVec
}

// New builds a Metrics with its own registry holding the Go runtime and
// process collectors, ahacc_info{component}, the ahacc_* families and the
// OpenTelemetry exporter behind SDKHandler. component is "starter", "worker" or "dev".
func New(component string) *Metrics {
	m := &Metrics{component: safeLabel(component), reg: prometheus.NewRegistry()}
	f := func(name string) string { return prometheus.BuildFQName(Namespace, "", name) }

	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: f("info"), Help: "Always 1; the component label names which ahacc binary this is.",
	}, []string{"component"})
	info.WithLabelValues(m.component).Set(1)

	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("webhooks_total"), Help: "Webhook requests by source and result.",
	}, []string{"source", "result"})
	m.dedupHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("dedup_hits_total"), Help: "Webhook events dropped because Redis had already seen them.",
	}, []string{"source"})
	m.dedupDegraded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: f("dedup_degraded_total"), Help: "Webhook events passed on without Redis dedup because Redis was unavailable.",
	})
	m.handoff = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: f("handoff_seconds"), Help: "Time from webhook received to Temporal accepting the event.",
		Buckets: HandoffBuckets,
	}, []string{"source"})
	m.outbound = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("outbound_requests_total"), Help: "Outbound HTTP requests by target and HTTP status (\"error\" when no response).",
	}, []string{"target", "status"})
	m.outboundSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: f("outbound_request_seconds"), Help: "Outbound HTTP request latency until response headers (or error).",
		Buckets: OutboundBuckets,
	}, []string{"target"})
	m.rateWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("rate_budget_waits_total"), Help: "Times a caller waited for a rate budget slot.",
	}, []string{"budget"})
	m.rateWaitSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: f("rate_budget_wait_seconds"), Help: "Time spent waiting for a rate budget slot.",
		Buckets: RateWaitBuckets,
	}, []string{"budget"})
	m.ratePushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("rate_budget_pushes_total"), Help: "Times a caller that woke late for its rate budget slot pushed the budget's schedule back (the process is short of CPU).",
	}, []string{"budget"})
	m.ratePushSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("rate_budget_pushed_seconds_total"), Help: "How far late callers pushed the rate budget's schedule back, in all.",
	}, []string{"budget"})
	m.parked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("parked_total"), Help: "Records parked (waiting for an operator) by kind.",
	}, []string{"kind"})
	m.unparked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("unparked_total"), Help: "Parked records released by an operator, by kind and decision (retry|skip).",
	}, []string{"kind", "how"})
	m.parkedRecords = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: f("parked_records"), Help: "Records currently parked, by kind (filled from a Temporal visibility count).",
	}, []string{"kind"})
	m.syncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: f("syncs_total"), Help: "Record syncs by kind and result (created|updated|unchanged|parked).",
	}, []string{"kind", "result"})

	// Known label combinations start at zero so rate() and absent-series
	// alerts work before the first event.
	for _, s := range webhookSources {
		for _, r := range webhookResults {
			m.webhooks.WithLabelValues(s, r)
		}
		m.dedupHits.WithLabelValues(s)
	}

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info, m.webhooks, m.dedupHits, m.dedupDegraded, m.handoff,
		m.outbound, m.outboundSeconds, m.rateWaits, m.rateWaitSeconds, m.ratePushes, m.ratePushSeconds,
		m.parked, m.unparked, m.parkedRecords, m.syncs,
	)
	sdk, err := newSDKHandler(m.reg)
	if err != nil {
		panic(err) // only a registration clash, impossible on this fresh registry
	}
	m.sdk = sdk
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(slog.Default().Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: defaultScrapesInFlight,
		Timeout:             defaultScrapeTimeout,
	})
	return m
}

// Component is the sanitized component name given to New.
func (m *Metrics) Component() string {
	if m == nil {
		return ""
	}
	return m.component
}

// Registry exposes the registry, for callers that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus exposition format; mount it
// on GET /metrics (Fiber: adaptor.HTTPHandler(m.Handler())).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Webhook counts one webhook request: source aha|centercode_macro|
// centercode_status, result accepted|duplicate|ignored|bad_request|
// unauthorized|too_large|unavailable|rate_limited.
func (m *Metrics) Webhook(source, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(safeLabel(source), safeLabel(result)).Inc()
}

// DedupHit counts an event that Redis dedup had already seen.
func (m *Metrics) DedupHit(source string) {
	if m == nil {
		return
	}
	m.dedupHits.WithLabelValues(safeLabel(source)).Inc()
}

// DedupDegraded counts an event passed on without Redis dedup because Redis
// was unavailable (Temporal's workflow-level dedup still applies).
func (m *Metrics) DedupDegraded() {
	if m == nil {
		return
	}
	m.dedupDegraded.Inc()
}

// ObserveHandoff records the time from webhook received to Temporal accepted.
func (m *Metrics) ObserveHandoff(source string, d time.Duration) {
	if m == nil {
		return
	}
	m.handoff.WithLabelValues(safeLabel(source)).Observe(d.Seconds())
}

// Outbound records one outbound HTTP request to target (aha|centercode):
// status is the HTTP status code, or "error" when err is non-nil or no valid
// status was received; d is the latency. Transport calls this for you.
func (m *Metrics) Outbound(target string, status int, err error, d time.Duration) {
	if m == nil {
		return
	}
	t := safeLabel(target)
	m.outbound.WithLabelValues(t, statusLabel(status, err)).Inc()
	m.outboundSeconds.WithLabelValues(t).Observe(d.Seconds())
}

// RateBudget starts the named budget's wait and push counters at zero, so
// its series exist (dashboards, rate() alerts) before the first wait or push.
func (m *Metrics) RateBudget(budget string) {
	if m == nil {
		return
	}
	b := safeLabel(budget)
	m.rateWaits.WithLabelValues(b)
	m.ratePushes.WithLabelValues(b)
	m.ratePushSeconds.WithLabelValues(b)
}

// RateWait records one wait of d for a slot in the named rate budget.
func (m *Metrics) RateWait(budget string, d time.Duration) {
	if m == nil {
		return
	}
	b := safeLabel(budget)
	m.rateWaits.WithLabelValues(b).Inc()
	m.rateWaitSeconds.WithLabelValues(b).Observe(d.Seconds())
}

// RatePush records a late caller pushing the named rate budget's schedule back by d.
func (m *Metrics) RatePush(budget string, d time.Duration) {
	if m == nil {
		return
	}
	b := safeLabel(budget)
	m.ratePushes.WithLabelValues(b).Inc()
	m.ratePushSeconds.WithLabelValues(b).Add(d.Seconds())
}

// Parked counts a record of the given kind being parked.
func (m *Metrics) Parked(kind string) {
	if m == nil {
		return
	}
	m.parked.WithLabelValues(safeLabel(kind)).Inc()
}

// Unparked counts a parked record released by an operator; how is retry|skip.
func (m *Metrics) Unparked(kind, how string) {
	if m == nil {
		return
	}
	m.unparked.WithLabelValues(safeLabel(kind), safeLabel(how)).Inc()
}

// SetParkedGauge sets parked_records{kind} to n, e.g. from a visibility
// count of SyncState="Parked" workflows.
func (m *Metrics) SetParkedGauge(kind string, n float64) {
	if m == nil {
		return
	}
	m.parkedRecords.WithLabelValues(safeLabel(kind)).Set(n)
}

// Sync counts one record sync; result is created|updated|unchanged|parked.
func (m *Metrics) Sync(kind, result string) {
	if m == nil {
		return
	}
	m.syncs.WithLabelValues(safeLabel(kind), safeLabel(result)).Inc()
}

// statusLabel renders an outbound status: the code, or "error".
func statusLabel(status int, err error) string {
	if err != nil || status < 100 || status > 999 {
		return statusError
	}
	return strconv.Itoa(status)
}

// safeLabel returns v if it is a short token of [A-Za-z0-9_.-], "unknown" if
// it is empty and "other" otherwise. URLs, paths, query strings and free text
// therefore never become label values.
func safeLabel(v string) string {
	if v == "" {
		return labelUnknown
	}
	if len(v) > maxLabelValueLen {
		return labelOther
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return labelOther
		}
	}
	return v
}
