package sender

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Defaults of RetryPolicy: the value a zero field takes.
const (
	DefaultInitialInterval     = time.Second      // RetryPolicy.InitialInterval
	DefaultMaxInterval         = time.Minute      // RetryPolicy.MaxInterval
	DefaultMultiplier          = 2.0              // RetryPolicy.Multiplier
	DefaultRandomizationFactor = 0.5              // RetryPolicy.RandomizationFactor
	DefaultMaxAttempts         = 8                // RetryPolicy.MaxAttempts
	DefaultMaxElapsedTime      = 15 * time.Minute // RetryPolicy.MaxElapsedTime
	DefaultMaxRetryAfter       = 5 * time.Minute  // RetryPolicy.MaxRetryAfter
)

// RetryPolicy says when a failed attempt is retried: exponential backoff with jitter
// (github.com/cenkalti/backoff/v4), a bound on attempts and on elapsed time, and how far a
// receiver's Retry-After is followed. Only retryable failures are retried (see Class).
//
// Every zero field takes its documented default, so RetryPolicy{MaxAttempts: 3} is the
// default policy with three attempts. DefaultRetryPolicy returns the defaults filled in.
// A negative value means "none" where the field says so (RandomizationFactor,
// MaxAttempts, MaxElapsedTime, MaxRetryAfter); elsewhere it has no meaning and Validate
// reports it, so New, Send and Prepare refuse the policy (ErrInvalidPolicy).
// The delay before retry n (n = 1 after the first attempt) is
//
//	min(InitialInterval × Multiplier^(n-1), MaxInterval) × (1 ± RandomizationFactor)
//
// or, after a 429 or 503 with a Retry-After header, the time the receiver asked for, at
// most MaxRetryAfter. With the defaults the waits are about 1 s, 2 s, 4 s, 8 s, 16 s,
// 32 s and 60 s: eight attempts over about two minutes.
type RetryPolicy struct {
	// InitialInterval is the wait before the first retry. 0 means 1 s; negative is
	// invalid.
	InitialInterval time.Duration
	// MaxInterval caps the growing wait (before jitter). 0 means 1 minute; negative is
	// invalid; a value below InitialInterval is raised to it.
	MaxInterval time.Duration
	// Multiplier is the factor the wait grows by after each retry. 0 means 2; below 1
	// (negative included), NaN or infinite is invalid.
	Multiplier float64
	// RandomizationFactor spreads each wait uniformly over ±this fraction, so that
	// deliveries failing together do not retry together. 0 means 0.5; negative means no
	// jitter; above 1 (or NaN) is invalid.
	RandomizationFactor float64
	// MaxAttempts bounds the attempts, the first one included. 0 means 8; negative means
	// no bound (MaxElapsedTime must then bound the retries: both negative is invalid).
	MaxAttempts int
	// MaxElapsedTime stops the retries when the next attempt would start later than this
	// after the first one. 0 means 15 minutes; negative means no bound (MaxAttempts must
	// then bound the retries).
	MaxElapsedTime time.Duration
	// MaxRetryAfter caps the wait a Retry-After header (seconds or HTTP-date, honoured on
	// 429 and 503) can impose; a longer request is shortened to it. 0 means 5 minutes;
	// negative means none: Retry-After is ignored and the backoff applies.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy returns the policy a zero RetryPolicy stands for, every field set:
// InitialInterval 1 s, MaxInterval 1 minute, Multiplier 2, RandomizationFactor 0.5,
// MaxAttempts 8, MaxElapsedTime 15 minutes, MaxRetryAfter 5 minutes.
func DefaultRetryPolicy() RetryPolicy { return RetryPolicy{}.WithDefaults() }

// ErrInvalidPolicy is wrapped by the errors of RetryPolicy.Validate.
var ErrInvalidPolicy = errors.New("hookkit/sender: invalid retry policy")

// Validate reports a policy that cannot work: a negative interval, a multiplier below 1,
// a randomization factor above 1, or no bound at all on the retries. The error wraps
// ErrInvalidPolicy.
func (p RetryPolicy) Validate() error {
	switch {
	case p.InitialInterval < 0 || p.MaxInterval < 0:
		return fmt.Errorf("%w: negative interval", ErrInvalidPolicy)
	case p.Multiplier != 0 && (p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0)):
		return fmt.Errorf("%w: multiplier below 1", ErrInvalidPolicy)
	case p.RandomizationFactor > 1 || math.IsNaN(p.RandomizationFactor):
		return fmt.Errorf("%w: randomization factor above 1", ErrInvalidPolicy)
	case p.MaxAttempts < 0 && p.MaxElapsedTime < 0:
		return fmt.Errorf("%w: neither MaxAttempts nor MaxElapsedTime bounds the retries", ErrInvalidPolicy)
	}
	return nil
}

// WithDefaults returns p with every zero field set to its default, and the fields that
// Validate would refuse made safe to compute with (a multiplier below 1 taken as 1, a
// randomization factor above 1 as 1, no bound at all as the default MaxElapsedTime), so
// that arithmetic on the result is never undefined. Every entry point validates a policy
// first (New, Send, Prepare); the clamping is a second line only. It is idempotent; Next
// and LongestDelay apply it themselves.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.InitialInterval <= 0 {
		p.InitialInterval = DefaultInitialInterval
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = DefaultMaxInterval
	}
	if p.MaxInterval < p.InitialInterval {
		p.MaxInterval = p.InitialInterval
	}
	switch {
	case p.Multiplier == 0:
		p.Multiplier = DefaultMultiplier
	case p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0):
		p.Multiplier = 1
	}
	switch {
	case p.RandomizationFactor == 0:
		p.RandomizationFactor = DefaultRandomizationFactor
	case p.RandomizationFactor > 1 || math.IsNaN(p.RandomizationFactor):
		p.RandomizationFactor = 1
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxElapsedTime == 0 {
		p.MaxElapsedTime = DefaultMaxElapsedTime
	}
	if p.MaxAttempts < 0 && p.MaxElapsedTime < 0 {
		p.MaxElapsedTime = DefaultMaxElapsedTime
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// RetryPolicy returns the policy that applies to ep, its defaults filled in
// (WithDefaults): ep.Retry when set, else Config.Retry.
func (s *Sender) RetryPolicy(ep Endpoint) RetryPolicy { return s.retryPolicy(&ep) }

// retryPolicy is RetryPolicy without the copy of its argument.
func (s *Sender) retryPolicy(ep *Endpoint) RetryPolicy {
	if ep.Retry != nil {
		return ep.Retry.WithDefaults()
	}
	return s.retry
}

// Next returns the wait before the next attempt, after made attempts (made >= 1) of one
// round, of which the first started elapsed ago and the last asked for retryAfter (the
// Retry-After of a 429 or 503, 0 for none); false when the policy says stop: made has
// reached MaxAttempts, or the next attempt would start more than MaxElapsedTime after
// the first. The wait is the Retry-After capped by MaxRetryAfter, else the backoff with
// jitter (see RetryPolicy). The zero fields of p take their defaults. Send follows it;
// so does a dispatch.Dispatcher, from the attempts kept in its store.
//
// Every sum saturates: an elapsed time near the largest Duration (say, measured from a
// zero time.Time that a store lost) is beyond any MaxElapsedTime and stops the retries,
// never wraps around to retry for ever.
func (p RetryPolicy) Next(made int, elapsed, retryAfter time.Duration) (time.Duration, bool) {
	p = p.WithDefaults()
	if p.MaxAttempts > 0 && made >= p.MaxAttempts {
		return 0, false
	}
	var delay time.Duration
	if retryAfter > 0 && p.MaxRetryAfter > 0 {
		delay = min(retryAfter, p.MaxRetryAfter)
	} else {
		delay = p.backoff(made)
	}
	if p.MaxElapsedTime > 0 && satAdd(max(elapsed, 0), delay) > p.MaxElapsedTime {
		return 0, false
	}
	return delay, true
}

// LongestDelay is the longest wait Next can give before retry n (n >= 1, the retry after
// the n-th attempt) after an attempt that asked for retryAfter (0: none): the capped
// Retry-After, else the backoff interval with its full jitter, saturated at the largest
// Duration. The zero fields of p take their defaults. A dispatcher uses it to count, of
// the time between two attempts, only what the policy could have asked for.
func (p RetryPolicy) LongestDelay(n int, retryAfter time.Duration) time.Duration {
	p = p.WithDefaults()
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

// satAdd returns a+b, clamped to the range of Duration instead of wrapping around.
func satAdd(a, b time.Duration) time.Duration {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// backoff is the randomized exponential wait before retry n (n >= 1).
//
// The schedule (InitialInterval × Multiplier^(n-1), capped by MaxInterval) is computed
// here in closed form, and backoff.ExponentialBackOff supplies only the jitter, on
// purpose: ExponentialBackOff is a stateful iterator (each NextBackOff advances an
// unexported current interval, and its MaxElapsedTime runs on its own clock from Reset),
// whereas a dispatcher must compute the n-th delay of a delivery statelessly, from the
// attempt count and times kept in its Store, in whatever process leases it next, and
// must not count the time a paused endpoint's deliveries waited (retryElapsed). Replaying
// the iterator n-1 times per retry would give the same numbers at O(n) cost and n random
// draws, and Send and a dispatcher would then differ from the documented formula only by
// where the state lives. Send uses this same function so that both follow one schedule;
// LongestDelay is its upper bound.
func (p RetryPolicy) backoff(n int) time.Duration {
	cur := float64(p.InitialInterval) * math.Pow(p.Multiplier, float64(n-1))
	interval := p.MaxInterval
	if cur < float64(p.MaxInterval) {
		interval = time.Duration(cur)
	}
	rf := p.RandomizationFactor
	if rf < 0 {
		rf = 0
	}
	b := backoff.ExponentialBackOff{
		InitialInterval:     interval,
		RandomizationFactor: rf,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.MaxInterval,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return b.NextBackOff()
}

// maxRetryAfterSeconds bounds the parsed value so that it converts to a Duration.
const maxRetryAfterSeconds = 1 << 32

// parseRetryAfter reads a Retry-After header value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3), relative to now. It returns 0 when the value is absent, malformed
// or not in the future.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return maxRetryAfterSeconds * time.Second
			}
			return 0
		}
		return time.Duration(min(n, maxRetryAfterSeconds)) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return min(d, maxRetryAfterSeconds*time.Second)
	}
	return 0
}
