package activities

import (
	"context"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
)

// An activity's heartbeat details are its checkpoint: a retried attempt
// resumes from the last details recorded (the organization fan-out from the
// page after the last one it signalled, reconcile after the last audit it
// handed over). Temporal keeps only the latest details, so every heartbeat the
// activity sends — its own, the worker's keep-alive, the rate budget's while it
// waits — must carry the same checkpoint, or a keep-alive with none erases it.
// The worker gives each activity a holder (WithCheckpoint); an activity records
// progress with Checkpoint; keep-alive heartbeats send CheckpointOf.

type checkpointKey struct{}

type checkpointHolder struct {
	mu  sync.Mutex
	v   any
	set bool
}

// WithCheckpoint returns ctx with a checkpoint holder for the activity of ctx,
// holding the previous attempt's checkpoint (as it was encoded) until the
// activity records a new one.
func WithCheckpoint(ctx context.Context) context.Context {
	h := &checkpointHolder{}
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		var raw converter.RawValue
		if activity.GetHeartbeatDetails(ctx, &raw) == nil {
			h.v, h.set = raw, true
		}
	}
	return context.WithValue(ctx, checkpointKey{}, h)
}

// Checkpoint records v as the activity's progress and heartbeats it.
func Checkpoint(ctx context.Context, v any) {
	if h, ok := ctx.Value(checkpointKey{}).(*checkpointHolder); ok {
		h.mu.Lock()
		h.v, h.set = v, true
		h.mu.Unlock()
	}
	activity.RecordHeartbeat(ctx, v)
}

// CheckpointOf is what a keep-alive heartbeat for the activity of ctx carries:
// its checkpoint, or nothing when it has none.
func CheckpointOf(ctx context.Context) []any {
	h, ok := ctx.Value(checkpointKey{}).(*checkpointHolder)
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.set {
		return nil
	}
	return []any{h.v}
}
