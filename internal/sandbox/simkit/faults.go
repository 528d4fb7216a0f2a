package simkit

import (
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"time"
)

// DefaultErrorCodes are the status codes injected when Faults.ErrorCodes is empty.
var DefaultErrorCodes = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// DefaultCommitTimeoutDelay is how long a "commit then time out" request is held when
// Faults.CommitTimeoutDelay is zero.
const DefaultCommitTimeoutDelay = 10 * time.Second

// Faults configures fault injection; the zero value injects no faults.
type Faults struct {
	// ErrorRate is the share (0..1) of requests answered at once with one of ErrorCodes,
	// before the handler does any work.
	ErrorRate float64 `json:"error_rate"`
	// ErrorCodes are the injected status codes, picked uniformly; default DefaultErrorCodes.
	ErrorCodes []int `json:"error_codes,omitempty"`
	// Latency is added to every request.
	Latency time.Duration `json:"latency"`
	// CommitTimeoutRate is the share of write requests (any method but GET, HEAD, OPTIONS)
	// that are committed and then never answered.
	CommitTimeoutRate float64 `json:"commit_timeout_rate"`
	// CommitTimeoutDelay is how long such a request's connection is held before it is
	// closed without a response; default DefaultCommitTimeoutDelay.
	CommitTimeoutDelay time.Duration `json:"commit_timeout_delay"`
	// Seed seeds the random choices, so a run is reproducible.
	Seed int64 `json:"seed"`
}

// FaultStats counts injected faults.
type FaultStats struct {
	Requests       int64         `json:"requests"`        // requests seen by Before
	Delayed        int64         `json:"delayed"`         // requests that got Latency added
	Errors         int64         `json:"errors"`          // requests answered with an injected error
	ErrorsByCode   map[int]int64 `json:"errors_by_code"`  // injected errors per status code
	Writes         int64         `json:"writes"`          // write requests seen by AfterCommit
	CommitTimeouts int64         `json:"commit_timeouts"` // writes committed and left unanswered
}

// Injector applies Faults to requests. It is safe for concurrent use.
type Injector struct {
	mu    sync.Mutex
	f     Faults
	rng   *rand.Rand
	stats FaultStats
}

// NewInjector returns an Injector applying f.
func NewInjector(f Faults) *Injector {
	i := &Injector{}
	i.Set(f)
	return i
}

// Set replaces the fault configuration and reseeds the random source with f.Seed.
// Counters are kept.
func (i *Injector) Set(f Faults) {
	f.ErrorCodes = append([]int(nil), f.ErrorCodes...)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.f = f
	i.rng = rand.New(rand.NewSource(f.Seed))
}

// Get returns the current fault configuration.
func (i *Injector) Get() Faults {
	i.mu.Lock()
	defer i.mu.Unlock()
	f := i.f
	f.ErrorCodes = append([]int(nil), f.ErrorCodes...)
	return f
}

// Stats returns a copy of the counters of injected faults.
func (i *Injector) Stats() FaultStats {
	i.mu.Lock()
	defer i.mu.Unlock()
	s := i.stats
	s.ErrorsByCode = make(map[int]int64, len(i.stats.ErrorsByCode))
	for k, v := range i.stats.ErrorsByCode {
		s.ErrorsByCode[k] = v
	}
	return s
}

// ResetStats sets every counter back to zero.
func (i *Injector) ResetStats() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.stats = FaultStats{}
}

// IsWrite reports whether r changes state (any method but GET, HEAD and OPTIONS).
func IsWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// Before applies latency and error injection. It returns true when it has already
// answered the request (with an injected error, or because the request context ended
// during the added latency); the caller must then return without writing.
func (i *Injector) Before(w http.ResponseWriter, r *http.Request) bool {
	i.mu.Lock()
	f := i.f
	i.stats.Requests++
	if f.Latency > 0 {
		i.stats.Delayed++
	}
	code := 0
	if f.ErrorRate > 0 && i.rng.Float64() < f.ErrorRate {
		codes := f.ErrorCodes
		if len(codes) == 0 {
			codes = DefaultErrorCodes
		}
		code = codes[i.rng.Intn(len(codes))]
		i.stats.Errors++
		if i.stats.ErrorsByCode == nil {
			i.stats.ErrorsByCode = map[int]int64{}
		}
		i.stats.ErrorsByCode[code]++
	}
	i.mu.Unlock()

	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			// The client is gone; nobody reads an answer. Answer anyway so the
			// server's bookkeeping (recorders) sees a status.
			WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "request cancelled"})
			return true
		}
	}
	if code != 0 {
		WriteJSON(w, code, map[string]any{
			"error":    fmt.Sprintf("%d %s (injected fault)", code, http.StatusText(code)),
			"injected": true,
		})
		return true
	}
	return false
}

// AfterCommit is called by a write handler after it has committed its change and before
// it answers. If the request is chosen (CommitTimeoutRate), AfterCommit holds the
// connection for CommitTimeoutDelay (or until the request context ends), then closes it
// without any response, and returns true: the caller must return without writing.
// Read requests are never chosen.
func (i *Injector) AfterCommit(w http.ResponseWriter, r *http.Request) bool {
	if !IsWrite(r) {
		return false
	}
	i.mu.Lock()
	f := i.f
	i.stats.Writes++
	chosen := f.CommitTimeoutRate > 0 && i.rng.Float64() < f.CommitTimeoutRate
	if chosen {
		i.stats.CommitTimeouts++
	}
	i.mu.Unlock()
	if !chosen {
		return false
	}
	// Drain the body: net/http only notices a client that went away (and cancels the
	// request context) once the body has been consumed.
	_, _ = io.Copy(io.Discard, r.Body)
	delay := f.CommitTimeoutDelay
	if delay <= 0 {
		delay = DefaultCommitTimeoutDelay
	}
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
	}
	DropConnection(w)
	return true
}

// DropConnection closes the client connection without writing a response. It hijacks
// the connection when the ResponseWriter allows it; otherwise it panics with
// http.ErrAbortHandler, which makes net/http abort the response (the server recovers
// that panic silently).
func DropConnection(w http.ResponseWriter) {
	// ResponseController finds a Hijacker directly or through Unwrap chains.
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}
