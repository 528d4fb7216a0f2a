package metrics

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// SDKHandler returns a client.MetricsHandler that records the Temporal SDK's
// metrics in this registry; pass it as client.Options.MetricsHandler (the
// worker inherits it from its client).
//
// How SDK metrics map to Prometheus:
//   - Names are sanitized to the Prometheus charset and prefixed "temporal_"
//     unless they already are (the SDK's own names are, e.g.
//     temporal_request_latency), so they match Temporal's SDK dashboards.
//   - Counters → counters, gauges → gauges, timers → histograms in seconds
//     (SDKTimerBuckets). If one name is used as two kinds, the later kind gets
//     a "_counter"/"_gauge"/"_timer" suffix so the families never clash.
//   - The SDK varies tag sets per call site while a Prometheus vec needs a
//     fixed label set. We create one vec per (name, sorted label-key set),
//     created lazily under a mutex, and expose them all under the same name
//     through one unchecked collector. Choice: the same name with differing
//     label sets, rather than suffixed variant names. It is what the
//     exposition format and PromQL allow, and a series without a label reads
//     the same as one with that label set to "" (what filling missing labels
//     with "" would give), without knowing every key set in advance. Tags
//     with an empty value are dropped for the same reason, so {k=""} and {}
//     can never become two colliding series.
//   - Tag keys are sanitized to label-name charset ("le" and "__*" get a
//     "tag_" prefix); keys that look like a URL, path or query are dropped;
//     tag values are made valid UTF-8, capped at 128 bytes,
//     and anything URL-like ("://", "?", "apikey=", "token=") becomes
//     "redacted".
//
// On a nil *Metrics it returns client.MetricsNopHandler.
func (m *Metrics) SDKHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	return newSDKHandler(m.sdk, nil)
}

type sdkKind int

const (
	kindCounter sdkKind = iota
	kindGauge
	kindTimer
)

func (k sdkKind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindGauge:
		return "gauge"
	default:
		return "timer"
	}
}

const (
	sdkPrefix          = "temporal_"
	maxSDKLabelValLen  = 128
	maxSDKLabelNameLen = 64
	redacted           = "redacted"
)

// sdkCollector holds every vec the SDK handler created. It reports no
// descriptors (an unchecked collector), which is what lets one name carry
// several label sets.
type sdkCollector struct {
	mu    sync.RWMutex
	vecs  map[string]any     // kind|name|labels → *CounterVec/*GaugeVec/*HistogramVec
	kinds map[string]sdkKind // final metric name → kind
	all   []prometheus.Collector
}

func newSDKCollector() *sdkCollector {
	return &sdkCollector{vecs: map[string]any{}, kinds: map[string]sdkKind{}}
}

// Describe sends nothing: the collector is unchecked.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	all := c.all
	c.mu.RUnlock()
	for _, v := range all {
		v.Collect(ch)
	}
}

// vec returns the vec for (kind, name, label names), creating it on first use.
func (c *sdkCollector) vec(kind sdkKind, name string, labels []string, labelKey string) any {
	key := kind.String() + "\x00" + name + "\x00" + labelKey
	c.mu.RLock()
	v, ok := c.vecs[key]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.vecs[key]; ok {
		return v
	}
	fq := sdkMetricName(name)
	if k, ok := c.kinds[fq]; ok && k != kind {
		fq += "_" + kind.String()
	}
	c.kinds[fq] = kind
	help := "Temporal SDK " + kind.String() + " " + fq + "."
	var col prometheus.Collector
	switch kind {
	case kindCounter:
		col = prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq, Help: help}, labels)
	case kindGauge:
		col = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq, Help: help}, labels)
	default:
		col = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: fq, Help: help + " In seconds.", Buckets: SDKTimerBuckets,
		}, labels)
	}
	c.vecs[key] = col
	// Copy on write, so Collect can iterate without holding the lock.
	all := make([]prometheus.Collector, len(c.all), len(c.all)+1)
	copy(all, c.all)
	c.all = append(all, col)
	return col
}

// sdkHandler implements client.MetricsHandler; it is immutable.
type sdkHandler struct {
	c      *sdkCollector
	tags   map[string]string // merged raw tags
	names  []string          // sanitized label names, sorted
	values []string          // matching sanitized values
	key    string            // names joined, part of the vec key
}

func newSDKHandler(c *sdkCollector, tags map[string]string) *sdkHandler {
	h := &sdkHandler{c: c, tags: tags}
	raw := make([]string, 0, len(tags))
	for k, v := range tags {
		if v != "" {
			raw = append(raw, k)
		}
	}
	sort.Strings(raw)
	seen := make(map[string]bool, len(raw))
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(raw))
	for _, k := range raw {
		n := sdkLabelName(k)
		if n == "" {
			continue
		}
		if seen[n] { // two keys sanitize to one name: first (sorted) wins
			continue
		}
		seen[n] = true
		pairs = append(pairs, pair{n, sdkLabelValue(tags[k])})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].name < pairs[j].name })
	for _, p := range pairs {
		h.names = append(h.names, p.name)
		h.values = append(h.values, p.value)
	}
	h.key = strings.Join(h.names, ",")
	return h
}

// WithTags returns a handler whose tags are these merged over the current ones.
func (h *sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return newSDKHandler(h.c, merged)
}

// Counter implements client.MetricsHandler.
func (h *sdkHandler) Counter(name string) client.MetricsCounter {
	v := h.c.vec(kindCounter, name, h.names, h.key).(*prometheus.CounterVec)
	return sdkCounter{v.WithLabelValues(h.values...)}
}

// Gauge implements client.MetricsHandler.
func (h *sdkHandler) Gauge(name string) client.MetricsGauge {
	v := h.c.vec(kindGauge, name, h.names, h.key).(*prometheus.GaugeVec)
	return sdkGauge{v.WithLabelValues(h.values...)}
}

// Timer implements client.MetricsHandler.
func (h *sdkHandler) Timer(name string) client.MetricsTimer {
	v := h.c.vec(kindTimer, name, h.names, h.key).(*prometheus.HistogramVec)
	return sdkTimer{v.WithLabelValues(h.values...)}
}

type sdkCounter struct{ c prometheus.Counter }

// Inc adds d; Prometheus counters cannot go down, so d <= 0 is ignored.
func (c sdkCounter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type sdkGauge struct{ g prometheus.Gauge }

func (g sdkGauge) Update(v float64) { g.g.Set(v) }

type sdkTimer struct{ o prometheus.Observer }

func (t sdkTimer) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.o.Observe(d.Seconds())
}

// sdkMetricName maps an SDK metric name to a valid Prometheus name that
// starts with "temporal_".
func sdkMetricName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" {
		s = "unnamed"
	}
	if !strings.HasPrefix(s, sdkPrefix) {
		s = sdkPrefix + s
	}
	return s
}

// sdkLabelName maps a tag key to a valid, non-reserved label name, or ""
// when the key itself looks like a URL, path or query (such a tag is dropped).
func sdkLabelName(k string) string {
	if len(k) > maxSDKLabelNameLen || strings.ContainsAny(k, "/?=&") || strings.Contains(strings.ToLower(k), "apikey") {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || (i > 0 && c >= '0' && c <= '9') {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "le" || s == "quantile" || strings.HasPrefix(s, "__") {
		s = "tag_" + s
	}
	return s
}

// sdkLabelValue makes a tag value safe to expose.
func sdkLabelValue(v string) string {
	l := strings.ToLower(v)
	if strings.Contains(l, "://") || strings.Contains(l, "?") ||
		strings.Contains(l, "apikey=") || strings.Contains(l, "token=") {
		return redacted
	}
	if len(v) > maxSDKLabelValLen {
		v = v[:maxSDKLabelValLen]
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}
