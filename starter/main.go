// Command starter is ahacc's webhook server (Fiber) and its operator commands.
//
//	starter [serve]                          webhook server on AHACC_HTTP_ADDR
//	starter check-mapping --type bugs --record idea.json   dry-run a mapping
//	starter centercode-setup [--type bugs] [--host ahacc.example.com]  what to enter in Centercode and Aha!
//	starter replay --aha-id PRJ1-I-10 [--kind idea]        re-sync one record now
//	starter parked                           list parked records and why
//	starter retry-parked (--all | --aha-id ID)             send retry to parked records
//	starter backfill-users [--since 2026-01-01] [--pause|--resume|--status]  copy Aha! people into Centercode
//	starter backfill-records --type bugs [--since 2026-01-01] [--status]  bring the Aha! records that exist into Centercode
//	starter upgrade                          after a deploy: running record and feedback workflows continue on the new code
//	starter doctor                           check the config and environment against Aha!, Centercode, Temporal and Redis
//	starter healthcheck                      exit 0 when /healthz answers (container probe)
//	starter setup-temporal [--retention 72h] register the namespace and ahacc's search attributes (idempotent)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/cli/ccsetup"
	"github.com/ahacc/ahacc/internal/cli/checkmapping"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/metrics"
	"github.com/ahacc/ahacc/mapping"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	env := app.EnvFromOS()
	var err error
	switch cmd {
	case "serve":
		err = serve(env, logger)
	case "check-mapping":
		os.Exit(checkmapping.Run(args, os.Stdout, os.Stderr))
	case "centercode-setup":
		if !hasFlag(args, "config") && env.ConfigPath != "" {
			args = append([]string{"--config", env.ConfigPath}, args...)
		}
		os.Exit(ccsetup.Run(args, os.Stdout, os.Stderr))
	case "healthcheck":
		err = healthcheck(env)
	case "doctor":
		os.Exit(doctor(env, logger))
	case "setup-temporal":
		err = setupTemporal(args, env, logger)
	case "replay", "parked", "retry-parked", "backfill-users", "backfill-records", "upgrade":
		err = operate(cmd, args, env, logger)
	case "help", "-h", "--help":
		fmt.Println("usage: starter [serve|doctor|check-mapping|centercode-setup|replay|parked|retry-parked|backfill-users|backfill-records|upgrade|setup-temporal|healthcheck] [flags]")
		return
	default:
		err = fmt.Errorf("unknown command %q (serve, doctor, check-mapping, centercode-setup, replay, parked, retry-parked, backfill-users, backfill-records, upgrade, setup-temporal, healthcheck)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func serve(env app.Env, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := app.Connect(ctx, env, metrics.ComponentStarter, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg, tc, rdb, m := conn.Config, conn.Temporal, conn.Redis, conn.Metrics
	if rdb == nil {
		logger.Warn("REDIS_URL is not set: running without the Redis dedup layer (readyz says degraded)")
	}
	if len(env.AhaTokens) == 0 {
		logger.Warn("AHACC_AHA_WEBHOOK_TOKEN is not set: every Aha! webhook will be answered 404")
	}
	// SIGHUP reloads the config: new macros, require:, record_types and
	// routes apply to the next request.
	configs := activities.NewConfigStore(cfg)
	app.ReloadOnSIGHUP(ctx, env, configs, logger)
	st := app.NewStarter(app.StarterOptions{Env: env, Config: configs.Load, Temporal: tc, Redis: rdb, Logger: logger,
		Metrics: m, MetricsHandler: m.Handler()})
	errc := make(chan error, 1)
	go func() {
		if env.TLSCert != "" {
			errc <- st.HTTP.App().ListenTLS(env.HTTPAddr, env.TLSCert, env.TLSKey)
			return
		}
		errc <- st.HTTP.Listen(env.HTTPAddr)
	}()
	logger.Info("starter listening", "addr", env.HTTPAddr, "config_hash", cfg.ShortHash())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("draining: no new connections, finishing hand-offs", "timeout", env.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), env.ShutdownTimeout)
	defer cancel()
	return st.HTTP.Shutdown(sctx)
}

// setupTemporal registers the namespace (TEMPORAL_NAMESPACE) and ahacc's
// search attributes on the cluster at TEMPORAL_ADDRESS, waiting for it to
// answer; it needs no ahacc.yaml. Compose, Kubernetes and the cluster tests run it.
func setupTemporal(args []string, env app.Env, logger *slog.Logger) error {
	fs := flag.NewFlagSet("setup-temporal", flag.ContinueOnError)
	retention := fs.Duration("retention", app.DefaultNamespaceRetention, "how long closed runs are kept (a namespace registered now)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the cluster to answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	tc, err := app.LazyTemporal(env, logger, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := app.WaitForTemporal(ctx, tc, logger); err != nil {
		return err
	}
	done, err := app.SetupTemporal(ctx, tc, env.Namespace, *retention, logger)
	for _, line := range done {
		fmt.Println(line)
	}
	return err
}

func healthcheck(env app.Env) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + env.HTTPAddrForProbe() + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}

func operate(cmd string, args []string, env app.Env, logger *slog.Logger) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	ahaID := fs.String("aha-id", "", "Aha! record id or reference (PRJ1-I-10)")
	kind := fs.String("kind", "idea", "record kind for replay (idea, feature, ...)")
	all := fs.Bool("all", false, "retry every parked record")
	since := fs.String("since", "", "backfill-users, backfill-records: only people or records changed since this date (YYYY-MM-DD or RFC 3339)")
	typ := fs.String("type", "", "backfill-records: the feedback type whose Aha! records to bring in")
	pause := fs.Bool("pause", false, "backfill-users: pause the running backfill")
	resume := fs.Bool("resume", false, "backfill-users: resume a paused backfill")
	status := fs.Bool("status", false, "backfill-users: print the running backfill's progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	timeout := 2 * time.Minute
	if (cmd == "backfill-users" || cmd == "backfill-records") && !*pause && !*resume && !*status {
		timeout = 24 * time.Hour // follows the backfill until it ends; Ctrl-C leaves it running
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tc, err := app.DialTemporal(ctx, env, logger, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	switch cmd {
	case "parked":
		parked, err := app.ListParked(ctx, tc, "")
		if err != nil {
			return err
		}
		for _, p := range parked {
			fmt.Printf("%s\t%s\t%s\n", p.WorkflowID, p.Reference, p.Reason)
		}
		fmt.Fprintf(os.Stderr, "%d parked\n", len(parked))
	case "backfill-records":
		if *typ == "" {
			return errors.New("backfill-records needs --type (a feedback type of the config)")
		}
		if *status {
			p, err := app.RecordBackfillProgressOf(ctx, tc, *typ)
			if err != nil {
				return err
			}
			fmt.Println(p.Summary())
			return nil
		}
		from, err := parseSince(*since)
		if err != nil {
			return err
		}
		sctx, stop := signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
		_, err = app.BackfillRecords(sctx, tc, env, *typ, from, os.Stdout)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case "upgrade":
		n, err := app.UpgradeRunning(ctx, tc)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d running record and feedback workflows asked to continue on the deployed code\n", n)
	case "retry-parked":
		if !*all && *ahaID == "" {
			return errors.New("retry-parked needs --all or --aha-id")
		}
		n, err := app.RetryParked(ctx, tc, *ahaID, os.Stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d retried\n", n)
	case "backfill-users":
		switch {
		case *pause:
			return app.SignalBackfill(ctx, tc, contract.SignalPause)
		case *resume:
			return app.SignalBackfill(ctx, tc, contract.SignalResume)
		case *status:
			p, err := app.BackfillProgressOf(ctx, tc)
			if err != nil {
				return err
			}
			fmt.Printf("%+v\n", p)
			return nil
		}
		from, err := parseSince(*since)
		if err != nil {
			return err
		}
		sctx, stop := signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
		return app.BackfillUsers(sctx, tc, env, from, os.Stdout)
	case "replay":
		if *ahaID == "" {
			return errors.New("replay needs --aha-id")
		}
		cfg, err := app.LoadConfig(env)
		if err != nil {
			return err
		}
		st := app.NewStarter(app.StarterOptions{Env: env, Config: func() *mapping.Config { return cfg }, Temporal: tc, Logger: logger})
		out, err := app.Replay(ctx, st.Dispatcher, cfg, *kind, *ahaID)
		if err != nil {
			return err
		}
		fmt.Printf("%s %s %s\n", out.Status, out.WorkflowID, out.Reason)
	}
	return nil
}

// hasFlag reports whether args set --name (or -name).
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// doctor checks the config and environment against the real services,
// reading only, prints the checklist and returns the exit code (1 on any ✗).
func doctor(env app.Env, logger *slog.Logger) int {
	cfg, err := app.LoadConfig(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &app.Doctor{Config: cfg, Env: env, Aha: app.NewAhaClient(cfg, app.ClientOptions{Logger: quiet}),
		DialTLS: app.DialTLS, DialPlain: app.DialPlain}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	if tc, err := app.DialTemporal(dctx, env, quiet, nil); err == nil {
		d.Temporal = tc
		defer tc.Close()
	} else {
		logger.Debug("temporal", "error", err)
	}
	dcancel()
	if rdb, err := app.NewRedis(ctx, env.RedisURL); err == nil && rdb != nil {
		d.Redis = rdb
		defer rdb.Close()
	}
	fmt.Printf("ahacc doctor — config %s (hash %s)\n", env.ConfigPath, cfg.ShortHash())
	if app.PrintChecks(os.Stdout, d.Run(ctx)) > 0 {
		return 1
	}
	return 0
}

// parseSince reads --since: YYYY-MM-DD or RFC 3339; empty is the zero time.
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want YYYY-MM-DD or RFC 3339", s)
	}
	return t, nil
}
