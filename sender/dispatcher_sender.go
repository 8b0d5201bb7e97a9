package sender

import (
	"time"
)

// This file joins the Dispatcher to the synchronous Sender: one attempt, its
// classification and the retry schedule all come from the Sender, so Publish and Send
// follow the same rules.

// attemptTimeout is the longest one attempt to ep may take.
func (d *Dispatcher) attemptTimeout(ep *Endpoint) time.Duration {
	if ep.Timeout > 0 {
		return ep.Timeout
	}
	return DefaultTimeout
}

// judge says how an attempt counts for the breaker and, when it is final, the reason
// for the dead letter ("" when the delivery is acknowledged or should be retried).
func judge(a Attempt) (outcome, string) {
	switch a.Class {
	case ClassAcknowledged:
		return outcomeSuccess, ""
	case ClassRetryable:
		return outcomeFailure, ""
	case ClassGone:
		return outcomeGone, DeadReasonGone
	case ClassRefused:
		return outcomeNone, DeadReasonRefused
	case ClassCredentials:
		return outcomeFailure, ""
	default: // permanent, redirect: the endpoint answered
		return outcomeSuccess, DeadReasonRejected
	}
}

// pausedAttempt is the attempt recorded for a delivery that came due while its endpoint
// was paused: nothing was sent.
func pausedAttempt(number int, now time.Time) Attempt {
	return Attempt{Number: number, Start: now, Class: ClassRetryable, Err: ErrEndpointPaused}
}

// nextDelay returns the wait before the next attempt after made attempts in this round,
// elapsed since its first, the last being a; false when the retry policy is exhausted.
func (d *Dispatcher) nextDelay(ep *Endpoint, made int, elapsed time.Duration, a Attempt) (time.Duration, bool) {
	p := d.s.retryPolicy(ep)
	return p.next(made, elapsed, a.RetryAfter)
}

// senderEndpointObserver returns the Sender's observer when it also observes endpoints.
func senderEndpointObserver(s *Sender) EndpointObserver {
	if eo, ok := s.observer.(EndpointObserver); ok {
		return eo
	}
	return nil
}

// deadLetterObserver returns the first of the Sender's observer and eo that implements
// DeadLetterObserver, or nil.
func deadLetterObserver(s *Sender, eo EndpointObserver) DeadLetterObserver {
	if o, ok := s.observer.(DeadLetterObserver); ok {
		return o
	}
	if o, ok := eo.(DeadLetterObserver); ok {
		return o
	}
	return nil
}
