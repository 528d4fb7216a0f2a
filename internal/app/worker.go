package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

// WorkerOptions builds a worker.
type WorkerOptions struct {
	Env      Env
	Config   *mapping.Config
	Temporal client.Client
	// Redis lets the reconcile run share the webhook's dedup layer (optional).
	Redis   *redis.Client
	Logger  *slog.Logger
	Clients ClientOptions
	// StopTimeout lets running activities finish on shutdown (default Env.ShutdownTimeout).
	StopTimeout time.Duration
}

// Worker is a started ahacc worker.
type Worker struct {
	w          worker.Worker
	Activities *activities.Activities
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
	if o.Clients.Logger == nil {
		o.Clients.Logger = o.Logger
	}
	ahaClient := NewAhaClient(o.Config, o.Clients)
	acts := activities.New(o.Config, AhaReader{Client: ahaClient}, NewCentercodeClient(o.Clients), o.Logger)
	d := &dispatch.Dispatcher{Temporal: o.Temporal, TaskQueue: o.Env.TaskQueue, Config: acts.Configs.Load, Logger: o.Logger}
	if o.Redis != nil {
		d.Dedup = dedup.New(o.Redis, o.Config.Sync.DedupTTL, "")
	}
	acts.Audits = ahaClient
	acts.Dispatcher = auditDispatcher{d}
	w := worker.New(o.Temporal, o.Env.TaskQueue, worker.Options{
		WorkerStopTimeout: o.StopTimeout,
		// Fail the workflow task (not the workflow) on a panic, so a fixed
		// worker can carry on; the UI shows the stuck task.
		WorkflowPanicPolicy: worker.BlockWorkflow,
	})
	Register(w, acts)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker on task queue %q: %w", o.Env.TaskQueue, err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureReconcileSchedule(sctx, o.Temporal, o.Env.TaskQueue, o.Config.Sync.ReconcileEvery); err != nil {
		// Not fatal: webhooks still flow; the operator sees this line.
		o.Logger.Error("reconcile schedule not ensured", "error", err)
	}
	o.Logger.Info("worker polling", "task_queue", o.Env.TaskQueue, "config_hash", o.Config.ShortHash())
	return &Worker{w: w, Activities: acts}, nil
}

// Register adds every ahacc workflow and the activities to a registry (the
// replayer test uses it too).
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflow(workflows.AhaRecordWorkflow)
	r.RegisterWorkflow(workflows.ReconcileWorkflow)
	r.RegisterActivity(acts)
}

// Stop stops polling and waits up to the stop timeout for running activities.
func (w *Worker) Stop() { w.w.Stop() }

// Reload swaps the mapping config used by the next activities.
func (w *Worker) Reload(cfg *mapping.Config) { w.Activities.Configs.Store(cfg) }

// auditDispatcher adapts the dispatcher to the activities' interface.
type auditDispatcher struct{ d *dispatch.Dispatcher }

func (a auditDispatcher) DispatchAudit(ctx context.Context, au *aha.Audit, source string) (string, error) {
	out, err := a.d.Dispatch(ctx, au, source)
	return out.Status, err
}

// LoadConfig loads the mapping config named by env.
func LoadConfig(env Env) (*mapping.Config, error) {
	return mapping.LoadFile(env.ConfigPath)
}
