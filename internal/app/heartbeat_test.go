package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
)

// keepAlives runs fn as an activity under the worker's heartbeat interceptor,
// after a previous attempt that recorded prev (nil: none), and returns what
// each keep-alive heartbeat (heartbeatEvery, every 5 ms, started by fn as the
// interceptor and the budget wait do) carried, encoded and decoded as the SDK
// does (-1: no details). The SDK batches heartbeats before the server sees
// them, so they are read where they are recorded.
func keepAlives(t *testing.T, prev any, fn func(ctx context.Context) error) []int {
	t.Helper()
	var mu sync.Mutex
	var got []int
	dc := converter.GetDefaultDataConverter()
	orig := recordHeartbeat
	recordHeartbeat = func(ctx context.Context, details ...any) {
		v := -1
		if len(details) > 0 {
			p, err := dc.ToPayloads(details...)
			if assert.NoError(t, err) {
				assert.NoError(t, dc.FromPayloads(p, &v))
			}
		}
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
		orig(ctx, details...)
	}
	t.Cleanup(func() { recordHeartbeat = orig })

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&heartbeatInterceptor{every: time.Hour}}})
	if prev != nil {
		env.SetHeartbeatDetails(prev)
	}
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: "Probe"})
	_, err := env.ExecuteActivity("Probe")
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	return append([]int(nil), got...)
}

// while runs heartbeatEvery (every 5 ms) for d.
func while(ctx context.Context, d time.Duration) {
	stop := heartbeatEvery(ctx, 5*time.Millisecond)
	time.Sleep(d)
	stop()
}

// Keep-alive heartbeats (the worker's, the budget wait's) carry the activity's
// checkpoint: they used to carry none, or the budget's "waiting" text, which
// replaced it (a retried organization fan-out then restarted at page 1).
func TestKeepAliveHeartbeatsCarryTheCheckpoint(t *testing.T) {
	got := keepAlives(t, nil, func(ctx context.Context) error {
		while(ctx, 30*time.Millisecond)
		activities.Checkpoint(ctx, 7)
		while(ctx, 30*time.Millisecond)
		return nil
	})
	switchesOnce(t, got, -1, 7) // before any checkpoint a keep-alive carries nothing
}

// switchesOnce asserts that the keep-alives carried before, then after, and
// never before again.
func switchesOnce(t *testing.T, got []int, before, after int) {
	t.Helper()
	require.GreaterOrEqual(t, len(got), 6)
	seen := false
	for i, v := range got {
		if v == after {
			seen = true
			continue
		}
		assert.False(t, seen, "keep-alive %d carried %d after the checkpoint", i, v)
		assert.Equal(t, before, v, "keep-alive %d", i)
	}
	assert.True(t, seen, "a keep-alive carried the new checkpoint")
}

// Before its first checkpoint a retried attempt's keep-alives carry the
// previous attempt's, so a failure before it records one loses nothing.
func TestKeepAliveHeartbeatsKeepThePreviousAttemptsCheckpoint(t *testing.T) {
	got := keepAlives(t, 5, func(ctx context.Context) error {
		var page int
		require.NoError(t, activity.GetHeartbeatDetails(ctx, &page))
		require.Equal(t, 5, page)
		while(ctx, 30*time.Millisecond)
		activities.Checkpoint(ctx, page+1)
		while(ctx, 30*time.Millisecond)
		return nil
	})
	switchesOnce(t, got, 5, 6)
}

// stop returns only after the keep-alive goroutine has: a heartbeat it was
// recording when stop was called ends first, and none starts after. (A late
// one reached the next probe's recorder, and in a worker it could land after
// the activity returned.)
func TestHeartbeatEveryStopWaitsForTheGoroutine(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	orig := recordHeartbeat
	var stopped bool
	var mu sync.Mutex
	recordHeartbeat = func(context.Context, ...any) {
		mu.Lock()
		late := stopped
		mu.Unlock()
		assert.False(t, late, "a heartbeat started after stop returned")
		select {
		case entered <- struct{}{}:
			<-release
		default:
		}
	}
	t.Cleanup(func() { recordHeartbeat = orig })

	stop := heartbeatEvery(context.Background(), time.Millisecond)
	<-entered // a heartbeat is being recorded
	returned := make(chan struct{})
	go func() {
		stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("stop returned while a heartbeat was being recorded")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-returned
	time.Sleep(20 * time.Millisecond) // a goroutine still running would tick again
}

// A call that ends within half its heartbeat timeout records no heartbeat
// (each one that reaches the server is a billed action); a longer one keeps
// itself alive from half the timeout on.
func TestKeepAliveOnlyForLongCalls(t *testing.T) {
	count := func(run time.Duration) int {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&heartbeatInterceptor{}}})
		var mu sync.Mutex
		n := 0
		env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { mu.Lock(); n++; mu.Unlock() })
		env.RegisterActivityWithOptions(func(ctx context.Context) error { time.Sleep(run); return nil }, activity.RegisterOptions{Name: "Call"})
		env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, HeartbeatTimeout: 800 * time.Millisecond})
			return workflow.ExecuteActivity(ctx, "Call").Get(ctx, nil)
		}, workflow.RegisterOptions{Name: "Caller"})
		env.ExecuteWorkflow("Caller")
		require.NoError(t, env.GetWorkflowError())
		mu.Lock()
		defer mu.Unlock()
		return n
	}
	assert.Zero(t, count(100*time.Millisecond), "a short call records none")
	assert.Positive(t, count(1200*time.Millisecond), "a long call keeps itself alive")
}
