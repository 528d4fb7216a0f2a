package centercode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MacroData is what a macro's body template sees (Assumption 5).
type MacroData struct {
	Macro             string                       // macro name
	RunKey            string                       // unique per run; both copies of a duplicated delivery share it
	Trigger           string                       // "manual", "status_change" or "listener"
	FeedbackID        int64                        //
	ProjectKey        string                       //
	FeedbackType      string                       //
	Status            string                       // current status
	OldStatus         string                       // status before the change that fired the macro (= Status for manual runs)
	Title             string                       // value of the source's title element
	Description       string                       // value of the source's description element
	SubmitterEmail    string                       //
	Elements          map[string]any               // element name → value (multi_choice: []string)
	CustomData        map[string]map[string]string // data group → key → value
	ExternalReference string                       //
	Time              string                       // RFC 3339, UTC
}

// Delivery is one webhook call made by a macro.
type Delivery struct {
	Macro        string        `json:"macro"`
	FeedbackID   int64         `json:"feedbackId"`
	RunKey       string        `json:"runKey"`
	Trigger      string        `json:"trigger"`
	Copy         int           `json:"copy"` // 1, or 2 for the duplicate
	Method       string        `json:"method"`
	URL          string        `json:"url"` // without query string
	HeaderNames  []string      `json:"headerNames"`
	Body         string        `json:"body"`
	StatusCode   int           `json:"statusCode"` // 0 when no response
	Error        string        `json:"error,omitempty"`
	ResponseBody string        `json:"responseBody,omitempty"` // first 512 bytes
	Time         time.Time     `json:"time"`
	Duration     time.Duration `json:"duration"`
}

// maxDeliveries bounds the kept delivery records.
const maxDeliveries = 100000

type macroRun struct {
	macro   Macro
	body    string
	err     error
	data    MacroData
	copies  int
	trigger string
}

func (s *Server) sortedMacros() []*compiledMacro {
	out := make([]*compiledMacro, 0, len(s.macros))
	for _, m := range s.macros {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// prepareRunLocked renders a macro run for f; s.mu must be held.
func (s *Server) prepareRunLocked(m *compiledMacro, f *feedbackState, oldStatus, trigger string) macroRun {
	s.runSeq++
	snap := f.snapshot()
	elements := snap.Elements
	d := MacroData{
		Macro: m.Name, RunKey: "run-" + strconv.FormatInt(s.runSeq, 10), Trigger: trigger,
		FeedbackID: f.ID, ProjectKey: f.ProjectKey, FeedbackType: f.FeedbackType,
		Status: f.Status, OldStatus: oldStatus, Title: f.title, Description: f.description,
		SubmitterEmail: f.Submitter, Elements: elements, CustomData: snap.CustomData,
		ExternalReference: f.ExternalReference, Time: s.now().UTC().Format(time.RFC3339),
	}
	run := macroRun{macro: m.Macro, data: d, copies: 1, trigger: trigger}
	if m.Headers != nil {
		h := make(map[string]string, len(m.Headers))
		for k, v := range m.Headers {
			h[k] = v
		}
		run.macro.Headers = h
	}
	if s.dupDelivery {
		run.copies = 2
	}
	var buf bytes.Buffer
	if err := m.tmpl.Execute(&buf, d); err != nil {
		run.err = fmt.Errorf("render body: %w", err)
	}
	run.body = buf.String()
	return run
}

func (s *Server) deliverAsync(run macroRun) {
	s.inflight.add()
	go func() {
		defer s.inflight.done()
		s.deliver(s.closeCtx, run)
	}()
}

// deliver makes the macro's webhook call(s). AssumptionNoMacroRetry: a failed call is
// recorded, never retried.
func (s *Server) deliver(ctx context.Context, run macroRun) []Delivery {
	var out []Delivery
	for c := 1; c <= run.copies; c++ {
		d := s.deliverOnce(ctx, run, c)
		s.mu.Lock()
		if len(s.deliveries) >= maxDeliveries {
			s.deliveries = s.deliveries[1:]
		}
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		out = append(out, d)
	}
	return out
}

func (s *Server) deliverOnce(ctx context.Context, run macroRun, copyN int) Delivery {
	m := run.macro
	d := Delivery{Macro: m.Name, FeedbackID: run.data.FeedbackID, RunKey: run.data.RunKey, Trigger: run.trigger,
		Copy: copyN, Method: m.Method, Body: run.body, Time: s.now().UTC()}
	if u, err := url.Parse(m.URL); err == nil {
		u.RawQuery, u.User = "", nil
		d.URL = u.String()
	}
	for k := range m.Headers {
		d.HeaderNames = append(d.HeaderNames, k)
	}
	sort.Strings(d.HeaderNames)
	if run.err != nil {
		d.Error = run.err.Error()
		return d
	}
	if m.URL == "" {
		d.Error = "macro has no URL configured"
		return d
	}
	var body io.Reader
	if m.Method != http.MethodGet {
		body = strings.NewReader(run.body)
	}
	req, err := http.NewRequestWithContext(ctx, m.Method, m.URL, body)
	if err != nil {
		d.Error = "build request: " + err.Error()
		return d
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "centercode-simulator")
	for k, v := range m.Headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	d.Duration = time.Since(start)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		d.Error = err.Error()
		s.log.Warn("macro delivery failed", "macro", m.Name, "feedback_id", run.data.FeedbackID, "error", d.Error)
		return d
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	d.StatusCode = resp.StatusCode
	d.ResponseBody = string(b)
	s.log.Debug("macro delivered", "macro", m.Name, "feedback_id", run.data.FeedbackID, "status", resp.StatusCode, "copy", copyN)
	return d
}

// ErrUnknownMacro is returned for a macro name the simulator does not hold.
var ErrUnknownMacro = errors.New("unknown macro")

// RunMacro runs a macro manually on one feedback item and waits for its delivery (or
// both, with duplicate delivery on).
func (s *Server) RunMacro(ctx context.Context, name string, feedbackID int64) ([]Delivery, error) {
	s.mu.Lock()
	m := s.macros[name]
	if m == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w %q", ErrUnknownMacro, name)
	}
	f := s.feedback[feedbackID]
	if f == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w %d", ErrUnknownFeedback, feedbackID)
	}
	run := s.prepareRunLocked(m, f, f.Status, string(TriggerManual))
	s.mu.Unlock()
	s.inflight.add()
	defer s.inflight.done()
	return s.deliver(ctx, run), nil
}

// Deliveries returns every recorded macro delivery, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery{}, s.deliveries...)
}

// WaitDeliveries waits until no macro delivery is in flight or ctx ends.
func (s *Server) WaitDeliveries(ctx context.Context) error { return s.inflight.wait(ctx) }

// tracker counts in-flight deliveries; unlike sync.WaitGroup it may be waited on
// while new work starts.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.zero = make(chan struct{})
	}
	t.n++
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.zero)
	}
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	ch := t.zero
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
