package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunCountsOpsErrorsAndPercentiles(t *testing.T) {
	var calls atomic.Int64
	r := Run(context.Background(), "x", 200, 8, func(ctx context.Context, i int) error {
		calls.Add(1)
		if i%10 == 0 {
			return errors.New("boom")
		}
		time.Sleep(time.Duration(i%3) * time.Millisecond)
		return nil
	})
	require.EqualValues(t, 200, calls.Load())
	require.Equal(t, 200, r.Ops)
	require.Equal(t, 20, r.Errors)
	require.Contains(t, r.Note, "boom")
	require.LessOrEqual(t, r.P50, r.P99)
	require.Greater(t, r.PerSec(), 0.0)
}

func TestPercentileNearestRank(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	require.Equal(t, time.Duration(5), Percentile(ds, 50))
	require.Equal(t, time.Duration(10), Percentile(ds, 99))
	require.Equal(t, time.Duration(0), Percentile(nil, 50))
}

func TestMarkdownRatio(t *testing.T) {
	md := Markdown([]Result{
		{Name: "base", Ops: 100, Elapsed: time.Second},
		{Name: "new", Ops: 50, Elapsed: time.Second},
	}, map[string]string{"new": "base"})
	require.Contains(t, md, "0.50× base")
}
