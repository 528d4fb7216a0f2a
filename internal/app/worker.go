package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/internal/metrics"
	"github.com/ahacc/ahacc/internal/people"
	"github.com/ahacc/ahacc/internal/ratelimit"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

// WorkerOptions builds a worker.
type WorkerOptions struct {
	Env      Env
	Config   *mapping.Config
	Temporal client.Client
	// Redis lets the reconcile run share the webhook's dedup layer (optional).
	Redis  *redis.Client
	Logger *slog.Logger
	// Metrics records outbound calls and the parked gauge (nil: none).
	Metrics *metrics.Metrics
	Clients ClientOptions
	// ParkedCountEvery is how often the parked_records gauge is refreshed (default 30 s).
	ParkedCountEvery time.Duration
	// StopTimeout lets running activities finish on shutdown (default Env.ShutdownTimeout).
	StopTimeout time.Duration
	// Interceptors run after ahacc's own (tracing; tests that inject faults).
	Interceptors []interceptor.WorkerInterceptor
}

// Worker is a started ahacc worker.
type Worker struct {
	w          worker.Worker
	Activities *activities.Activities
	done       chan struct{}
	stopOnce   sync.Once
}

// StartWorker registers ahacc's workflows and activities on the task queue and
// starts polling.
func StartWorker(o WorkerOptions) (*Worker, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = o.Env.ShutdownTimeout
	}
	o.Env = o.Env.WithConfig(o.Config)
	if o.Clients.Logger == nil {
		o.Clients.Logger = o.Logger
	}
	if o.Metrics != nil && o.Clients.Transport == nil {
		o.Clients.Transport = o.Metrics.Transport
	}
	if o.Clients.AhaLimiter == nil && o.Clients.CentercodeLimiter == nil {
		if o.Env.RateBudgetOff {
			o.Logger.Warn("shared rate budgets are off (AHACC_RATE_BUDGET=off): 429s are handled only by retries")
			o.Clients.AhaLimiter, o.Clients.CentercodeLimiter = ratelimit.Disabled(), ratelimit.Disabled()
		} else {
			o.Clients.AhaLimiter, o.Clients.CentercodeLimiter = Budgets(o.Config, o.Redis, o.Metrics, o.Logger)
		}
	}
	ahaClient := NewAhaClient(o.Config, o.Clients)
	configs := activities.NewConfigStore(o.Config)
	d := &dispatch.Dispatcher{Temporal: o.Temporal, TaskQueue: o.Env.TaskQueue, Config: configs.Load, Logger: o.Logger}
	var writes activities.WriteLedger
	var memo activities.Memo
	if o.Redis != nil {
		memo = dedup.NewMemo(o.Redis)
		d.Dedup = dedup.New(o.Redis, o.Config.Sync.DedupTTL, "")
		// A claim outlives the write's 2-minute start-to-close bound.
		writes = dedup.New(o.Redis, o.Config.Sync.DedupTTL, "ahacc:written:", dedup.PendingFor(3*time.Minute))
	}
	acts := activities.New(activities.Deps{
		Configs:    configs,
		Aha:        AhaReader{Client: ahaClient},
		People:     &people.AhaPeople{Client: ahaClient, Orgs: people.NewOrgCache(orgCacheTTL)},
		AhaWriter:  ahaClient,
		Centercode: NewCentercodeClient(o.Clients),
		Audits:     ahaClient,
		Records:    ahaClient,
		Dispatcher: auditDispatcher{d: d, logger: o.Logger},
		Statuses:   d,
		Writes:     writes,
		Memo:       memo,
		Logger:     o.Logger,
	})
	w := worker.New(o.Temporal, o.Env.TaskQueue, worker.Options{
		WorkerStopTimeout: o.StopTimeout,
		// Enough pollers to keep a burst of entity workflows moving; activities
		// in flight are bounded so budget waits stay well inside their timeouts.
		MaxConcurrentWorkflowTaskPollers:   8,
		MaxConcurrentActivityTaskPollers:   8,
		MaxConcurrentActivityExecutionSize: o.Env.MaxActivities,
		// Activities with a heartbeat timeout heartbeat every half of it, so a
		// dead worker's activities move on within the timeout (20 s for
		// ahacc's) while a call that ends sooner records none (each recorded
		// heartbeat is a billed action).
		Interceptors: append([]interceptor.WorkerInterceptor{&heartbeatInterceptor{}}, o.Interceptors...),
		// Fail the workflow task (not the workflow) on a panic, so a fixed
		// worker can carry on; the UI shows the stuck task.
		WorkflowPanicPolicy: worker.BlockWorkflow,
	})
	Register(w, acts)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker on task queue %q: %w", o.Env.TaskQueue, err)
	}
	o.Logger.Info("worker polling", "task_queue", o.Env.TaskQueue, "config_hash", o.Config.ShortHash())
	wk := &Worker{w: w, Activities: acts, done: make(chan struct{})}
	// The reconcile run is what recovers undelivered webhooks: its schedule
	// is ensured now, or tried again until it is (not fatal meanwhile:
	// webhooks still flow).
	ensure := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := EnsureReconcileSchedule(sctx, o.Temporal, o.Env.TaskQueue, o.Config.Sync.ReconcileEvery)
		if err != nil {
			o.Logger.Error("reconcile schedule not ensured; trying again", "error", err)
		}
		return err
	}
	if ensure() != nil {
		go againUntilDone(wk.done, 30*time.Second, 5*time.Minute, ensure)
	}
	if o.Metrics != nil {
		every := o.ParkedCountEvery
		if every <= 0 {
			every = 30 * time.Second
		}
		go wk.countParked(o.Temporal, o.Metrics, o.Logger, every)
	}
	return wk, nil
}

// againUntilDone waits, then calls try, until it succeeds or done closes;
// the wait starts at first and doubles up to most.
func againUntilDone(done <-chan struct{}, first, most time.Duration, try func() error) {
	for wait := first; ; wait = min(2*wait, most) {
		select {
		case <-done:
			return
		case <-time.After(wait):
		}
		if try() == nil {
			return
		}
	}
}

// Register adds every ahacc workflow and the activities to a registry (the
// replayer test uses it too).
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflow(workflows.AhaRecordWorkflow)
	r.RegisterWorkflow(workflows.ReconcileWorkflow)
	r.RegisterWorkflow(workflows.UserDataWorkflow)
	r.RegisterWorkflow(workflows.AhaPeopleWorkflow)
	r.RegisterWorkflow(workflows.UserBackfillWorkflow)
	r.RegisterWorkflow(workflows.MacroWorkflow)
	r.RegisterWorkflow(workflows.FeedbackWorkflow)
	r.RegisterWorkflow(workflows.AuditParentWorkflow)
	r.RegisterWorkflow(workflows.RecordBackfillWorkflow)
	r.RegisterActivity(acts)
}

// Stop stops polling and waits up to the stop timeout for running activities.
func (w *Worker) Stop() {
	w.stopOnce.Do(func() { close(w.done) })
	w.w.Stop()
}

// countParked keeps the parked_records gauge current from a visibility count
// (records of every kind, labelled "all"), so an alert can fire on it.
func (w *Worker) countParked(c client.Client, m *metrics.Metrics, logger *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`%s = %q AND ExecutionStatus = "Running"`, contract.SASyncState, contract.StateParked)})
		cancel()
		if err == nil {
			m.SetParkedGauge("all", float64(resp.GetCount()))
		} else {
			logger.Debug("count parked records", "error", err)
		}
		select {
		case <-w.done:
			return
		case <-t.C:
		}
	}
}

// Reload swaps the mapping config used by the next activities.
func (w *Worker) Reload(cfg *mapping.Config) { w.Activities.Configs.Store(cfg) }

// auditDispatcher adapts the dispatcher to the activities' interface. An
// audit Temporal refuses as invalid is logged and answered "invalid" (the
// reconcile run skips it: it would fail the same way forever); in flight or
// unavailable stay errors, so the run retries without moving past it.
type auditDispatcher struct {
	d      *dispatch.Dispatcher
	logger *slog.Logger
}

func (a auditDispatcher) DispatchAudit(ctx context.Context, au *aha.Audit, source string) (string, error) {
	out, err := a.d.Dispatch(ctx, au, source)
	if errors.Is(err, dispatch.ErrInvalid) {
		a.logger.Warn("audit skipped: Temporal cannot take it", "audit_id", au.ID.String(), "source", source, "error", err)
		return activities.AuditInvalid, nil
	}
	return out.Status, err
}

// LoadConfig loads the mapping config named by env.
func LoadConfig(env Env) (*mapping.Config, error) {
	return mapping.LoadFile(env.ConfigPath)
}
