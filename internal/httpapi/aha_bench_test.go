package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
	"go.temporal.io/sdk/mocks"

	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/internal/metrics"
	"github.com/ahacc/ahacc/mapping"
)

// benchAuditID is the delivery the duplicate benchmarks post again and again.
const benchAuditID = "6543581008138760991"

// benchBody is what ahacc-bench posts (internal/bench/cmd/ahacc-bench sampleAudit).
const benchBody = `{"event":"audit","audit":{"id":"` + benchAuditID + `","audit_action":"update","created_at":"2026-11-27T10:00:00.000Z",` +
	`"interesting":true,"user":null,"auditable_type":"ideas/idea","auditable_id":"8999999999999999999",` +
	`"description":"updated idea","auditable_url":"https://example.aha.io/ideas/ideas/PRJ1-I-1","changes":[{"field_name":"Votes","value":3}]}}`

const benchDuplicateAnswer = `{"status":"duplicate","workflow_id":"aha:idea:8999999999999999999"}`

// benchRedis is Redis DB 12 (REDIS_BENCH_URL overrides), flushed before and
// after; the benchmark is skipped when it does not answer.
func benchRedis(b *testing.B) *redis.Client {
	b.Helper()
	url := os.Getenv("REDIS_BENCH_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/12"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	opt.DialTimeout, opt.MaxRetries = 200*time.Millisecond, -1
	rdb := redis.NewClient(opt)
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		b.Skipf("no Redis at %s: %v", url, err)
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		rdb.FlushDB(context.Background())
		rdb.Close()
	})
	return rdb
}

// benchDuplicateApp is the starter's app as internal/app builds it (real
// Redis dedup, real Prometheus metrics, Temporal a mock that must not be
// called) with benchAuditID already claimed and confirmed.
func benchDuplicateApp(b *testing.B) *fiber.App {
	b.Helper()
	rdb := benchRedis(b)
	cfg := testConfig(b)
	store := dedup.New(rdb, time.Minute, "")
	ctx := context.Background()
	if st, _, err := store.Claim(ctx, "aha", benchAuditID); err != nil || st != dedup.Claimed {
		b.Fatalf("claim: %s %v", st, err)
	}
	if err := store.Confirm(ctx, "aha", benchAuditID); err != nil {
		b.Fatal(err)
	}
	tc := &mocks.Client{} // any call panics: a duplicate never reaches Temporal
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &dispatch.Dispatcher{Temporal: tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg }, Dedup: store, Logger: logger}
	srv := New(Options{Temporal: tc, Redis: rdb, Logger: logger, Aha: &AhaWebhook{Tokens: []string{"old-token", token}, Dispatcher: d, Metrics: metrics.New("starter")}})
	return srv.App()
}

func benchRequest(req *fasthttp.Request) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://starter/webhooks/aha/" + token)
	req.Header.SetContentType("application/json")
	req.SetBodyString(benchBody)
}

// cpuPerOp reports the process CPU time per operation ("cpu-ns/op") next to
// ns/op, which on this path is mostly the wait for Redis, not work.
func cpuPerOp(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func checkDuplicateAnswer(b *testing.B, resp *fasthttp.Response) {
	b.Helper()
	if resp.StatusCode() != fiber.StatusOK || string(resp.Body()) != benchDuplicateAnswer {
		b.Fatalf("answer %d %s, want 200 %s", resp.StatusCode(), resp.Body(), benchDuplicateAnswer)
	}
}

// BenchmarkAhaWebhookDuplicate measures the duplicate delivery (the same
// audit id again) through the whole starter stack in-process. "handler"
// calls the Fiber app's fasthttp handler directly (routing, middleware,
// parse, route, Redis claim, answer), one request at a time: its ns/op is
// mostly the Redis round trip. The -parallel variants keep 32 requests in
// flight, as ahacc-bench does, so ns/op is the inverse of the throughput;
// "inmemory-parallel" adds fasthttp's request parsing and response writing
// over in-memory connections, with a fasthttp client in the same process.
// cpu-ns/op is the process's CPU time per request (Redis itself not included).
func BenchmarkAhaWebhookDuplicate(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		app := benchDuplicateApp(b)
		h := app.Handler()
		var req fasthttp.Request
		benchRequest(&req)
		var rc fasthttp.RequestCtx
		rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
		h(&rc)
		checkDuplicateAnswer(b, &rc.Response)
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			rc.Response.Reset()
			h(&rc)
			if rc.Response.StatusCode() != fiber.StatusOK {
				b.Fatalf("answer %d %s", rc.Response.StatusCode(), rc.Response.Body())
			}
		}
	})
	b.Run("handler-parallel", func(b *testing.B) {
		app := benchDuplicateApp(b)
		h := app.Handler()
		b.ReportAllocs()
		b.SetParallelism(16)
		defer cpuPerOp(b)()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var req fasthttp.Request
			benchRequest(&req)
			var rc fasthttp.RequestCtx
			rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
			for pb.Next() {
				rc.Response.Reset()
				h(&rc)
				if rc.Response.StatusCode() != fiber.StatusOK {
					b.Errorf("answer %d %s", rc.Response.StatusCode(), rc.Response.Body())
					return
				}
			}
		})
	})
	b.Run("inmemory-parallel", func(b *testing.B) {
		app := benchDuplicateApp(b)
		ln := fasthttputil.NewInmemoryListener()
		go func() { _ = app.Listener(ln) }()
		b.Cleanup(func() { _ = app.Shutdown() })
		hc := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		benchRequest(req)
		if err := hc.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		checkDuplicateAnswer(b, resp)
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		b.ReportAllocs()
		b.SetParallelism(16)
		defer cpuPerOp(b)()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			benchRequest(req)
			for pb.Next() {
				if err := hc.Do(req, resp); err != nil {
					b.Error(err)
					return
				}
				if resp.StatusCode() != fiber.StatusOK {
					b.Errorf("answer %d %s", resp.StatusCode(), resp.Body())
					return
				}
			}
		})
	})
}
