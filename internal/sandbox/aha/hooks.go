package aha

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Delivery is one activity-webhook POST the simulator made (or skipped).
type Delivery struct {
	AuditID       string        `json:"audit_id"`
	AuditableType string        `json:"auditable_type"`
	AuditAction   string        `json:"audit_action"`
	Target        string        `json:"target"` // scheme://host only: the hook URL carries a secret
	Status        int           `json:"status"` // 0 when no answer
	Error         string        `json:"error,omitempty"`
	At            time.Time     `json:"at"`
	Duration      time.Duration `json:"duration_ns"`
	Suppressed    bool          `json:"suppressed"` // recorded but deliberately not delivered
}

type hookJob struct {
	a    *audit
	body []byte
}

// hookQueue delivers webhooks one at a time, in audit order, without retries (whether
// Aha! retries is unknown; we assume it does not).
type hookQueue struct {
	s       *Server
	client  *http.Client
	mu      sync.Mutex
	cond    *sync.Cond
	url     string
	suppr   bool
	queue   []hookJob
	busy    bool
	closed  bool
	started bool
	done    []Delivery
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newHookQueue(s *Server, u string, suppress bool, timeout time.Duration) *hookQueue {
	ctx, cancel := context.WithCancel(context.Background())
	// One connection per delivery, like most webhook senders: a delivery is
	// then either taken by the receiver (and answered) or refused, never lost
	// to a keep-alive connection the receiver closed while draining.
	q := &hookQueue{s: s, client: &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}, url: u, suppr: suppress, ctx: ctx, cancel: cancel}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func target(u string) string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid url)"
	}
	return p.Scheme + "://" + p.Host
}

// enqueue is called with the server lock held, so the order is the audit order.
func (q *hookQueue) enqueue(a *audit) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.url == "" || q.closed {
		return
	}
	if q.suppr {
		q.done = append(q.done, Delivery{AuditID: a.id, AuditableType: auditTypes[a.kind][1], AuditAction: a.action,
			Target: target(q.url), At: time.Now(), Suppressed: true})
		return
	}
	b, _ := json.Marshal(a.webhook())
	q.queue = append(q.queue, hookJob{a: a, body: b})
	if !q.started {
		q.started = true
		q.wg.Add(1)
		go q.run()
	}
	q.cond.Broadcast()
}

func (q *hookQueue) run() {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		for len(q.queue) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.queue = nil
			q.mu.Unlock()
			q.cond.Broadcast()
			return
		}
		job := q.queue[0]
		q.queue = q.queue[1:]
		q.busy = true
		u := q.url
		q.mu.Unlock()

		d := q.deliver(u, job)

		q.mu.Lock()
		q.busy = false
		q.done = append(q.done, d)
		q.mu.Unlock()
		q.cond.Broadcast()
	}
}

func (q *hookQueue) deliver(u string, job hookJob) Delivery {
	d := Delivery{AuditID: job.a.id, AuditableType: auditTypes[job.a.kind][1], AuditAction: job.a.action, Target: target(u), At: time.Now()}
	body := q.s.rebase(job.body)
	req, err := http.NewRequestWithContext(q.ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		d.Error = "building request failed"
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Aha! simulator (ahacc)")
	resp, err := q.client.Do(req)
	d.Duration = time.Since(d.At)
	if err != nil {
		var ue *url.Error
		if e, ok := err.(*url.Error); ok {
			ue = e
			d.Error = ue.Err.Error() // without the URL: it carries a secret
		} else {
			d.Error = err.Error()
		}
		q.s.log.Warn("webhook delivery failed", "audit_id", job.a.id, "target", d.Target, "error", d.Error)
		return d
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	d.Status = resp.StatusCode
	return d
}

func (q *hookQueue) set(u string, suppress bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.url, q.suppr = u, suppress
}

func (q *hookQueue) config() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.url, q.suppr
}

func (q *hookQueue) deliveries() []Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Delivery(nil), q.done...)
}

func (q *hookQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.queue)
	if q.busy {
		n++
	}
	return n
}

// wait blocks until the queue is empty and nothing is in flight, or ctx ends.
func (q *hookQueue) wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { q.mu.Lock(); q.cond.Broadcast(); q.mu.Unlock() })
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for (len(q.queue) > 0 || q.busy) && !q.closed {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for webhook deliveries: %w", ctx.Err())
		}
		q.cond.Wait()
	}
	return nil
}

func (q *hookQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.cond.Broadcast()
	q.wg.Wait()
}
