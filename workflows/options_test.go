package workflows

import (
	"sync"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// optionsRecorder records, per activity type, the options a workflow in the
// test environment last scheduled it with (the environment's activity.Info
// leaves the retry policy out).
type optionsRecorder struct {
	interceptor.WorkerInterceptorBase
	mu        sync.Mutex
	last      map[string]workflow.ActivityOptions
	lastLocal map[string]workflow.LocalActivityOptions
}

func recordActivityOptions(env *testsuite.TestWorkflowEnvironment) *optionsRecorder {
	r := &optionsRecorder{last: map[string]workflow.ActivityOptions{}, lastLocal: map[string]workflow.LocalActivityOptions{}}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{r}})
	return r
}

// get returns the options activity type name was last scheduled with.
func (r *optionsRecorder) get(name string) (workflow.ActivityOptions, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.last[name]
	return o, ok
}

// getLocal returns the options local activity type name was last run with.
func (r *optionsRecorder) getLocal(name string) (workflow.LocalActivityOptions, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.lastLocal[name]
	return o, ok
}

func (r *optionsRecorder) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &recordingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, r: r}
}

type recordingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *optionsRecorder
}

func (i *recordingInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&recordingOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, r: i.r})
}

type recordingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *optionsRecorder
}

func (o *recordingOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.r.mu.Lock()
	o.r.last[activityType] = workflow.GetActivityOptions(ctx)
	o.r.mu.Unlock()
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *recordingOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.r.mu.Lock()
	o.r.lastLocal[activityType] = workflow.GetLocalActivityOptions(ctx)
	o.r.mu.Unlock()
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}
