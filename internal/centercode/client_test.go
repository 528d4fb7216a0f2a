package centercode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/centercode"
	sim "github.com/ahacc/ahacc/internal/sandbox/centercode"
	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// secretKey is the simulator's API key; no error or log line may contain it.
const secretKey = "ccSECRETkey0123456789abcdefXYZ"

// errs collects every error a test sees, for the final "no key anywhere" check.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) error {
	if err != nil {
		e.mu.Lock()
		e.list = append(e.list, err)
		e.mu.Unlock()
	}
	return err
}

type fixture struct {
	sim    *sim.Server
	client *centercode.Client
	logs   *syncBuffer
	errs   *errs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T, mutate func(*sim.Config), opts ...centercode.Option) *fixture {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.APIKeys = []string{secretKey}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := sim.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = s.Close() })
	f := &fixture{sim: s, logs: &syncBuffer{}, errs: &errs{}}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.client = centercode.New(append([]centercode.Option{centercode.WithLogger(logger),
		centercode.WithHTTPClient(&http.Client{Timeout: 5 * time.Second})}, opts...)...)
	t.Cleanup(func() {
		for _, e := range f.errs.list {
			assert.NotContains(t, e.Error(), secretKey, "API key leaked in error")
			assert.NotContains(t, fmt.Sprintf("%+v", e), secretKey, "API key leaked in error")
		}
		assert.NotContains(t, f.logs.String(), secretKey, "API key leaked in log")
	})
	return f
}

func js(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestSubmitFeedbackResponseShapes(t *testing.T) {
	tests := []struct {
		shape   sim.SubmitResponse
		http    int
		idKnown bool
		status  string
	}{
		{sim.SubmitIDAndFeedbackID, 201, true, "New"},
		{sim.SubmitID, 201, true, "New"},
		{sim.SubmitFeedbackID, 201, true, ""},
		{sim.SubmitNested, 200, true, "New"},
		{sim.SubmitNoID, 202, false, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.shape)+"_", func(t *testing.T) {
			f := newFixture(t, func(c *sim.Config) { c.SubmitResponse = tt.shape })
			ref, err := f.client.SubmitFeedback(context.Background(), f.sim.SourceURL("beta", "bugs"),
				js(t, map[string]any{"Title": "Crash", "Severity": "Minor", "Aha Reference": "APP-I-1"}))
			require.NoError(t, f.errs.add(err))
			assert.Equal(t, tt.http, ref.HTTPStatus)
			assert.Equal(t, tt.idKnown, ref.IDKnown)
			assert.Equal(t, tt.status, ref.Status)
			list := f.sim.FeedbackList()
			require.Len(t, list, 1)
			if tt.idKnown {
				assert.Equal(t, fmt.Sprint(list[0].ID), ref.ID)
			} else {
				assert.Empty(t, ref.ID)
				assert.Contains(t, f.logs.String(), "without returning its id")
				assert.Contains(t, f.logs.String(), "apiKey=REDACTED")
			}
		})
	}
}

func TestSubmitFeedbackErrors(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	base := f.sim.URL() + "/api/v1/projects/beta/feedback/externalSources/"
	tests := []struct {
		name      string
		url       string
		body      any
		status    int
		element   string
		contains  []string
		retryable bool
	}{
		{"invalid choice", f.sim.SourceURL("beta", "bugs"), map[string]any{"Title": "x", "Severity": "P0"}, 400, "Severity",
			[]string{`"P0"`, "Critical, Major, Minor, Trivial"}, false},
		{"missing required", f.sim.SourceURL("beta", "bugs"), map[string]any{"Severity": "Minor"}, 400, "Title", []string{"required"}, false},
		{"unknown submitter", f.sim.SourceURL("beta", "ideas"), map[string]any{"Title": "x", "Submitter": "ghost@example.com"}, 400, "Submitter",
			[]string{"ghost@example.com"}, false},
		{"missing key", base + "bugs", map[string]any{"Title": "x"}, 401, "", nil, false},
		{"wrong key", base + "bugs?apiKey=" + secretKey + "x", map[string]any{"Title": "x"}, 403, "", nil, false},
		{"unknown source", base + "nope?apiKey=" + secretKey, map[string]any{"Title": "x"}, 404, "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.SubmitFeedback(ctx, tt.url, js(t, tt.body))
			require.Error(t, f.errs.add(err))
			var ce *centercode.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.status, ce.StatusCode())
			assert.Equal(t, tt.element, ce.Element)
			for _, c := range tt.contains {
				assert.Contains(t, ce.Message, c)
				assert.Contains(t, err.Error(), c)
			}
			assert.Equal(t, tt.retryable, ce.Retryable())
			assert.Equal(t, tt.retryable, centercode.Retryable(err))
			assert.False(t, centercode.Ambiguous(err))
			assert.Equal(t, tt.status == 404, centercode.IsNotFound(err))
			assert.Contains(t, err.Error(), "/api/v1/projects/beta/feedback/externalSources/")
			assert.LessOrEqual(t, len(ce.Body), 512)
		})
	}
	assert.Empty(t, f.sim.FeedbackList())
}

func TestRateLimitedAndFaults(t *testing.T) {
	now := time.Now()
	f := newFixture(t, func(c *sim.Config) {
		c.RateLimit = sim.RateLimit{PerSecond: 2}
		c.Now = func() time.Time { return now }
	})
	ctx := context.Background()
	url := f.sim.ListenerURL("user-data")
	body := js(t, map[string]any{"email": "ada@example.com", "company": "Analytical Engines"})
	require.NoError(t, f.errs.add(f.client.PostListener(ctx, url, body)))
	require.NoError(t, f.errs.add(f.client.PostListener(ctx, url, body)))
	err := f.client.PostListener(ctx, url, body)
	require.Error(t, f.errs.add(err))
	var ce *centercode.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 429, ce.StatusCode())
	assert.True(t, ce.Retryable())
	assert.Equal(t, time.Second, ce.RetryDelay())
	assert.Equal(t, time.Second, centercode.RetryDelay(err))
	assert.False(t, centercode.Ambiguous(err), "a 429 was not processed")

	f.sim.SetRateLimit(0, 0)
	for _, code := range []int{500, 502, 503, 504} {
		f.sim.SetFaults(simkit.Faults{ErrorRate: 1, ErrorCodes: []int{code}})
		err := f.client.PostListener(ctx, url, body)
		require.ErrorAs(t, f.errs.add(err), &ce)
		assert.Equal(t, code, ce.Status)
		assert.True(t, ce.Retryable())
		assert.True(t, centercode.Ambiguous(err))
	}
}

func TestAmbiguousCreateThenLookup(t *testing.T) {
	f := newFixture(t, func(c *sim.Config) {
		c.Faults = simkit.Faults{CommitTimeoutRate: 1, CommitTimeoutDelay: 10 * time.Millisecond}
	})
	ctx := context.Background()
	src := f.sim.SourceURL("beta", "bugs")
	_, err := f.client.SubmitFeedback(ctx, src, js(t, map[string]any{"Title": "x", "Aha Reference": "APP-I-42"}))
	require.Error(t, f.errs.add(err))
	var te *centercode.TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Sent(), "the request reached the server")
	assert.True(t, te.Retryable())
	assert.True(t, centercode.Ambiguous(err))
	assert.Contains(t, err.Error(), "apiKey=REDACTED")

	// Look it up by the external reference before creating again: it exists.
	f.sim.SetFaults(simkit.Faults{})
	fbURL, err := centercode.FeedbackURLFromSourceURL(src)
	require.NoError(t, err)
	assert.Equal(t, f.sim.FeedbackURL("beta"), fbURL)
	found, err := f.client.LookupFeedback(ctx, fbURL, "Aha Reference", "APP-I-42")
	require.NoError(t, f.errs.add(err))
	require.Len(t, found, 1)
	assert.Equal(t, "APP-I-42", found[0].ExternalReference)
	assert.Equal(t, "x", found[0].Elements["Title"])
	assert.NotEmpty(t, found[0].Raw)

	byRef, err := f.client.LookupByReference(ctx, fbURL, "", "APP-I-42")
	require.NoError(t, f.errs.add(err))
	require.Len(t, byRef, 1)
	assert.Equal(t, found[0].ID, byRef[0].ID)

	none, err := f.client.LookupFeedback(ctx, fbURL, "Aha Reference", "APP-I-43")
	require.NoError(t, f.errs.add(err))
	assert.Empty(t, none)
}

func TestTransportErrorNotSent(t *testing.T) {
	f := newFixture(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = f.client.SubmitFeedback(context.Background(),
		"http://"+addr+"/api/v1/projects/beta/feedback/externalSources/bugs?apiKey="+secretKey, []byte(`{}`))
	require.Error(t, f.errs.add(err))
	var te *centercode.TransportError
	require.ErrorAs(t, err, &te)
	assert.False(t, te.Sent(), "connection refused: nothing reached a server")
	assert.True(t, te.Retryable())
	assert.False(t, centercode.Ambiguous(err))

	// A cancelled context (a worker shutting down) is retryable: it says
	// nothing about the request, which another worker may pass.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = f.client.PostListener(ctx, f.sim.ListenerURL("user-data"), []byte(`{"email":"ada@example.com"}`))
	require.ErrorAs(t, f.errs.add(err), &te)
	assert.True(t, te.Retryable())
	assert.ErrorIs(t, err, context.Canceled)

	// A client timeout is retryable.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) }))
	defer slow.Close()
	c := centercode.New(centercode.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}),
		centercode.WithLogger(slog.New(slog.NewTextHandler(f.logs, nil))))
	_, err = c.SubmitFeedback(context.Background(), slow.URL+"/x?apiKey="+secretKey, []byte(`{}`))
	require.ErrorAs(t, f.errs.add(err), &te)
	assert.True(t, te.Retryable())
	assert.True(t, te.Sent())

	// Invalid URLs are rejected before sending, redacted.
	for _, bad := range []string{"::?apiKey=" + secretKey, "ftp://h/x?apiKey=" + secretKey, "/relative?apiKey=" + secretKey} {
		_, err = f.client.SubmitFeedback(context.Background(), bad, []byte(`{}`))
		require.ErrorIs(t, f.errs.add(err), centercode.ErrInvalidURL)
		assert.False(t, centercode.Retryable(err))
	}
}

func TestListenersAndGetFeedback(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	ref, err := f.client.SubmitFeedback(ctx, f.sim.SourceURL("beta", "bugs"), js(t, map[string]any{"Title": "x", "Platforms": []string{"Linux"}}))
	require.NoError(t, f.errs.add(err))

	// User data: store, clear, unknown user → 404.
	users := f.sim.ListenerURL("user-data")
	require.NoError(t, f.errs.add(f.client.PostListener(ctx, users, js(t, map[string]any{"email": "ada@example.com", "company": "AE", "revenue": "10"}))))
	require.NoError(t, f.errs.add(f.client.PostListener(ctx, users, js(t, map[string]any{"email": "ada@example.com", "company": "", "revenue": "11"}))))
	assert.Equal(t, map[string]map[string]string{"Aha!": {"revenue": "11"}}, f.sim.UserData("ada@example.com"))
	err = f.client.PostListener(ctx, users, js(t, map[string]any{"email": "ghost@example.com", "company": "x"}))
	require.Error(t, f.errs.add(err))
	assert.True(t, centercode.IsNotFound(err))
	assert.False(t, centercode.Retryable(err))

	// Feedback custom data (write-back of the Aha! link) and read back.
	require.NoError(t, f.errs.add(f.client.PostListener(ctx, f.sim.ListenerURL("feedback-data"),
		[]byte(`{"feedbackId": `+ref.ID+`, "aha_reference": "APP-I-9", "aha_url": "https://x.aha.io/ideas/APP-I-9"}`))))
	got, err := f.client.GetFeedback(ctx, f.sim.FeedbackURL("beta"), ref.ID)
	require.NoError(t, f.errs.add(err))
	assert.Equal(t, ref.ID, got.ID)
	assert.Equal(t, "New", got.Status)
	assert.Equal(t, "Issues", got.FeedbackType)
	assert.Equal(t, "beta", got.ProjectKey)
	assert.Equal(t, "pm@example.com", got.Submitter)
	assert.Equal(t, []any{"Linux"}, got.Elements["Platforms"])
	assert.Equal(t, map[string]any{"aha_reference": "APP-I-9", "aha_url": "https://x.aha.io/ideas/APP-I-9"}, got.CustomData["Aha!"])

	_, err = f.client.GetFeedback(ctx, f.sim.FeedbackURL("beta"), "999999")
	require.Error(t, f.errs.add(err))
	assert.True(t, centercode.IsNotFound(err))

	// Disabled key: 403, permanent.
	f.sim.SetAPIKeyEnabled(secretKey, false)
	err = f.client.PostListener(ctx, users, js(t, map[string]any{"email": "ada@example.com", "company": "AE"}))
	var ce *centercode.Error
	require.ErrorAs(t, f.errs.add(err), &ce)
	assert.Equal(t, 403, ce.Status)
	assert.False(t, ce.Retryable())
}

type countingLimiter struct {
	n   atomic.Int64
	err error
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.n.Add(1)
	return l.err
}

func TestLimiter(t *testing.T) {
	lim := &countingLimiter{}
	f := newFixture(t, nil, centercode.WithLimiter(lim))
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		require.NoError(t, f.errs.add(f.client.PostListener(ctx, f.sim.ListenerURL("user-data"), []byte(`{"email":"ada@example.com"}`))))
	}
	assert.EqualValues(t, 3, lim.n.Load())
	assert.EqualValues(t, 3, f.sim.Requests().Total)

	lim.err = errors.New("redis down")
	err := f.client.PostListener(ctx, f.sim.ListenerURL("user-data"), []byte(`{"email":"ada@example.com"}`))
	var te *centercode.TransportError
	require.ErrorAs(t, f.errs.add(err), &te)
	assert.False(t, te.Sent())
	assert.True(t, te.Retryable())
	assert.EqualValues(t, 3, f.sim.Requests().Total, "nothing sent when the limiter fails")
}

// errorServer answers every request with status, headers and body, echoing the URL
// into the body when echo is set (as a careless server might).
func errorServer(t *testing.T, status int, headers map[string]string, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, strings.ReplaceAll(body, "$URL", r.URL.String()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorParsingAndRetryDelay(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	tests := []struct {
		name      string
		status    int
		headers   map[string]string
		body      string
		message   string
		element   string
		delay     time.Duration
		tolerance time.Duration
		retryable bool
	}{
		{"retry-after seconds", 429, map[string]string{"Retry-After": "7"}, `{"error":"slow down"}`, "slow down", "", 7 * time.Second, 0, true},
		{"retry-after http date", 503, map[string]string{"Retry-After": now.Add(30 * time.Second).UTC().Format(http.TimeFormat)}, ``, "Service Unavailable", "", 30 * time.Second, 2 * time.Second, true},
		{"x-ratelimit-reset epoch", 429, map[string]string{"X-Ratelimit-Reset": fmt.Sprint(now.Add(20 * time.Second).Unix())}, ``, "Too Many Requests", "", 20 * time.Second, 2 * time.Second, true},
		{"x-ratelimit-reset seconds", 429, map[string]string{"X-Ratelimit-Reset": "3"}, ``, "Too Many Requests", "", 3 * time.Second, 0, true},
		{"retry-after wins", 429, map[string]string{"Retry-After": "2", "X-Ratelimit-Reset": "9"}, ``, "Too Many Requests", "", 2 * time.Second, 0, true},
		{"past date is zero", 503, map[string]string{"Retry-After": now.Add(-time.Hour).UTC().Format(http.TimeFormat)}, ``, "Service Unavailable", "", 0, 0, true},
		{"errors array", 422, nil, `{"errors":[{"field":"Severity","message":"bad option"}]}`, "bad option", "Severity", 0, 0, false},
		{"nested error object", 400, nil, `{"error":{"message":"nope"},"parameter":"Status"}`, "nope", "Status", 0, 0, false},
		{"not json", 502, nil, `<html>bad gateway</html>`, "Bad Gateway", "", 0, 0, true},
		{"406", 406, nil, ``, "Not Acceptable", "", 0, 0, false},
		{"echoed url is scrubbed", 400, nil, `{"message":"bad request to $URL"}`, "bad request to /x?apiKey=REDACTED", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := errorServer(t, tt.status, tt.headers, tt.body)
			err := f.client.PostListener(context.Background(), srv.URL+"/x?apiKey="+secretKey, []byte(`{}`))
			var ce *centercode.Error
			require.ErrorAs(t, f.errs.add(err), &ce)
			assert.Equal(t, tt.status, ce.StatusCode())
			assert.Equal(t, tt.message, ce.Message)
			assert.Equal(t, tt.element, ce.Element)
			assert.InDelta(t, float64(tt.delay), float64(ce.RetryDelay()), float64(tt.tolerance))
			assert.Equal(t, tt.retryable, ce.Retryable())
			assert.NotContains(t, ce.Body, secretKey)
		})
	}
	// A long body is truncated.
	srv := errorServer(t, 500, nil, strings.Repeat("x", 5000))
	err := f.client.PostListener(context.Background(), srv.URL+"/x?apiKey="+secretKey, []byte(`{}`))
	var ce *centercode.Error
	require.ErrorAs(t, f.errs.add(err), &ce)
	assert.Len(t, ce.Body, 512)
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://c.example.com/api/v1/listeners/abc?apiKey=K3y-value", "https://c.example.com/api/v1/listeners/abc?apiKey=REDACTED"},
		{"https://h/p?page=2&apiKey=x&per_page=10", "https://h/p?page=2&apiKey=REDACTED&per_page=10"},
		{"https://h/p?APIKEY=x&access_token=y&sig=z&client_secret=w", "https://h/p?APIKEY=REDACTED&access_token=REDACTED&sig=REDACTED&client_secret=REDACTED"},
		{"https://h/p?ref=a1b2c3d4e5f6a7b8c9d0", "https://h/p?ref=REDACTED"},
		{"https://h/p?element=Aha+Reference&value=APP-I-12", "https://h/p?element=Aha+Reference&value=APP-I-12"},
		{"https://user:pw@h/p", "https://user:REDACTED@h/p"},
		{"https://h/p#access_token=abc", "https://h/p#REDACTED"},
		{"https://h/p", "https://h/p"},
		{"::bad url?apiKey=secret", "::bad url?REDACTED"},
		{"http://h/p?apiKey=%zz", "http://h/p?apiKey=REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, centercode.RedactURL(tt.in))
		})
	}
}

func TestFeedbackURLFromSourceURL(t *testing.T) {
	got, err := centercode.FeedbackURLFromSourceURL("https://c.example.com/api/v1/projects/beta/feedback/externalSources/bugs?apiKey=K")
	require.NoError(t, err)
	assert.Equal(t, "https://c.example.com/api/v1/projects/beta/feedback?apiKey=K", got)
	_, err = centercode.FeedbackURLFromSourceURL("https://c.example.com/api/v1/listeners/x?apiKey=" + secretKey)
	require.ErrorIs(t, err, centercode.ErrInvalidURL)
	assert.NotContains(t, err.Error(), secretKey)
}
