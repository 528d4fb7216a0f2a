package metrics

import (
	"net/http"
	"time"
)

// Transport wraps next (http.DefaultTransport when nil) so that every request
// is recorded with Outbound under target: status code or "error", and the
// latency until the response headers arrive (body reading is not included).
// Only target and status become labels — never the URL, path or query, which
// for Centercode carry the apiKey. On a nil *Metrics it returns next unchanged.
func (m *Metrics) Transport(target string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return &transport{m: m, target: target, next: next}
}

type transport struct {
	m      *Metrics
	target string
	next   http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.m.Outbound(t.target, status, err, time.Since(start))
	return resp, err
}

// CloseIdleConnections forwards to the wrapped transport so that
// http.Client.CloseIdleConnections keeps working through the wrapper.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
