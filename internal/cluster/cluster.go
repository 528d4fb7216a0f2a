// Package cluster runs Temporal as it is deployed: the server built from the
// pinned go.temporal.io/server module, one OS process per service (frontend,
// history, matching, worker — as Temporal's Helm chart deploys them), on
// PostgreSQL with SQL visibility. The schema comes from
// docker/temporal/setup-postgres.sh (Temporal's temporal-sql-tool) and the
// namespace and search attributes from `starter setup-temporal`: the same two
// steps docker/compose.yaml runs. The server is configured only through the
// environment variables of its embedded config template, as in the
// temporalio/server image. `make test-cluster` and `make bench-cluster` use it.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ahacc/ahacc/internal/loopback"
)

// Enabled reports whether the cluster tests run (make test-cluster sets
// AHACC_TEST_CLUSTER=1); they need PostgreSQL and minutes.
func Enabled() bool { return os.Getenv("AHACC_TEST_CLUSTER") == "1" }

// What docker/ runs too (docker's TestComposeMatchesTheTestedCluster reads these):
const (
	// ServerPackage and SQLToolPackage are built from the version go.mod pins.
	ServerPackage  = "go.temporal.io/server/cmd/server"
	SQLToolPackage = "go.temporal.io/server/cmd/tools/sql"
	// SchemaScript creates and updates the databases.
	SchemaScript = "docker/temporal/setup-postgres.sh"
	// DynamicConfig is the server's dynamic config file.
	DynamicConfig = "docker/temporal/dynamicconfig.yaml"
	// SetupCommand is the starter subcommand that registers the namespace and
	// the search attributes.
	SetupCommand = "setup-temporal"
)

// ServerEnv names the server environment variables (its embedded config
// template's) the cluster sets besides the *_PORT ones.
var ServerEnv = []string{"DB", "POSTGRES_SEEDS", "DB_PORT", "POSTGRES_USER", "POSTGRES_PWD", "DBNAME", "VISIBILITY_DBNAME",
	"BIND_ON_IP", "TEMPORAL_BROADCAST_ADDRESS", "NUM_HISTORY_SHARDS", "DYNAMIC_CONFIG_FILE_PATH", "PUBLIC_FRONTEND_ADDRESS", "LOG_LEVEL",
	"SQL_MAX_CONNS", "SQL_MAX_IDLE_CONNS", "SQL_VIS_MAX_CONNS", "SQL_VIS_MAX_IDLE_CONNS"}

// Services are the server's services, one process each, in start order.
var Services = []string{"history", "matching", "frontend", "worker"}

// Options configures a cluster.
type Options struct {
	// Repo is the module root (go.mod, docker/); binaries are built from it.
	Repo string
	// Dir keeps the services' logs and the dynamic config.
	Dir string
	// Starter is ahacc's starter binary (runs `starter setup-temporal`).
	Starter string
	// PostgreSQL (defaults 127.0.0.1, 5432, postgres, no password).
	PGHost, PGPort, PGUser, PGPassword string
	// DBName is the default store's database (default: a fresh ahacc_<random>);
	// visibility goes to DBName_visibility.
	DBName string
	// HistoryShards is numHistoryShards (default 4; fixed for a database's life).
	HistoryShards int
	// Namespace to register (default "default").
	Namespace string
	// DynamicConfig is appended to docker/temporal/dynamicconfig.yaml.
	DynamicConfig string
	// Logf receives progress lines (default: none).
	Logf func(format string, args ...any)
}

// Cluster is a running multi-process Temporal.
type Cluster struct {
	o        Options
	Frontend string // host:port of the frontend's gRPC
	env      []string
	ports    map[string]int
	mu       sync.Mutex
	procs    map[string]*exec.Cmd
	exited   map[string]chan error
	server   string // temporal-server binary
	restarts int
	stopped  bool
	fresh    bool           // the databases were made for this cluster: Stop drops them
	sup      sync.WaitGroup // process waiters and their supervisors
}

// Start builds the binaries if needed, creates and updates the databases,
// starts the four services and registers the namespace.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.PGHost == "" {
		o.PGHost = "127.0.0.1"
	}
	if o.PGPort == "" {
		o.PGPort = "5432"
	}
	if o.PGUser == "" {
		o.PGUser = "postgres"
	}
	fresh := o.DBName == ""
	if fresh {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.DBName = "ahacc_" + hex.EncodeToString(b)
	}
	if o.HistoryShards <= 0 {
		o.HistoryShards = 4
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	c = &Cluster{o: o, fresh: fresh, procs: map[string]*exec.Cmd{}, exited: map[string]chan error{}, ports: map[string]int{}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	// Into the repository's bin/ (make build-temporal): go build leaves an
	// up-to-date binary alone, so only the first run links them.
	bin := filepath.Join(o.Repo, "bin")
	c.server = filepath.Join(bin, "temporal-server")
	for pkg, out := range map[string]string{
		ServerPackage:  c.server,
		SQLToolPackage: filepath.Join(bin, "temporal-sql-tool"),
	} {
		if err := goBuild(ctx, o.Repo, pkg, out); err != nil {
			return c, err
		}
	}
	dyn, err := os.ReadFile(filepath.Join(o.Repo, DynamicConfig))
	if err != nil {
		return c, err
	}
	dynPath := filepath.Join(o.Dir, "dynamicconfig.yaml")
	if err := os.WriteFile(dynPath, append(dyn, []byte("\n"+o.DynamicConfig)...), 0o644); err != nil {
		return c, err
	}
	for _, name := range []string{"FRONTEND_GRPC", "FRONTEND_HTTP", "FRONTEND_MEMBERSHIP", "HISTORY_GRPC", "HISTORY_MEMBERSHIP",
		"MATCHING_GRPC", "MATCHING_MEMBERSHIP", "WORKER_GRPC", "WORKER_MEMBERSHIP"} {
		if c.ports[name], err = FreePort(); err != nil {
			return c, err
		}
	}
	c.Frontend = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ports["FRONTEND_GRPC"]))
	c.env = c.serverEnv(dynPath)

	// Schema: the script compose runs, with the tool built above.
	start := time.Now()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(o.Repo, SchemaScript))
	cmd.Env = append(baseEnv(), c.env...)
	cmd.Env = append(cmd.Env, "TEMPORAL_SQL_TOOL="+filepath.Join(bin, "temporal-sql-tool"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return c, fmt.Errorf("setup-postgres.sh: %w\n%s", err, out)
	}
	o.Logf("databases %s and %s_visibility ready in %s", o.DBName, o.DBName, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	for _, svc := range Services {
		if err := c.StartService(svc); err != nil {
			return c, err
		}
	}
	// Namespace and search attributes: the command compose runs.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd = exec.CommandContext(sctx, o.Starter, SetupCommand, "--wait", "2m")
	cmd.Env = append(baseEnv(), "TEMPORAL_ADDRESS="+c.Frontend, "TEMPORAL_NAMESPACE="+o.Namespace,
		"HOME="+o.Dir) // no ~/.config/temporalio profile of the caller's
	if out, err := cmd.CombinedOutput(); err != nil {
		return c, fmt.Errorf("starter setup-temporal: %w\n%s\n%s", err, out, c.LogTail(40))
	}
	o.Logf("temporal cluster (%s) up and namespace %s set up in %s; frontend %s", strings.Join(Services, ", "),
		o.Namespace, time.Since(start).Round(time.Millisecond), c.Frontend)
	return c, nil
}

// serverEnv is the server processes' environment: database, addresses,
// shards, dynamic config and every port (ServerEnv names the rest).
func (c *Cluster) serverEnv(dynPath string) []string {
	o := c.o
	env := []string{
		"DB=postgres12", "POSTGRES_SEEDS=" + o.PGHost, "DB_PORT=" + o.PGPort, "POSTGRES_USER=" + o.PGUser,
		"POSTGRES_PWD=" + o.PGPassword, "DBNAME=" + o.DBName, "VISIBILITY_DBNAME=" + o.DBName + "_visibility",
		"BIND_ON_IP=127.0.0.1", "TEMPORAL_BROADCAST_ADDRESS=127.0.0.1",
		"NUM_HISTORY_SHARDS=" + strconv.Itoa(o.HistoryShards),
		"DYNAMIC_CONFIG_FILE_PATH=" + dynPath,
		"PUBLIC_FRONTEND_ADDRESS=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ports["FRONTEND_GRPC"])),
		"LOG_LEVEL=warn",
		// Four processes × (10 + 5) connections stays under PostgreSQL's
		// default max_connections of 100 (the template's 20 + 10 would not).
		"SQL_MAX_CONNS=10", "SQL_MAX_IDLE_CONNS=10", "SQL_VIS_MAX_CONNS=5", "SQL_VIS_MAX_IDLE_CONNS=5",
	}
	for name, p := range c.ports {
		env = append(env, name+"_PORT="+strconv.Itoa(p))
	}
	return env
}

// StartService starts one service process (again, after Kill).
func (c *Cluster) StartService(svc string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("cluster stopped")
	}
	if _, running := c.procs[svc]; running {
		return fmt.Errorf("temporal %s is running", svc)
	}
	logf, err := os.OpenFile(c.logPath(svc), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.server, "--allow-no-auth", "start", "--service", svc)
	cmd.Env = append(baseEnv(), c.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group; killed with this process, even when a test
	// times out or a Ctrl-C skips Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start temporal %s: %w", svc, err)
	}
	done := make(chan error, 1)
	c.procs[svc], c.exited[svc] = cmd, done
	c.sup.Add(1)
	go func() {
		defer c.sup.Done()
		err := cmd.Wait()
		logf.Close()
		done <- err
		c.supervise(svc, cmd, err)
	}()
	return nil
}

// supervise starts a service again when it exited by itself (not through
// Kill or Stop), 1 s later, as compose's restart: unless-stopped and a
// Kubernetes Deployment do: a history service that starts while PostgreSQL
// is down exits ("schema version compatibility check failed") and is
// expected to be started again.
func (c *Cluster) supervise(svc string, cmd *exec.Cmd, err error) {
	c.mu.Lock()
	ours := c.procs[svc] == cmd && !c.stopped
	if ours {
		delete(c.procs, svc)
		delete(c.exited, svc)
		c.restarts++
	}
	c.mu.Unlock()
	if !ours {
		return
	}
	c.o.Logf("temporal %s exited by itself (%v); starting it again in 1 s", svc, err)
	time.Sleep(time.Second)
	_ = c.StartService(svc) // refused once Stop began; Stop waits for this goroutine

}

// Pids are the running services' process ids.
func (c *Cluster) Pids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for svc, cmd := range c.procs {
		out[svc] = cmd.Process.Pid
	}
	return out
}

// Restarts is how many times the supervisor started a service that exited by itself.
func (c *Cluster) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// Kill SIGKILLs one service and waits for it to exit.
func (c *Cluster) Kill(svc string) {
	c.signal(svc, syscall.SIGKILL, 10*time.Second)
}

// Restart SIGKILLs one service and starts it again.
func (c *Cluster) Restart(svc string) error {
	c.Kill(svc)
	return c.StartService(svc)
}

func (c *Cluster) signal(svc string, sig syscall.Signal, wait time.Duration) {
	c.mu.Lock()
	cmd, done := c.procs[svc], c.exited[svc]
	delete(c.procs, svc)
	delete(c.exited, svc)
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Stop stops every service (SIGTERM, then SIGKILL after 10 s) and drops the
// databases.
func (c *Cluster) Stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(Services) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(svc string) { defer wg.Done(); c.signal(svc, syscall.SIGTERM, 10*time.Second) }(Services[i])
	}
	wg.Wait()
	c.sup.Wait()
	if !c.fresh {
		return
	}
	if err := DropDatabases(c.o.PGHost, c.o.PGPort, c.o.PGUser, c.o.PGPassword, c.o.DBName); err != nil {
		c.o.Logf("%v", err)
	}
}

// DropDatabases drops db and db_visibility (Temporal's two) with psql, even
// while something is still connected to them.
func DropDatabases(host, port, user, password, db string) error {
	var errs []error
	for _, name := range []string{db, db + "_visibility"} {
		cmd := exec.Command("psql", "-qh", host, "-p", port, "-U", user, "-d", "postgres",
			"-c", fmt.Sprintf(`DROP DATABASE IF EXISTS "%s" WITH (FORCE)`, name))
		if password != "" {
			cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w %s", name, err, out))
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) logPath(svc string) string { return filepath.Join(c.o.Dir, "temporal-"+svc+".log") }

// LogTail is the last n lines of every service's log, for a failure message.
func (c *Cluster) LogTail(n int) string {
	var b strings.Builder
	for _, svc := range Services {
		data, _ := os.ReadFile(c.logPath(svc))
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "--- temporal %s (last %d lines)\n%s\n", svc, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// baseEnv is the little of this process's environment a child needs (PATH,
// HOME, TMPDIR): nothing the server's template or the SDK would read from the
// caller's shell (SQL_TLS_ENABLED, TEMPORAL_AUTH_*, a Temporal profile).
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func goBuild(ctx context.Context, repo, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// FreePort is a loopback port below Linux's ephemeral range (loopback.FreePort).
func FreePort() (int, error) { return loopback.FreePort("127.0.0.1") }
