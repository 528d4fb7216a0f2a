package e2e

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/workflows"
)

// TestUserDataWriteOnceAfterALostWorkflowTask: a person's Centercode write is
// a local activity inside the workflow task that mapped the data, so when
// that task's completion is lost (a history restart, a task timed out on a
// starved worker), the task runs again and so does the write. Centercode's
// listener appends key/value pairs, so the repeat is a second write. The test
// fails each person's first workflow task right after its write completed (a
// panic: the worker fails the task and Temporal hands it out again) and
// requires one write per person all the same.
func TestUserDataWriteOnceAfterALostWorkflowTask(t *testing.T) {
	lost := &loseTaskAfterWrite{}
	e := udStart(t, udRates{AhaPerSecond: 100, AhaPerMinute: 6000, CCPerSecond: 100, CCPerMinute: 6000,
		Worker: func(o *app.WorkerOptions) { o.Interceptors = append(o.Interceptors, lost) }})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ids, _ := e.udPeople(5, 1)
	emails := make([]string, len(ids))
	for i, id := range ids {
		emails[i] = e.aha.IdeaUserEmail(id)
	}
	require.NoError(t, app.BackfillUsers(ctx, e.stack.Client, e.stack.Env, time.Time{}, io.Discard))
	e.udConverge(ctx, emails, 60*time.Second)
	for _, em := range emails {
		st := e.udWaitState(ctx, em, 30*time.Second, func(s workflows.UserDataState) bool { return s.SyncState == contract.StateSynced })
		require.True(t, lost.failed(em), "%s: the fault was not injected", em)
		require.Equal(t, 1, workflowTasksFailed(ctx, t, e, em), "%s: one lost workflow task", em)
		require.EqualValues(t, 1, e.cc.UserWrites(em), "%s: Centercode written once (state %+v)", em, st)
	}
}

// workflowTasksFailed counts the failed workflow tasks in a person's history.
func workflowTasksFailed(ctx context.Context, t *testing.T, e *udEnv, email string) int {
	it := e.stack.Client.GetWorkflowHistory(ctx, contract.UserDataWorkflowID(email), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED {
			n++
		}
	}
	return n
}

// loseTaskAfterWrite fails the workflow task of each person's first
// user-data write once the write has completed, as a lost task completion
// would: the worker's answer never counts and the task runs again.
type loseTaskAfterWrite struct {
	interceptor.WorkerInterceptorBase
	done sync.Map // email → struct{}: its task was failed once
	n    atomic.Int64
}

func (l *loseTaskAfterWrite) failed(email string) bool { _, ok := l.done.Load(email); return ok }

func (l *loseTaskAfterWrite) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &loseInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, l: l}
}

type loseInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	l *loseTaskAfterWrite
}

func (i *loseInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&loseOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, l: i.l})
}

type loseOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	l *loseTaskAfterWrite
}

func (o *loseOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	f := o.Next.ExecuteLocalActivity(ctx, activityType, args...)
	if activityType != "PostUserData" || len(args) != 1 {
		return f
	}
	req, ok := args[0].(activities.PostUserDataRequest)
	if !ok {
		return f
	}
	return &loseFuture{Future: f, l: o.l, email: req.Email}
}

type loseFuture struct {
	workflow.Future
	l     *loseTaskAfterWrite
	email string
}

func (f *loseFuture) Get(ctx workflow.Context, valuePtr any) error {
	err := f.Future.Get(ctx, valuePtr)
	if _, seen := f.l.done.LoadOrStore(f.email, struct{}{}); !seen && err == nil {
		f.l.n.Add(1)
		panic("test: the workflow task that wrote " + f.email + " is lost")
	}
	return err
}
