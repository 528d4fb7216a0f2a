package metrics

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

func counterValue(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	s := series(t, m.reg, name, labels)
	require.NotNil(t, s, "no series %s%v", name, labels)
	require.NotNil(t, s.GetCounter(), "%s is not a counter", name)
	return s.GetCounter().GetValue()
}

func TestSDKHandlerIsTheContribHandler(t *testing.T) {
	h := New(ComponentWorker).SDKHandler()
	require.NotNil(t, opentelemetry.ExtractMetricsHandler(h))
	require.NotNil(t, opentelemetry.ExtractMetricsHandler(h.WithTags(map[string]string{"a": "b"})))
}

// TestSDKHandlerExposition checks the names, types, labels and buckets a
// counter, a gauge and a timer recorded through SDKHandler get on /metrics.
func TestSDKHandlerExposition(t *testing.T) {
	m := New(ComponentWorker)
	h := m.SDKHandler().WithTags(map[string]string{"namespace": "default", "operation": "PollWorkflowTaskQueue"})
	h.Counter("temporal_request").Inc(2)
	h.Counter("temporal_request").Inc(1)
	h.Gauge("temporal_num_pollers").Update(4)
	tm := h.Timer("temporal_request_latency")
	tm.Record(3 * time.Millisecond)
	tm.Record(90 * time.Second)

	body := scrape(t, m)
	for _, want := range []string{
		"# TYPE temporal_request counter\n",
		`temporal_request{namespace="default",operation="PollWorkflowTaskQueue"} 3` + "\n",
		"# TYPE temporal_num_pollers gauge\n",
		`temporal_num_pollers{namespace="default",operation="PollWorkflowTaskQueue"} 4` + "\n",
		"# TYPE temporal_request_latency_seconds histogram\n",
		`temporal_request_latency_seconds_bucket{namespace="default",operation="PollWorkflowTaskQueue",le="0.001"} 0` + "\n",
		`temporal_request_latency_seconds_bucket{namespace="default",operation="PollWorkflowTaskQueue",le="0.005"} 1` + "\n",
		`temporal_request_latency_seconds_bucket{namespace="default",operation="PollWorkflowTaskQueue",le="60"} 1` + "\n",
		`temporal_request_latency_seconds_bucket{namespace="default",operation="PollWorkflowTaskQueue",le="120"} 2` + "\n",
		`temporal_request_latency_seconds_bucket{namespace="default",operation="PollWorkflowTaskQueue",le="+Inf"} 2` + "\n",
		`temporal_request_latency_seconds_sum{namespace="default",operation="PollWorkflowTaskQueue"} 90.003` + "\n",
		`temporal_request_latency_seconds_count{namespace="default",operation="PollWorkflowTaskQueue"} 2` + "\n",
	} {
		assert.Contains(t, body, want)
	}
	for _, unwanted := range []string{"temporal_request_total", "target_info", "otel_scope", "temporal_request_latency_bucket"} {
		assert.NotContains(t, body, unwanted)
	}
	// The histogram has exactly SDKTimerBuckets.
	s := series(t, m.reg, "temporal_request_latency_seconds", map[string]string{"namespace": "default", "operation": "PollWorkflowTaskQueue"})
	require.NotNil(t, s)
	var bounds []float64
	for _, b := range s.GetHistogram().GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	assert.Equal(t, SDKTimerBuckets, bounds)
}

func TestSDKHandlerTagsAndDifferingTagSets(t *testing.T) {
	m := New(ComponentWorker)
	h := m.SDKHandler()
	h.Counter("temporal_request").Inc(1)
	ns := h.WithTags(map[string]string{"namespace": "default"})
	ns.Counter("temporal_request").Inc(2)
	nsq := ns.WithTags(map[string]string{"task_queue": "ahacc"})
	nsq.Counter("temporal_request").Inc(3)
	// Overwrite an existing key; the parent handler keeps its own value.
	other := nsq.WithTags(map[string]string{"namespace": "other"})
	other.Counter("temporal_request").Inc(4)
	ns.Counter("temporal_request").Inc(5)

	assert.Equal(t, 1.0, counterValue(t, m, "temporal_request", map[string]string{}))
	assert.Equal(t, 7.0, counterValue(t, m, "temporal_request", map[string]string{"namespace": "default"}))
	assert.Equal(t, 3.0, counterValue(t, m, "temporal_request", map[string]string{"namespace": "default", "task_queue": "ahacc"}))
	assert.Equal(t, 4.0, counterValue(t, m, "temporal_request", map[string]string{"namespace": "other", "task_queue": "ahacc"}))

	// Exposed as one family with several label sets, and the whole scrape works.
	mf := family(t, m.reg, "temporal_request")
	require.NotNil(t, mf)
	assert.Len(t, mf.GetMetric(), 4)
	body := scrape(t, m)
	assert.Contains(t, body, "# TYPE temporal_request counter")
	assert.Contains(t, body, `temporal_request{namespace="other",task_queue="ahacc"} 4`)
}

func TestSDKHandlerGaugeAndTimer(t *testing.T) {
	m := New(ComponentWorker)
	h := m.SDKHandler().WithTags(map[string]string{"worker_type": "ActivityWorker"})
	g := h.Gauge("temporal_worker_task_slots_available")
	g.Update(5)
	g.Update(3)
	s := series(t, m.reg, "temporal_worker_task_slots_available", map[string]string{"worker_type": "ActivityWorker"})
	require.NotNil(t, s)
	assert.Equal(t, 3.0, s.GetGauge().GetValue())

	tm := h.Timer("temporal_activity_execution_latency")
	tm.Record(250 * time.Millisecond)
	tm.Record(1750 * time.Millisecond)
	s = series(t, m.reg, "temporal_activity_execution_latency_seconds", map[string]string{"worker_type": "ActivityWorker"})
	require.NotNil(t, s)
	require.NotNil(t, s.GetHistogram())
	assert.Equal(t, uint64(2), s.GetHistogram().GetSampleCount())
	assert.InDelta(t, 2.0, s.GetHistogram().GetSampleSum(), 1e-9)

	c := h.Counter("temporal_poller_start")
	c.Inc(2)
	c.Inc(0)
	assert.Equal(t, 2.0, counterValue(t, m, "temporal_poller_start", map[string]string{"worker_type": "ActivityWorker"}))
}

func TestSDKHandlerNamesAndLabels(t *testing.T) {
	m := New(ComponentWorker)
	h := m.SDKHandler()

	// Names are kept as they are: no prefix added.
	h.Counter("ahacc_thing_total").Inc(1)
	assert.Equal(t, 1.0, counterValue(t, m, "ahacc_thing_total", map[string]string{}))

	// A name OpenTelemetry refuses is not recorded, and does not panic.
	assert.NotPanics(t, func() {
		h.Counter("9 bad name").Inc(1)
		h.Gauge("").Update(1)
		h.Timer("?").Record(time.Second)
	})

	// Empty values are dropped (so {k=""} and {} are one series), and so are
	// reserved and non-label-name keys.
	h.WithTags(map[string]string{"a": "1", "b": ""}).Counter("temporal_t").Inc(1)
	h.WithTags(map[string]string{"a": "1"}).Counter("temporal_t").Inc(1)
	h.WithTags(map[string]string{"a": "1", "le": "x", "quantile": "q", "__name__": "y", "task-queue": "q", "9lives": "z"}).
		Counter("temporal_t").Inc(1)
	h.WithTags(map[string]string{"a": "1", "le": "x"}).Timer("temporal_h").Record(time.Millisecond)
	assert.Equal(t, 3.0, counterValue(t, m, "temporal_t", map[string]string{"a": "1"}))
	assert.Equal(t, uint64(1), histCount(t, m.reg, "temporal_h_seconds", map[string]string{"a": "1"}))

	// URL-like values and keys and overlong values are dropped.
	long := strings.Repeat("x", maxSDKLabelValLen+1)
	h.WithTags(map[string]string{
		"a":                        "1",
		"endpoint":                 "http://127.0.0.1:7233/x",
		"query":                    "q?x=1",
		"auth":                     "token=abc",
		"https://h/?apiKey=secret": "v",
		"long":                     long,
		"fine":                     strings.Repeat("y", maxSDKLabelValLen),
	}).Counter("temporal_t").Inc(1)
	assert.Equal(t, 1.0, counterValue(t, m, "temporal_t", map[string]string{"a": "1", "fine": strings.Repeat("y", maxSDKLabelValLen)}))

	_, err := m.reg.Gather()
	require.NoError(t, err)
}

func TestSDKHandlerConcurrent(t *testing.T) {
	m := New(ComponentWorker)
	base := m.SDKHandler()
	keys := []string{"namespace", "task_queue", "workflow_type", "activity_type", "operation"}
	const goroutines, iterations = 16, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				// A different tag-key subset per call site.
				tags := map[string]string{}
				for k, key := range keys {
					if (g+i)>>k&1 == 1 {
						tags[key] = fmt.Sprintf("v%d", (g+i)%3)
					}
				}
				h := base.WithTags(tags)
				h.Counter("temporal_concurrent").Inc(1)
				h.Gauge(fmt.Sprintf("temporal_gauge_%d", i%4)).Update(float64(i))
				h.Timer("temporal_concurrent_latency").Record(time.Duration(i) * time.Microsecond)
			}
		}()
	}
	// Scrape while the SDK handler creates instruments.
	done := make(chan struct{})
	var scrapeErr error
	go func() {
		defer close(done)
		for range 20 {
			if _, err := m.reg.Gather(); err != nil {
				scrapeErr = err
				return
			}
		}
	}()
	wg.Wait()
	<-done
	require.NoError(t, scrapeErr)

	mf := family(t, m.reg, "temporal_concurrent")
	require.NotNil(t, mf)
	var total float64
	for _, s := range mf.GetMetric() {
		total += s.GetCounter().GetValue()
	}
	assert.Equal(t, float64(goroutines*iterations), total)
	hist := family(t, m.reg, "temporal_concurrent_latency_seconds")
	require.NotNil(t, hist)
	var count uint64
	for _, s := range hist.GetMetric() {
		count += s.GetHistogram().GetSampleCount()
	}
	assert.Equal(t, uint64(goroutines*iterations), count)
	assert.Greater(t, len(mf.GetMetric()), 8, "expected many distinct label sets")
}

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	if err := workflow.ExecuteLocalActivity(ctx, greetActivity, name).Get(ctx, &out); err != nil {
		return "", err
	}
	// Workflow code's own metrics go through the same (replay-aware) handler.
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"greeting": "hello"}).Counter("greetings_total").Inc(1)
	return out, nil
}

func greetActivity(_ context.Context, name string) (string, error) { return "hello " + name, nil }

// TestSDKHandlerWithTemporalTestEnv lets the real SDK emit its metrics, with
// its own tags, through the handler.
func TestSDKHandlerWithTemporalTestEnv(t *testing.T) {
	m := New(ComponentWorker)
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(m.SDKHandler())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(greetWorkflow)
	env.ExecuteWorkflow(greetWorkflow, "ahacc")
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	mfs, err := m.reg.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "ahacc_") && !strings.HasPrefix(mf.GetName(), "go_") &&
			!strings.HasPrefix(mf.GetName(), "process_") {
			byName[mf.GetName()] = mf
		}
	}
	t.Logf("SDK families: %v", slices.Sorted(maps.Keys(byName)))

	labelsOf := func(mf *dto.MetricFamily) map[string]string {
		require.NotNil(t, mf)
		require.Len(t, mf.GetMetric(), 1)
		got := map[string]string{}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		return got
	}
	lat := byName["temporal_local_activity_execution_latency_seconds"]
	require.NotNil(t, lat)
	assert.Equal(t, dto.MetricType_HISTOGRAM, lat.GetType())
	assert.Equal(t, uint64(1), lat.GetMetric()[0].GetHistogram().GetSampleCount())
	l := labelsOf(lat)
	assert.Equal(t, "greetWorkflow", l["workflow_type"])
	assert.Equal(t, "greetActivity", l["activity_type"])

	la := byName["temporal_local_activity_total"] // the SDK's own name
	require.NotNil(t, la)
	assert.Equal(t, dto.MetricType_COUNTER, la.GetType())
	assert.Equal(t, 1.0, la.GetMetric()[0].GetCounter().GetValue())
	assert.Equal(t, "greetActivity", labelsOf(la)["activity_type"])

	custom := byName["greetings_total"]
	require.NotNil(t, custom, "workflow metric missing")
	assert.Equal(t, 1.0, custom.GetMetric()[0].GetCounter().GetValue())
	l = labelsOf(custom)
	assert.Equal(t, "hello", l["greeting"])
	for name := range byName {
		assert.NotEqual(t, "target_info", name)
		assert.NotContains(t, name, "otel_scope")
	}
}
