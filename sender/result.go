package sender

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookkit/hookkit/internal/safenet"
)

// Sentinel errors of Send, usable with errors.Is on the *DeliveryError it returns.
var (
	// ErrGone: the receiver answered 410 Gone. Disable the endpoint.
	ErrGone = errors.New("hookkit/sender: endpoint gone")
	// ErrRejected: the receiver rejected the event permanently (a 4xx other than 401
	// with OAuth2 credentials, 408, 410, 425 and 429; or 501, 505; or a redirect).
	ErrRejected = errors.New("hookkit/sender: rejected by the receiver")
	// ErrRedirect: the receiver answered with a redirect, which is never followed. It
	// wraps ErrRejected.
	ErrRedirect = fmt.Errorf("%w: redirect not followed", ErrRejected)
	// ErrExhausted: every attempt the retry policy allows failed, the last one with a
	// retryable error.
	ErrExhausted = errors.New("hookkit/sender: retries exhausted")
	// ErrRefusedDestination: the sender refused to send (SSRF guard, plain http:// not
	// allowed, Basic credentials over plain HTTP). Nothing was sent.
	ErrRefusedDestination error = &wrapping{msg: "hookkit/sender: refused destination", err: safenet.ErrRefused}
	// ErrCredentials: credentials could not be obtained, or a fresh token was rejected.
	ErrCredentials = errors.New("hookkit/sender: credentials failure")
	// ErrPlainHTTP: an http:// endpoint without Config.AllowHTTP. It
	// wraps ErrRefusedDestination.
	ErrPlainHTTP = fmt.Errorf("%w: plain http endpoint not allowed", ErrRefusedDestination)
	// ErrInsecureBasic: Basic credentials on an http:// endpoint without
	// Config.AllowInsecureBasic. It wraps ErrRefusedDestination.
	ErrInsecureBasic = fmt.Errorf("%w: basic credentials over plain http not allowed", ErrRefusedDestination)
)

// Attempt is one POST of an event to an endpoint (or the try of one that failed before
// anything was sent).
type Attempt struct {
	// Number is 1 for the first attempt of a delivery; the body's retryCount is Number-1.
	Number int
	// Start is when the attempt began (Config.Now).
	Start time.Time
	// Duration lasts from Start until the response was read, or the attempt failed.
	Duration time.Duration
	// Status is the response status; 0 when no response was received.
	Status int
	// Class is what the outcome means: acknowledged, retryable, permanent, ...
	Class Class
	// Err says what went wrong; nil when acknowledged. It never contains the URL,
	// credentials or tokens.
	Err error
	// RetryAfter is the wait a 429 or 503 asked for in its Retry-After header, as sent
	// (before Retry.MaxRetryAfter caps it); 0 when none.
	RetryAfter time.Duration
	// Problem is what the receiver said about a refusal in an application/problem+json
	// body (bounded and sanitised; see Problem); nil when it sent none. Err's text includes it.
	Problem *Problem
}

// Result is the record of one Send: every attempt, oldest first.
type Result struct {
	// EventID is the event's id, the same on every attempt.
	EventID string
	// Endpoint is the endpoint's ID, or its URL's host when it has none.
	Endpoint string
	// Delivered is true when an attempt was acknowledged.
	Delivered bool
	// Attempts lists every attempt made, oldest first.
	Attempts []Attempt
	// Duration lasts from the start of Send until it returned, waits included.
	Duration time.Duration
}

// DeliveryError is the error of a Send that did not deliver. errors.Is matches Kind
// (ErrGone, ErrRejected, ErrRedirect, ErrExhausted, ErrRefusedDestination, ErrCredentials,
// ErrInvalidEndpoint, context.Canceled, ...) and the cause; errors.As gives
// the fields.
type DeliveryError struct {
	// EventID is the event's id, as in Result.
	EventID string
	// Endpoint is the endpoint's ID, or its URL's host when it has none, as in Result.
	Endpoint string
	// Kind is the sentinel that says why the delivery failed.
	Kind error
	// Attempts is how many attempts were made.
	Attempts int
	// Status is the last response status (0: none).
	Status int
	// Class is the class of the last attempt (0 when none was made).
	Class Class
	// Err is the error of the last attempt, or what stopped Send before one; nil when
	// Kind says everything.
	Err error
}

// Error implements error. The message names the event and the endpoint, never the URL.
func (e *DeliveryError) Error() string {
	var b strings.Builder
	b.WriteString("hookkit/sender: delivery of event ")
	b.WriteString(e.EventID)
	b.WriteString(" to ")
	b.WriteString(e.Endpoint)
	b.WriteString(" failed")
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " after %d attempt(s)", e.Attempts)
	}
	b.WriteString(": ")
	switch {
	case e.Err == nil:
		b.WriteString(trimPkg(e.Kind.Error()))
	case errors.Is(e.Err, e.Kind): // the cause says it all, e.g. ErrPlainHTTP
		b.WriteString(trimPkg(e.Err.Error()))
	default:
		b.WriteString(trimPkg(e.Kind.Error()))
		b.WriteString(": ")
		b.WriteString(trimPkg(e.Err.Error()))
	}
	return b.String()
}

// trimPkg drops this package's prefix from a message that is part of a longer one.
func trimPkg(s string) string { return strings.TrimPrefix(s, "hookkit/sender: ") }

// wrapping is a sentinel error with its own message that wraps another.
type wrapping struct {
	msg string
	err error
}

func (w *wrapping) Error() string { return w.msg }
func (w *wrapping) Unwrap() error { return w.err }

// Unwrap returns Kind and Err.
func (e *DeliveryError) Unwrap() []error {
	if e.Err == nil || e.Err == e.Kind {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
