package sender

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRetryElapsedCountsOnlyThePolicysWaits checks the time a dispatcher's delivery has
// spent of its retry policy's MaxElapsedTime: each wait between attempts counts at most
// as long as the policy could have made it, so time spent held back (breaker paused,
// workers busy) is not counted.
func TestRetryElapsedCountsOnlyThePolicysWaits(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	noJitter := RetryPolicy{InitialInterval: time.Second, MaxInterval: 4 * time.Second, RandomizationFactor: -1}.withDefaults()
	jitter := RetryPolicy{InitialInterval: time.Second, MaxInterval: 4 * time.Second, RandomizationFactor: 0.5}.withDefaults()
	at := func(d time.Duration, dur time.Duration) Attempt { return Attempt{Start: t0.Add(d), Duration: dur} }
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		p     RetryPolicy
		round []Attempt
		a     Attempt
		now   time.Duration
		want  time.Duration
	}{
		{"first attempt: its own duration", noJitter, nil, at(0, 50*ms), 50 * ms, 50 * ms},
		{"on schedule: wall time", noJitter,
			[]Attempt{at(0, 10*ms), at(1010*ms, 10*ms)}, at(3020*ms, 10*ms), 3030 * ms, 3030 * ms},
		{"an hour paused after the first attempt counts as the 1 s the policy asked for", noJitter,
			[]Attempt{at(0, 10*ms)}, at(time.Hour, 10*ms), time.Hour + 10*ms, 1020 * ms},
		{"the interval grows, and is capped by MaxInterval", noJitter,
			[]Attempt{at(0, 0), at(time.Hour, 0), at(2*time.Hour, 0), at(3*time.Hour, 0)}, at(4*time.Hour, 0), 4 * time.Hour,
			(1 + 2 + 4 + 4) * time.Second},
		{"with jitter: at most the interval plus its full jitter", jitter,
			[]Attempt{at(0, 0), at(800*ms, 0)}, at(time.Hour, 0), time.Hour, 800*ms + 3*time.Second},
		{"a Retry-After honoured counts as asked", noJitter,
			[]Attempt{{Start: t0, RetryAfter: 30 * time.Second}}, at(2*time.Hour, 0), 2 * time.Hour, 30 * time.Second},
		{"a Retry-After counts at most MaxRetryAfter", noJitter,
			[]Attempt{{Start: t0, RetryAfter: time.Hour}}, at(2*time.Hour, 0), 2 * time.Hour, DefaultMaxRetryAfter},
		{"clock going backwards counts nothing", noJitter,
			[]Attempt{at(time.Minute, 0)}, at(0, 0), -time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, retryElapsed(tc.p, tc.round, tc.a, t0.Add(tc.now)))
		})
	}
}

// TestNextDelayToleratesABadRoundStart: a store returning a RoundStart beyond the history
// (or negative) gets a decision, not a panic.
func TestNextDelayToleratesABadRoundStart(t *testing.T) {
	d := &Dispatcher{s: &Sender{}}
	ep := &Endpoint{Retry: &RetryPolicy{MaxAttempts: 2, RandomizationFactor: -1}}
	a := Attempt{Start: time.Now()}
	for _, rs := range []int{-3, 0, 1, 99} {
		del := &Delivery{Attempts: []Attempt{{Start: a.Start}}, RoundStart: rs}
		assert.NotPanics(t, func() { d.nextDelay(ep, del, a, a.Start) }, "RoundStart %d", rs)
	}
	_, ok := d.nextDelay(ep, &Delivery{Attempts: []Attempt{{Start: a.Start}}}, a, a.Start)
	assert.False(t, ok, "MaxAttempts 2: the history's attempt and a")
	_, ok = d.nextDelay(ep, &Delivery{Attempts: []Attempt{{Start: a.Start}}, RoundStart: 1}, a, a.Start)
	assert.True(t, ok, "after a Requeue only the new round counts")
}
