package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/cluster"
	"github.com/ahacc/ahacc/internal/devstack"
)

// proc is an ahacc binary (worker or starter) running as a separate OS process.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // its health/HTTP address
	done chan error
	log  string
}

func buildBin(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = repoFile()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", pkg, out)
	t.Logf("built %s in %s", pkg, time.Since(start).Round(time.Millisecond))
	return bin
}

// freeAddr is a loopback address a child process can listen on, picked
// below Linux's ephemeral range (cluster.FreePort says why).
func freeAddr(t *testing.T) string {
	p, err := cluster.FreePort()
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// startProc runs bin with the stack's environment plus extra and waits until
// its /readyz answers; it fails the test if the process exits first, and
// prints the tail of its log when the test fails.
func startProc(t *testing.T, e *e2eEnv, bin, name string, extra ...string) *proc {
	t.Helper()
	p := launchProc(t, e, bin, name, extra...)
	p.waitReady(t, 30*time.Second)
	return p
}

// launchProc is startProc without the wait.
func launchProc(t *testing.T, e *e2eEnv, bin, name string, extra ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan error, 1), log: filepath.Join(t.TempDir(), name+".log")}
	env := append(workerEnv(t, e), extra...)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "AHACC_HTTP_ADDR="); ok && strings.Contains(filepath.Base(bin), "starter") {
			p.addr = v
		}
		if v, ok := strings.CutPrefix(kv, "AHACC_WORKER_HEALTH_ADDR="); ok && strings.Contains(filepath.Base(bin), "worker") {
			p.addr = v
		}
	}
	f, err := os.Create(p.log)
	require.NoError(t, err)
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait(); _ = f.Close() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			if b, err := os.ReadFile(p.log); err == nil {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 30 {
					lines = lines[len(lines)-30:]
				}
				t.Logf("%s (pid %d) log tail:\n%s", name, p.cmd.Process.Pid, strings.Join(lines, "\n"))
			}
		}
	})
	return p
}

// waitReady waits until the process's /readyz answers 200; it fails the
// test if the process exits first.
func (p *proc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited: %v\n%s", p.name, err, readFile(t, p.log))
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, within, 50*time.Millisecond, "%s ready", p.name)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill()) // SIGKILL on Unix
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("killed process did not exit")
	}
}

// term sends SIGTERM and returns how long the process took to exit.
func (p *proc) term(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		p.done <- err
		assert.NoError(t, err, "clean exit after SIGTERM:\n%s", readFile(t, p.log))
	case <-time.After(limit):
		t.Fatalf("%s still running %s after SIGTERM", p.cmd.Path, limit)
	}
	return time.Since(start)
}

// buildWorker builds ./worker into a temp dir.
func buildWorker(t *testing.T) string { return buildBin(t, "./worker") }

// workerEnv is the environment the stack computed for a worker process: its
// variables (simulator URLs, keys, tokens), the real Redis, Temporal's
// address and namespace, the config and a free health port. Variables of
// the test's own environment that ahacc reads are dropped first, so only the
// stack's values count.
func workerEnv(t *testing.T, e *e2eEnv) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "AHACC_") || strings.HasPrefix(k, "AHA_") ||
			strings.HasPrefix(k, "CC_") || k == "REDIS_URL" {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range e.stack.Vars {
		env = append(env, k+"="+v)
	}
	for k, v := range e.env {
		env = append(env, k+"="+v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	health := ln.Addr().String()
	require.NoError(t, ln.Close())
	return append(env,
		"TEMPORAL_ADDRESS="+e.stack.Env.TemporalAddress,
		"TEMPORAL_NAMESPACE="+e.stack.Temporal.Namespace(),
		"AHACC_TASK_QUEUE="+e.stack.Env.TaskQueue,
		"AHACC_CONFIG="+e.config,
		"AHACC_WORKER_HEALTH_ADDR="+health,
		"AHACC_SHUTDOWN_TIMEOUT=5s",
	)
}

// startWorker starts the worker binary and waits until its /readyz answers.
func startWorker(t *testing.T, e *e2eEnv, bin string, n int) *proc {
	t.Helper()
	return startProc(t, e, bin, fmt.Sprintf("worker-%d", n))
}

// TestBurstWorkerKilled is issue 4's second "Done when" bullet: the worker is
// a separate OS process, SIGKILLed in the middle of the burst and replaced by
// a new one; the result is the same as without the kill.
func TestBurstWorkerKilled(t *testing.T) {
	bin := buildWorker(t)
	e := startStack(t, func(o *devstack.Options) { o.NoWorker = true; o.ConfigPath = burstConfig(t) })
	require.Nil(t, e.stack.Worker)
	w1 := startWorker(t, e, bin, 1)
	var killedAt atomic.Value
	b := runBurst(t, e, burstHooks{midBurst: func(b *burst) {
		// Kill while syncs are running: wait for some feedback to exist
		// and some records still to be syncing.
		require.Eventually(t, func() bool { return len(e.stack.CCSim.FeedbackList()) >= 10 }, 60*time.Second, 20*time.Millisecond)
		n := len(e.stack.CCSim.FeedbackList())
		w1.kill(t)
		killedAt.Store(time.Now())
		t.Logf("worker 1 (pid %d) SIGKILLed at %s into the burst, %d feedback so far, %d of %d deliveries made",
			w1.cmd.Process.Pid, time.Since(b.start).Round(time.Millisecond), n, len(e.stack.AhaSim.Deliveries()), burstOriginals)
		time.Sleep(500 * time.Millisecond)
		w2 := startWorker(t, e, bin, 2)
		t.Logf("worker 2 (pid %d) polling", w2.cmd.Process.Pid)
	}})
	require.NotNil(t, killedAt.Load(), "the kill happened mid-burst")
	verifyBurst(t, b, 300*time.Second, false) // activities lost with the killed worker wait out their 2 min StartToClose
	t.Logf("recovered %s after the kill", time.Since(killedAt.Load().(time.Time)).Round(time.Millisecond))
}
