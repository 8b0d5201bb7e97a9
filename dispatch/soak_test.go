package dispatch_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// soakReceiver processes each event id once: a delivery whose id was already processed is
// acknowledged without processing (the de-duplication a receiver must do under
// at-least-once delivery).
type soakReceiver struct {
	mu        sync.Mutex
	received  map[string]int // requests per event id
	processed map[string]int // times the application processed it
}

// ackCounter is a memqueue.Store that closes all once it has acknowledged want deliveries,
// so that the soak test waits for that event instead of polling.
type ackCounter struct {
	*memqueue.Store
	want  int64
	acked atomic.Int64
	all   chan struct{}
}

func (s *ackCounter) Complete(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, error) {
	errs, _, err := s.CompleteEvicting(ctx, now, os...)
	return errs, err
}

func (s *ackCounter) CompleteEvicting(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, []queue.Delivery, error) {
	errs, evicted, err := s.Store.CompleteEvicting(ctx, now, os...)
	for i, e := range errs {
		if e == nil && os[i].Kind == queue.OutcomeAck && s.acked.Add(1) == s.want {
			close(s.all)
		}
	}
	return errs, evicted, err
}

func newSoakReceiver() *soakReceiver {
	return &soakReceiver{received: map[string]int{}, processed: map[string]int{}}
}

func (r *soakReceiver) process(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.processed[id] == 0 {
		r.processed[id]++
	}
}

func (r *soakReceiver) counts() (received, processed map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return copyMap(r.received), copyMap(r.processed)
}

func copyMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestSoakDispatcher publishes thousands of events to two healthy endpoints, one that
// fails a third of its attempts (503, lost acknowledgement after a timeout, connection
// reset) and one that is dead (closed listener). Every event reaches the healthy and
// flaky endpoints and is processed once, however often the flaky one's breaker opens:
// waiting out a cool-down spends no retries, so none of its deliveries is dead-lettered.
// The dead endpoint ends paused, having cost a handful of connections (Threshold, the
// attempts already in flight, one probe per cool-down): its deliveries are dead letters
// with their full history of real attempts or wait, untried, for it to come back; nothing
// is lost; no goroutine is left behind.
func TestSoakDispatcher(t *testing.T) {
	dspNoLeaks(t)
	events := 2000
	if testing.Short() {
		events = 300
	}
	recv := map[string]*soakReceiver{"healthy1": newSoakReceiver(), "healthy2": newSoakReceiver(), "flaky": newSoakReceiver()}
	servers := map[string]*dspServer{}
	for _, id := range []string{"healthy1", "healthy2"} {
		r := recv[id]
		servers[id] = newDspServer(t, func(w http.ResponseWriter, h dspHit, _ int) {
			r.mu.Lock()
			r.received[h.ID]++
			r.mu.Unlock()
			r.process(h.ID)
			w.WriteHeader(http.StatusNoContent)
		})
	}
	flaky := recv["flaky"]
	const flakyTimeout = 100 * time.Millisecond
	servers["flaky"] = newDspServer(t, func(w http.ResponseWriter, h dspHit, n int) {
		flaky.mu.Lock()
		flaky.received[h.ID]++
		flaky.mu.Unlock()
		if n%3 != 1 {
			flaky.process(h.ID)
			w.WriteHeader(http.StatusOK)
			return
		}
		switch (n / 3) % 3 {
		case 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1: // processed, but the acknowledgement comes too late: the sender retries
			flaky.process(h.ID)
			<-h.ClientGone // the attempt timed out: the sender closed the connection
			w.WriteHeader(http.StatusOK)
		default: // connection reset
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = conn.Close()
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + ln.Addr().String() + "/"
	require.NoError(t, ln.Close())

	states := &dspStates{}
	const threshold, maxInFlight, coolDown, deadAttempts = 5, 4, 200 * time.Millisecond, 4
	// The dead endpoint never acknowledges: the live ones' deliveries are all done when
	// the store has acknowledged three per event.
	store := &ackCounter{Store: memqueue.New(memqueue.Config{}), want: int64(3 * events), all: make(chan struct{})}
	d := newDispatcher(t, dspSender(t), store, dispatch.Config{
		Workers:     16,
		MaxInFlight: maxInFlight,
		Observer:    states.hooks(),
		Breaker:     dispatch.BreakerConfig{Threshold: threshold, CoolDown: coolDown},
	})
	for id, srv := range servers {
		sub := dspSub(t, id, srv.URL, dspRetry(20, 5*time.Millisecond))
		if id == "flaky" {
			sub.Endpoint.Timeout = flakyTimeout
			sub.MaxInFlight = 8
		}
		require.NoError(t, d.Subscribe(sub))
	}
	require.NoError(t, d.Subscribe(dspSub(t, "dead", deadURL, dspRetry(deadAttempts, 5*time.Millisecond))))
	require.NoError(t, d.Start(bg))

	start := time.Now()
	published := make([]string, 0, events)
	for i := range events {
		ev := newEvent(t, fmt.Sprintf("order-%d", i%7))
		n, err := d.Publish(bg, ev)
		require.NoError(t, err)
		require.Equal(t, 4, n)
		published = append(published, ev.ID)
	}
	publishTime := time.Since(start)

	select {
	case <-store.all:
	case <-time.After(2 * time.Minute): // a failure guard: it takes seconds
		t.Fatalf("%d of %d deliveries to the live endpoints acknowledged in two minutes", store.acked.Load(), store.want)
	}
	for id := range recv {
		p, err := listPending(d, queue.ListFilter{EndpointID: id, Limit: 1})
		require.NoError(t, err)
		require.Empty(t, p, "%s: every delivery acknowledged", id)
	}
	// Stop before looking: no probe in flight, nothing changing.
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	require.NoError(t, d.Shutdown(ctx))
	ran := time.Since(start)
	t.Logf("%d events × 4 endpoints: published in %v, settled in %v; flaky paused %d times", events, publishTime, ran,
		count(states.States("flaky"), dispatch.EndpointPaused))

	for id, r := range recv {
		received, processed := r.counts()
		for _, evID := range published {
			assert.GreaterOrEqual(t, received[evID], 1, "%s: event %s received", id, evID)
			assert.Equal(t, 1, processed[evID], "%s: event %s processed once", id, evID)
		}
		assert.Len(t, processed, events, "%s: nothing extra", id)
		if id == "flaky" {
			retried := 0
			for _, c := range received {
				if c > 1 {
					retried++
				}
			}
			assert.Positive(t, retried, "flaky endpoint saw retries (including duplicates of processed events)")
		}
	}

	dead, err := listDead(d, queue.ListFilter{})
	require.NoError(t, err)
	deadIDs := map[string]bool{}
	attempts := 0 // made to the dead endpoint
	for _, del := range dead {
		assert.Equal(t, "dead", del.EndpointID, "only the dead endpoint has dead letters")
		assert.Equal(t, queue.DeadReasonExhausted, del.DeadReason)
		assert.Len(t, del.Attempts, deadAttempts, "full history")
		attempts += realAttempts(t, del)
		deadIDs[del.Event.ID()] = true
	}
	waiting, err := listPending(d, queue.ListFilter{})
	require.NoError(t, err)
	waitIDs := map[string]bool{}
	for _, del := range waiting {
		assert.Equal(t, "dead", del.EndpointID, "only the dead endpoint has deliveries left")
		assert.Less(t, len(del.Attempts), deadAttempts, "a delivery still waiting has retries left")
		attempts += realAttempts(t, del)
		waitIDs[del.Event.ID()] = true
	}
	for _, evID := range published {
		assert.True(t, deadIDs[evID] != waitIDs[evID],
			"nothing lost: published = delivered + dead + waiting for the dead endpoint (%s)", evID)
	}
	probes := int(ran/coolDown) + 1
	assert.LessOrEqual(t, attempts, threshold+maxInFlight+probes,
		"a dead endpoint costs Threshold attempts, those in flight when it paused and a probe per cool-down")
	t.Logf("dead endpoint: %d attempts, %d dead letters, %d deliveries waiting", attempts, len(dead), len(waiting))
	st, ok := d.Endpoint("dead")
	require.True(t, ok)
	assert.Equal(t, dispatch.EndpointPaused, st.State, "the dead endpoint ends paused")
	assert.Contains(t, states.States("dead"), dispatch.EndpointPaused)
	for _, id := range []string{"healthy1", "healthy2"} {
		st, _ := d.Endpoint(id)
		assert.Equal(t, dispatch.EndpointActive, st.State, id)
	}
}

// realAttempts checks that every attempt in del's history was sent (none is a synthetic
// failure of a paused endpoint) and returns how many there are.
func realAttempts(t *testing.T, del queue.Delivery) int {
	t.Helper()
	for _, a := range del.Attempts {
		assert.NotEqual(t, dispatch.ErrEndpointPaused.Error(), a.Error, "no attempt is recorded for a delivery not sent")
		assert.Equal(t, queue.ClassRetryable, a.Class)
	}
	return len(del.Attempts)
}

func count[T comparable](xs []T, x T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
