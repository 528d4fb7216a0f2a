package centercode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ahacc/ahacc/internal/farside"
)

// ErrInvalidURL is wrapped by errors for a configured URL that is not an absolute
// http(s) URL. The message shows the URL redacted.
var ErrInvalidURL = errors.New("invalid Centercode URL")

// ErrDecode is wrapped by errors for a 2xx response whose body cannot be read as expected.
var ErrDecode = errors.New("unexpected Centercode response body")

// maxErrorBody is how much of an error response body Error.Body keeps.
const maxErrorBody = 512

// Error is a non-2xx answer from Centercode (Assumption 3 of centercode.md: 400 names
// the element and the reason; 401/403 bad or disabled key; 404 unknown source, listener
// or user; 429/5xx transient). No field ever holds the API key.
type Error struct {
	Op      string // "submit feedback", "post listener", "lookup feedback", "get feedback"
	Method  string
	URL     string // redacted (RedactURL)
	Status  int
	Message string // from the body's message / error / reason, else the status text
	Element string // the element the body names, if any
	// RetryAfter is the wait the server asked for (Retry-After, else X-Ratelimit-Reset); 0 if none.
	RetryAfter time.Duration
	Body       string // the response body, truncated to 512 bytes, secrets scrubbed
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "centercode: %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Element != "" && !strings.Contains(e.Message, e.Element) {
		fmt.Fprintf(&b, ": element %q", e.Element)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	fmt.Fprintf(&b, " [%s %s]", e.Method, e.URL)
	return b.String()
}

// StatusCode returns the HTTP status.
func (e *Error) StatusCode() int { return e.Status }

// Retryable reports whether the failure is transient (farside.RetryableStatus: 408, 429
// and every 5xx; 400, 401, 403, 404, 406, 422 and the other 4xx are permanent).
func (e *Error) Retryable() bool { return farside.RetryableStatus(e.Status) }

// RetryDelay is the wait the server asked for (0 when it named none).
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }

// TransportError is a request that got no HTTP answer: connection refused, reset,
// timeout, cancelled, or a body that broke off. Its message carries no secret.
type TransportError struct {
	Op     string
	Method string
	URL    string // redacted
	Err    error  // the cause, without the *url.Error wrapper (whose text holds the full URL)
	msg    string // Err's text, secrets scrubbed
	sent   bool
}

// Error implements error.
func (e *TransportError) Error() string {
	return fmt.Sprintf("centercode: %s: %s %s: %s", e.Op, e.Method, e.URL, e.msg)
}

// Unwrap returns the cause (for errors.Is(err, context.DeadlineExceeded) and the like).
// Callers must not print the cause unredacted; print the TransportError instead.
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable is always true: no answer (a timeout, a reset, or a cancellation such as
// a worker's shutdown) says nothing about the request, which another try may pass.
func (e *TransportError) Retryable() bool { return true }

// Sent reports whether the request may have reached the server (a connection was
// established before the failure). For a create this means the outcome is ambiguous:
// look the feedback up before sending it again.
func (e *TransportError) Sent() bool { return e.sent }

// Retryable reports whether err (from this package) is worth retrying. Unknown errors
// are not.
func Retryable(err error) bool {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Retryable()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Retryable()
	}
	return false
}

// Ambiguous reports whether a failed write may nevertheless have been applied: a
// transport error after the request was sent, or a 5xx answer. Before re-creating
// feedback after such an error, look it up by its external reference.
func Ambiguous(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return te.Sent()
	}
	var ce *Error
	if errors.As(err, &ce) {
		return farside.AmbiguousStatus(ce.Status)
	}
	return false
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.Status == http.StatusNotFound
}

// RetryDelay returns the server-requested wait carried by err, or 0.
func RetryDelay(err error) time.Duration {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.RetryDelay()
	}
	return 0
}

// parseErrorBody pulls a message and an element name out of a JSON error body:
// message | error (string or {message}) | reason | detail, and element | field |
// parameter, also inside errors[0].
func parseErrorBody(body []byte) (msg, element string) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return "", ""
	}
	msg, element = pickMessage(m), pickElement(m)
	if errs, ok := m["errors"].([]any); ok && len(errs) > 0 {
		if first, ok := errs[0].(map[string]any); ok {
			if msg == "" {
				msg = pickMessage(first)
			}
			if element == "" {
				element = pickElement(first)
			}
		}
	}
	return msg, element
}

func pickMessage(m map[string]any) string {
	for _, k := range []string{"message", "error", "reason", "detail", "error_description"} {
		switch v := m[k].(type) {
		case string:
			if v != "" {
				if k == "error" {
					// A short code ("invalid_parameter") is less useful than a message.
					if r, ok := m["reason"].(string); ok && r != "" && !strings.Contains(v, " ") {
						continue
					}
				}
				return v
			}
		case map[string]any:
			if s, ok := v["message"].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

func pickElement(m map[string]any) string {
	for _, k := range []string{"element", "field", "parameter", "param"} {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
