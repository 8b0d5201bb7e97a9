package dispatch

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBreakerTransitions drives one breaker with an injected clock through every
// transition.
func TestBreakerTransitions(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &breaker{cfg: BreakerConfig{Threshold: 3, CoolDown: time.Minute}.withDefaults()}
	boom := errors.New("boom")
	var got []EndpointState
	rec := func(c *EndpointStateChange) {
		if c != nil {
			got = append(got, c.To)
		}
	}

	assert.Equal(t, 4, b.capacity(4, 0, t0), "active: the endpoint's limit")
	assert.Equal(t, 1, b.capacity(4, 3, t0))
	m, c := b.admit("ep", t0)
	assert.Equal(t, modeSend, m)
	assert.Nil(t, c)

	rec(b.record("ep", outcomeFailure, false, t0, boom))
	rec(b.record("ep", outcomeSuccess, false, t0, nil))
	assert.Equal(t, []EndpointState{EndpointFailing, EndpointActive}, got, "one failure then a success: failing, recovered")
	assert.Zero(t, b.failures)

	got = nil
	rec(b.record("ep", outcomeFailure, false, t0, boom))
	rec(b.record("ep", outcomeFailure, false, t0, boom))
	c = b.record("ep", outcomeFailure, false, t0, boom)
	require.NotNil(t, c, "third failure pauses")
	assert.Equal(t, EndpointPaused, c.To)
	assert.Equal(t, EndpointFailing, c.From)
	assert.Equal(t, 3, c.Failures)
	assert.Equal(t, t0.Add(time.Minute), c.Until)
	assert.Same(t, boom, c.Err)
	assert.Zero(t, b.capacity(4, 0, t0), "a paused endpoint's deliveries are not leased")
	assert.Zero(t, b.capacity(4, 0, t0.Add(59*time.Second)), "not until the cool-down ends")
	at, ok := b.probeAt(t0)
	assert.True(t, ok)
	assert.Equal(t, t0.Add(time.Minute), at, "the dispatcher wakes for the probe")
	m, c = b.admit("ep", t0.Add(59*time.Second))
	assert.Equal(t, modeRelease, m, "leased while pausing: handed back, not failed")
	assert.Nil(t, c)
	assert.Nil(t, b.record("ep", outcomeFailure, false, t0, boom), "late failures of earlier attempts change nothing")
	assert.Equal(t, EndpointPaused, b.state, "an idle paused endpoint stays paused after its cool-down")

	assert.Equal(t, 1, b.capacity(4, 0, t0.Add(time.Minute)), "after the cool-down: one probe")
	_, ok = b.probeAt(t0.Add(time.Minute))
	assert.False(t, ok, "the cool-down is over")
	m, c = b.admit("ep", t0.Add(time.Minute))
	assert.Equal(t, modeProbe, m)
	require.NotNil(t, c)
	assert.Equal(t, EndpointProbing, c.To)
	assert.Equal(t, 0, b.capacity(4, 0, t0.Add(time.Minute)), "no second probe while one is in flight")
	m, _ = b.admit("ep", t0.Add(time.Minute))
	assert.Equal(t, modeRelease, m, "anything else leased meanwhile is handed back")

	t1 := t0.Add(2 * time.Minute)
	c = b.record("ep", outcomeFailure, true, t1, boom)
	require.NotNil(t, c)
	assert.Equal(t, EndpointPaused, c.To, "failed probe pauses again")
	assert.Equal(t, t1.Add(time.Minute), c.Until)
	m, _ = b.admit("ep", t1.Add(time.Minute))
	assert.Equal(t, modeProbe, m)
	c = b.record("ep", outcomeSuccess, true, t1.Add(time.Minute), nil)
	require.NotNil(t, c)
	assert.Equal(t, EndpointActive, c.To, "successful probe resumes")
	assert.True(t, c.Recovered())
	assert.Equal(t, 4, b.capacity(4, 0, t1))

	// A probe that was never sent is retried at once.
	for range 3 {
		b.record("ep", outcomeFailure, false, t1, boom)
	}
	m, _ = b.admit("ep", t1.Add(time.Hour))
	require.Equal(t, modeProbe, m)
	c = b.record("ep", outcomeNone, true, t1.Add(time.Hour), nil)
	require.NotNil(t, c)
	assert.Equal(t, EndpointPaused, c.To)
	assert.Equal(t, 1, b.capacity(4, 0, t1.Add(time.Hour)))

	c = b.record("ep", outcomeGone, false, t1, boom)
	require.NotNil(t, c)
	assert.Equal(t, EndpointDisabled, c.To)
	assert.Equal(t, 4, b.capacity(4, 0, t1), "leftovers of a disabled endpoint are leased to be dead-lettered")
	m, _ = b.admit("ep", t1)
	assert.Equal(t, modeDisabled, m)
	assert.Nil(t, b.record("ep", outcomeSuccess, false, t1, nil), "disabled stays disabled")
	assert.Nil(t, b.record("ep", outcomeNone, false, t1, nil))
}

func TestBreakerDefaultsAndNoThreshold(t *testing.T) {
	c := BreakerConfig{}.withDefaults()
	assert.Equal(t, DefaultBreakerThreshold, c.Threshold)
	assert.Equal(t, DefaultBreakerCoolDown, c.CoolDown)
	b := &breaker{cfg: BreakerConfig{Threshold: -1}.withDefaults()}
	for range 100 {
		b.record("ep", outcomeFailure, false, time.Now(), nil)
	}
	assert.Equal(t, EndpointFailing, b.state, "a negative threshold never pauses")
	for s, want := range map[EndpointState]string{EndpointActive: "active", EndpointFailing: "failing",
		EndpointPaused: "paused", EndpointProbing: "probing", EndpointDisabled: "disabled", 99: "unknown"} {
		assert.Equal(t, want, s.String())
	}
}
