package dispatch

import (
	"math"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// This file joins the Dispatcher to the synchronous Sender: one attempt, its
// classification and the retry schedule all come from the Sender (Attempt, RetryPolicy),
// so Publish and Send follow the same rules.

// judge says how an attempt of class c counts for the breaker and, when it is final, the
// reason for the dead letter ("" when the delivery is acknowledged or should be retried).
func judge(c sender.Class) (outcome, string) {
	switch c {
	case sender.ClassAcknowledged:
		return outcomeSuccess, ""
	case sender.ClassRetryable:
		return outcomeFailure, ""
	case sender.ClassGone:
		return outcomeGone, queue.DeadReasonGone
	case sender.ClassRefused:
		return outcomeNone, queue.DeadReasonRefused
	case sender.ClassCredentials:
		return outcomeFailure, ""
	default: // permanent, redirect: the endpoint answered
		return outcomeSuccess, queue.DeadReasonRejected
	}
}

// record is the attempt a as a store keeps it: plain data, the class by its stable name
// and the error by its text.
func record(a sender.Attempt) queue.Attempt {
	r := queue.Attempt{Number: a.Number, Start: a.Start, Duration: a.Duration, Status: a.Status,
		Class: a.Class.String(), RetryAfter: a.RetryAfter}
	if a.Err != nil {
		r.Error = a.Err.Error()
	}
	return r
}

// nextDelay returns the wait before the next attempt of del, whose last attempt a (not
// yet in its history) ended at now; false when the retry policy p is exhausted. Only the
// attempts of the current round (since the last Requeue) count, and only the time the
// policy itself spent on them (retryElapsed).
func nextDelay(p sender.RetryPolicy, del *queue.Delivery, a queue.Attempt, now time.Time) (time.Duration, bool) {
	round := del.Attempts[min(max(del.RoundStart, 0), len(del.Attempts)):]
	return p.Next(len(round)+1, retryElapsed(p, round, a, now), a.RetryAfter)
}

// retryElapsed is the time that counts against p.MaxElapsedTime for a round of attempts:
// round (oldest first), then a, which ended at now. Each wait between two attempts counts
// at most as long as the policy could have made it: the earlier attempt's duration plus
// the longest delay p gives after it (its backoff interval with full jitter, or the
// capped Retry-After it honoured). A due delivery that waited longer — its endpoint
// paused by the circuit breaker, every worker busy, no dispatcher running — was not being
// tried, and that time is not the policy's.
//
// Every sum saturates at the largest Duration instead of wrapping around: attempts whose
// Start a store lost (the zero time) or absurd policy values give a huge elapsed time,
// which ends the retries by MaxElapsedTime, never a negative one that would retry for
// ever.
func retryElapsed(p sender.RetryPolicy, round []queue.Attempt, a queue.Attempt, now time.Time) time.Duration {
	var elapsed time.Duration
	for i := range round {
		next := a
		if i+1 < len(round) {
			next = round[i+1]
		}
		gap := next.Start.Sub(round[i].Start)
		if limit := satAdd(max(round[i].Duration, 0), p.LongestDelay(i+1, round[i].RetryAfter)); gap > limit {
			gap = limit
		}
		if gap > 0 {
			elapsed = satAdd(elapsed, gap)
		}
	}
	if last := now.Sub(a.Start); last > 0 {
		elapsed = satAdd(elapsed, last)
	}
	return elapsed
}

// satAdd returns a+b for a, b >= 0, saturated at the largest Duration.
func satAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
