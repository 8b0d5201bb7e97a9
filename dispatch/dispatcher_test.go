package dispatch_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
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

// assertJittered checks that got is interval spread by the default RandomizationFactor
// (±50 %), bounds included.
func assertJittered(t *testing.T, interval, got time.Duration, what string) {
	t.Helper()
	assert.GreaterOrEqual(t, got, interval/2, "%s: at least half of %v", what, interval)
	assert.LessOrEqual(t, got, interval*3/2, "%s: at most 1.5 × %v", what, interval)
}

// TestDispatcherDeliversOverLoopback: a published event reaches a real listener on
// loopback through the Sender's own guarded transport (AllowPrivate admits 127.0.0.1) and
// is acknowledged. The other dispatcher tests run in a synctest bubble over an in-process
// transport; this one, like TestSoakDispatcher, keeps the real sockets. It waits on
// events, not on time: the listener says when it got the request, and Shutdown returns
// once the attempt in flight is recorded. The minute is a failure guard only.
func TestDispatcherDeliversOverLoopback(t *testing.T) {
	dspNoLeaks(t)
	type request struct {
		contentType string
		ev          *event.Event
		err         error
	}
	got := make(chan request, 1)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		ev, err := event.Parse(body)
		select {
		case got <- request{contentType: r.Header.Get("Content-Type"), ev: ev, err: err}:
		default: // a second request: counted, and the test fails on the count
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	d := newDispatcher(t, dspSender(t), nil, dispatch.Config{})
	require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
	require.NoError(t, d.Start(bg))
	ev := newEvent(t, "order-created")
	n, err := d.Publish(bg, ev)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var r request
	select {
	case r = <-got:
	case <-time.After(time.Minute):
		t.Fatal("the listener got nothing in a minute")
	}
	require.NoError(t, r.err)
	assert.Equal(t, ev.ID, r.ev.ID)
	assert.Equal(t, "order-created", r.ev.Type)
	assert.Equal(t, "application/json", r.contentType)
	require.NoError(t, d.Shutdown(bg), "waits for the attempt in flight and records it")
	pending, err := listPending(d, queue.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, pending, "acknowledged")
	dead, err := listDead(d, queue.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, dead)
	assert.Equal(t, int32(1), requests.Load(), "one request")
}

func TestDispatcherFanOutByFilter(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := map[string]*dspServer{}
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
		for id, patterns := range map[string][]string{
			"orders":   {"order-*"},
			"created":  {"order-created"},
			"invoices": {"invoice-*", "refund-issued"},
			"all":      nil,
		} {
			srv[id] = nw.server(nil)
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
		synctest.Wait()
		assert.Equal(t, []string{e1.ID}, hitIDs(srv["orders"].Hits()))
		assert.Equal(t, []string{e1.ID}, hitIDs(srv["created"].Hits()))
		assert.Equal(t, []string{e2.ID}, hitIDs(srv["invoices"].Hits()))
		assert.ElementsMatch(t, []string{e1.ID, e2.ID, e3.ID}, hitIDs(srv["all"].Hits()))
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "store drained")
		require.NoError(t, d.Shutdown(bg))
		dead, err := listDead(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, dead)
	})
}

// TestDispatcherRetryIsRescheduledNotSlept: a failed delivery is rescheduled in the store,
// due after its backoff, and its worker is free meanwhile; each retry is sent exactly
// when it is due (memqueue.Store tells the dispatcher when, as a NextDuer).
func TestDispatcherRetryIsRescheduledNotSlept(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		flaky := nw.server(func(w http.ResponseWriter, _ dspHit, n int) {
			if n <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		fast := nw.server(nil)
		// One worker: if it slept through the retry delay, fast would wait for it.
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{Workers: 1})
		const interval = 400 * time.Millisecond
		require.NoError(t, d.Subscribe(dspSub(t, "flaky", flaky.URL, dspRetry(5, interval), "order-*")))
		require.NoError(t, d.Subscribe(dspSub(t, "fast", fast.URL, nil, "user-*")))
		require.NoError(t, d.Start(bg))
		t0 := time.Now()
		ev := newEvent(t, "order-created")
		_, err := d.Publish(bg, ev)
		require.NoError(t, err)
		synctest.Wait()
		pending, err := listPending(d, queue.ListFilter{EndpointID: "flaky"})
		require.NoError(t, err)
		require.Len(t, pending, 1)
		require.Len(t, pending[0].Attempts, 1, "first failure recorded")
		assert.Empty(t, pending[0].Lease, "and the lease handed back")
		a := pending[0].Attempts[0]
		assert.Equal(t, 503, a.Status)
		assert.Equal(t, queue.ClassRetryable, a.Class)
		assert.Equal(t, t0, a.Start)
		due := pending[0].Due
		assertJittered(t, interval, due.Sub(t0), "due after the backoff delay")

		_, err = d.Publish(bg, newEvent(t, "user-created"))
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, 1, fast.Count(), "the other endpoint is served while the retry waits")
		assert.Equal(t, t0, fast.Hits()[0].At, "at once")
		assert.Equal(t, 1, flaky.Count(), "the retry is not due yet")

		time.Sleep(time.Until(due))
		synctest.Wait()
		hits := flaky.Hits()
		require.Len(t, hits, 2)
		assert.Equal(t, due, hits[1].At, "the second attempt exactly when due")
		pending, err = listPending(d, queue.ListFilter{EndpointID: "flaky"})
		require.NoError(t, err)
		require.Len(t, pending, 1)
		due = pending[0].Due
		assertJittered(t, 2*interval, due.Sub(hits[1].At), "the interval doubles")

		time.Sleep(time.Until(due))
		synctest.Wait()
		hits = flaky.Hits()
		require.Len(t, hits, 3)
		assert.Equal(t, due, hits[2].At, "the third attempt exactly when due")
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "delivered on the third attempt")
		for i, h := range hits {
			assert.Equal(t, ev.ID, h.ID, "same event id on every attempt")
			assert.Equal(t, i, h.RetryCount, "retryCount counts earlier attempts")
		}
	})
}

func TestDispatcherHonoursRetryAfter(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, dspRetry(3, 10*time.Millisecond))))
		require.NoError(t, d.Start(bg))
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, 1, srv.Count())
		time.Sleep(time.Second)
		synctest.Wait()
		h := srv.Hits()
		require.Len(t, h, 2, "delivered after Retry-After")
		assert.Equal(t, time.Second, h[1].At.Sub(h[0].At), "Retry-After: 1 beats the 10ms backoff, to the nanosecond")
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p)
	})
}

// TestDispatcherBreakerPausesProbesAndRecovers: Threshold failures in a row pause the
// endpoint for exactly CoolDown; then exactly one probe goes; a failed probe pauses it
// for another CoolDown, a successful one resumes it and everything waiting is sent.
func TestDispatcherBreakerPausesProbesAndRecovers(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(status(http.StatusInternalServerError))
		states := &dspStates{}
		var atChange []int // requests received at each change
		states.onEach = func(dispatch.EndpointStateChange) { atChange = append(atChange, srv.Count()) }
		const coolDown = 300 * time.Millisecond
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{
			Observer: states.hooks(),
			Breaker:  dispatch.BreakerConfig{Threshold: 3, CoolDown: coolDown},
		})
		sub := dspSub(t, "ep", srv.URL, dspRetry(1000, 20*time.Millisecond))
		sub.MaxInFlight = 1
		require.NoError(t, d.Subscribe(sub))
		require.NoError(t, d.Start(bg))
		t0 := time.Now()
		for range 3 {
			_, err := d.Publish(bg, newEvent(t, "order-created"))
			require.NoError(t, err)
		}
		// recordedIsSent checks that the attempts in the store are the requests sent.
		recordedIsSent := func(what string) {
			t.Helper()
			p, err := listPending(d, queue.ListFilter{})
			require.NoError(t, err)
			recorded := 0
			for _, del := range p {
				assert.Empty(t, del.Lease, "%s: nothing in flight", what)
				for _, a := range del.Attempts {
					recorded++
					assert.NotEqual(t, dispatch.ErrEndpointPaused.Error(), a.Error, "%s: no synthetic attempt while paused", what)
					assert.Equal(t, http.StatusInternalServerError, a.Status, "%s: every recorded attempt was sent", what)
				}
			}
			assert.Equal(t, srv.Count(), recorded, "%s: attempts recorded = requests sent", what)
		}
		synctest.Wait()
		assert.Equal(t, []dispatch.EndpointState{dispatch.EndpointFailing, dispatch.EndpointPaused}, states.States("ep"))
		assert.Equal(t, 3, srv.Count(), "paused after exactly Threshold failures")
		st, ok := d.Endpoint("ep")
		require.True(t, ok)
		assert.Equal(t, 3, st.Failures)
		assert.Equal(t, t0.Add(coolDown), st.PausedUntil)
		recordedIsSent("paused")

		time.Sleep(coolDown - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 3, srv.Count(), "nothing sent during the cool-down")
		assert.Len(t, states.States("ep"), 2)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 4, srv.Count(), "one probe when the cool-down ends")
		recordedIsSent("after the failed probe")

		srv.setRespond(status(http.StatusOK))
		time.Sleep(coolDown)
		synctest.Wait()
		assert.Equal(t, []dispatch.EndpointState{dispatch.EndpointFailing, dispatch.EndpointPaused, dispatch.EndpointProbing,
			dispatch.EndpointPaused, dispatch.EndpointProbing, dispatch.EndpointActive}, states.States("ep"))
		c := states.Changes("ep")
		require.Len(t, c, 6)
		for i, at := range []time.Duration{0, 0, coolDown, coolDown, 2 * coolDown, 2 * coolDown} {
			assert.Equal(t, t0.Add(at), c[i].Time, "change %d (%v) at t0+%v", i, c[i].To, at)
		}
		assert.Equal(t, t0.Add(coolDown), c[1].Until, "paused for CoolDown")
		assert.Equal(t, t0.Add(2*coolDown), c[3].Until, "paused again for CoolDown after the failed probe")
		states.mu.Lock()
		counts := append([]int(nil), atChange...)
		states.mu.Unlock()
		assert.Equal(t, []int{1, 3, 3, 4, 4, 5}, counts,
			"failing at the first failure, paused at the third; nothing sent during a cool-down; exactly one probe each")

		assert.Equal(t, 7, srv.Count(), "the two other deliveries sent when the probe succeeded")
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "all delivered")
		st, _ = d.Endpoint("ep")
		assert.Equal(t, dispatch.EndpointActive, st.State)
		assert.Zero(t, st.Failures)
		dead, _ := listDead(d, queue.ListFilter{})
		assert.Empty(t, dead)
	})
}

// TestDispatcherAttemptTimesOut: an endpoint that does not answer within its Timeout
// costs the attempt exactly that long; the receiver sees the request abandoned, and the
// attempt is recorded as a retryable timeout and retried after its backoff.
func TestDispatcherAttemptTimesOut(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(func(w http.ResponseWriter, h dspHit, n int) {
			if n == 1 {
				<-h.ClientGone
			}
			w.WriteHeader(http.StatusNoContent)
		})
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
		sub := dspSub(t, "ep", srv.URL, dspRetry(3, 10*time.Millisecond))
		const timeout = 2 * time.Second
		sub.Endpoint.Timeout = timeout
		require.NoError(t, d.Subscribe(sub))
		require.NoError(t, d.Start(bg))
		t0 := time.Now()
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		time.Sleep(timeout - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, int32(1), srv.inflight.Load(), "still waiting for an answer")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, int32(0), srv.inflight.Load(), "the receiver saw the client give up")
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		require.Len(t, p, 1)
		require.Len(t, p[0].Attempts, 1, "the timed-out attempt is recorded")
		a := p[0].Attempts[0]
		assert.Equal(t, queue.ClassRetryable, a.Class)
		assert.Equal(t, "attempt timed out after 2s: context deadline exceeded", a.Error, "the error's text, kept by the store")
		assert.Equal(t, t0, a.Start)
		assert.Equal(t, timeout, a.Duration, "exactly the endpoint's Timeout")
		assertJittered(t, 10*time.Millisecond, p[0].Due.Sub(t0.Add(timeout)), "retried after the backoff")

		time.Sleep(time.Until(p[0].Due))
		synctest.Wait()
		h := srv.Hits()
		require.Len(t, h, 2)
		assert.Equal(t, p[0].Due, h[1].At, "the retry, when due")
		p, err = listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "acknowledged")
	})
}

func TestDispatcherGoneDisablesEndpoint(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		gone := nw.server(status(http.StatusGone))
		other := nw.server(nil)
		states := &dspStates{}
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{Observer: states.hooks()})
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
		synctest.Wait()
		dead, err := listDead(d, queue.ListFilter{EndpointID: "gone"})
		require.NoError(t, err)
		require.Len(t, dead, 5, "all five deliveries to the gone endpoint are dead letters")
		assert.Equal(t, 1, gone.Count(), "one 410 is enough")
		attempts := 0
		for _, del := range dead {
			assert.Equal(t, queue.DeadReasonGone, del.DeadReason)
			attempts += len(del.Attempts)
			for _, a := range del.Attempts {
				assert.Equal(t, http.StatusGone, a.Status)
				assert.Equal(t, queue.ClassGone, a.Class)
			}
		}
		assert.Equal(t, 1, attempts, "the 410 is in the history of the delivery that got it")
		assert.Equal(t, []dispatch.EndpointState{dispatch.EndpointDisabled}, states.States("gone"))
		st, _ := d.Endpoint("gone")
		assert.Equal(t, dispatch.EndpointDisabled, st.State)
		assert.Equal(t, 5, other.Count(), "other endpoint unaffected")

		n, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "a disabled endpoint gets no new deliveries")

		// Enable and requeue: delivered once the listener is back.
		gone.setRespond(status(http.StatusOK))
		require.NoError(t, d.EnableEndpoint("gone"))
		k, err := d.Requeue(bg, queue.Selector{EndpointID: "gone"})
		require.NoError(t, err)
		assert.Equal(t, 5, k)
		synctest.Wait()
		assert.Equal(t, 6, gone.Count(), "requeued deliveries delivered")
		assert.Equal(t, []dispatch.EndpointState{dispatch.EndpointDisabled, dispatch.EndpointActive}, states.States("gone"), "enabled again")
	})
}

func TestDispatcherPermanentRejectionAndRequeueOne(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(status(http.StatusBadRequest))
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		require.NoError(t, d.Start(bg))
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		synctest.Wait()
		dead, err := listDead(d, queue.ListFilter{})
		require.NoError(t, err)
		require.Len(t, dead, 1, "dead letter")
		assert.Equal(t, queue.DeadReasonRejected, dead[0].DeadReason)
		require.Len(t, dead[0].Attempts, 1, "a permanent rejection is not retried")
		assert.Equal(t, 400, dead[0].Attempts[0].Status)
		st, _ := d.Endpoint("ep")
		assert.Equal(t, dispatch.EndpointActive, st.State, "an answer is not a breaker failure")

		srv.setRespond(status(http.StatusOK))
		_, err = d.Requeue(bg, queue.Selector{ID: "nope"})
		assert.ErrorIs(t, err, queue.ErrNotFound)
		n, err := d.Requeue(bg, queue.Selector{ID: dead[0].ID})
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		synctest.Wait()
		h := srv.Hits()
		require.Len(t, h, 2, "delivered after requeue")
		assert.Equal(t, 1, h[1].RetryCount, "retryCount continues after a requeue")
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "acknowledged")
		dead, err = listDead(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, dead)
	})
}

func TestDispatcherRetriesExhausted(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(status(http.StatusBadGateway))
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{Breaker: dispatch.BreakerConfig{Threshold: -1}})
		const interval = 5 * time.Millisecond
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, dspRetry(3, interval))))
		require.NoError(t, d.Start(bg))
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		time.Sleep(time.Second) // far beyond the three attempts' backoff (at most 7.5 + 15 ms)
		synctest.Wait()
		dead, err := listDead(d, queue.ListFilter{})
		require.NoError(t, err)
		require.Len(t, dead, 1, "dead letter")
		assert.Equal(t, queue.DeadReasonExhausted, dead[0].DeadReason)
		as := dead[0].Attempts
		require.Len(t, as, 3, "MaxAttempts attempts, all in the history")
		for i, a := range as {
			assert.Equal(t, i+1, a.Number)
			assert.Equal(t, 502, a.Status)
		}
		assertJittered(t, interval, as[1].Start.Sub(as[0].Start), "first retry")
		assertJittered(t, 2*interval, as[2].Start.Sub(as[1].Start), "second retry")
		assert.Equal(t, as[2].Start, dead[0].DeadAt, "dead-lettered when the last attempt failed")
		assert.Equal(t, 3, srv.Count())
		st, _ := d.Endpoint("ep")
		assert.Equal(t, dispatch.EndpointFailing, st.State, "a negative threshold never pauses")
	})
}

func TestDispatcherOrdering(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		var failed bool
		ordered := nw.server(func(w http.ResponseWriter, h dspHit, n int) {
			time.Sleep(2 * time.Millisecond)
			if n == 3 && !failed { // the third event fails once: the next ones must wait for it
				failed = true
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		unordered := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			time.Sleep(30 * time.Millisecond)
			w.WriteHeader(http.StatusOK)
		})
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
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
		time.Sleep(time.Second) // ordered: 21 × 2 ms and a retry; unordered: 5 rounds of 30 ms
		synctest.Wait()
		require.Equal(t, 21, ordered.Count(), "all delivered, one twice")
		require.Equal(t, 20, unordered.Count(), "all delivered")
		var got []string
		for _, h := range ordered.Hits() {
			if len(got) == 0 || got[len(got)-1] != h.ID {
				got = append(got, h.ID)
			}
		}
		assert.Equal(t, want, got, "publish order, the failed one retried before the next")
		assert.Equal(t, int32(1), ordered.maxIn.Load(), "one in flight")
		assert.Equal(t, int32(dispatch.DefaultMaxInFlight), unordered.maxIn.Load(), "ordering is off by default: up to MaxInFlight at once")
		st, _ := d.Endpoint("ordered")
		assert.True(t, st.Subscription.Ordered)
	})
}

func TestDispatcherSlowEndpointDoesNotStarveOthers(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		release := make(chan struct{})
		slow := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			<-release
			w.WriteHeader(http.StatusOK)
		})
		fast := nw.server(nil)
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{Workers: 4})
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
		synctest.Wait()
		assert.Equal(t, 10, fast.Count(), "fast endpoint served while slow one hangs")
		assert.Equal(t, int32(2), slow.inflight.Load(), "slow endpoint at its limit")
		assert.Equal(t, int32(2), slow.maxIn.Load(), "slow endpoint holds its limit, no more")
		st, _ := d.Endpoint("slow")
		assert.Equal(t, 2, st.InFlight)
		p, err := listPending(d, queue.ListFilter{EndpointID: "slow"})
		require.NoError(t, err)
		leased := 0
		for _, del := range p {
			if del.Lease != "" {
				leased++
			}
		}
		assert.Equal(t, 2, leased, "only what can run is leased")
		close(release)
		synctest.Wait()
		assert.Equal(t, 10, slow.Count(), "slow endpoint drained")
		assert.Equal(t, int32(2), slow.maxIn.Load())
	})
}

func TestDispatcherShutdownWaitsForInFlight(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		const handling = 300 * time.Millisecond
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			time.Sleep(handling)
			w.WriteHeader(http.StatusOK)
		})
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		require.NoError(t, d.Start(bg))
		assert.ErrorIs(t, d.Start(bg), dispatch.ErrStarted)
		start := time.Now()
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, int32(1), srv.inflight.Load(), "in flight")
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		require.NoError(t, d.Shutdown(ctx))
		assert.Equal(t, handling, time.Since(start), "returned when the attempt finished")
		assert.Equal(t, int32(0), srv.inflight.Load())
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "the in-flight delivery was acknowledged")
		_, err = d.Publish(bg, newEvent(t, "order-created"))
		assert.ErrorIs(t, err, dispatch.ErrClosed)
		assert.ErrorIs(t, d.Start(bg), dispatch.ErrClosed)
		assert.NoError(t, d.Shutdown(bg), "idempotent")
	})
}

func TestDispatcherShutdownDeadlineHandsLeasesBack(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		block := make(chan struct{})
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			<-block
			w.WriteHeader(http.StatusOK)
		})
		defer close(block)
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		require.NoError(t, d.Start(bg))
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, int32(1), srv.inflight.Load(), "in flight")
		const grace = 100 * time.Millisecond
		ctx, cancel := context.WithTimeout(bg, grace)
		defer cancel()
		start := time.Now()
		err = d.Shutdown(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, grace, time.Since(start), "the attempt was cancelled at the deadline")
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		require.Len(t, p, 1, "nothing lost")
		assert.Empty(t, p[0].Lease, "the lease was handed back")
		assert.Empty(t, p[0].Attempts, "a cancelled attempt is not recorded")
	})
}

func TestDispatcherStartContextStops(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{})
		ctx, cancel := context.WithCancel(bg)
		require.NoError(t, d.Start(ctx))
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err, "open while ctx lives")
		cancel()
		synctest.Wait()
		_, err = d.Publish(bg, newEvent(t, "order-created"))
		assert.ErrorIs(t, err, dispatch.ErrClosed, "closed once ctx ended")
		require.NoError(t, d.Shutdown(bg))
	})
}

func TestDispatcherPublishOnFullStore(t *testing.T) {
	dspNoLeaks(t)
	store := memqueue.New(memqueue.Config{MaxPending: 3})
	d := newDispatcher(t, dspSender(t), store, dispatch.Config{})
	require.NoError(t, d.Subscribe(dspSub(t, "a", "http://127.0.0.1:1/", nil)))
	require.NoError(t, d.Subscribe(dspSub(t, "b", "http://127.0.0.1:1/", nil)))
	n, err := d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = d.Publish(bg, newEvent(t, "order-created"))
	assert.ErrorIs(t, err, queue.ErrQueueFull, "one place left, two deliveries: refused")
	assert.Zero(t, n)
	pending, _ := store.Len()
	assert.Equal(t, 2, pending, "all or nothing")
	_, err = d.Publish(bg, nil)
	assert.Error(t, err)
}

func TestDispatcherEndpointManagement(t *testing.T) {
	dspNoLeaks(t)
	d := newDispatcher(t, dspSender(t), nil, dispatch.Config{LeaseFor: time.Minute})
	assert.ErrorIs(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{URL: "http://127.0.0.1:1/"}}), sender.ErrInvalidEndpoint, "no id")
	assert.ErrorIs(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "x"}}), sender.ErrInvalidEndpoint, "no url")
	long := dspSub(t, "x", "http://127.0.0.1:1/", nil)
	long.Endpoint.Timeout = 2 * time.Minute
	assert.ErrorIs(t, d.Subscribe(long), sender.ErrInvalidEndpoint, "timeout beyond the lease")

	require.NoError(t, d.Subscribe(dspSub(t, "a", "http://127.0.0.1:1/", nil, "order-*")))
	require.NoError(t, d.Subscribe(dspSub(t, "b", "http://127.0.0.1:1/", nil)))
	st, ok := d.Endpoint("a")
	require.True(t, ok)
	assert.Equal(t, "a", st.Subscription.Endpoint.ID)
	assert.Equal(t, dispatch.DefaultMaxInFlight, st.Subscription.MaxInFlight)
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
	assert.ErrorIs(t, d.Unsubscribe(bg, "b"), queue.ErrNotFound)
	dead, err := listDead(d, queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, dead, 1, "pending deliveries of an unsubscribed endpoint are kept as dead letters")
	assert.Equal(t, queue.DeadReasonUnsubscribed, dead[0].DeadReason)
	n, err = d.Publish(bg, newEvent(t, "order-created"))
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.ErrorIs(t, d.EnableEndpoint("b"), queue.ErrNotFound)
}

func TestDispatchersShareOneStore(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			time.Sleep(time.Millisecond)
			w.WriteHeader(http.StatusOK)
		})
		store := memqueue.New(memqueue.Config{})
		s := nw.sender(t)
		var ds []*dispatch.Dispatcher
		for range 3 {
			d := newDispatcher(t, s, store, dispatch.Config{Workers: 4})
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
		time.Sleep(time.Second) // 200 requests of 1 ms, 12 at a time
		synctest.Wait()
		pending, dead := store.Len()
		require.Zero(t, pending, "all delivered")
		require.Zero(t, dead)
		seen := map[string]int{}
		for _, h := range srv.Hits() {
			seen[h.ID]++
		}
		assert.Len(t, seen, events)
		for id, n := range seen {
			assert.Equal(t, 1, n, "event %s delivered by exactly one dispatcher", id)
		}
	})
}

// TestDispatcherWakesWhenALeaseExpires: a delivery leased by a dispatcher that went away
// (here: leased from the store directly, never acknowledged) is sent by another exactly
// when the lease expires, not at its next poll: memqueue.Store's NextDue includes lease
// expiries.
func TestDispatcherWakesWhenALeaseExpires(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(nil)
		store := memqueue.New(memqueue.Config{})
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{PollInterval: time.Hour})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		t0 := time.Now()
		const leaseFor = time.Minute
		gone, err := store.Lease(bg, queue.LeaseRequest{Now: t0, Max: 1, For: leaseFor})
		require.NoError(t, err)
		require.Len(t, gone, 1, "held by a dispatcher that went away")
		require.NoError(t, d.Start(bg))
		time.Sleep(leaseFor - time.Nanosecond)
		synctest.Wait()
		assert.Zero(t, srv.Count(), "not while the lease lives")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		h := srv.Hits()
		require.Len(t, h, 1, "sent when the lease expired")
		assert.Equal(t, t0.Add(leaseFor), h[0].At)
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "acknowledged under the new lease")
		errs, err := store.Complete(bg, t0.Add(leaseFor), queue.Ack(gone[0].ID, gone[0].Lease))
		require.NoError(t, err)
		assert.ErrorIs(t, errs[0], queue.ErrLeaseLost, "the old lease is lost")
	})
}

// storeOnly hides a store's optional extensions (NextDuer, DeadEvicter): a store that
// cannot say when the next delivery is due.
type storeOnly struct{ queue.Store }

// TestDispatcherPollsEveryPollInterval: with a store that is not a NextDuer, a delivery
// enqueued by another process (nothing wakes this dispatcher) and a retry both wait for
// the next poll, PollInterval after the previous one.
func TestDispatcherPollsEveryPollInterval(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, n int) {
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		store := memqueue.New(memqueue.Config{})
		const poll = time.Second
		d := newDispatcher(t, nw.sender(t), storeOnly{store}, dispatch.Config{PollInterval: poll})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, dspRetry(3, 10*time.Millisecond))))
		t0 := time.Now()
		require.NoError(t, d.Start(bg)) // polls at t0 + k × poll while nothing wakes it

		time.Sleep(poll / 2)
		enc, err := newEvent(t, "order-created").Encode()
		require.NoError(t, err)
		now := time.Now()
		require.NoError(t, store.Enqueue(bg, queue.Delivery{ID: "from-elsewhere", EndpointID: "ep", Event: enc, Created: now, Due: now}))
		time.Sleep(poll/2 - time.Nanosecond)
		synctest.Wait()
		assert.Zero(t, srv.Count(), "not before the next poll")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		h := srv.Hits()
		require.Len(t, h, 1, "picked up by the poll")
		assert.Equal(t, t0.Add(poll), h[0].At)

		// The 503's retry is due within 15 ms; the attempt's end wakes the dispatcher once,
		// then nothing does until the next poll, PollInterval later.
		time.Sleep(poll)
		synctest.Wait()
		h = srv.Hits()
		require.Len(t, h, 2, "the retry, at the poll after it was due")
		assert.Equal(t, t0.Add(2*poll), h[1].At)
		p, err := store.ListPending(bg, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p.Deliveries)
	})
}
