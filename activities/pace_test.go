package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/mapping"
)

func TestSustainedInterval(t *testing.T) {
	// 50/s: 50 per 1.035 s (35 ms least headroom); 3000/min: 3000 per 60.6 s.
	require.InDelta(t, float64(time.Second)*1.035/50, float64(sustainedInterval(mapping.Rate{PerSecond: 50, PerMinute: 3000})), float64(time.Microsecond))
	// 300/min binds: 300 per 60.6 s.
	require.InDelta(t, float64(time.Minute)*1.01/300, float64(sustainedInterval(mapping.Rate{PerSecond: 20, PerMinute: 300})), float64(time.Microsecond))
	require.InDelta(t, float64(time.Second)*1.035/10, float64(sustainedInterval(mapping.Rate{PerSecond: 10})), float64(time.Microsecond))
	require.Equal(t, time.Duration(0), sustainedInterval(mapping.Rate{}))
}

func TestPacerSpacesAndCatchesUpByBurstOnly(t *testing.T) {
	var p pacer
	ctx := context.Background()
	const interval = 10 * time.Millisecond
	start := time.Now()
	for i := 0; i < 4; i++ { // a fresh pacer lets a burst of 3 go at once, then spaces
		require.NoError(t, p.wait(ctx, interval, 3))
	}
	require.Less(t, time.Since(start), 8*time.Millisecond, "the first burst+1 go without waiting")
	start = time.Now()
	for i := 0; i < 10; i++ {
		require.NoError(t, p.wait(ctx, interval, 3))
	}
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 95*time.Millisecond, "ten more are spaced at the interval")

	// After a pause, at most burst go at once.
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	for i := 0; i < 7; i++ {
		require.NoError(t, p.wait(ctx, interval, 3))
	}
	require.GreaterOrEqual(t, time.Since(start), 25*time.Millisecond, "three catch up at once, one goes now, three more are spaced")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, p.wait(cctx, time.Hour, 0))
}
