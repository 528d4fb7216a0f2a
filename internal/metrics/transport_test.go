package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTransportRecordsStatusCodesAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			code = http.StatusOK
		}
		if r.URL.Query().Get("slow") != "" {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()

	m := New(ComponentWorker)
	c := &http.Client{Transport: m.Transport(TargetAha, nil)}
	get := func(query string) {
		resp, err := c.Get(srv.URL + "/api/v1/ideas?" + query)
		require.NoError(t, err)
		resp.Body.Close()
	}
	get("code=200")
	get("code=200")
	get("code=404")
	get("code=429")
	get("code=503")

	// Context deadline: no response → "error".
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow?slow=1", nil)
	require.NoError(t, err)
	_, err = c.Do(req)
	require.Error(t, err)

	// Connection refused: a closed loopback server.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cc := &http.Client{Transport: m.Transport(TargetCentercode, nil)}
	_, err = cc.Get(deadURL + "/listener?apiKey=secret")
	require.Error(t, err)

	for _, tt := range []struct {
		target, status string
		want           float64
	}{
		{"aha", "200", 2},
		{"aha", "404", 1},
		{"aha", "429", 1},
		{"aha", "503", 1},
		{"aha", "error", 1},
		{"centercode", "error", 1},
		{"centercode", "200", 0},
	} {
		assert.Equal(t, tt.want, toFloat64(t, m.outbound.WithLabelValues(tt.target, tt.status)),
			"%s %s", tt.target, tt.status)
	}
	// aha: 200 404 429 503 error; centercode: error, plus the 200 series the
	// read above created at zero. Nothing else (no URL-derived series).
	assert.Equal(t, 7, collectAndCount(m.outbound))
	assert.Equal(t, uint64(6), histCount(t, m.reg, "ahacc_outbound_request_seconds", map[string]string{"target": "aha"}))
	assert.Equal(t, uint64(1), histCount(t, m.reg, "ahacc_outbound_request_seconds", map[string]string{"target": "centercode"}))
	// The timed-out request waited about 50 ms, which the histogram saw.
	sum := series(t, m.reg, "ahacc_outbound_request_seconds", map[string]string{"target": "aha"}).GetHistogram().GetSampleSum()
	assert.GreaterOrEqual(t, sum, 0.04)
}

type closeCounter struct {
	http.RoundTripper
	closed int
}

func (c *closeCounter) CloseIdleConnections() { c.closed++ }

func TestTransportForwardsCloseIdleConnections(t *testing.T) {
	m := New(ComponentWorker)
	next := &closeCounter{RoundTripper: http.DefaultTransport}
	c := &http.Client{Transport: m.Transport(TargetAha, next)}
	c.CloseIdleConnections()
	assert.Equal(t, 1, next.closed)
}

func TestTransportDoesNotAlterRequestOrResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("body"))
	}))
	defer srv.Close()
	m := New(ComponentWorker)
	c := &http.Client{Transport: m.Transport(TargetAha, nil)}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/x", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer abc")
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "Bearer abc", resp.Header.Get("X-Echo"))
	assert.Equal(t, 1.0, toFloat64(t, m.outbound.WithLabelValues("aha", "201")))
}
