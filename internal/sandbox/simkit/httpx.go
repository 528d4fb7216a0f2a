package simkit

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "encoding response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ReadJSON decodes the request body (at most maxBytes) into v.
func ReadJSON(r *http.Request, maxBytes int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBytes))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

// RequestRecord is one request the simulator received.
type RequestRecord struct {
	Time     time.Time     `json:"time"`
	Method   string        `json:"method"`
	Path     string        `json:"path"`              // the request path (no query: it may hold secrets)
	Pattern  string        `json:"pattern,omitempty"` // the ServeMux pattern that matched, if any
	Status   int           `json:"status"`            // 0 when the connection was dropped without a response
	Duration time.Duration `json:"duration"`
}

// DefaultRecorderSize is the number of requests a Recorder keeps when created with size <= 0.
const DefaultRecorderSize = 1000

// Recorder keeps the last N requests and unbounded counts per route and status.
// It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	size   int
	buf    []RequestRecord // ring
	next   int
	full   bool
	total  int64
	counts map[string]map[int]int64 // route ("METHOD pattern-or-path") → status → count
	// first and last request start times since creation (or Reset).
	first, last time.Time
}

// NewRecorder returns a Recorder keeping the last size requests.
func NewRecorder(size int) *Recorder {
	if size <= 0 {
		size = DefaultRecorderSize
	}
	return &Recorder{size: size, buf: make([]RequestRecord, size), counts: map[string]map[int]int64{}}
}

// Record stores one request.
func (rc *Recorder) Record(rec RequestRecord) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.buf[rc.next] = rec
	rc.next = (rc.next + 1) % rc.size
	if rc.next == 0 {
		rc.full = true
	}
	rc.total++
	if rc.first.IsZero() || rec.Time.Before(rc.first) {
		rc.first = rec.Time
	}
	if rec.Time.After(rc.last) {
		rc.last = rec.Time
	}
	route := rec.Pattern
	if route == "" {
		route = rec.Method + " " + rec.Path
	}
	m := rc.counts[route]
	if m == nil {
		m = map[int]int64{}
		rc.counts[route] = m
	}
	m[rec.Status]++
}

// Entries returns the kept requests, oldest first.
func (rc *Recorder) Entries() []RequestRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []RequestRecord
	if rc.full {
		out = append(out, rc.buf[rc.next:]...)
	}
	out = append(out, rc.buf[:rc.next]...)
	return out
}

// Total returns the number of requests recorded since creation (or Reset).
func (rc *Recorder) Total() int64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.total
}

// Span returns when the first and the last recorded request started (zero
// times when none was recorded since creation or Reset): with Total, the
// rate a client achieved over its run.
func (rc *Recorder) Span() (first, last time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.first, rc.last
}

// Counts returns route → status → count. The route is the matched ServeMux pattern
// (for example "GET /api/v1/ideas/{id}"), or "METHOD path" when none matched.
func (rc *Recorder) Counts() map[string]map[int]int64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]map[int]int64, len(rc.counts))
	for k, v := range rc.counts {
		m := make(map[int]int64, len(v))
		for s, n := range v {
			m[s] = n
		}
		out[k] = m
	}
	return out
}

// StatusCounts returns status → count over every route.
func (rc *Recorder) StatusCounts() map[int]int64 {
	out := map[int]int64{}
	for _, m := range rc.Counts() {
		for s, n := range m {
			out[s] += n
		}
	}
	return out
}

// Routes returns the routes seen, sorted.
func (rc *Recorder) Routes() []string {
	c := rc.Counts()
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Reset forgets everything.
func (rc *Recorder) Reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.buf = make([]RequestRecord, rc.size)
	rc.next, rc.full, rc.total = 0, false, 0
	rc.first, rc.last = time.Time{}, time.Time{}
	rc.counts = map[string]map[int]int64{}
}

// Middleware records every request that passes through next. Requests for which skip
// returns true (for example inspection endpoints) are not recorded; skip may be nil.
// The matched pattern is read from r.Pattern after next has run (set by http.ServeMux).
func (rc *Recorder) Middleware(next http.Handler, skip func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if skip != nil && skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &StatusWriter{ResponseWriter: w}
		defer func() {
			rec := RequestRecord{Time: start, Method: r.Method, Path: r.URL.Path, Pattern: r.Pattern,
				Status: sw.Status(), Duration: time.Since(start)}
			rc.Record(rec)
			if p := recover(); p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// StatusWriter wraps a ResponseWriter and remembers the status written. It supports
// Hijack (needed for commit-then-timeout) and Flush, and exposes Unwrap for
// http.ResponseController.
type StatusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

// WriteHeader records the status.
func (s *StatusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Status returns the status written, 0 when the connection was hijacked or nothing was written.
func (s *StatusWriter) Status() int {
	if s.hijacked {
		return 0
	}
	return s.status
}

// Hijack hands the connection over, when the underlying writer allows it.
func (s *StatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("simkit: response writer cannot hijack")
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		s.hijacked = true
	}
	return c, rw, err
}

// Flush flushes when the underlying writer can.
func (s *StatusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the wrapped writer (for http.ResponseController).
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
