package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/farside"
)

// statusError is what the Aha! and Centercode clients return for an HTTP answer.
type statusError interface {
	error
	StatusCode() int
	Retryable() bool
	RetryDelay() time.Duration
}

// transportError is what they return when no answer came back.
type transportError interface {
	error
	Retryable() bool
	Sent() bool
}

// maxServerDelay caps a wait the far side asks for, so a bad header cannot
// stall a record for hours; the retry policy still backs off beyond it.
const maxServerDelay = 5 * time.Minute

// Classify turns a client error into a Temporal application error with the
// right type: 429/5xx/timeouts/connection errors retry (honouring the server's
// Retry-After or X-Ratelimit-Reset through NextRetryDelay); 400, 401, 403, 404,
// 406 and 422 do not, and park the record with the far side's message.
// what names the call for the operator ("fetch idea 123").
func Classify(what string, err error) error {
	if err == nil {
		return nil
	}
	var se statusError
	if errors.As(err, &se) {
		code := se.StatusCode()
		msg := fmt.Sprintf("%s: %s", what, se.Error())
		if se.Retryable() {
			opts := temporal.ApplicationErrorOptions{Cause: nil, Details: []any{code}}
			if d := se.RetryDelay(); d > 0 {
				if d > maxServerDelay {
					d = maxServerDelay
				}
				opts.NextRetryDelay = d
			}
			return temporal.NewApplicationErrorWithOptions(msg, ErrTypeTransient, opts)
		}
		typ := ErrTypePermanent
		if code == http.StatusNotFound {
			typ = ErrTypeNotFound
		}
		return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{
			NonRetryable: true, Details: []any{code},
		})
	}
	var te transportError
	if errors.As(err, &te) {
		if !te.Retryable() {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s", what, te.Error()), ErrTypePermanent, nil)
		}
		return temporal.NewApplicationError(fmt.Sprintf("%s: %s", what, te.Error()), ErrTypeTransient)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return temporal.NewApplicationError(fmt.Sprintf("%s: timed out", what), ErrTypeTransient)
	}
	// Anything else (a bug, a decode failure) retries with backoff: it shows in
	// the UI as a pending activity with its error, and a fix plus retry heals it.
	return temporal.NewApplicationError(fmt.Sprintf("%s: %s", what, err.Error()), ErrTypeTransient)
}

// Ambiguous reports whether a failed write may have committed on the far side
// (a timeout after sending, or a 5xx answer).
func Ambiguous(err error) bool {
	var te transportError
	if errors.As(err, &te) {
		return te.Sent()
	}
	var se statusError
	if errors.As(err, &se) {
		return farside.AmbiguousStatus(se.StatusCode())
	}
	return false
}
