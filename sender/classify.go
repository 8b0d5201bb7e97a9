package sender

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/internal/safenet"
)

// Class is what an attempt's outcome means for the delivery.
type Class int

// The classes of an attempt's outcome.
const (
	// ClassAcknowledged: the receiver answered 2xx. The delivery is done.
	ClassAcknowledged Class = iota + 1
	// ClassRetryable: a network error, a timeout, 408, 425, 429, 500, 502, 503, 504 (and
	// any other 5xx but 501 and 505), or a 401 after which the OAuth2 token was
	// invalidated. Retried by the retry policy.
	ClassRetryable
	// ClassPermanent: another 4xx (or 501, 505, or an unsigned-able request, e.g. a key set
	// without an active key). Not retried: ErrRejected.
	ClassPermanent
	// ClassGone: 410 Gone. Not retried: ErrGone; the endpoint should be disabled.
	ClassGone
	// ClassRefused: the sender refused the destination before sending anything: an
	// address the SSRF guard does not allow, plain http:// when not allowed, Basic
	// credentials over plain HTTP. Not retried: ErrRefusedDestination.
	ClassRefused
	// ClassCredentials: credentials could not be obtained (token endpoint failure), or a
	// fresh OAuth2 token was rejected with 401 again. ErrCredentials. Send retries a token
	// endpoint that failed transiently (network error, 5xx, 429), not one that rejected the
	// client with an OAuth2 error (400, or 401 invalid_client), and not a second 401.
	ClassCredentials
	// ClassRedirect: a 3xx. Redirects are never followed. Not retried: ErrRedirect.
	ClassRedirect
)

// String returns the class name in lower case ("acknowledged", "retryable", ...).
func (c Class) String() string {
	switch c {
	case ClassAcknowledged:
		return "acknowledged"
	case ClassRetryable:
		return "retryable"
	case ClassPermanent:
		return "permanent"
	case ClassGone:
		return "gone"
	case ClassRefused:
		return "refused"
	case ClassCredentials:
		return "credentials"
	case ClassRedirect:
		return "redirect"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// classifyStatus returns the class of a response status.
func classifyStatus(code int) Class {
	switch {
	case code >= 200 && code < 300:
		return ClassAcknowledged
	case code >= 300 && code < 400:
		return ClassRedirect
	case code == http.StatusGone:
		return ClassGone
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return ClassRetryable
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return ClassPermanent
	case code >= 500 && code < 600:
		return ClassRetryable
	}
	return ClassPermanent
}

// statusError is the error of an attempt that got a response other than 2xx.
type statusError struct {
	code    int
	problem *Problem // what the receiver's problem document said; nil when none
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("status %d", e.code)
	if t := http.StatusText(e.code); t != "" {
		msg += " " + t
	}
	if e.problem != nil {
		msg += ": " + e.problem.String()
	}
	return msg
}

// classifyNetErr returns the class of an error from the client or from the credentials:
// refused when the guard (or an insecure-transport rule) stopped it, else retryable.
func classifyNetErr(err error) Class {
	if errors.Is(err, safenet.ErrRefused) || errors.Is(err, auth.ErrInsecureTransport) {
		return ClassRefused
	}
	return ClassRetryable
}

// permanentCredentials reports whether a credentials failure will not go away by trying
// again: the token endpoint answered with an OAuth2 error, or a fresh token was rejected.
func permanentCredentials(a *Attempt) bool {
	if a.Status == http.StatusUnauthorized {
		return true
	}
	// RFC 6749 §5.2: the token endpoint answers 400, or 401 for invalid_client, when it
	// rejects the client or the request; asking again changes nothing. Any other failure
	// (5xx, 429, a network error) is transient and retried.
	var te *auth.TokenError
	return errors.As(a.Err, &te) && (te.Status == http.StatusBadRequest || te.Status == http.StatusUnauthorized)
}

// stops reports whether no retry can change the outcome of a.
func stops(a *Attempt) bool {
	switch a.Class {
	case ClassAcknowledged, ClassPermanent, ClassGone, ClassRefused, ClassRedirect:
		return true
	case ClassCredentials:
		return permanentCredentials(a)
	}
	return false
}
