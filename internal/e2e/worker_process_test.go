package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/devstack"
)

// workerProc is the worker binary running as a separate OS process.
type workerProc struct {
	cmd     *exec.Cmd
	health  string
	logPath string
	done    chan error
}

// buildWorker builds ./worker into a temp dir (once per test).
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "./worker")
	cmd.Dir = repoFile()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./worker:\n%s", out)
	t.Logf("built ./worker in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

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
		"TEMPORAL_ADDRESS="+e.stack.Temporal.Addr(),
		"TEMPORAL_NAMESPACE="+e.stack.Temporal.Namespace(),
		"AHACC_TASK_QUEUE="+e.stack.Env.TaskQueue,
		"AHACC_CONFIG="+e.config,
		"AHACC_WORKER_HEALTH_ADDR="+health,
		"AHACC_SHUTDOWN_TIMEOUT=5s",
	)
}

// startWorker starts the worker binary and waits until its /readyz answers.
func startWorker(t *testing.T, e *e2eEnv, bin string, n int) *workerProc {
	t.Helper()
	env := workerEnv(t, e)
	w := &workerProc{logPath: filepath.Join(t.TempDir(), fmt.Sprintf("worker-%d.log", n)), done: make(chan error, 1)}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "AHACC_WORKER_HEALTH_ADDR="); ok {
			w.health = v
		}
	}
	logf, err := os.Create(w.logPath)
	require.NoError(t, err)
	w.cmd = exec.Command(bin)
	w.cmd.Env = env
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	require.NoError(t, w.cmd.Start())
	go func() { w.done <- w.cmd.Wait(); _ = logf.Close() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		if t.Failed() {
			if b, err := os.ReadFile(w.logPath); err == nil {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 30 {
					lines = lines[len(lines)-30:]
				}
				t.Logf("worker %d (pid %d) log tail:\n%s", n, w.cmd.Process.Pid, strings.Join(lines, "\n"))
			}
		}
	})
	require.Eventually(t, func() bool {
		select {
		case err := <-w.done:
			w.done <- err
			t.Fatalf("worker %d exited: %v\n%s", n, err, readFile(t, w.logPath))
		default:
		}
		resp, err := http.Get("http://" + w.health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "worker %d ready", n)
	return w
}

// kill sends SIGKILL and waits for the process to be gone.
func (w *workerProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, w.cmd.Process.Kill()) // SIGKILL on Unix
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		t.Fatal("killed worker did not exit")
	}
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
