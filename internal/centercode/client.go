// Package centercode is ahacc's HTTP client for Centercode: create feedback through an
// external source, post to external listeners (user data, feedback custom data), and
// read feedback back (record lookup, lookup by element value).
//
// Every URL it takes is a full URL from configuration, pasted by the admin, that
// contains the API key (?apiKey=...). Such URLs never appear unredacted in an error or a
// log line: everything goes through RedactURL. The client does not retry; it classifies
// (Error.Retryable, TransportError.Sent, RetryDelay) and leaves retries to Temporal.
//
// What it relies on is listed in docs/centercode.md ("Assumed" 1–6) plus
// AssumptionLookupByElement and AssumptionFeedbackURL below, each a named
// constant here; the simulator in internal/sandbox/centercode implements the same.
package centercode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ahacc/ahacc/internal/farside"
)

// Assumptions this client relies on (see centercode.md; each is also implemented by the simulator).
const (
	// Assumption 1 (centercode.md): the external source URL is configuration and is used as is.
	// Assumption 4 (centercode.md): so is the listener URL; the target is named in the
	// body: a feedback listener's by FeedbackKey, a user listener's by UserKey.
	FeedbackKey = "feedbackId"
	UserKey     = "email"

	// Assumption 2 (centercode.md): a create answers 200/201 with the id in one of these
	// fields; any other 2xx without an id means "created, id unknown" (logged).
	IDFieldID         = "id"
	IDFieldFeedbackID = "feedbackId"
	IDFieldNested     = "feedback.id"

	// AssumptionLookupByElement (ahacc's assumption): GET <feedback URL>?element=NAME&value=V
	// answers {"data": [feedback...]} (or a bare array) with the feedback whose element
	// equals the value. Used with the external reference element after an ambiguous create.
	// The same URL with ?<param>=<ref> finds feedback by its external reference
	// (LookupByReference; ahacc's config centercode.lookup.param, default below).
	LookupElementParam    = "element"
	LookupValueParam      = "value"
	DefaultReferenceParam = "externalReference"

	// AssumptionFeedbackURL (ahacc's assumption): a project's feedback collection URL is
	// https://<host>/api/v1/projects/{projectKey}/feedback?apiKey=KEY; the record lookup
	// of one item is that path plus /{id}. FeedbackURLFromSourceURL derives it from a
	// source URL when the config names none.
	AssumptionFeedbackURL = "/api/v1/projects/{projectKey}/feedback"
)

// maxResponseBody bounds how much of a response body is read.
const maxResponseBody = 4 << 20

// DefaultTimeout is the timeout of the default HTTP client.
const DefaultTimeout = 30 * time.Second

// Limiter paces requests (e.g. a Redis GCRA budget shared by all workers). Wait blocks
// until a request may be sent or ctx ends.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Client talks to Centercode. It is safe for concurrent use.
type Client struct {
	http      *http.Client
	limiter   Limiter
	log       *slog.Logger
	userAgent string
	now       func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with a 30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithLimiter makes every request wait for l first.
func WithLimiter(l Limiter) Option { return func(c *Client) { c.limiter = l } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithUserAgent sets the User-Agent header (default "ahacc").
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{userAgent: "ahacc", now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// FeedbackRef is the outcome of a successful create.
type FeedbackRef struct {
	// ID is the new feedback's id as Centercode gave it (decimal for numbers); "" when unknown.
	ID string `json:"id"`
	// IDKnown is false when Centercode answered 2xx without an id (Assumption 2): the
	// feedback was created but its id must be found by lookup.
	IDKnown bool `json:"id_known"`
	// Status is the status the response reported, if any.
	Status string `json:"status,omitempty"`
	// HTTPStatus is the answer's status code.
	HTTPStatus int `json:"http_status"`
}

// Feedback is a feedback item read back from Centercode. Fields the response lacks stay empty.
type Feedback struct {
	ID                string         `json:"id"`
	ProjectKey        string         `json:"project_key,omitempty"`
	FeedbackType      string         `json:"feedback_type,omitempty"`
	Status            string         `json:"status,omitempty"`
	Submitter         string         `json:"submitter,omitempty"`
	Elements          map[string]any `json:"elements,omitempty"`
	CustomData        map[string]any `json:"custom_data,omitempty"`
	ExternalReference string         `json:"external_reference,omitempty"`
	// Raw is the item as received.
	Raw json.RawMessage `json:"-"`
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// SubmitFeedback POSTs a JSON object to an external source URL (Assumption 1) and
// returns the new feedback's reference (Assumption 2). Errors are *Error (non-2xx) or
// *TransportError; if TransportError.Sent() (or a 5xx) the feedback may exist — look
// it up by its external reference before sending again.
func (c *Client) SubmitFeedback(ctx context.Context, sourceURL string, body []byte) (FeedbackRef, error) {
	const op = "submit feedback"
	resp, err := c.do(ctx, op, http.MethodPost, sourceURL, body)
	if err != nil {
		return FeedbackRef{}, err
	}
	ref := FeedbackRef{HTTPStatus: resp.status}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.UseNumber()
	if dec.Decode(&m) == nil {
		ref.ID = idOf(m)
		ref.Status = stringOf(m["status"])
		if nested, ok := m["feedback"].(map[string]any); ok {
			if ref.ID == "" {
				ref.ID = idOf(nested)
			}
			if ref.Status == "" {
				ref.Status = stringOf(nested["status"])
			}
		}
	}
	ref.IDKnown = ref.ID != ""
	if !ref.IDKnown {
		// Assumption 2 (centercode.md): 2xx without an id = created, id unknown; log it.
		c.log.WarnContext(ctx, "centercode created feedback without returning its id",
			"op", op, "url", RedactURL(sourceURL), "http_status", resp.status)
	}
	return ref, nil
}

// PostListener POSTs a JSON object to an external listener URL (Assumption 4: the
// target is named in the body, "email" for a user, "feedbackId" for a feedback item).
// An unknown user answers 404 (IsNotFound).
func (c *Client) PostListener(ctx context.Context, listenerURL string, body []byte) error {
	_, err := c.do(ctx, "post listener", http.MethodPost, listenerURL, body)
	return err
}

// LookupFeedback finds the feedback whose element equals value
// (AssumptionLookupByElement). feedbackURL is the project's feedback collection URL
// (AssumptionFeedbackURL) with its apiKey; the element and value parameters are added.
func (c *Client) LookupFeedback(ctx context.Context, feedbackURL, element, value string) ([]Feedback, error) {
	return c.lookup(ctx, "lookup feedback", feedbackURL,
		LookupElementParam+"="+url.QueryEscape(element)+"&"+LookupValueParam+"="+url.QueryEscape(value))
}

// LookupByReference finds the feedback whose external reference equals ref, sending
// GET <lookupURL>&<param>=<ref> (the form of ahacc's config centercode.lookup: url and
// param, default DefaultReferenceParam) — AssumptionLookupByElement.
func (c *Client) LookupByReference(ctx context.Context, lookupURL, param, ref string) ([]Feedback, error) {
	if param == "" {
		param = DefaultReferenceParam
	}
	return c.lookup(ctx, "lookup feedback by reference", lookupURL, url.QueryEscape(param)+"="+url.QueryEscape(ref))
}

func (c *Client) lookup(ctx context.Context, op, lookupURL, extraQuery string) ([]Feedback, error) {
	u, err := parseURL(op, lookupURL)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += extraQuery
	resp, err := c.do(ctx, op, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	var wrapped struct {
		Data []json.RawMessage `json:"data"`
	}
	trimmed := bytes.TrimSpace(resp.body)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		err = json.Unmarshal(trimmed, &items)
	default:
		err = json.Unmarshal(trimmed, &wrapped)
		items = wrapped.Data
	}
	if err != nil {
		return nil, fmt.Errorf("centercode: %s [GET %s]: %w: %s", op, RedactURL(lookupURL), ErrDecode, err.Error())
	}
	out := make([]Feedback, 0, len(items))
	for _, raw := range items {
		f, err := decodeFeedback(raw)
		if err != nil {
			return nil, fmt.Errorf("centercode: %s [GET %s]: %w: %s", op, RedactURL(lookupURL), ErrDecode, err.Error())
		}
		out = append(out, f)
	}
	return out, nil
}

// GetFeedback reads one feedback item (Record Lookup, AssumptionFeedbackURL):
// GET <feedbackURL path>/{id}?apiKey=... A missing item is a 404 *Error (IsNotFound).
func (c *Client) GetFeedback(ctx context.Context, feedbackURL, id string) (Feedback, error) {
	const op = "get feedback"
	u, err := parseURL(op, feedbackURL)
	if err != nil {
		return Feedback{}, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + id
	u.RawPath = "" // String() escapes Path (and so the id) itself
	resp, err := c.do(ctx, op, http.MethodGet, u.String(), nil)
	if err != nil {
		return Feedback{}, err
	}
	body := bytes.TrimSpace(resp.body)
	var wrapped map[string]json.RawMessage
	if json.Unmarshal(body, &wrapped) == nil {
		for _, k := range []string{"feedback", "data"} {
			if inner, ok := wrapped[k]; ok && len(bytes.TrimSpace(inner)) > 0 && bytes.TrimSpace(inner)[0] == '{' {
				body = inner
				break
			}
		}
	}
	f, err := decodeFeedback(body)
	if err != nil {
		return Feedback{}, fmt.Errorf("centercode: %s [GET %s]: %w: %s", op, RedactURL(u.String()), ErrDecode, err.Error())
	}
	return f, nil
}

// FeedbackURLFromSourceURL derives a project's feedback collection URL
// (AssumptionFeedbackURL) from its external source URL (Assumption 1 shape):
// .../projects/{p}/feedback/externalSources/{s}?q → .../projects/{p}/feedback?q.
func FeedbackURLFromSourceURL(sourceURL string) (string, error) {
	const op = "derive feedback URL"
	u, err := parseURL(op, sourceURL)
	if err != nil {
		return "", err
	}
	i := strings.Index(u.Path, "/feedback/externalSources/")
	if i < 0 {
		return "", fmt.Errorf("centercode: %s: %w: %s has no /feedback/externalSources/ segment", op, ErrInvalidURL, RedactURL(sourceURL))
	}
	u.Path = u.Path[:i] + "/feedback"
	u.RawPath = ""
	return u.String(), nil
}

func parseURL(op, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The url.Parse error text holds the raw URL: never wrap it.
		return nil, fmt.Errorf("centercode: %s: %w: %s", op, ErrInvalidURL, RedactURL(raw))
	}
	return u, nil
}

// do sends one request and returns a 2xx response, or an *Error / *TransportError.
func (c *Client) do(ctx context.Context, op, method, rawURL string, body []byte) (*response, error) {
	u, err := parseURL(op, rawURL)
	if err != nil {
		return nil, err
	}
	redacted, secrets := redact(rawURL)
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, &TransportError{Op: op, Method: method, URL: redacted, Err: err,
				msg: "rate limiter: " + scrub(err.Error(), secrets)}
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { sent.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("centercode: %s: %w: %s", op, ErrInvalidURL, redacted)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err // ue.Error() contains the full URL
		}
		te := &TransportError{Op: op, Method: method, URL: redacted, Err: cause,
			msg: scrub(cause.Error(), secrets), sent: sent.Load()}
		c.log.WarnContext(ctx, "centercode request failed", "op", op, "method", method, "url", redacted,
			"error", te.msg, "sent", te.sent, "duration_ms", time.Since(start).Milliseconds())
		return nil, te
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	c.log.DebugContext(ctx, "centercode request", "op", op, "method", method, "url", redacted,
		"http_status", resp.StatusCode, "duration_ms", time.Since(start).Milliseconds())
	if rerr != nil {
		// The server answered (so the request arrived) but the body broke off.
		return nil, &TransportError{Op: op, Method: method, URL: redacted, Err: rerr,
			msg: fmt.Sprintf("reading %d response: %s", resp.StatusCode, scrub(rerr.Error(), secrets)), sent: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, element := parseErrorBody(data)
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		b := data
		if len(b) > maxErrorBody {
			b = b[:maxErrorBody]
		}
		return nil, &Error{Op: op, Method: method, URL: redacted, Status: resp.StatusCode,
			Message: scrub(msg, secrets), Element: scrub(element, secrets),
			RetryAfter: farside.RetryAfter(resp.Header, c.now()), Body: scrub(string(b), secrets)}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// idOf reads "id" or "feedbackId" (number or string).
func idOf(m map[string]any) string {
	for _, k := range []string{IDFieldID, IDFieldFeedbackID} {
		if s := idString(m[k]); s != "" {
			return s
		}
	}
	return ""
}

func idString(v any) string {
	switch t := v.(type) {
	case json.Number:
		return t.String()
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case string:
		return strings.TrimSpace(t)
	}
	return ""
}

// stringOf reads a string, or the "name" of an object (a status may come as {"name": ...}).
func stringOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		if s, ok := t["name"].(string); ok {
			return s
		}
	}
	return ""
}

func decodeFeedback(raw json.RawMessage) (Feedback, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return Feedback{}, err
	}
	f := Feedback{Raw: append(json.RawMessage(nil), raw...)}
	f.ID = idOf(m)
	f.ProjectKey = stringOf(m["projectKey"])
	f.FeedbackType = stringOf(m["feedbackType"])
	f.Status = stringOf(m["status"])
	f.Submitter = stringOf(m["submitter"])
	f.ExternalReference = stringOf(m["externalReference"])
	if e, ok := m["elements"].(map[string]any); ok {
		f.Elements = e
	}
	if cd, ok := m["customData"].(map[string]any); ok {
		f.CustomData = cd
	}
	return f, nil
}
