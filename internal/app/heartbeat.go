package app

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// heartbeatInterceptor heartbeats every running activity every few seconds,
// so that when a worker dies its activities are retried elsewhere after the
// (short) heartbeat timeout, not after the whole start-to-close timeout.
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

func (h *heartbeatActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if activity.GetInfo(ctx).HeartbeatTimeout > 0 {
		defer heartbeatEvery(ctx, h.every)()
	}
	return h.Next.ExecuteActivity(ctx, in)
}

// heartbeatEvery records a heartbeat (with details) for the activity of ctx
// every d until the returned stop is called or ctx ends.
func heartbeatEvery(ctx context.Context, d time.Duration, details ...any) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details...)
			}
		}
	}()
	return func() { close(done) }
}
