package metrics

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
)

// SDKHandler returns the client.MetricsHandler that records the Temporal
// SDK's metrics in this registry; pass it as client.Options.MetricsHandler
// (the worker inherits it from its client). Workflow code's own metrics
// (workflow.GetMetricsHandler) go through it too.
//
// It is the SDK's own contrib handler (go.temporal.io/sdk/contrib/opentelemetry)
// on an OpenTelemetry MeterProvider whose only reader is the OpenTelemetry
// Prometheus exporter, registered in this Metrics' registry, so /metrics
// serves the SDK's metrics next to the ahacc_* families. Names and types:
//   - The SDK's names are used as they are, and already start with
//     "temporal_" (temporal_request, temporal_workflow_completed, ...); a
//     workflow's own metric keeps its own name, with no prefix added.
//   - Counters are Prometheus counters without a "_total" suffix
//     (temporal_request), gauges are gauges, timers are histograms in
//     seconds named with the unit: temporal_request_latency_seconds, with
//     SDKTimerBuckets. These are the names Temporal's Grafana dashboard for
//     the Go SDK on OpenTelemetry (temporal-go-sdk-otel.json) queries.
//   - No target_info family and no otel_scope_* labels.
//
// The SDK's tags become labels. A view filters them on every measurement
// (sdkAttributeAllowed): a tag whose value is empty, longer than 128 bytes,
// not valid UTF-8 or URL-like ("://", "?", "apikey", "token="), or whose
// key is not a plain Prometheus label name, is a reserved one (le, quantile,
// __*) or looks like a URL, path or query, is dropped, and its series merge
// with the rest. The contrib handler cannot rewrite a value, so such a value
// is dropped rather than replaced by "redacted". The SDK's own tags
// (namespace, task_queue, workflow_type, activity_type, operation,
// worker_type, poller_type, ...) never carry URLs or secrets.
//
// OpenTelemetry keeps at most 2,000 series per metric (its default
// cardinality limit); more tag combinations than that are added up in one
// series labelled otel_metric_overflow="true".
//
// Values are passed on as they are: the SDK only counts up, but a negative
// increment would lower a counter, and a negative duration (a latency
// measured across two clocks that disagree) is observed as such.
//
// An instrument name OpenTelemetry refuses (it must match
// [A-Za-z][A-Za-z0-9_./-]*) is logged once and that metric is not recorded.
// On a nil *Metrics it returns client.MetricsNopHandler.
func (m *Metrics) SDKHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	return m.sdk
}

const (
	maxSDKLabelValLen  = 128
	maxSDKLabelNameLen = 64
)

// newSDKHandler builds the pipeline behind SDKHandler and registers its
// exporter in reg.
func newSDKHandler(reg prometheus.Registerer) (client.MetricsHandler, error) {
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutCounterSuffixes(),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: OpenTelemetry Prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(sdkView))
	var logged sync.Map // error text → struct{}: log each distinct error once
	return opentelemetry.NewMetricsHandler(opentelemetry.MetricsHandlerOptions{
		Meter:                mp.Meter("go.temporal.io/sdk"),
		UseMonotonicCounters: true,
		OnError: func(err error) {
			if _, seen := logged.LoadOrStore(err.Error(), struct{}{}); !seen {
				slog.Warn("metrics: a Temporal SDK metric is not recorded", "err", err)
			}
		},
	}), nil
}

// sdkView applies to every instrument: the tag filter, a help text (the
// SDK gives none), and SDKTimerBuckets for the timers' histograms.
func sdkView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	s := sdkmetric.Stream{Name: i.Name, Description: i.Description, Unit: i.Unit, AttributeFilter: sdkAttributeAllowed}
	if s.Description == "" {
		s.Description = "Recorded through the Temporal SDK's metrics handler."
	}
	if i.Kind == sdkmetric.InstrumentKindHistogram {
		s.Aggregation = sdkmetric.AggregationExplicitBucketHistogram{Boundaries: SDKTimerBuckets, NoMinMax: true}
	}
	return s, true
}

// sdkAttributeAllowed reports whether a tag may become a label (see SDKHandler).
func sdkAttributeAllowed(kv attribute.KeyValue) bool {
	k, v := string(kv.Key), kv.Value.String()
	if len(k) > maxSDKLabelNameLen || !model.LegacyValidation.IsValidLabelName(k) ||
		k == "le" || k == "quantile" || strings.HasPrefix(k, "__") || urlLike(k) {
		return false
	}
	return v != "" && len(v) <= maxSDKLabelValLen && utf8.ValidString(v) && !urlLike(v)
}

func urlLike(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "://") || strings.Contains(l, "?") ||
		strings.Contains(l, "apikey") || strings.Contains(l, "token=")
}
