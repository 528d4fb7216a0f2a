package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	ccsim "github.com/ahacc/ahacc/internal/sandbox/centercode"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

// defaultRedisDB is the Redis database the e2e tests own (flushed at start).
const defaultRedisDB = 9

// repoFile is a path inside the repository, from this package's directory.
func repoFile(parts ...string) string {
	p, err := filepath.Abs(filepath.Join(append([]string{"..", ".."}, parts...)...))
	if err != nil {
		panic(err)
	}
	return p
}

func exampleConfig() string { return repoFile("examples", "ahacc.yaml") }

// testRedis returns the URL of the e2e Redis database and a client to it,
// after flushing the database; it skips the test when no Redis answers.
func testRedis(t *testing.T) (string, *redis.Client) {
	t.Helper()
	db := defaultRedisDB
	if v := os.Getenv("AHACC_E2E_REDIS_DB"); v != "" {
		var err error
		db, err = strconv.Atoi(v)
		require.NoError(t, err, "AHACC_E2E_REDIS_DB")
	}
	return redisDB(t, db)
}

// redisDB returns the URL of database db of REDIS_TEST_URL (default
// redis://127.0.0.1:6379) and a client to it, after flushing it; it skips the
// test when no Redis answers. Each test file uses its own database number.
func redisDB(t *testing.T, db int) (string, *redis.Client) {
	t.Helper()
	raw := os.Getenv("REDIS_TEST_URL")
	if raw == "" {
		raw = "redis://127.0.0.1:6379/0"
	}
	u, err := url.Parse(raw)
	require.NoError(t, err, "REDIS_TEST_URL")
	u.Path = "/" + strconv.Itoa(db)
	opt, err := redis.ParseURL(u.String())
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		t.Skipf("no Redis answers at %s (set REDIS_TEST_URL; CI starts one): %v", opt.Addr, err)
	}
	require.NoError(t, rdb.FlushDB(ctx).Err())
	t.Cleanup(func() { _ = rdb.Close() })
	return u.String(), rdb
}

// e2eEnv is one running stack and what the tests use to drive it.
type e2eEnv struct {
	t       *testing.T
	stack   *devstack.Stack
	config  string // the config file the stack (and a worker process) reads
	rdb     *redis.Client
	env     map[string]string // what LookupEnv answers (REDIS_URL)
	token   string
	hc      *http.Client
	logPath string
}

// startStack starts the dev stack in memory on free loopback ports with the
// real Redis, both simulators built from examples/ahacc.yaml, the worker (in
// process unless adjust sets NoWorker) and the starter.
func startStack(t *testing.T, adjust func(*devstack.Options)) *e2eEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts Temporal, needs Redis")
	}
	redisURL, rdb := testRedis(t)
	e := &e2eEnv{t: t, rdb: rdb, env: map[string]string{"REDIS_URL": redisURL},
		hc: &http.Client{Timeout: 15 * time.Second}}
	e.logPath = filepath.Join(t.TempDir(), "ahacc.log")
	if p := os.Getenv("AHACC_E2E_KEEPLOG"); p != "" { // keep the stack's whole log (replaying a seed)
		e.logPath = p
	}
	logFile, err := os.Create(e.logPath)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o := devstack.Options{
		Ephemeral:  true,
		UIAddr:     "off",
		ConfigPath: exampleConfig(),
		LookupEnv: func(k string) (string, bool) {
			v, ok := e.env[k]
			return v, ok
		},
		Logger: logger,
	}
	if adjust != nil {
		adjust(&o)
	}
	onCluster(t, &o)
	e.config = o.ConfigPath
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	s, err := devstack.Start(ctx, o)
	require.NoError(t, err, "start the dev stack")
	t.Logf("stack up in %s (temporal %s, starter %s)", time.Since(start).Round(time.Millisecond), s.Temporal.Addr(), s.HTTPURL)
	e.stack = s
	e.token = firstToken(s.Vars["AHACC_AHA_WEBHOOK_TOKEN"])
	require.NotEmpty(t, e.token)
	t.Cleanup(func() {
		s.Stop()
		_ = logFile.Close()
		if t.Failed() {
			e.dumpLog(80)
		}
	})
	return e
}

func firstToken(list string) string {
	tok, _, _ := strings.Cut(list, ",")
	return strings.TrimSpace(tok)
}

// dumpLog prints the last n warning/error lines of the stack's log.
func (e *e2eEnv) dumpLog(n int) {
	f, err := os.Open(e.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	e.t.Logf("last %d warnings/errors of the stack log:\n%s", len(lines), strings.Join(lines, "\n"))
}

// lookup resolves ${VAR} the way the stack does: the test's env, then what the
// stack provides (simulator URLs, keys, tokens).
func (e *e2eEnv) lookup(k string) (string, bool) {
	if v, ok := e.env[k]; ok && v != "" {
		return v, true
	}
	v, ok := e.stack.Vars[k]
	return v, ok
}

// webhookURL is the starter's Aha! webhook URL with the given token.
func (e *e2eEnv) webhookURL(token string) string {
	return e.stack.HTTPURL + "/webhooks/aha/" + token
}

// answer is the starter's reply to one webhook POST.
type answer struct {
	Code       int
	Status     string `json:"status"`
	WorkflowID string `json:"workflow_id"`
	Reason     string `json:"reason"`
	Error      string `json:"error"`
	Body       string `json:"-"`
}

// post sends one body to the Aha! webhook (valid token).
func (e *e2eEnv) post(body []byte) (answer, error) { return e.postTo(e.webhookURL(e.token), body) }

func (e *e2eEnv) postTo(u string, body []byte) (answer, error) {
	resp, err := e.hc.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{Code: resp.StatusCode, Body: string(b)}
	_ = json.Unmarshal(b, &a)
	return a, nil
}

// recordStates lists every AhaRecordWorkflow (running or not) and queries its state.
func (e *e2eEnv) recordStates(ctx context.Context) (map[string]workflows.State, error) {
	c := e.stack.Client
	out := map[string]workflows.State{}
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `WorkflowType = "AhaRecordWorkflow"`, NextPageToken: token, PageSize: 1000})
		if err != nil {
			return nil, err
		}
		for _, ex := range resp.Executions {
			id := ex.Execution.WorkflowId
			if _, done := out[id]; done {
				continue // an older run of the same record (continue-as-new)
			}
			v, err := c.QueryWorkflow(ctx, id, "", contract.QueryState)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", id, err)
			}
			var st workflows.State
			if err := v.Get(&st); err != nil {
				return nil, err
			}
			out[id] = st
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return out, nil
		}
	}
}

// quietState sums the records' states.
type quietState struct {
	Records, Pending, Synced, Parked, Other int
	Events, Duplicates, Syncs, Writes       int
}

func summarize(states map[string]workflows.State) quietState {
	var q quietState
	for _, st := range states {
		q.Records++
		if st.Pending {
			q.Pending++
		}
		switch st.SyncState {
		case contract.StateSynced:
			q.Synced++
		case contract.StateParked:
			q.Parked++
		default:
			q.Other++
		}
		q.Events += st.Events
		q.Duplicates += st.Duplicates
		q.Syncs += st.Syncs
		q.Writes += st.Writes
	}
	return q
}

// waitQuiet waits (bounded) until the Aha! simulator has delivered every
// webhook and exactly want records exist, none pending, every one Synced
// (or, with allowParked, Parked), and the same figures hold on two polls in a
// row. It returns the final states.
func (e *e2eEnv) waitQuiet(want int, allowParked bool, timeout time.Duration) map[string]workflows.State {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if e.stack.AhaSim != nil {
		require.NoError(e.t, e.stack.AhaSim.WaitWebhooks(ctx), "webhook deliveries")
	}
	var last quietState
	var lastErr error
	stable := 0
	start := time.Now()
	lastLog := start
	for {
		qctx, qcancel := context.WithTimeout(ctx, 30*time.Second)
		states, err := e.recordStates(qctx)
		qcancel()
		lastErr = err
		if err == nil {
			q := summarize(states)
			done := q.Records == want && q.Pending == 0 && q.Other == 0 && (allowParked || q.Parked == 0)
			if done && q == last {
				stable++
			} else {
				stable = 0
			}
			last = q
			if stable >= 1 {
				e.t.Logf("quiet after %s: %+v", time.Since(start).Round(time.Millisecond), q)
				return states
			}
			if time.Since(lastLog) > 15*time.Second {
				lastLog = time.Now()
				e.t.Logf("waiting for quiet (%s): %+v", time.Since(start).Round(time.Second), q)
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("not quiet within %s: last %+v, last error %v", timeout, last, lastErr)
		case <-time.After(time.Second):
		}
	}
}

// content is a feedback's current content as the bridge wrote it: the
// elements of the create, overlaid by the custom data the feedback listener
// stored on later updates (the dev stack's listener stores data group "Aha!").
func content(f ccsim.Feedback) map[string]string {
	out := map[string]string{}
	for k, v := range f.Elements {
		out[k] = norm(v)
	}
	for k, v := range f.CustomData["Aha!"] {
		out[k] = v
	}
	return out
}

// norm renders a value the way Centercode stores scalar custom data.
func norm(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case []string:
		return strings.Join(x, ", ")
	case []any:
		var parts []string
		for _, p := range x {
			parts = append(parts, norm(p))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// expectedBody maps an Aha! record's current JSON with the stack's config.
func expectedBody(t *testing.T, cfg *mapping.Config, feedbackType string, raw []byte) map[string]string {
	t.Helper()
	ft := cfg.FeedbackType(feedbackType)
	require.NotNil(t, ft, feedbackType)
	res, err := ft.Map(raw)
	require.NoError(t, err)
	out := map[string]string{}
	for k, v := range res.Body {
		out[k] = norm(v)
	}
	return out
}

// feedbackByRef groups the Centercode simulator's feedback by external reference.
func feedbackByRef(sim *ccsim.Server) map[string][]ccsim.Feedback {
	out := map[string][]ccsim.Feedback{}
	for _, f := range sim.FeedbackList() {
		out[f.ExternalReference] = append(out[f.ExternalReference], f)
	}
	return out
}

// ccCounts summarises the Centercode simulator's inspection.
type ccCounts struct {
	Feedback, SourceCreates, ListenerWrites int
	Injected, RateLimited                   int64
	Requests                                int64
}

func centercodeCounts(sim *ccsim.Server) ccCounts {
	in := sim.Inspect(true)
	c := ccCounts{Feedback: in.FeedbackCount, ListenerWrites: int(in.ListenerWrites.Total), Injected: in.Faults.Errors,
		RateLimited: in.Requests.RateLimited, Requests: in.Requests.Total}
	for route, byStatus := range in.Requests.ByRoute {
		if strings.HasPrefix(route, "POST") && strings.Contains(route, "externalSources") {
			for code, n := range byStatus {
				if code >= 200 && code < 300 {
					c.SourceCreates += int(n)
				}
			}
		}
	}
	return c
}

// answerCounts counts webhook answers by outcome.
type answerCounts struct {
	mu                                        sync.Mutex
	Accepted, Duplicate, Ignored, Other, Fail int
	InFlight                                  int // 409: another copy was being handed over
	Codes                                     map[int]int
}

func (a *answerCounts) add(ans answer, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Codes == nil {
		a.Codes = map[int]int{}
	}
	if err != nil {
		a.Fail++
		return
	}
	a.Codes[ans.Code]++
	switch {
	case ans.Code == http.StatusAccepted && ans.Status == "accepted":
		a.Accepted++
	case ans.Code == http.StatusOK && ans.Status == "duplicate":
		a.Duplicate++
	case ans.Code == http.StatusAccepted && ans.Status == "ignored":
		a.Ignored++
	case ans.Code == http.StatusConflict:
		a.InFlight++
	default:
		a.Other++
	}
}

func (a *answerCounts) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	codes := make([]int, 0, len(a.Codes))
	for c := range a.Codes {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", a.Codes[c], c))
	}
	return fmt.Sprintf("accepted=%d duplicate=%d in-flight=%d ignored=%d other=%d failed=%d (%s)",
		a.Accepted, a.Duplicate, a.InFlight, a.Ignored, a.Other, a.Fail, strings.Join(parts, " "))
}

// ahaClient reads records from the Aha! simulator (for the expected content).
func (e *e2eEnv) ahaClient() *appAha {
	return &appAha{cfg: e.stack.Config}
}

type appAha struct{ cfg *mapping.Config }

func (a *appAha) idea(ctx context.Context, ref string) ([]byte, error) {
	rec, err := app.NewAhaClient(a.cfg, app.ClientOptions{}).GetIdea(ctx, ref)
	if err != nil {
		return nil, err
	}
	return rec.Raw, nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// postRaw sends a POST over a raw connection, writing the body in the
// background and reading the answer as soon as it comes: a server that
// rejects a body by its Content-Length answers before reading it, and a
// client that insists on finishing the write first (net/http) may see the
// connection reset instead of the answer.
func postRaw(t *testing.T, rawURL string, body []byte) (int, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		u.RequestURI(), u.Host, len(body))
	go func() {
		if _, err := conn.Write([]byte(head)); err == nil {
			_, _ = conn.Write(body) // may fail once the server has answered and closed
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "read the answer")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// configWith writes a copy of examples/ahacc.yaml with each old text replaced
// by its new text (each must occur exactly once) and returns its path.
func configWith(t *testing.T, replacements ...string) string {
	t.Helper()
	require.Zero(t, len(replacements)%2)
	src, err := os.ReadFile(exampleConfig())
	require.NoError(t, err)
	out := string(src)
	for i := 0; i < len(replacements); i += 2 {
		require.Equal(t, 1, strings.Count(out, replacements[i]), "examples/ahacc.yaml changed: %q; update this test", replacements[i])
		out = strings.Replace(out, replacements[i], replacements[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "ahacc.yaml")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	return path
}
