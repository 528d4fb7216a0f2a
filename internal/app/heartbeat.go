package app

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/ahacc/ahacc/activities"
)

// heartbeatInterceptor heartbeats every running activity that has a
// heartbeat timeout, every half of that timeout (or every `every` when set),
// so that when a worker dies its activities are retried elsewhere after the
// (short) heartbeat timeout, not after the whole start-to-close timeout. A
// call that ends within half its timeout records no heartbeat; a longer one
// records one at half, then one per SDK throttle interval (80% of the
// timeout: the SDK holds the ticks between).
type heartbeatInterceptor struct {
	interceptor.WorkerInterceptorBase
	every time.Duration
}

func (h *heartbeatInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &heartbeatActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, every: h.every}
}

type heartbeatActivity struct {
	interceptor.ActivityInboundInterceptorBase
	every time.Duration
}

// ExecuteActivity gives the activity a checkpoint holder (so every heartbeat
// carries its checkpoint, see activities.Checkpoint) and heartbeats it.
func (h *heartbeatActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	if !info.IsLocalActivity {
		ctx = activities.WithCheckpoint(ctx)
	}
	if info.HeartbeatTimeout > 0 {
		every := h.every
		if every <= 0 {
			every = info.HeartbeatTimeout / 2
		}
		defer heartbeatEvery(ctx, every)()
	}
	return h.Next.ExecuteActivity(ctx, in)
}

// recordHeartbeat is activity.RecordHeartbeat (a test sees each keep-alive
// through it: the SDK batches heartbeats before they reach the server).
var recordHeartbeat = activity.RecordHeartbeat

// heartbeatEvery records a heartbeat for the activity of ctx every d, carrying
// its checkpoint, until the returned stop is called or ctx ends.
func heartbeatEvery(ctx context.Context, d time.Duration) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				recordHeartbeat(ctx, activities.CheckpointOf(ctx)...)
			}
		}
	}()
	// stop returns once the goroutine has: no heartbeat follows it (one that
	// did could land after the activity finished, or in a test's next probe).
	return func() { close(done); <-exited }
}
