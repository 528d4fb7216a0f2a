// Command ahacc-bench measures ahacc on this machine, in one run, against the
// dev stack's own ceilings (the baselines every later figure is a ratio to):
// Temporal SignalWithStart calls/s, end-to-end trivial workflows/s, Redis
// SET NX ops/s and a Fiber no-op endpoint's req/s. Everything runs on loopback.
//
//	go run ./internal/bench/cmd/ahacc-bench [-n 2000] [-c 32] [-only name,name]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/internal/bench"
	"github.com/ahacc/ahacc/internal/devstack"
)

func main() {
	n := flag.Int("n", 2000, "operations per scenario")
	conc := flag.Int("c", 32, "concurrency")
	only := flag.String("only", "", "comma-separated scenario names to run (default all)")
	redisURL := flag.String("redis", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis for the SET NX baseline")
	flag.Parse()
	if err := run(*n, *conc, *only, *redisURL); err != nil {
		fmt.Fprintln(os.Stderr, "ahacc-bench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type scenario struct {
	name string
	run  func(ctx context.Context, env *benchEnv, n, c int) (bench.Result, error)
}

type benchEnv struct {
	temporal client.Client
	redisURL string
}

var scenarios = []scenario{
	{"temporal-signal-with-start", signalWithStart},
	{"temporal-trivial-workflow", trivialWorkflows},
	{"redis-set-nx", redisSetNX},
	{"fiber-noop", fiberNoop},
}

func run(n, c int, only, redisURL string) error {
	ctx := context.Background()
	want := map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	dir, err := os.MkdirTemp("", "ahacc-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The same engine `make run` uses: SQLite file in WAL mode.
	ts, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
		Addr: "127.0.0.1:0", UIAddr: "off", DBFile: filepath.Join(dir, "temporal.db"),
	})
	if err != nil {
		return err
	}
	defer ts.Stop()
	tc, err := client.Dial(client.Options{HostPort: ts.Addr(), Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		return err
	}
	defer tc.Close()
	w := worker.New(tc, "bench", worker.Options{})
	w.RegisterWorkflow(Trivial)
	w.RegisterWorkflow(WaitSignal)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	env := &benchEnv{temporal: tc, redisURL: redisURL}

	var results []bench.Result
	for _, s := range scenarios {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "running %s ...\n", s.name)
		r, err := s.run(ctx, env, n, c)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results = append(results, r)
		// Let the worker finish what the scenario started, so the next
		// scenario measures itself, not the backlog.
		if err := drain(ctx, tc); err != nil {
			return err
		}
	}
	fmt.Printf("ahacc-bench %s, %s/%s, %d CPUs, %s\n\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Print(bench.Markdown(results, nil))
	return nil
}

func drain(ctx context.Context, tc client.Client) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: `ExecutionStatus = "Running"`})
		if err != nil {
			return err
		}
		if resp.GetCount() == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("workflows still running after 5 minutes")
}

// Trivial is the cheapest possible workflow: start, return.
func Trivial(ctx workflow.Context) error { return nil }

// WaitSignal is started by SignalWithStart and completes on its first signal,
// the shape of an entity workflow receiving its first event.
func WaitSignal(ctx workflow.Context) error {
	workflow.GetSignalChannel(ctx, "event").Receive(ctx, nil)
	return nil
}

func signalWithStart(ctx context.Context, env *benchEnv, n, c int) (bench.Result, error) {
	prefix := fmt.Sprintf("sws-%d-", time.Now().UnixNano())
	r := bench.Run(ctx, "temporal-signal-with-start", n, c, func(ctx context.Context, i int) error {
		_, err := env.temporal.SignalWithStartWorkflow(ctx, fmt.Sprintf("%s%d", prefix, i), "event", i,
			client.StartWorkflowOptions{TaskQueue: "bench"}, WaitSignal)
		return err
	})
	r.Note = strings.TrimSpace("fresh workflow id per call; worker running " + r.Note)
	return r, nil
}

func trivialWorkflows(ctx context.Context, env *benchEnv, n, c int) (bench.Result, error) {
	prefix := fmt.Sprintf("triv-%d-", time.Now().UnixNano())
	r := bench.Run(ctx, "temporal-trivial-workflow", n, c, func(ctx context.Context, i int) error {
		run, err := env.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("%s%d", prefix, i), TaskQueue: "bench"}, Trivial)
		if err != nil {
			return err
		}
		return run.Get(ctx, nil)
	})
	r.Note = strings.TrimSpace("start + wait for completion " + r.Note)
	return r, nil
}

func redisSetNX(ctx context.Context, env *benchEnv, n, c int) (bench.Result, error) {
	opt, err := redis.ParseURL(env.redisURL)
	if err != nil {
		return bench.Result{}, err
	}
	opt.PoolSize = c
	rc := redis.NewClient(opt)
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return bench.Result{}, fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}
	prefix := fmt.Sprintf("ahacc:bench:%d:", time.Now().UnixNano())
	n *= 10 // Redis is fast; give it enough work to measure
	r := bench.Run(ctx, "redis-set-nx", n, c, func(ctx context.Context, i int) error {
		return rc.SetNX(ctx, fmt.Sprintf("%s%d", prefix, i), 1, time.Minute).Err()
	})
	r.Note = strings.TrimSpace("real Redis at " + opt.Addr + " " + r.Note)
	return r, nil
}

func fiberNoop(ctx context.Context, env *benchEnv, n, c int) (bench.Result, error) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/noop", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return bench.Result{}, err
	}
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	url := "http://" + ln.Addr().String() + "/noop"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}}
	n *= 10
	r := bench.Run(ctx, "fiber-noop", n, c, func(ctx context.Context, i int) error {
		resp, err := hc.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	r.Note = strings.TrimSpace("Go HTTP client in the same process, keep-alive " + r.Note)
	return r, nil
}
