// Command ahacc-dev runs the whole of ahacc on one machine for `make run`:
// embedded Temporal with its Web UI, Redis (or an in-process stand-in), the
// Aha! and Centercode simulators, the worker and the starter, in one process.
// Ctrl-C stops everything; Temporal's history stays in .data/.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ahacc/ahacc/internal/devstack"
)

func main() {
	level := slog.LevelInfo
	if os.Getenv("AHACC_LOG_LEVEL") == "debug" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	started := time.Now()
	stack, err := devstack.Start(ctx, devstack.FromEnv(devstack.Options{Logger: logger}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ahacc-dev:", err)
		os.Exit(1)
	}
	fmt.Print(stack.Banner())
	fmt.Printf("(started in %s)\n", time.Since(started).Round(time.Millisecond))
	<-ctx.Done()
	fmt.Println("\nstopping ...")
	stack.Stop()
	fmt.Println("stopped.")
}
