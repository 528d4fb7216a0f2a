package aha

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ahacc/ahacc/internal/farside"
)

// MaxErrorBody is how much of an error response body Error.Body keeps.
const MaxErrorBody = 1024

// Error is a non-2xx answer from Aha!.
type Error struct {
	Status     int           // HTTP status
	Message    string        // from "error", "message" or "errors"; else the raw body
	Body       string        // the body, truncated to MaxErrorBody
	RetryAfter time.Duration // from Retry-After or X-Ratelimit-Reset; 0 when absent
	Method     string
	Path       string // request path (no query, no host)
}

func (e *Error) Error() string {
	return fmt.Sprintf("aha: %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// StatusCode returns the HTTP status.
func (e *Error) StatusCode() int { return e.Status }

// Retryable reports whether repeating the request may succeed (farside.RetryableStatus:
// 408, 429 and every 5xx; the other 4xx are permanent).
func (e *Error) Retryable() bool { return farside.RetryableStatus(e.Status) }

// RetryDelay is the wait the server asked for (0 when it gave none).
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }

// IsNotFound reports whether err is Aha!'s 404.
func IsNotFound(err error) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.Status == 404
}

// TransportError is a request that got no HTTP answer: timeout, connection refused or
// reset, a dropped connection. It is always retryable; Sent tells whether the request
// may have reached Aha! (then a write is ambiguous: it may have been committed).
type TransportError struct {
	Method string
	Path   string
	Err    error
	sent   bool
}

func (e *TransportError) Error() string {
	s := "not sent"
	if e.sent {
		s = "sent, outcome unknown"
	}
	return fmt.Sprintf("aha: %s %s: transport error (%s): %v", e.Method, e.Path, s, e.Err)
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable is always true for transport errors.
func (e *TransportError) Retryable() bool { return true }

// RetryDelay is 0: the caller's backoff decides.
func (e *TransportError) RetryDelay() time.Duration { return 0 }

// Sent reports whether the request was written to the connection, so the server may
// have acted on it (true for a timeout or reset after the request was written).
func (e *TransportError) Sent() bool { return e.sent }

// Timeout reports whether the error was a timeout.
func (e *TransportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// errorMessage extracts the message the way Aha!'s Ruby client does: "error", then
// "message", then "errors" (a string, an object with "message", or a list of
// {"message"} or strings); else the raw body.
func errorMessage(body []byte) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err == nil {
		for _, k := range []string{"error", "message"} {
			if v, ok := m[k]; ok {
				if s := messageOf(v); s != "" {
					return s
				}
			}
		}
		if v, ok := m["errors"]; ok {
			if s := messageOf(v); s != "" {
				return s
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	return truncate(s, 300)
}

func messageOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) == nil {
		if v, ok := o["message"]; ok {
			return messageOf(v)
		}
		// Rails-style {"field": ["msg"]}.
		var parts []string
		for k, v := range o {
			if m := messageOf(v); m != "" {
				parts = append(parts, k+" "+m)
			}
		}
		return strings.Join(parts, "; ")
	}
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) == nil {
		var parts []string
		for _, x := range l {
			if m := messageOf(x); m != "" {
				parts = append(parts, m)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
