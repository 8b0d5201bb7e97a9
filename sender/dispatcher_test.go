package sender_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/sender"
)

var bg = context.Background()

func hitIDs(hs []dspHit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func TestDispatcherFanOutByFilter(t *testing.T) {
	dspNoLeaks(t)
	s := dspSender(t)
	srv := map[string]*dspServer{}
	d := newDispatcher(t, s, nil, sender.DispatcherConfig{})
	for id, patterns := range map[string][]string{
		"orders":   {"order-*"},
		"created":  {"order-created"},
		"invoices": {"invoice-*", "refund-issued"},
		"all":      nil,
	} {
		srv[id] = newDspServer(t, nil)
		require.NoError(t, d.Subscribe(dspSub(t, id, srv[id].URL, nil, patterns...)))
	}
	require.NoError(t, d.Start(bg))
	e1, e2, e3 := newEvent(t, "order-created"), newEvent(t, "invoice-paid"), newEvent(t, "user-deleted")
	n, err := d.Publish(bg, e1)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "orders, created, all")
	n, err = d.Publish(bg, e2)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "invoices, all")
	n, err = d.Publish(bg, e3)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "all")
	eventually(t, "all delivered", func() bool { return srv["all"].Count() == 3 })
	eventually(t, "orders", func() bool {
		return srv["orders"].Count() == 1 && srv["created"].Count() == 1 && srv["invoices"].Count() == 1
	})
	assert.Equal(t, []string{e1.ID}, hitIDs(srv["orders"].Hits()))
	assert.Equal(t, []string{e1.ID}, hitIDs(srv["created"].Hits()))
	assert.Equal(t, []string{e2.ID}, hitIDs(srv["invoices"].Hits()))
	assert.ElementsMatch(t, []string{e1.ID, e2.ID, e3.ID}, hitIDs(srv["all"].Hits()))
	eventually(t, "store drained", func() bool { p, _ := d.ListPending(bg, sender.ListFilter{}); return len(p) == 0 })
	require.NoError(t, d.Shutdown(bg))
	dead, err := d.ListDead(bg, sender.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, dead)
}

func TestDispatcherRetryIsRescheduledNotSlept(t *testing.T) {
	dspNoLeaks(t)
	s := dspSender(t)
	flaky := newDspServer(t, func(w http.ResponseWriter, _ dspHit, n int) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	fast := newDspServer(t, nil)
	// One worker: if it slept through the retry delay, fast would wait for it.
	d := newDispatcher(t, s, nil, sender.DispatcherConfig{Workers: 1})
	require.NoError(t, d.Subscribe(dspSub(t, "flaky", flaky.URL, dspRetry(5, 400*time.Millisecond), "order-*")))
	require.NoError(t, d.Subscribe(dspSub(t, "fast", fast.URL, nil, "user-*")))
	require.NoError(t, d.Start(bg))
	ev := newEvent(t, "order-created")
	_, err := d.Publish(bg, ev)
	require.NoError(t, err)
	var pending []sender.Delivery
	eventually(t, "first failure recorded", func() bool {
		pending, _ = d.ListPending(bg, sender.ListFilter{EndpointID: "flaky"})
		return len(pending) == 1 && len(pending[0].Attempts) == 1 && pending[0].Lease == ""
	})
	a := pending[0].Attempts[0]
	assert.Equal(t, 503, a.Status)
	assert.Equal(t, sender.ClassRetryable, a.Class)
	assert.True(t, pending[0].Due.After(a.Start.Add(150*time.Millisecond)), "due after the backoff delay")

	published := time.Now()
	_, err = d.Publish(bg, newEvent(t, "user-created"))
	require.NoError(t, err)
	eventually(t, "the other endpoint is served while the retry waits", func() bool { return fast.Count() == 1 })
	assert.Less(t, time.Since(published), 150*time.Millisecond)
	assert.Equal(t, 1, flaky.Count(), "the retry is not due yet")

	eventually(t, "delivered on the third attempt", func() bool {
		p, _ := d.ListPending(bg, sender.ListFilter{})
		return flaky.Count() == 3 && len(p) == 0
	})
	hits := flaky.Hits()
	for i, h := range hits {
		assert.Equal(t, ev.ID, h.ID, "same event id on every attempt")
		assert.Equal(t, i, h.RetryCount, "retryCount counts earlier attempts")
	}
	assert.GreaterOrEqual(t, hits[1].At.Sub(hits[0].At), 190*time.Millisecond, "backoff with jitter (≥ half of 400ms)")
}

func TestDispatcherHonoursRetryAfter(t *testing.T) {
	dspNoLeaks(t)
	srv := newDspServer(t, func(w http.ResponseWriter, _ dspHit, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{})
	require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, dspRetry(3, 10*time.Millisecond))))
	require.NoError(t, d.Start(bg))
	_, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	eventually(t, "delivered after Retry-After", func() bool { return srv.Count() == 2 })
	h := srv.Hits()
	assert.GreaterOrEqual(t, h[1].At.Sub(h[0].At), 900*time.Millisecond, "Retry-After: 1 beats the 10ms backoff")
}

func TestDispatcherBreakerPausesProbesAndRecovers(t *testing.T) {
	dspNoLeaks(t)
	srv := newDspServer(t, status(http.StatusInternalServerError))
	states := &dspStates{}
	var atChange []int
	states.onEach = func(sender.EndpointStateChange) { atChange = append(atChange, srv.Count()) }
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{
		Observer: states.hooks(),
		Breaker:  sender.BreakerConfig{Threshold: 3, CoolDown: 300 * time.Millisecond},
	})
	sub := dspSub(t, "ep", srv.URL, dspRetry(1000, 20*time.Millisecond))
	sub.MaxInFlight = 1
	require.NoError(t, d.Subscribe(sub))
	require.NoError(t, d.Start(bg))
	for range 3 {
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
	}
	want := []sender.EndpointState{sender.EndpointFailing, sender.EndpointPaused, sender.EndpointProbing, sender.EndpointPaused, sender.EndpointProbing}
	eventually(t, "failing, paused, probing, paused, probing", func() bool { return len(states.States("ep")) >= len(want) })
	assert.Equal(t, want, states.States("ep")[:len(want)])
	st, ok := d.Endpoint("ep")
	require.True(t, ok)
	assert.GreaterOrEqual(t, st.Failures, 3)

	states.mu.Lock()
	counts := append([]int(nil), atChange...)
	pausedAt := states.changes[1]
	states.mu.Unlock()
	assert.Equal(t, 3, counts[1], "paused after exactly Threshold failures")
	assert.Equal(t, counts[1], counts[2], "nothing sent during the cool-down")
	assert.Equal(t, counts[2]+1, counts[3], "exactly one probe")
	assert.WithinDuration(t, pausedAt.Time.Add(300*time.Millisecond), pausedAt.Until, time.Millisecond)

	// While paused, due deliveries wait: nothing is recorded that was not sent.
	sent := srv.Count()
	p, err := d.ListPending(bg, sender.ListFilter{})
	require.NoError(t, err)
	var recorded int
	for _, del := range p {
		for _, a := range del.Attempts {
			recorded++
			assert.NotErrorIs(t, a.Err, sender.ErrEndpointPaused, "no synthetic attempt while paused")
			assert.Equal(t, http.StatusInternalServerError, a.Status, "every recorded attempt was sent")
		}
	}
	assert.LessOrEqual(t, recorded, srv.Count(), "attempts recorded only for requests sent")
	assert.GreaterOrEqual(t, recorded, sent-1, "all of them, but a probe in flight")

	srv.setRespond(status(http.StatusOK))
	eventually(t, "recovered", func() bool {
		s := states.States("ep")
		return s[len(s)-1] == sender.EndpointActive
	})
	eventually(t, "all delivered", func() bool { p, _ := d.ListPending(bg, sender.ListFilter{}); return len(p) == 0 })
	st, _ = d.Endpoint("ep")
	assert.Equal(t, sender.EndpointActive, st.State)
	assert.Zero(t, st.Failures)
	dead, _ := d.ListDead(bg, sender.ListFilter{})
	assert.Empty(t, dead)
}

func TestDispatcherGoneDisablesEndpoint(t *testing.T) {
	dspNoLeaks(t)
	gone := newDspServer(t, status(http.StatusGone))
	other := newDspServer(t, nil)
	states := &dspStates{}
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{Observer: states.hooks()})
	sub := dspSub(t, "gone", gone.URL, nil)
	sub.MaxInFlight = 1
	require.NoError(t, d.Subscribe(sub))
	require.NoError(t, d.Subscribe(dspSub(t, "other", other.URL, nil)))
	for range 5 {
		n, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		require.Equal(t, 2, n)
	}
	require.NoError(t, d.Start(bg))
	var dead []sender.Delivery
	eventually(t, "all five deliveries to the gone endpoint are dead letters", func() bool {
		dead, _ = d.ListDead(bg, sender.ListFilter{EndpointID: "gone"})
		return len(dead) == 5
	})
	assert.Equal(t, 1, gone.Count(), "one 410 is enough")
	attempts := 0
	for _, del := range dead {
		assert.Equal(t, sender.DeadReasonGone, del.DeadReason)
		attempts += len(del.Attempts)
		for _, a := range del.Attempts {
			assert.Equal(t, http.StatusGone, a.Status)
			assert.Equal(t, sender.ClassGone, a.Class)
		}
	}
	assert.Equal(t, 1, attempts, "the 410 is in the history of the delivery that got it")
	assert.Equal(t, []sender.EndpointState{sender.EndpointDisabled}, states.States("gone"))
	st, _ := d.Endpoint("gone")
	assert.Equal(t, sender.EndpointDisabled, st.State)
	eventually(t, "other endpoint unaffected", func() bool { return other.Count() == 5 })

	n, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a disabled endpoint gets no new deliveries")

	// Enable and requeue: delivered once the listener is back.
	gone.setRespond(status(http.StatusOK))
	require.NoError(t, d.EnableEndpoint("gone"))
	k, err := d.Requeue(bg, sender.Selector{EndpointID: "gone"})
	require.NoError(t, err)
	assert.Equal(t, 5, k)
	eventually(t, "requeued deliveries delivered", func() bool { return gone.Count() == 6 })
	assert.Equal(t, sender.EndpointActive, states.States("gone")[1], "enabled again")
}

func TestDispatcherPermanentRejectionAndRequeueOne(t *testing.T) {
	dspNoLeaks(t)
	srv := newDspServer(t, status(http.StatusBadRequest))
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{})
	require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
	require.NoError(t, d.Start(bg))
	_, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	var dead []sender.Delivery
	eventually(t, "dead letter", func() bool { dead, _ = d.ListDead(bg, sender.ListFilter{}); return len(dead) == 1 })
	assert.Equal(t, sender.DeadReasonRejected, dead[0].DeadReason)
	require.Len(t, dead[0].Attempts, 1, "a permanent rejection is not retried")
	assert.Equal(t, 400, dead[0].Attempts[0].Status)
	st, _ := d.Endpoint("ep")
	assert.Equal(t, sender.EndpointActive, st.State, "an answer is not a breaker failure")

	srv.setRespond(status(http.StatusOK))
	_, err = d.Requeue(bg, sender.Selector{ID: "nope"})
	assert.ErrorIs(t, err, sender.ErrNotFound)
	n, err := d.Requeue(bg, sender.Selector{ID: dead[0].ID})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	eventually(t, "delivered after requeue", func() bool { return srv.Count() == 2 })
	h := srv.Hits()
	assert.Equal(t, 1, h[1].RetryCount, "retryCount continues after a requeue")
	eventually(t, "acknowledged", func() bool { p, _ := d.ListPending(bg, sender.ListFilter{}); return len(p) == 0 })
}

func TestDispatcherRetriesExhausted(t *testing.T) {
	dspNoLeaks(t)
	srv := newDspServer(t, status(http.StatusBadGateway))
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{Breaker: sender.BreakerConfig{Threshold: -1}})
	require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, dspRetry(3, 5*time.Millisecond))))
	require.NoError(t, d.Start(bg))
	_, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	var dead []sender.Delivery
	eventually(t, "dead letter", func() bool { dead, _ = d.ListDead(bg, sender.ListFilter{}); return len(dead) == 1 })
	assert.Equal(t, sender.DeadReasonExhausted, dead[0].DeadReason)
	require.Len(t, dead[0].Attempts, 3, "MaxAttempts attempts, all in the history")
	for i, a := range dead[0].Attempts {
		assert.Equal(t, i+1, a.Number)
		assert.Equal(t, 502, a.Status)
	}
	assert.Equal(t, 3, srv.Count())
	st, _ := d.Endpoint("ep")
	assert.Equal(t, sender.EndpointFailing, st.State, "a negative threshold never pauses")
}

func TestDispatcherOrdering(t *testing.T) {
	dspNoLeaks(t)
	var failed bool
	ordered := newDspServer(t, func(w http.ResponseWriter, h dspHit, n int) {
		time.Sleep(2 * time.Millisecond)
		if n == 3 && !failed { // the third event fails once: the next ones must wait for it
			failed = true
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	unordered := newDspServer(t, func(w http.ResponseWriter, _ dspHit, _ int) {
		time.Sleep(30 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{})
	sub := dspSub(t, "ordered", ordered.URL, dspRetry(5, 20*time.Millisecond))
	sub.Ordered = true
	require.NoError(t, d.Subscribe(sub))
	require.NoError(t, d.Subscribe(dspSub(t, "unordered", unordered.URL, nil)))
	var want []string
	for range 20 {
		ev := newEvent(t, "order-created")
		want = append(want, ev.ID)
		_, err := d.Publish(bg, ev)
		require.NoError(t, err)
	}
	require.NoError(t, d.Start(bg))
	eventually(t, "all delivered", func() bool { return ordered.Count() == 21 && unordered.Count() == 20 })
	var got []string
	for _, h := range ordered.Hits() {
		if len(got) == 0 || got[len(got)-1] != h.ID {
			got = append(got, h.ID)
		}
	}
	assert.Equal(t, want, got, "publish order, the failed one retried before the next")
	assert.Equal(t, int32(1), ordered.maxIn.Load(), "one in flight")
	assert.Greater(t, unordered.maxIn.Load(), int32(1), "ordering is off by default")
	st, _ := d.Endpoint("ordered")
	assert.True(t, st.Subscription.Ordered)
}

func TestDispatcherSlowEndpointDoesNotStarveOthers(t *testing.T) {
	dspNoLeaks(t)
	release := make(chan struct{})
	slow := newDspServer(t, func(w http.ResponseWriter, _ dspHit, _ int) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	fast := newDspServer(t, nil)
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{Workers: 4})
	sub := dspSub(t, "slow", slow.URL, nil, "slow-*")
	sub.MaxInFlight = 2
	require.NoError(t, d.Subscribe(sub))
	require.NoError(t, d.Subscribe(dspSub(t, "fast", fast.URL, nil, "fast-*")))
	require.NoError(t, d.Start(bg))
	for range 10 {
		_, err := d.Publish(bg, newEvent(t, "slow-thing"))
		require.NoError(t, err)
	}
	for range 10 {
		_, err := d.Publish(bg, newEvent(t, "fast-thing"))
		require.NoError(t, err)
	}
	eventually(t, "fast endpoint served while slow one hangs", func() bool { return fast.Count() == 10 })
	// The second slow delivery may still be on its way when the fast ones are done: wait
	// for the slow endpoint to reach its limit, then check it never went past it.
	eventually(t, "slow endpoint at its limit", func() bool { return slow.inflight.Load() == 2 })
	assert.Equal(t, int32(2), slow.maxIn.Load(), "slow endpoint holds its limit, no more")
	st, _ := d.Endpoint("slow")
	assert.Equal(t, 2, st.InFlight)
	p, err := d.ListPending(bg, sender.ListFilter{EndpointID: "slow"})
	require.NoError(t, err)
	leased := 0
	for _, del := range p {
		if del.Lease != "" {
			leased++
		}
	}
	assert.Equal(t, 2, leased, "only what can run is leased")
	close(release)
	eventually(t, "slow endpoint drained", func() bool { return slow.Count() == 10 })
	assert.Equal(t, int32(2), slow.maxIn.Load())
}

func TestDispatcherShutdownWaitsForInFlight(t *testing.T) {
	dspNoLeaks(t)
	srv := newDspServer(t, func(w http.ResponseWriter, _ dspHit, _ int) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{})
	require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
	require.NoError(t, d.Start(bg))
	assert.ErrorIs(t, d.Start(bg), sender.ErrStarted)
	_, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	eventually(t, "in flight", func() bool { return srv.inflight.Load() == 1 })
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	require.NoError(t, d.Shutdown(ctx))
	assert.Equal(t, int32(0), srv.inflight.Load(), "returned after the attempt finished")
	p, err := d.ListPending(bg, sender.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, p, "the in-flight delivery was acknowledged")
	_, err = d.Publish(bg, newEvent(t, "order-created"))
	assert.ErrorIs(t, err, sender.ErrClosed)
	assert.ErrorIs(t, d.Start(bg), sender.ErrClosed)
	assert.NoError(t, d.Shutdown(bg), "idempotent")
}

func TestDispatcherShutdownDeadlineHandsLeasesBack(t *testing.T) {
	dspNoLeaks(t)
	block := make(chan struct{})
	srv := newDspServer(t, func(w http.ResponseWriter, _ dspHit, _ int) {
		<-block
		w.WriteHeader(http.StatusOK)
	})
	defer close(block)
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{})
	require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
	require.NoError(t, d.Start(bg))
	_, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	eventually(t, "in flight", func() bool { return srv.inflight.Load() == 1 })
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = d.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the attempt was cancelled promptly")
	p, err := d.ListPending(bg, sender.ListFilter{})
	require.NoError(t, err)
	require.Len(t, p, 1, "nothing lost")
	assert.Empty(t, p[0].Lease, "the lease was handed back")
	assert.Empty(t, p[0].Attempts, "a cancelled attempt is not recorded")
}

func TestDispatcherStartContextStops(t *testing.T) {
	dspNoLeaks(t)
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{})
	ctx, cancel := context.WithCancel(bg)
	require.NoError(t, d.Start(ctx))
	cancel()
	eventually(t, "closed", func() bool {
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		return errors.Is(err, sender.ErrClosed)
	})
	require.NoError(t, d.Shutdown(bg))
}

func TestDispatcherPublishOnFullStore(t *testing.T) {
	dspNoLeaks(t)
	store := sender.NewMemoryStore(sender.MemoryStoreConfig{MaxPending: 3})
	d := newDispatcher(t, dspSender(t), store, sender.DispatcherConfig{})
	require.NoError(t, d.Subscribe(dspSub(t, "a", "http://127.0.0.1:1/", nil)))
	require.NoError(t, d.Subscribe(dspSub(t, "b", "http://127.0.0.1:1/", nil)))
	n, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = d.Publish(bg, newEvent(t, "order-created"))
	assert.ErrorIs(t, err, sender.ErrQueueFull, "one place left, two deliveries: refused")
	assert.Zero(t, n)
	pending, _ := store.Len()
	assert.Equal(t, 2, pending, "all or nothing")
	_, err = d.Publish(bg, nil)
	assert.Error(t, err)
}

func TestDispatcherEndpointManagement(t *testing.T) {
	dspNoLeaks(t)
	d := newDispatcher(t, dspSender(t), nil, sender.DispatcherConfig{LeaseFor: time.Minute})
	assert.ErrorIs(t, d.Subscribe(sender.Subscription{Endpoint: sender.Endpoint{URL: "http://127.0.0.1:1/"}}), sender.ErrInvalidEndpoint, "no id")
	assert.ErrorIs(t, d.Subscribe(sender.Subscription{Endpoint: sender.Endpoint{ID: "x"}}), sender.ErrInvalidEndpoint, "no url")
	long := dspSub(t, "x", "http://127.0.0.1:1/", nil)
	long.Endpoint.Timeout = 2 * time.Minute
	assert.ErrorIs(t, d.Subscribe(long), sender.ErrInvalidEndpoint, "timeout beyond the lease")

	require.NoError(t, d.Subscribe(dspSub(t, "a", "http://127.0.0.1:1/", nil, "order-*")))
	require.NoError(t, d.Subscribe(dspSub(t, "b", "http://127.0.0.1:1/", nil)))
	st, ok := d.Endpoint("a")
	require.True(t, ok)
	assert.Equal(t, "a", st.Subscription.Endpoint.ID)
	assert.Equal(t, sender.DefaultMaxInFlight, st.Subscription.MaxInFlight)
	_, ok = d.Endpoint("zzz")
	assert.False(t, ok)

	// Replacing a subscription changes its filter.
	sub := dspSub(t, "a", "http://127.0.0.1:1/", nil, "invoice-*")
	sub.MaxInFlight = 7
	require.NoError(t, d.Subscribe(sub))
	n, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only b now")
	st, _ = d.Endpoint("a")
	assert.Equal(t, 7, st.Subscription.MaxInFlight)
	ids := []string{}
	for _, s := range d.Endpoints() {
		ids = append(ids, s.Subscription.Endpoint.ID)
	}
	sort.Strings(ids)
	assert.Equal(t, []string{"a", "b"}, ids)

	require.NoError(t, d.Unsubscribe(bg, "b"))
	assert.ErrorIs(t, d.Unsubscribe(bg, "b"), sender.ErrNotFound)
	dead, err := d.ListDead(bg, sender.ListFilter{})
	require.NoError(t, err)
	require.Len(t, dead, 1, "pending deliveries of an unsubscribed endpoint are kept as dead letters")
	assert.Equal(t, sender.DeadReasonUnsubscribed, dead[0].DeadReason)
	n, err = d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.ErrorIs(t, d.EnableEndpoint("b"), sender.ErrNotFound)
}

func TestDispatchersShareOneStore(t *testing.T) {
	dspNoLeaks(t)
	srv := newDspServer(t, func(w http.ResponseWriter, _ dspHit, _ int) {
		time.Sleep(time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	store := sender.NewMemoryStore(sender.MemoryStoreConfig{})
	s := dspSender(t)
	var ds []*sender.Dispatcher
	for range 3 {
		d := newDispatcher(t, s, store, sender.DispatcherConfig{Workers: 4})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		ds = append(ds, d)
	}
	const events = 200
	for i := range events {
		_, err := ds[i%3].Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
	}
	for _, d := range ds {
		require.NoError(t, d.Start(bg))
	}
	eventually(t, "all delivered", func() bool { p, _ := store.Len(); return p == 0 })
	seen := map[string]int{}
	for _, h := range srv.Hits() {
		seen[h.ID]++
	}
	assert.Len(t, seen, events)
	for id, n := range seen {
		assert.Equal(t, 1, n, "event %s delivered by exactly one dispatcher", id)
	}
}
