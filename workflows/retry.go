package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/mapping"
)

// DefaultRetryMaxInterval is the longest wait between two tries of a far-side
// call when the config names none (sync.retry_max_interval).
const DefaultRetryMaxInterval = mapping.DefaultRetryMaxInterval

// callHeartbeat is the heartbeat timeout of far-side calls: the worker
// heartbeats every activity (internal/app), so a worker that dies hands its
// calls to another within 20 s, not after the 2-minute start-to-close.
const callHeartbeat = 20 * time.Second

// retrying is how a workflow retries its far-side calls: tries 1 s apart,
// doubling to at most RetryMaxInterval, for up to RetryFor before the call
// fails and its record, person or run parks. Both come from the config
// (sync.retry_for, sync.retry_max_interval) with the routes or plan a local
// activity returns; zero means the default.
type retrying activities.Retry

func (r retrying) retryFor() time.Duration {
	if r.RetryFor > 0 {
		return r.RetryFor
	}
	return DefaultRetryFor
}

// policy is the retry policy; permanent answers (400, 401, 403, 404, 406,
// 422), a body the mapping rejects and a config error are not retried, nor
// are the extra error types.
func (r retrying) policy(extra ...string) *temporal.RetryPolicy {
	maxInterval := r.RetryMaxInterval
	if maxInterval <= 0 {
		maxInterval = DefaultRetryMaxInterval
	}
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        maxInterval,
		NonRetryableErrorTypes: append(slices.Clone(activities.FinalErrorTypes), extra...),
	}
}
