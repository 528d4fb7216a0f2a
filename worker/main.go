// Command worker is ahacc's Temporal worker: it polls the task queue, runs the
// workflows and the activities (Aha! and Centercode calls), serves /healthz,
// /readyz and /metrics on AHACC_WORKER_HEALTH_ADDR, reloads the mapping config
// on SIGHUP, and on SIGTERM stops polling and lets running activities finish
// within AHACC_SHUTDOWN_TIMEOUT.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/metrics"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	if err := run(logger); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	env := app.EnvFromOS()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := app.Connect(ctx, env, metrics.ComponentWorker, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg, tc, rdb, m := conn.Config, conn.Temporal, conn.Redis, conn.Metrics

	// Health first: live while it waits for Temporal, ready once it answers.
	var polling atomic.Bool
	health := &http.Server{Addr: env.WorkerHealthAddr, Handler: healthMux(tc, &polling, m.Handler()), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := health.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health server", "error", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = health.Shutdown(sctx)
	}()
	// A SIGHUP while it waits (its default would end the process) reloads
	// the config it starts with.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := app.WaitForTemporal(ctx, tc, logger); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before Temporal answered
		}
		return err
	}
	select {
	case <-hup:
		if next, err := app.LoadConfig(env); err != nil {
			logger.Error("config reload rejected; starting with the config read at start", "error", err)
		} else {
			cfg = next
		}
	default:
	}
	w, err := app.StartWorker(app.WorkerOptions{Env: env, Config: cfg, Temporal: tc, Redis: rdb, Logger: logger, Metrics: m})
	if err != nil {
		return err
	}
	polling.Store(true)

	app.ReloadOnSIGHUP(ctx, env, w.Activities.Configs, logger)
	<-ctx.Done()
	logger.Info("stopping: no new tasks, letting running activities finish", "timeout", env.ShutdownTimeout.String())
	w.Stop()
	return nil
}

func healthMux(tc client.Client, polling *atomic.Bool, metricsHandler http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			// States only in the answer; the error (addresses) in the log.
			slog.Warn("readyz: temporal unreachable", "error", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable","temporal":"unreachable"}`))
			return
		}
		if !polling.Load() { // Temporal answers; the worker is not polling yet
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"starting","temporal":"ok"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready","temporal":"ok"}`))
	})
	return mux
}
