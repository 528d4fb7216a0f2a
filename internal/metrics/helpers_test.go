package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// prometheus/testutil would need github.com/kylelemons/godebug, which is not
// in go.sum; these two helpers do what its ToFloat64 and CollectAndCount do.

// toFloat64 collects c, which must yield exactly one counter, gauge or
// untyped metric, and returns its value.
func toFloat64(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ms := collect(c)
	require.Len(t, ms, 1, "collector must yield exactly one metric")
	var pb dto.Metric
	require.NoError(t, ms[0].Write(&pb))
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	case pb.Untyped != nil:
		return pb.Untyped.GetValue()
	}
	t.Fatalf("metric is not a counter, gauge or untyped: %v", &pb)
	return 0
}

// collectAndCount is the number of metrics c yields.
func collectAndCount(c prometheus.Collector) int { return len(collect(c)) }

func collect(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	return ms
}
