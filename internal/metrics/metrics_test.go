package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// family returns the gathered family called name, or nil.
func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// series finds the metric in family name whose labels are exactly want.
func series(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mf := family(t, reg, name)
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if len(got) == len(want) {
			match := true
			for k, v := range want {
				if got[k] != v {
					match = false
				}
			}
			if match {
				return m
			}
		}
	}
	return nil
}

// histCount is the sample count of a histogram series (0 when absent).
func histCount(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	m := series(t, reg, name, labels)
	if m == nil {
		return 0
	}
	require.NotNil(t, m.GetHistogram(), "%s is not a histogram", name)
	return m.GetHistogram().GetSampleCount()
}

func TestHelpersIncrementWhatTheyShould(t *testing.T) {
	tests := []struct {
		name string
		do   func(m *Metrics)
		// read returns the value of the series the helper should move.
		read func(t *testing.T, m *Metrics) float64
		want float64
	}{
		{
			name: "Webhook",
			do:   func(m *Metrics) { m.Webhook(SourceAha, ResultAccepted) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.webhooks.WithLabelValues("aha", "accepted"))
			},
			want: 1,
		},
		{
			name: "DedupHit",
			do:   func(m *Metrics) { m.DedupHit(SourceCentercodeMacro) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.dedupHits.WithLabelValues("centercode_macro"))
			},
			want: 1,
		},
		{
			name: "DedupDegraded",
			do:   func(m *Metrics) { m.DedupDegraded() },
			read: func(t *testing.T, m *Metrics) float64 { return toFloat64(t, m.dedupDegraded) },
			want: 1,
		},
		{
			name: "ObserveHandoff count",
			do:   func(m *Metrics) { m.ObserveHandoff(SourceCentercodeStatus, 3*time.Millisecond) },
			read: func(t *testing.T, m *Metrics) float64 {
				return float64(histCount(t, m.reg, "ahacc_handoff_seconds", map[string]string{"source": "centercode_status"}))
			},
			want: 1,
		},
		{
			name: "ObserveHandoff seconds",
			do:   func(m *Metrics) { m.ObserveHandoff(SourceAha, 1500*time.Microsecond) },
			read: func(t *testing.T, m *Metrics) float64 {
				return series(t, m.reg, "ahacc_handoff_seconds", map[string]string{"source": "aha"}).GetHistogram().GetSampleSum()
			},
			want: 0.0015,
		},
		{
			name: "Outbound status",
			do:   func(m *Metrics) { m.Outbound(TargetAha, 429, nil, time.Second) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.outbound.WithLabelValues("aha", "429"))
			},
			want: 1,
		},
		{
			name: "Outbound error wins over status",
			do:   func(m *Metrics) { m.Outbound(TargetCentercode, 200, errors.New("reset"), time.Second) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.outbound.WithLabelValues("centercode", "error"))
			},
			want: 1,
		},
		{
			name: "Outbound latency",
			do: func(m *Metrics) {
				m.Outbound(TargetAha, 200, nil, 2*time.Second)
				m.Outbound(TargetAha, 500, nil, time.Second)
			},
			read: func(t *testing.T, m *Metrics) float64 {
				return series(t, m.reg, "ahacc_outbound_request_seconds", map[string]string{"target": "aha"}).GetHistogram().GetSampleSum()
			},
			want: 3,
		},
		{
			name: "RateWait counter",
			do:   func(m *Metrics) { m.RateWait("aha", 250*time.Millisecond); m.RateWait("aha", 0) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.rateWaits.WithLabelValues("aha"))
			},
			want: 2,
		},
		{
			name: "RateWait histogram",
			do:   func(m *Metrics) { m.RateWait("centercode", 250*time.Millisecond) },
			read: func(t *testing.T, m *Metrics) float64 {
				return series(t, m.reg, "ahacc_rate_budget_wait_seconds", map[string]string{"budget": "centercode"}).GetHistogram().GetSampleSum()
			},
			want: 0.25,
		},
		{
			name: "RatePush counter",
			do:   func(m *Metrics) { m.RatePush("aha", 20*time.Millisecond); m.RatePush("aha", 30*time.Millisecond) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.ratePushes.WithLabelValues("aha"))
			},
			want: 2,
		},
		{
			name: "RatePush seconds",
			do:   func(m *Metrics) { m.RatePush("aha", 20*time.Millisecond); m.RatePush("aha", 30*time.Millisecond) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.ratePushSeconds.WithLabelValues("aha"))
			},
			want: 0.05,
		},
		{
			name: "Parked",
			do:   func(m *Metrics) { m.Parked("idea"); m.Parked("idea") },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.parked.WithLabelValues("idea"))
			},
			want: 2,
		},
		{
			name: "Unparked",
			do:   func(m *Metrics) { m.Unparked("feature", UnparkSkip) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.unparked.WithLabelValues("feature", "skip"))
			},
			want: 1,
		},
		{
			name: "SetParkedGauge overwrites",
			do:   func(m *Metrics) { m.SetParkedGauge("idea", 7); m.SetParkedGauge("idea", 3) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.parkedRecords.WithLabelValues("idea"))
			},
			want: 3,
		},
		{
			name: "Sync",
			do:   func(m *Metrics) { m.Sync("idea", SyncUnchanged) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.syncs.WithLabelValues("idea", "unchanged"))
			},
			want: 1,
		},
		{
			name: "unsafe label value becomes other",
			do:   func(m *Metrics) { m.Webhook("https://x.example/c?apiKey=s3cret", ResultAccepted) },
			read: func(t *testing.T, m *Metrics) float64 {
				return toFloat64(t, m.webhooks.WithLabelValues("other", "accepted"))
			},
			want: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(ComponentWorker)
			before := tt.read(t, m)
			tt.do(m)
			assert.InDelta(t, tt.want, tt.read(t, m)-before, 1e-9)
		})
	}
}

// TestHelpersTouchOnlyTheirSeries checks a helper moves exactly one series
// of its family, not a neighbour.
func TestHelpersTouchOnlyTheirSeries(t *testing.T) {
	m := New(ComponentStarter)
	m.Webhook(SourceAha, ResultDuplicate)
	assert.Equal(t, 1.0, toFloat64(t, m.webhooks.WithLabelValues("aha", "duplicate")))
	assert.Equal(t, 0.0, toFloat64(t, m.webhooks.WithLabelValues("aha", "accepted")))
	assert.Equal(t, 0.0, toFloat64(t, m.webhooks.WithLabelValues("centercode_macro", "duplicate")))
	// Known source × result combinations exist from the start.
	assert.Equal(t, 3*8, collectAndCount(m.webhooks))
	assert.Equal(t, 3, collectAndCount(m.dedupHits))

	m.Unparked("idea", UnparkRetry)
	assert.Equal(t, 1.0, toFloat64(t, m.unparked.WithLabelValues("idea", "retry")))
	assert.Equal(t, 1, collectAndCount(m.unparked))
}

func TestInfoAndComponent(t *testing.T) {
	m := New(ComponentDev)
	assert.Equal(t, "dev", m.Component())
	require.NotNil(t, series(t, m.reg, "ahacc_info", map[string]string{"component": "dev"}))
	assert.Equal(t, "other", New("star ter").Component())
}

func TestSafeLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"aha", "aha"},
		{"centercode_macro", "centercode_macro"},
		{"v1.2-x", "v1.2-x"},
		{"", "unknown"},
		{"https://cc.example/api?apiKey=abc", "other"},
		{"/webhooks/aha/tok", "other"},
		{"a=b", "other"},
		{"a b", "other"},
		{"ünï", "other"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, safeLabel(tt.in))
		})
	}
}

func TestStatusLabel(t *testing.T) {
	assert.Equal(t, "200", statusLabel(200, nil))
	assert.Equal(t, "503", statusLabel(503, nil))
	assert.Equal(t, "error", statusLabel(0, nil))
	assert.Equal(t, "error", statusLabel(200, io.ErrUnexpectedEOF))
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	assert.NotPanics(t, func() {
		m.Webhook(SourceAha, ResultAccepted)
		m.DedupHit(SourceAha)
		m.DedupDegraded()
		m.ObserveHandoff(SourceAha, time.Millisecond)
		m.Outbound(TargetAha, 200, nil, time.Millisecond)
		m.RateWait("aha", time.Millisecond)
		m.Parked("idea")
		m.Unparked("idea", UnparkRetry)
		m.SetParkedGauge("idea", 1)
		m.Sync("idea", SyncCreated)
		m.SDKHandler().WithTags(map[string]string{"a": "b"}).Counter("x").Inc(1)
		assert.Equal(t, "", m.Component())
		assert.Nil(t, m.Registry())
	})
	next := http.DefaultTransport
	assert.Equal(t, next, m.Transport(TargetAha, next))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

// exerciseAll uses every helper once so every family has a series.
func exerciseAll(m *Metrics) {
	m.Webhook(SourceAha, ResultAccepted)
	m.DedupHit(SourceAha)
	m.DedupDegraded()
	m.ObserveHandoff(SourceAha, 2*time.Millisecond)
	m.Outbound(TargetCentercode, 201, nil, 40*time.Millisecond)
	m.RateWait("aha", 10*time.Millisecond)
	m.Parked("idea")
	m.Unparked("idea", UnparkRetry)
	m.SetParkedGauge("idea", 1)
	m.Sync("idea", SyncCreated)
	h := m.SDKHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "ahacc"})
	h.Counter("temporal_request").Inc(1)
	h.Gauge("temporal_num_pollers").Update(2)
	h.Timer("temporal_request_latency").Record(15 * time.Millisecond)
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler()) // listens on 127.0.0.1
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

func TestMetricsEndpointHasEveryFamily(t *testing.T) {
	m := New(ComponentStarter)
	exerciseAll(m)
	body := scrape(t, m)
	for _, want := range []string{
		`ahacc_info{component="starter"} 1`,
		`ahacc_webhooks_total{result="accepted",source="aha"} 1`,
		`ahacc_dedup_hits_total{source="aha"} 1`,
		`ahacc_dedup_degraded_total 1`,
		`ahacc_handoff_seconds_bucket{source="aha",le="0.0025"} 1`,
		`ahacc_handoff_seconds_count{source="aha"} 1`,
		`ahacc_outbound_requests_total{status="201",target="centercode"} 1`,
		`ahacc_outbound_request_seconds_count{target="centercode"} 1`,
		`ahacc_rate_budget_waits_total{budget="aha"} 1`,
		`ahacc_rate_budget_wait_seconds_count{budget="aha"} 1`,
		`ahacc_parked_total{kind="idea"} 1`,
		`ahacc_unparked_total{how="retry",kind="idea"} 1`,
		`ahacc_parked_records{kind="idea"} 1`,
		`ahacc_syncs_total{kind="idea",result="created"} 1`,
		`temporal_request{namespace="default",task_queue="ahacc"} 1`,
		`temporal_num_pollers{namespace="default",task_queue="ahacc"} 2`,
		`temporal_request_latency_seconds_count{namespace="default",task_queue="ahacc"} 1`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		assert.Contains(t, body, want)
	}
	// The ahacc families follow Prometheus naming conventions.
	mfs, err := m.reg.Gather()
	require.NoError(t, err)
	var ours []*dto.MetricFamily
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "ahacc_") {
			ours = append(ours, mf)
		}
	}
	assert.Len(t, ours, 13)
	problems, err := promlint.NewWithMetricFamilies(ours).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(ComponentStarter), New(ComponentWorker)
	a.DedupDegraded()
	assert.Equal(t, 1.0, toFloat64(t, a.dedupDegraded))
	assert.Equal(t, 0.0, toFloat64(t, b.dedupDegraded))
}

// TestNoLabelCarriesAURL drives every entry point with URL-ish input and
// checks no label value in the whole registry looks like a URL or query.
func TestNoLabelCarriesAURL(t *testing.T) {
	const secret = "s3cr3tKEY"
	bad := "https://cc.example/api/v1/listener?apiKey=" + secret
	m := New(ComponentDev)
	exerciseAll(m)
	m.Webhook(bad, bad)
	m.DedupHit(bad)
	m.ObserveHandoff(bad, time.Millisecond)
	m.Outbound(bad, 200, nil, time.Millisecond)
	m.RateWait(bad, time.Millisecond)
	m.Parked(bad)
	m.Unparked(bad, bad)
	m.SetParkedGauge(bad, 1)
	m.Sync(bad, bad)
	h := m.SDKHandler().WithTags(map[string]string{"endpoint": bad, "path": "/x?token=" + secret, bad: "v"})
	h.Counter("temporal_request").Inc(1)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	c := &http.Client{Transport: m.Transport(TargetCentercode, nil)}
	resp, err := c.Get(srv.URL + "/api/v1/listener?apiKey=" + secret)
	require.NoError(t, err)
	resp.Body.Close()
	c = &http.Client{Transport: m.Transport(bad, nil)}
	resp, err = c.Get(srv.URL + "/?apiKey=" + secret)
	require.NoError(t, err)
	resp.Body.Close()

	mfs, err := m.reg.Gather()
	require.NoError(t, err)
	var n int
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				n++
				for _, v := range []string{lp.GetName(), lp.GetValue()} {
					assert.NotContains(t, v, "://", "%s", mf.GetName())
					assert.NotContains(t, v, "?", "%s", mf.GetName())
					assert.NotContains(t, v, "apiKey", "%s", mf.GetName())
					assert.NotContains(t, v, secret, "%s", mf.GetName())
					assert.NotContains(t, v, "127.0.0.1", "%s", mf.GetName())
					assert.NotContains(t, v, "/api", "%s", mf.GetName())
				}
			}
		}
	}
	assert.Greater(t, n, 50)
	assert.NotContains(t, scrape(t, m), secret)
	assert.Equal(t, 1.0, toFloat64(t, m.outbound.WithLabelValues("centercode", "418")))
	assert.Equal(t, 1.0, toFloat64(t, m.outbound.WithLabelValues("other", "418")))
}
