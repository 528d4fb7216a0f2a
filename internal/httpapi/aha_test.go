package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/mapping"
)

const token = "s3cret-token-for-tests"

func testConfig(t testing.TB) *mapping.Config {
	t.Helper()
	cfg, err := mapping.LoadFileWithOptions(filepath.Join("..", "..", "examples", "ahacc.yaml"), mapping.LoadOptions{
		LookupEnv: func(k string) (string, bool) {
			switch {
			case strings.HasSuffix(k, "_URL"):
				return "http://127.0.0.1:1/x?apiKey=k", true
			case k == "AHA_API_KEY":
				return "key", true
			case k == "AHA_INTEGRATION_ID":
				return "4242", true
			}
			return "", false
		}})
	require.NoError(t, err)
	return cfg
}

// testRedis is the real Redis CI starts; skipped (saying so) when absent.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Skipf("no Redis at %s (CI starts one): %v", url, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

type fixture struct {
	app   *fiber.App
	tc    *mocks.Client
	store *dedup.Store
}

func newFixture(t *testing.T, withRedis bool) *fixture {
	cfg := testConfig(t)
	tc := &mocks.Client{}
	f := &fixture{tc: tc}
	d := &dispatch.Dispatcher{Temporal: tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var rdb *redis.Client
	if withRedis {
		rdb = testRedis(t)
		f.store = dedup.New(rdb, time.Minute, fmt.Sprintf("ahacc:test:%d:", time.Now().UnixNano()))
		d.Dedup = f.store
	}
	srv := New(Options{Temporal: tc, Redis: rdb, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Aha: &AhaWebhook{Tokens: []string{"old-token", token}, Dispatcher: d}})
	f.app = srv.App()
	return f
}

func (f *fixture) post(t *testing.T, path, body string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.app.Test(req, 5000)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func audit(id, typ, auditableID, extra string) string {
	return fmt.Sprintf(`{"event":"audit","audit":{"id":%s,"audit_action":"update","created_at":"2018-04-12T15:16:17.922Z","user":null,"auditable_type":%q,"auditable_id":%s,"changes":[{"field_name":"Votes","value":3}]%s}}`,
		id, typ, auditableID, extra)
}

func TestAhaWebhookAnswers(t *testing.T) {
	f := newFixture(t, false)
	f.tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:6514078362261846610", "aha-event", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, nil)
	tests := []struct {
		name, path, body string
		code             int
		contains         string
	}{
		{"accepted, numeric ids and integer value, null user", "/webhooks/aha/" + token, audit(`6543581008138760991`, "ideas/idea", `6514078362261846610`, ""), 202, `"workflow_id":"aha:idea:6514078362261846610"`},
		{"accepted, string ids", "/webhooks/aha/" + token, audit(`"6543581008138760992"`, "ideas/idea", `"6514078362261846610"`, ""), 202, `"status":"accepted"`},
		{"old token still accepted (rotation)", "/webhooks/aha/old-token", audit(`"1"`, "ideas/idea", `"6514078362261846610"`, ""), 202, `"status":"accepted"`},
		{"unknown auditable_type ignored", "/webhooks/aha/" + token, audit(`"2"`, "release", `"1"`, ""), 202, `"status":"ignored"`},
		{"a vote without its idea's URL ignored", "/webhooks/aha/" + token, audit(`"4"`, "ideas/idea_endorsement", `"1"`, ""), 202, `names no idea or feature`},
		{"malformed JSON", "/webhooks/aha/" + token, `{"event":"audit","audit":`, 400, `"error"`},
		{"no audit id", "/webhooks/aha/" + token, `{"event":"audit","audit":{"audit_action":"update"}}`, 400, `id`},
		{"wrong token", "/webhooks/aha/nope", audit(`"3"`, "ideas/idea", `"1"`, ""), 404, `not found`},
		{"missing token", "/webhooks/aha", audit(`"3"`, "ideas/idea", `"1"`, ""), 404, `not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := f.post(t, tt.path, tt.body)
			require.Equal(t, tt.code, code, body)
			require.Contains(t, body, tt.contains)
			require.NotContains(t, body, token, "the token is never echoed")
		})
	}
}

// TestTooLargeBodyAnswers413 checks the 1 MiB limit over a real listener
// (fasthttp enforces it while reading, before any handler runs).
func TestTooLargeBodyAnswers413(t *testing.T) {
	f := newFixture(t, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = f.app.Listener(ln) }()
	defer f.app.Shutdown()
	// Send only the head with a 2 MiB Content-Length: the server must refuse
	// before reading the body (a client still writing could see a reset).
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /webhooks/aha/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, 2<<20)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	f.tc.AssertNotCalled(t, "SignalWithStartWorkflow")
}

// TestTemporalDownAnswers503AndMarksNothing: a failed hand-off answers 503
// with Retry-After and releases the Redis claim, so the redelivery is accepted.
func TestTemporalDownAnswers503AndMarksNothing(t *testing.T) {
	f := newFixture(t, true)
	wfID := "aha:idea:77"
	call := f.tc.On("SignalWithStartWorkflow", mock.Anything, wfID, "aha-event", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, errors.New("connection refused")).Once()
	body := audit(`"9001"`, "ideas/idea", `"77"`, "")
	code, resp, hdr := f.post(t, "/webhooks/aha/"+token, body)
	require.Equal(t, 503, code, resp)
	require.Equal(t, "5", hdr.Get("Retry-After"))
	_ = call
	f.tc.On("SignalWithStartWorkflow", mock.Anything, wfID, "aha-event", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, nil).Once()
	code, resp, _ = f.post(t, "/webhooks/aha/"+token, body)
	require.Equal(t, 202, code, "not marked as seen after the failure: %s", resp)
	code, resp, _ = f.post(t, "/webhooks/aha/"+token, body)
	require.Equal(t, 200, code, resp)
	require.Contains(t, resp, `"status":"duplicate"`)
	f.tc.AssertNumberOfCalls(t, "SignalWithStartWorkflow", 2)
}

func TestReadyz(t *testing.T) {
	tc := &mocks.Client{}
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(&client.CheckHealthResponse{}, nil).Once()
	srv := New(Options{Temporal: tc})
	resp, err := srv.App().Test(httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(b), `"status":"degraded"`, "no Redis configured: degraded but ready")

	// Anyone may ask: the answer names component states only; what went
	// wrong (addresses, error text) goes to the log.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(nil, errors.New("dial tcp 10.1.2.3:7233: connection refused")).Once()
	var logs bytes.Buffer
	srv = New(Options{Temporal: tc, Redis: rdb, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	resp, err = srv.App().Test(httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	require.Equal(t, 503, resp.StatusCode, string(b))
	require.JSONEq(t, `{"status":"unavailable","temporal":"unreachable","redis":"unreachable"}`, string(b))
	require.Contains(t, logs.String(), "10.1.2.3:7233", "the details are logged")
	require.Contains(t, logs.String(), "127.0.0.1:1")
}

// TestRedisDownStillAccepts: without Redis the event still flows (the
// workflow layers dedup) and readyz says degraded.
func TestRedisDownStillAccepts(t *testing.T) {
	cfg := testConfig(t)
	tc := &mocks.Client{}
	tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:5", "aha-event", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(&client.CheckHealthResponse{}, nil)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	d := &dispatch.Dispatcher{Temporal: tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg },
		Dedup: dedup.New(rdb, time.Minute, ""), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := New(Options{Temporal: tc, Redis: rdb, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Aha: &AhaWebhook{Tokens: []string{token}, Dispatcher: d}})
	f := &fixture{app: srv.App(), tc: tc}
	code, body, _ := f.post(t, "/webhooks/aha/"+token, audit(`"10"`, "ideas/idea", `"5"`, ""))
	require.Equal(t, 202, code, body)
	resp, err := srv.App().Test(httptest.NewRequest(http.MethodGet, "/readyz", nil), 5000)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(b), `"status":"degraded"`)
}

// TestAhaWebhookAnswerBodies pins every answer byte for byte (they were
// c.JSON(fiber.Map{...}) and are now written by sendJSON).
func TestAhaWebhookAnswerBodies(t *testing.T) {
	cfg := testConfig(t)
	tc := &mocks.Client{}
	tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:6514078362261846610", "aha-event", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:77", "aha-event", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, errors.New("connection refused"))
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	d := &dispatch.Dispatcher{Temporal: tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg },
		Dedup: dedup.New(rdb, time.Minute, ""), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := New(Options{Temporal: tc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Aha: &AhaWebhook{Tokens: []string{token}, Dispatcher: d}})
	f := &fixture{app: srv.App(), tc: tc}
	hook := "/webhooks/aha/" + token
	tests := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"accepted", hook, audit(`"501"`, "ideas/idea", `"6514078362261846610"`, ""), 202,
			`{"status":"accepted","workflow_id":"aha:idea:6514078362261846610"}`},
		{"duplicate", hook, audit(`"501"`, "ideas/idea", `"6514078362261846610"`, ""), 200,
			`{"status":"duplicate","workflow_id":"aha:idea:6514078362261846610"}`},
		{"ignored type", hook, audit(`"502"`, "release", `"1"`, ""), 202,
			`{"reason":"auditable_type \"release\" is not routed (aha.record_types)","status":"ignored"}`},
		{"ignored event", hook, `{"event":"<other>","audit":{"id":"503","auditable_type":"ideas/idea","auditable_id":"1"}}`, 202,
			`{"reason":"event \u003cother\u003e is not an audit","status":"ignored"}`},
		{"no audit id", hook, `{"event":"audit","audit":{"audit_action":"update"}}`, 400,
			`{"error":"aha webhook: missing audit.id","status":"error"}`},
		{"audit null", hook, `{"event":"audit","audit":null}`, 400,
			`{"error":"aha webhook: missing \"audit\" object","status":"error"}`},
		{"wrong token", "/webhooks/aha/nope", audit(`"504"`, "ideas/idea", `"1"`, ""), 404,
			`{"error":"not found","status":"error"}`},
		{"temporal down", hook, audit(`"505"`, "ideas/idea", `"77"`, ""), 503,
			`{"error":"temporal cannot take the event now","status":"error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, hdr := f.post(t, tt.path, tt.body)
			require.Equal(t, tt.code, code, body)
			require.Equal(t, tt.want, body)
			require.Equal(t, "application/json", hdr.Get("Content-Type"))
		})
	}
}
