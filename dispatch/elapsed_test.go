package dispatch

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// TestRetryElapsedCountsOnlyThePolicysWaits checks the time a dispatcher's delivery has
// spent of its retry policy's MaxElapsedTime: each wait between attempts counts at most
// as long as the policy could have made it, so time spent held back (breaker paused,
// workers busy) is not counted.
func TestRetryElapsedCountsOnlyThePolicysWaits(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	noJitter := sender.RetryPolicy{InitialInterval: time.Second, MaxInterval: 4 * time.Second, RandomizationFactor: -1}.WithDefaults()
	jitter := sender.RetryPolicy{InitialInterval: time.Second, MaxInterval: 4 * time.Second, RandomizationFactor: 0.5}.WithDefaults()
	at := func(d time.Duration, dur time.Duration) queue.Attempt {
		return queue.Attempt{Start: t0.Add(d), Duration: dur}
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		p     sender.RetryPolicy
		round []queue.Attempt
		a     queue.Attempt
		now   time.Duration
		want  time.Duration
	}{
		{"first attempt: its own duration", noJitter, nil, at(0, 50*ms), 50 * ms, 50 * ms},
		{"on schedule: wall time", noJitter,
			[]queue.Attempt{at(0, 10*ms), at(1010*ms, 10*ms)}, at(3020*ms, 10*ms), 3030 * ms, 3030 * ms},
		{"an hour paused after the first attempt counts as the 1 s the policy asked for", noJitter,
			[]queue.Attempt{at(0, 10*ms)}, at(time.Hour, 10*ms), time.Hour + 10*ms, 1020 * ms},
		{"the interval grows, and is capped by MaxInterval", noJitter,
			[]queue.Attempt{at(0, 0), at(time.Hour, 0), at(2*time.Hour, 0), at(3*time.Hour, 0)}, at(4*time.Hour, 0), 4 * time.Hour,
			(1 + 2 + 4 + 4) * time.Second},
		{"with jitter: at most the interval plus its full jitter", jitter,
			[]queue.Attempt{at(0, 0), at(800*ms, 0)}, at(time.Hour, 0), time.Hour, 800*ms + 3*time.Second},
		{"a Retry-After honoured counts as asked", noJitter,
			[]queue.Attempt{{Start: t0, RetryAfter: 30 * time.Second}}, at(2*time.Hour, 0), 2 * time.Hour, 30 * time.Second},
		{"a Retry-After counts at most MaxRetryAfter", noJitter,
			[]queue.Attempt{{Start: t0, RetryAfter: time.Hour}}, at(2*time.Hour, 0), 2 * time.Hour, sender.DefaultMaxRetryAfter},
		{"clock going backwards counts nothing", noJitter,
			[]queue.Attempt{at(time.Minute, 0)}, at(0, 0), -time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, retryElapsed(tc.p, tc.round, tc.a, t0.Add(tc.now)))
		})
	}
}

// TestNextDelayToleratesABadRoundStart: a store returning a RoundStart beyond the history
// (or negative) gets a decision, not a panic.
func TestNextDelayToleratesABadRoundStart(t *testing.T) {
	p := sender.RetryPolicy{MaxAttempts: 2, RandomizationFactor: -1}.WithDefaults()
	a := queue.Attempt{Start: time.Now()}
	for _, rs := range []int{-3, 0, 1, 99} {
		del := &queue.Delivery{Attempts: []queue.Attempt{{Start: a.Start}}, RoundStart: rs}
		assert.NotPanics(t, func() { nextDelay(p, del, a, a.Start) }, "RoundStart %d", rs)
	}
	_, ok := nextDelay(p, &queue.Delivery{Attempts: []queue.Attempt{{Start: a.Start}}}, a, a.Start)
	assert.False(t, ok, "MaxAttempts 2: the history's attempt and a")
	_, ok = nextDelay(p, &queue.Delivery{Attempts: []queue.Attempt{{Start: a.Start}}, RoundStart: 1}, a, a.Start)
	assert.True(t, ok, "after a Requeue only the new round counts")
}

// TestNextDelayWithLostStartTimes: a store that lost the Start of its attempts (the zero
// time.Time) must not make a delivery retry for ever. The gaps measured from the zero
// time are the largest Duration; every sum saturates, so the retries end by MaxElapsedTime
// (or MaxAttempts), never wrap around to a negative elapsed time.
func TestNextDelayWithLostStartTimes(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a := queue.Attempt{Number: 3, Start: now.Add(-10 * time.Millisecond), Duration: 10 * time.Millisecond}
	lost := []queue.Attempt{{Number: 1, Duration: 10 * time.Millisecond}, {Number: 2, Duration: 10 * time.Millisecond}}
	for _, tc := range []struct {
		name string
		p    sender.RetryPolicy
	}{
		// An interval so long that the policy's bound on a gap saturates too: the gap from
		// the zero time is not clamped and the sum must saturate.
		{"MaxElapsedTime, huge interval", sender.RetryPolicy{InitialInterval: math.MaxInt64, MaxAttempts: -1,
			MaxElapsedTime: time.Hour, RandomizationFactor: -1}},
		{"MaxElapsedTime, huge interval with jitter", sender.RetryPolicy{InitialInterval: math.MaxInt64 / 2,
			MaxAttempts: -1, MaxElapsedTime: time.Hour}},
		{"MaxElapsedTime, huge Retry-After cap", sender.RetryPolicy{MaxRetryAfter: math.MaxInt64, MaxAttempts: -1,
			MaxElapsedTime: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p.WithDefaults()
			round := append([]queue.Attempt(nil), lost...)
			if tc.p.MaxRetryAfter != 0 {
				for i := range round {
					round[i].RetryAfter = math.MaxInt64 - time.Millisecond
				}
			}
			elapsed := retryElapsed(p, round, a, now)
			assert.Greater(t, elapsed, p.MaxElapsedTime, "a lost history counts as long, never negative")
			_, ok := nextDelay(p, &queue.Delivery{Attempts: round}, a, now)
			assert.False(t, ok, "the retries end by MaxElapsedTime")
		})
	}
	// By MaxAttempts: three attempts of at most three.
	p := sender.RetryPolicy{InitialInterval: math.MaxInt64, MaxAttempts: 3, MaxElapsedTime: -1}.WithDefaults()
	_, ok := nextDelay(p, &queue.Delivery{Attempts: lost}, a, now)
	assert.False(t, ok, "the retries end by MaxAttempts")
	// A lost Start with an ordinary policy: the gap counts as the policy's longest wait.
	p = sender.RetryPolicy{InitialInterval: time.Second, RandomizationFactor: -1, MaxAttempts: -1}.WithDefaults()
	elapsed := retryElapsed(p, lost[:1], a, now)
	require.Positive(t, elapsed)
	assert.Equal(t, 10*time.Millisecond+time.Second+10*time.Millisecond, elapsed)
}
