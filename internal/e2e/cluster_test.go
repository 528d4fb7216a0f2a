package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/cluster"
	"github.com/ahacc/ahacc/internal/devstack"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/ahacc/ahacc/workflows"
)

var bins struct {
	mu    sync.Mutex
	paths map[string]string
}

// sharedBin builds an ahacc binary (./worker, ./starter) once per test run,
// or takes make build's from AHACC_BIN_DIR (make test-cluster sets it). A
// failed build is not remembered: the next caller builds again.
func sharedBin(t *testing.T, pkg string) string {
	t.Helper()
	if dir := os.Getenv("AHACC_BIN_DIR"); dir != "" {
		p := filepath.Join(dir, filepath.Base(pkg))
		require.FileExists(t, p, "AHACC_BIN_DIR (make build)")
		return p
	}
	bins.mu.Lock()
	defer bins.mu.Unlock()
	if p, ok := bins.paths[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "ahacc-bin-")
	require.NoError(t, err)
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoFile()
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", pkg, b)
	if bins.paths == nil {
		bins.paths = map[string]string{}
	}
	bins.paths[pkg] = out
	return out
}

// startCluster starts Temporal as it is deployed (internal/cluster: four
// server processes on fresh PostgreSQL databases) for one test.
func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Repo: repoFile(), Dir: t.TempDir(), Starter: sharedBin(t, "./starter"), Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("temporal cluster logs:\n%s", c.LogTail(20))
		}
		c.Stop()
	})
	return c
}

// onCluster points a stack's options at a fresh cluster when the cluster
// tests run (make test-cluster); otherwise the stack embeds Temporal.
func onCluster(t *testing.T, o *devstack.Options) {
	if cluster.Enabled() && o.TemporalFrontend == "" {
		o.TemporalFrontend = startCluster(t).Frontend
	}
}

// balancer is a round-robin HTTP load balancer in front of the starters,
// behaving as the one docker/caddy configures: a starter that refuses the
// connection is skipped and the request goes to the next; one that dies
// with the request in flight leaves the sender a 502, as a real proxy does.
type balancer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	backends []*url.URL
	next     atomic.Uint64
	refused  atomic.Int64
	served   sync.Map // backend host → *atomic.Int64 (requests answered by it)
}

// servedBy is how many requests the starter at addr answered.
func (b *balancer) servedBy(addr string) int64 {
	if v, ok := b.served.Load(addr); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func newBalancer(t *testing.T) *balancer {
	b := &balancer{}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *balancer) set(addrs ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = nil
	for _, a := range addrs {
		b.backends = append(b.backends, &url.URL{Scheme: "http", Host: a})
	}
}

func (b *balancer) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	backends := append([]*url.URL(nil), b.backends...)
	b.mu.Unlock()
	if len(backends) == 0 {
		http.Error(w, "no starter", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := int(b.next.Add(1))
	for i := range backends {
		target := backends[(start+i)%len(backends)]
		refused := false
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = pr.In.Host },
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				if errors.Is(err, syscall.ECONNREFUSED) {
					refused = true
					return
				}
				http.Error(w, "starter: "+err.Error(), http.StatusBadGateway)
			},
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
		if !refused {
			v, _ := b.served.LoadOrStore(target.Host, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			return
		}
		b.refused.Add(1)
	}
	http.Error(w, "every starter refused the connection", http.StatusBadGateway)
}

// clusterRig is ahacc as deployed: two starter and two worker processes from
// the binaries, configured only through their environment, on the cluster,
// behind the balancer.
type clusterRig struct {
	e        *e2eEnv
	c        *cluster.Cluster
	lb       *balancer
	starters []*proc
	workers  []*proc
}

// startClusterRig brings up the cluster, the stack's simulators (its own
// starter idle, no in-process worker), two workers and two starters.
func startClusterRig(t *testing.T, adjust func(*devstack.Options)) *clusterRig {
	t.Helper()
	if !cluster.Enabled() {
		t.Skip("cluster tests: make test-cluster (AHACC_TEST_CLUSTER=1; PostgreSQL at 127.0.0.1:5432)")
	}
	r := &clusterRig{c: startCluster(t), lb: newBalancer(t)}
	r.e = startStack(t, func(o *devstack.Options) {
		o.TemporalFrontend = r.c.Frontend
		o.PublicURL = r.lb.srv.URL
		o.NoWorker = true
		if adjust != nil {
			adjust(o)
		}
	})
	for i := range 2 {
		r.workers = append(r.workers, r.startWorker(t, i+1))
	}
	var addrs []string
	for i := range 2 {
		p := r.startStarter(t, i+1)
		r.starters = append(r.starters, p)
		addrs = append(addrs, p.addr)
	}
	r.lb.set(addrs...)
	return r
}

func (r *clusterRig) startWorker(t *testing.T, n int) *proc {
	return startProc(t, r.e, sharedBin(t, "./worker"), fmt.Sprintf("worker-%d", n))
}

func (r *clusterRig) startStarter(t *testing.T, n int) *proc {
	return startProc(t, r.e, sharedBin(t, "./starter"), fmt.Sprintf("starter-%d", n),
		"AHACC_HTTP_ADDR="+freeAddr(t), "AHACC_SHUTDOWN_TIMEOUT=5s")
}

// restartStarter replaces starter i (after a kill) on the same address.
func (r *clusterRig) restartStarter(t *testing.T, i int) {
	old := r.starters[i]
	p := startProc(t, r.e, sharedBin(t, "./starter"), fmt.Sprintf("starter-%d-again", i+1),
		"AHACC_HTTP_ADDR="+old.addr, "AHACC_SHUTDOWN_TIMEOUT=5s")
	r.starters[i] = p
}

// TestClusterBurst is the burst of issue 4 (500 deliveries for 100 ideas, 30%
// re-posted, 20% of far-side calls failing, Aha!'s 429s) as deployed: Temporal
// as four processes on PostgreSQL, deliveries spread over two starter
// processes by the balancer, two worker processes. Same assertions as on
// the embedded stack.
func TestClusterBurst(t *testing.T) {
	r := startClusterRig(t, func(o *devstack.Options) { o.ConfigPath = burstConfig(t) })
	b := runBurst(t, r.e, burstHooks{})
	verifyBurst(t, b, 180*time.Second, false)
	for _, s := range r.starters {
		require.Positive(t, r.lb.servedBy(s.addr), "%s took deliveries", s.name)
		t.Logf("%s answered %d requests", s.name, r.lb.servedBy(s.addr))
	}
}

// TestClusterBurstFaults is the burst with the deployment's processes dying
// in its second half (issue 14 item 4), one after another: a starter
// SIGKILLed with deliveries in flight (back on its address 2 s later; the
// balancer sends the meantime's deliveries to the other one), a worker
// SIGKILLed (a new one started), Temporal's history service SIGKILLed and
// restarted, and PostgreSQL stopped for 3 s. A delivery refused meanwhile (5xx, or no
// answer) was never acknowledged; reconcile brings it in. Then the same
// checks: every routed audit reached its workflow, one feedback per idea
// with the idea's final content.
func TestClusterBurstFaults(t *testing.T) {
	r := startClusterRig(t, func(o *devstack.Options) { o.ConfigPath = burstConfig(t) })
	// PostgreSQL is the machine's: whatever happens below, it is started again.
	t.Cleanup(func() {
		if out, err := pgCtl("start"); err != nil && !strings.Contains(string(out), "already running") {
			t.Logf("starting PostgreSQL again: %v %s", err, out)
		}
	})
	var faults sync.WaitGroup
	b := runBurst(t, r.e, burstHooks{midBurst: func(b *burst) {
		b.refusals = true
		faults.Add(1)
		go func() {
			defer faults.Done()
			at := func(what string) {
				t.Logf("%s at %s into the burst", what, time.Since(b.start).Round(time.Millisecond))
			}
			// First, while the simulator still has a backlog of deliveries and
			// the first wave of re-posts is in flight: starter-1 SIGKILLed and
			// down for 2 s. What it was handling gets a 502 or no answer (never
			// a 2xx for something not handed over); the balancer skips it.
			r.starters[0].kill(t)
			at("starter-1 SIGKILLed")
			time.Sleep(2 * time.Second)
			r.restartStarter(t, 0)
			at("starter-1 back")
			r.workers[0].kill(t)
			at("worker-1 SIGKILLed")
			r.workers[0] = r.startWorker(t, 3)
			if !assert.NoError(t, r.c.Restart("history")) {
				return
			}
			at("temporal history SIGKILLed and restarted")
			// PostgreSQL down for 3 s.
			out, err := pgCtl("stop", "-m", "fast")
			if !assert.NoError(t, err, "%s", out) {
				return
			}
			at("PostgreSQL stopped")
			time.Sleep(3 * time.Second)
			out, err = pgCtl("start")
			if !assert.NoError(t, err, "%s", out) {
				return
			}
			at("PostgreSQL restarted")
		}()
	}})
	faults.Wait()
	q := verifyBurst(t, b, 240*time.Second, false)
	codes := map[int]int{}
	for _, d := range r.e.stack.AhaSim.Deliveries() {
		if !d.Suppressed && inBurst(d.AuditID, b.mark) {
			codes[d.Status]++
		}
	}
	t.Logf("simulator deliveries by answer: %v; re-posts: %s; balancer skipped %d refused connections; %d duplicates dropped by the workflows' seen-id sets; Temporal services restarted by the supervisor: %d",
		codes, b.posted.String(), r.lb.refused.Load(), q.Duplicates, r.c.Restarts())
}

// pgCtl runs pg_ctlcluster on the machine's PostgreSQL cluster
// (AHACC_PG_CLUSTER, default "15 main": Debian's PostgreSQL 15).
func pgCtl(action string, args ...string) ([]byte, error) {
	cl := strings.Fields(os.Getenv("AHACC_PG_CLUSTER"))
	if len(cl) != 2 {
		cl = []string{"15", "main"}
	}
	return exec.Command("pg_ctlcluster", append(append(cl, action), args...)...).CombinedOutput()
}

// TestClusterPostgresOutage is PostgreSQL away for longer than a hand-off may
// wait (issue 14 item 4): ideas created meanwhile are delivered to the
// starters, which answer 503 (try again) within the hand-off timeout instead
// of acknowledging what Temporal could not store; once PostgreSQL is back,
// deliveries are accepted again, and reconcile brings in what was refused:
// one feedback per idea, none twice.
func TestClusterPostgresOutage(t *testing.T) {
	r := startClusterRig(t, nil)
	t.Cleanup(func() {
		if out, err := pgCtl("start"); err != nil && !strings.Contains(string(out), "already running") {
			t.Logf("starting PostgreSQL again: %v %s", err, out)
		}
	})
	aha, cc := r.e.stack.AhaSim, r.e.stack.CCSim
	mark := aha.LastAuditID()
	var ideas []ahasim.RecordInfo
	create := func(what string) ahasim.RecordInfo {
		info, err := aha.CreateIdea("PRJ1", map[string]any{"name": fmt.Sprintf("Outage idea %d (%s)", len(ideas), what)})
		require.NoError(t, err)
		ideas = append(ideas, info)
		return info
	}
	answerOf := func(id string) (ahasim.Delivery, bool) {
		for _, d := range aha.Deliveries() {
			if d.AuditID == id {
				return d, true
			}
		}
		return ahasim.Delivery{}, false
	}
	lastAudit := func() string { return aha.LastAuditID() }
	waitAnswered := func(id string, within time.Duration) ahasim.Delivery {
		deadline := time.Now().Add(within)
		for {
			if d, ok := answerOf(id); ok {
				return d
			}
			require.True(t, time.Now().Before(deadline), "audit %s not delivered within %s", id, within)
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Before: one idea through, end to end.
	create("before")
	r.e.waitQuiet(1, false, 60*time.Second)

	out, err := pgCtl("stop", "-m", "fast")
	require.NoError(t, err, "%s", out)
	down := time.Now()
	var during []ahasim.Delivery
	for range 3 {
		create("while PostgreSQL is down")
		d := waitAnswered(lastAudit(), 30*time.Second)
		during = append(during, d)
		t.Logf("delivery while PostgreSQL is down: %d after %s", d.Status, d.Duration.Round(time.Millisecond))
	}
	out, err = pgCtl("start")
	require.NoError(t, err, "%s", out)
	up := time.Now()
	t.Logf("PostgreSQL down for %s", up.Sub(down).Round(time.Millisecond))
	for _, d := range during {
		assert.Equal(t, http.StatusServiceUnavailable, d.Status, "refused, not acknowledged, while PostgreSQL is down: %+v", d)
		assert.Less(t, d.Duration, 5*time.Second, "answered within Aha!'s 5 s")
	}

	// After: ideas until one is accepted again.
	var recovered time.Duration
	for {
		create("after")
		d := waitAnswered(lastAudit(), 30*time.Second)
		if d.Status == http.StatusAccepted || d.Status == http.StatusOK {
			recovered = d.At.Add(d.Duration).Sub(up)
			break
		}
		t.Logf("delivery %s after PostgreSQL started: %d", time.Since(up).Round(time.Millisecond), d.Status)
		require.Less(t, time.Since(up), 2*time.Minute, "no delivery accepted within 2 minutes of PostgreSQL's start")
		time.Sleep(time.Second)
	}
	t.Logf("first delivery accepted %s after PostgreSQL started", recovered.Round(time.Millisecond))

	// Reconcile brings in what was refused, and only that.
	refused := 0
	for _, d := range aha.Deliveries() {
		if inBurst(d.AuditID, mark) && d.Status != http.StatusOK && d.Status != http.StatusAccepted {
			refused++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rr, err := r.e.stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: r.e.stack.Env.TaskQueue},
		workflows.ReconcileWorkflow, workflows.ReconcileInput{AfterID: mark})
	require.NoError(t, err)
	var rs workflows.ReconcileState
	require.NoError(t, rr.Get(ctx, &rs), "reconcile")
	t.Logf("reconcile: %d audits read, %d handed over; %d deliveries refused", rs.Audits, rs.Accepted, refused)
	assert.GreaterOrEqual(t, rs.Accepted, len(during), "the refused deliveries handed over by reconcile")
	assert.LessOrEqual(t, rs.Accepted, refused, "reconcile handed over an audit whose delivery was answered 2xx")

	r.e.waitQuiet(len(ideas), false, 120*time.Second)
	byRef := feedbackByRef(cc)
	for _, info := range ideas {
		assert.Len(t, byRef[info.ReferenceNum], 1, "feedback for %s", info.ReferenceNum)
	}
}
