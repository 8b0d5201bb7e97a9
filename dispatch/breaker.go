package dispatch

import "time"

// Defaults of BreakerConfig.
const (
	// DefaultBreakerThreshold is the number of consecutive failed attempts after which an
	// endpoint is paused.
	DefaultBreakerThreshold = 5
	// DefaultBreakerCoolDown is how long a paused endpoint waits before its probe.
	DefaultBreakerCoolDown = 30 * time.Second
)

// BreakerConfig configures the circuit breaker the Dispatcher keeps for every endpoint.
//
// An attempt fails, for the breaker, when its class is retryable (network errors, timeouts,
// 408, 425, 429, 5xx); any other answer shows the endpoint is up and counts as a success.
// After Threshold consecutive failures the endpoint is paused for CoolDown: its deliveries
// are not leased, not sent and not written to; they wait in the store, so a dead endpoint
// costs no connections and no store writes. Waiting is not trying: a paused endpoint's
// deliveries spend none of their retry policy (no attempt is recorded, so MaxAttempts is
// not used up, and the time they wait beyond what the policy itself asked for does not
// count against MaxElapsedTime), and an outage, however long, dead-letters no delivery
// that was not tried. After the cool-down exactly one due delivery, the earliest, is sent
// as a probe (the others wait): success resumes the endpoint, failure pauses it again. A
// 410 Gone disables the endpoint.
type BreakerConfig struct {
	// Threshold is the number of consecutive failures that pauses an endpoint.
	// 0 means DefaultBreakerThreshold (5); negative means never: the breaker is off and
	// the endpoint is never paused (410 Gone still disables it).
	Threshold int
	// CoolDown is how long a paused endpoint waits before the probe.
	// 0 means DefaultBreakerCoolDown (30 s); negative has no meaning: New
	// returns an error (ErrInvalidConfig).
	CoolDown time.Duration
}

// withDefaults fills the zero fields; New has refused a negative CoolDown.
func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Threshold == 0 {
		c.Threshold = DefaultBreakerThreshold
	}
	if c.CoolDown == 0 {
		c.CoolDown = DefaultBreakerCoolDown
	}
	return c
}

// EndpointState is the health of an endpoint as the Dispatcher sees it.
type EndpointState int

// Endpoint states.
const (
	// EndpointActive: deliveries flow normally.
	EndpointActive EndpointState = iota
	// EndpointFailing: the last attempt failed, fewer than Threshold in a row.
	EndpointFailing
	// EndpointPaused: Threshold failures in a row; nothing is sent until the cool-down ends.
	EndpointPaused
	// EndpointProbing: the cool-down ended and one probe delivery is in flight; it decides.
	// A paused endpoint with nothing to send stays paused.
	EndpointProbing
	// EndpointDisabled: the endpoint answered 410 Gone (or was disabled); nothing is sent
	// and new events are not queued for it until EnableEndpoint.
	EndpointDisabled
)

// String returns "active", "failing", "paused", "probing" or "disabled".
func (s EndpointState) String() string {
	switch s {
	case EndpointActive:
		return "active"
	case EndpointFailing:
		return "failing"
	case EndpointPaused:
		return "paused"
	case EndpointProbing:
		return "probing"
	case EndpointDisabled:
		return "disabled"
	}
	return "unknown"
}

// EndpointStateChange reports that an endpoint moved from one state to another. A move
// to EndpointActive is a recovery.
type EndpointStateChange struct {
	// EndpointID is the ID of the endpoint (of its Subscription) that changed.
	EndpointID string
	// From is the state before the change, To the state after it.
	From, To EndpointState
	// Failures is the number of consecutive failed attempts at the time of the change.
	Failures int
	// Until is, for EndpointPaused, when the probe may be sent.
	Until time.Time
	// Err is the error of the attempt that caused the change, if any.
	Err error
	// Time is when the change happened.
	Time time.Time
}

// Recovered reports whether the change is a recovery (back to EndpointActive).
func (c EndpointStateChange) Recovered() bool { return c.To == EndpointActive }

// breaker is the per-endpoint circuit breaker. It is not safe for concurrent use: the
// Dispatcher guards it with its lock.
type breaker struct {
	cfg      BreakerConfig
	state    EndpointState
	failures int
	until    time.Time // end of the cool-down while paused
}

// outcome is how an attempt counts for the breaker.
type outcome int

const (
	outcomeSuccess outcome = iota // any answer that shows the endpoint is up
	outcomeFailure                // retryable failure
	outcomeGone                   // 410
	outcomeNone                   // no attempt reached the endpoint (fast fail, cancelled)
)

// mode is how a leased delivery is handled.
type mode int

const (
	modeSend         mode = iota // a normal attempt
	modeProbe                    // the one half-open probe
	modeRelease                  // cannot run now (paused, probing): hand back untouched
	modeDisabled                 // endpoint disabled
	modeUnsubscribed             // endpoint no longer served by this dispatcher
)

func (b *breaker) change(id string, to EndpointState, now time.Time, err error) *EndpointStateChange {
	if b.state == to {
		return nil
	}
	c := &EndpointStateChange{EndpointID: id, From: b.state, To: to, Failures: b.failures, Err: err, Time: now}
	b.state = to
	if to == EndpointPaused {
		c.Until = b.until
	}
	return c
}

// capacity is how many deliveries may be leased now, given the endpoint's limit and the
// number in flight: a paused endpoint takes none until the cool-down ends, then one (the
// probe); a probing endpoint takes none. A disabled endpoint takes its limit: whatever is
// still pending for it becomes a dead letter.
func (b *breaker) capacity(limit, inflight int, now time.Time) int {
	switch b.state {
	case EndpointProbing:
		return 0
	case EndpointPaused:
		if now.Before(b.until) {
			return 0
		}
		return 1
	}
	return limit - inflight
}

// probeAt returns, for an endpoint paused beyond now, when its cool-down ends.
func (b *breaker) probeAt(now time.Time) (time.Time, bool) {
	return b.until, b.state == EndpointPaused && b.until.After(now)
}

// admit decides how a leased delivery is handled. The first delivery admitted after a
// cool-down becomes the probe: the endpoint moves to probing. A delivery leased while
// the endpoint was pausing (capacity is computed before the lease) is handed back as it
// was, without an attempt.
func (b *breaker) admit(id string, now time.Time) (mode, *EndpointStateChange) {
	switch b.state {
	case EndpointDisabled:
		return modeDisabled, nil
	case EndpointProbing:
		return modeRelease, nil
	case EndpointPaused:
		if now.Before(b.until) {
			return modeRelease, nil
		}
		return modeProbe, b.change(id, EndpointProbing, now, nil)
	}
	return modeSend, nil
}

// record counts the outcome of an attempt and returns the state change, if any.
func (b *breaker) record(id string, o outcome, probe bool, now time.Time, err error) *EndpointStateChange {
	if b.state == EndpointDisabled {
		return nil
	}
	if probe && o == outcomeNone && b.state == EndpointProbing {
		// The probe was not sent (shutdown, refused): probe again at once.
		b.until = now
		return b.change(id, EndpointPaused, now, err)
	}
	switch o {
	case outcomeGone:
		return b.change(id, EndpointDisabled, now, err)
	case outcomeSuccess:
		b.failures = 0
		return b.change(id, EndpointActive, now, nil)
	case outcomeFailure:
		b.failures++
		switch {
		case probe && b.state == EndpointProbing:
			b.until = now.Add(b.cfg.CoolDown)
			return b.change(id, EndpointPaused, now, err)
		case b.state == EndpointPaused || b.state == EndpointProbing:
			return nil // an attempt started before the pause; the probe decides
		case b.cfg.Threshold > 0 && b.failures >= b.cfg.Threshold:
			b.until = now.Add(b.cfg.CoolDown)
			return b.change(id, EndpointPaused, now, err)
		default:
			return b.change(id, EndpointFailing, now, err)
		}
	}
	return nil
}
