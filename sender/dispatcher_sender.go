package sender

import (
	"math"
	"time"
)

// This file joins the Dispatcher to the synchronous Sender: one attempt, its
// classification and the retry schedule all come from the Sender, so Publish and Send
// follow the same rules.

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

// nextDelay returns the wait before the next attempt of del, whose last attempt a (not
// yet in its history) ended at now; false when the retry policy is exhausted. Only the
// attempts of the current round (since the last Requeue) count, and only the time the
// policy itself spent on them (retryElapsed).
func (d *Dispatcher) nextDelay(ep *Endpoint, del *Delivery, a Attempt, now time.Time) (time.Duration, bool) {
	p := d.s.retryPolicy(ep)
	round := del.Attempts[min(max(del.RoundStart, 0), len(del.Attempts)):]
	return p.next(len(round)+1, retryElapsed(p, round, a, now), a.RetryAfter)
}

// retryElapsed is the time that counts against p.MaxElapsedTime for a round of attempts:
// round (oldest first), then a, which ended at now. Each wait between two attempts counts
// at most as long as the policy could have made it: the earlier attempt's duration plus
// the longest delay p gives after it (its backoff interval with full jitter, or the
// capped Retry-After it honoured). A due delivery that waited longer — its endpoint
// paused by the circuit breaker, every worker busy, no dispatcher running — was not being
// tried, and that time is not the policy's.
func retryElapsed(p RetryPolicy, round []Attempt, a Attempt, now time.Time) time.Duration {
	var elapsed time.Duration
	for i := range round {
		next := a
		if i+1 < len(round) {
			next = round[i+1]
		}
		gap := next.Start.Sub(round[i].Start)
		if limit := round[i].Duration + p.longestDelay(i+1, round[i].RetryAfter); limit >= 0 && gap > limit {
			gap = limit
		}
		if gap > 0 {
			elapsed += gap
		}
	}
	if last := now.Sub(a.Start); last > 0 {
		elapsed += last
	}
	return elapsed
}

// longestDelay is the longest wait p can give before retry n (n >= 1) after an attempt
// that asked for retryAfter (0: none). p must have its defaults filled in.
func (p RetryPolicy) longestDelay(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 && p.MaxRetryAfter > 0 {
		return min(retryAfter, p.MaxRetryAfter)
	}
	interval := float64(p.MaxInterval)
	if cur := float64(p.InitialInterval) * math.Pow(p.Multiplier, float64(n-1)); cur < interval {
		interval = cur
	}
	longest := interval * (1 + max(p.RandomizationFactor, 0))
	if longest >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(longest)
}
