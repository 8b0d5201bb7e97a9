package dispatch_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// watchedStore is a memqueue.Store that counts what the dispatcher asks of it: deliveries
// leased, writes (Ack, Reschedule, DeadLetter) and idle pump cycles (one NextDue per
// cycle that leased nothing, after its leases: the pump asks only when idle), so that a test can check that the dispatcher looked at the
// store, and what it did there, while the clock moved.
type watchedStore struct {
	*memqueue.Store
	leased atomic.Int64
	writes atomic.Int64
	cycles atomic.Int64
}

func newWatchedStore() *watchedStore {
	return &watchedStore{Store: memqueue.New(memqueue.Config{})}
}

func (s *watchedStore) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	ds, err := s.Store.Lease(ctx, req)
	s.leased.Add(int64(len(ds)))
	return ds, err
}

func (s *watchedStore) Complete(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, error) {
	s.writes.Add(int64(len(os)))
	return s.Store.Complete(ctx, now, os...)
}

func (s *watchedStore) CompleteEvicting(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, []queue.Delivery, error) {
	s.writes.Add(int64(len(os)))
	return s.Store.CompleteEvicting(ctx, now, os...)
}

func (s *watchedStore) NextDue(ctx context.Context) (time.Time, bool) {
	t, ok := s.Store.NextDue(ctx)
	s.cycles.Add(1)
	return t, ok
}

// attemptCounter counts the attempts actually made, through a Sender's observer.
type attemptCounter struct {
	n atomic.Int64
}

func (o *attemptCounter) hooks() sender.DeliveryObserver {
	return sender.DeliveryObserver{
		AttemptFinished: func(context.Context, sender.AttemptInfo, sender.Attempt) { o.n.Add(1) },
	}
}

// TestDispatcherBreakerDoesNotSpendRetriesOfUnsentDeliveries drives an outage on the
// fake clock of a synctest bubble: an endpoint fails until its breaker opens, stays down
// through one failed probe, then recovers. While the endpoint is paused its deliveries are
// not leased, not attempted and not written to, though the dispatcher keeps polling the
// store; the only attempts recorded are the requests the endpoint got; each probe goes
// exactly when its cool-down ends; the hours spent paused do not count against the retry
// policy's MaxElapsedTime (10 minutes) nor its MaxAttempts (4); and every event is
// delivered, none dead-lettered, including those published during the outage.
func TestDispatcherBreakerDoesNotSpendRetriesOfUnsentDeliveries(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		t0 := time.Now()
		var down atomic.Bool
		down.Store(true)
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			if down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		attempts := &attemptCounter{}
		s := nw.newSender(t, sender.Config{Observer: attempts.hooks()})
		changes := make(chan dispatch.EndpointStateChange, 32)
		states := &dspStates{onEach: func(c dispatch.EndpointStateChange) { changes <- c }}
		store := newWatchedStore()
		// Polls every 7 minutes: the probes at whole hours are not polls, but the wake-up at
		// the end of the cool-down.
		const poll, coolDown = 7 * time.Minute, time.Hour
		d := newDispatcher(t, s, store, dispatch.Config{
			PollInterval: poll,
			Observer:     states.hooks(),
			Breaker:      dispatch.BreakerConfig{Threshold: 3, CoolDown: coolDown},
		})
		retry := &sender.RetryPolicy{InitialInterval: time.Second, MaxInterval: 4 * time.Second, RandomizationFactor: -1,
			MaxAttempts: 4, MaxElapsedTime: 10 * time.Minute}
		sub := dspSub(t, "ep", srv.URL, retry)
		sub.MaxInFlight = 1
		require.NoError(t, d.Subscribe(sub))
		// expect checks the state changes made so far (synctest.Wait first), at time at.
		expect := func(at time.Duration, want ...dispatch.EndpointState) {
			t.Helper()
			for _, w := range want {
				select {
				case c := <-changes:
					require.Equal(t, w, c.To, "state change")
					assert.Equal(t, t0.Add(at), c.Time, "change to %v at t0+%v", w, at)
					if w == dispatch.EndpointPaused {
						assert.Equal(t, t0.Add(at+coolDown), c.Until, "paused for CoolDown")
					}
				default:
					t.Fatalf("no change to %v", w)
				}
			}
			select {
			case c := <-changes:
				t.Fatalf("unexpected change to %v", c.To)
			default:
			}
		}
		// pendingAttempts checks that what the store recorded is what the endpoint got.
		pendingAttempts := func(what string) map[string]int {
			t.Helper()
			p, err := listPending(d, queue.ListFilter{})
			require.NoError(t, err)
			per, total := map[string]int{}, 0
			for _, del := range p {
				assert.Empty(t, del.Lease, "%s: nothing leased", what)
				for _, a := range del.Attempts {
					assert.NotEqual(t, dispatch.ErrEndpointPaused.Error(), a.Error, "%s: no synthetic attempt", what)
					assert.NotZero(t, a.Status, "%s: every recorded attempt got an answer", what)
				}
				per[del.Event.ID()] = len(del.Attempts)
				total += len(del.Attempts)
			}
			assert.Equal(t, srv.Count(), total, "%s: attempts recorded = requests received", what)
			return per
		}
		noDead := func(what string) {
			t.Helper()
			dead, err := listDead(d, queue.ListFilter{})
			require.NoError(t, err)
			assert.Empty(t, dead, "%s: nothing dead-lettered", what)
		}

		var early, late []string // published before and during the outage
		for range 3 {
			ev := newEvent(t, "order-created")
			_, err := d.Publish(bg, ev)
			require.NoError(t, err)
			early = append(early, ev.ID)
		}
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		expect(0, dispatch.EndpointFailing, dispatch.EndpointPaused)
		require.Equal(t, 3, srv.Count(), "paused after Threshold failures")
		leased, writes, cycles := store.leased.Load(), store.writes.Load(), store.cycles.Load()

		// Half an hour into the cool-down: every retry is due and MaxElapsedTime has passed.
		time.Sleep(30 * time.Minute)
		for range 3 {
			ev := newEvent(t, "order-created")
			_, err := d.Publish(bg, ev)
			require.NoError(t, err)
			late = append(late, ev.ID)
		}
		synctest.Wait()
		expect(0)
		assert.GreaterOrEqual(t, store.cycles.Load()-cycles, int64(30*time.Minute/poll), "the dispatcher looked at the store at least once a PollInterval")
		assert.Equal(t, 3, srv.Count(), "nothing sent while paused")
		assert.Equal(t, leased, store.leased.Load(), "nothing leased while paused")
		assert.Equal(t, writes, store.writes.Load(), "no store writes while paused")
		per := pendingAttempts("paused")
		for _, id := range early {
			assert.Equal(t, 1, per[id], "one real attempt each")
		}
		for _, id := range late {
			assert.Zero(t, per[id], "published during the outage: never tried")
		}
		noDead("paused")

		// The cool-down ends: one probe, the earliest due delivery (first attempted an hour
		// ago), fails; the endpoint pauses again, the probe's delivery is rescheduled.
		time.Sleep(coolDown - 30*time.Minute - time.Nanosecond)
		synctest.Wait()
		expect(0)
		assert.Equal(t, 3, srv.Count(), "not a nanosecond early")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		expect(coolDown, dispatch.EndpointProbing, dispatch.EndpointPaused)
		assert.Equal(t, 4, srv.Count(), "exactly one probe")
		assert.Equal(t, t0.Add(coolDown), srv.Hits()[3].At, "sent when the cool-down ended")
		per = pendingAttempts("after a failed probe")
		assert.Equal(t, 2, per[early[0]], "the probe was the earliest due delivery")
		noDead("after a failed probe: an hour since its first attempt, 10 minutes of MaxElapsedTime")

		// The endpoint is back: the next probe succeeds and everything is delivered at once.
		down.Store(false)
		time.Sleep(coolDown)
		synctest.Wait()
		expect(2*coolDown, dispatch.EndpointProbing, dispatch.EndpointActive)
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "every delivery acknowledged")
		noDead("recovered")
		require.NoError(t, d.Shutdown(bg))
		retries := map[string][]int{}
		for _, h := range srv.Hits() {
			retries[h.ID] = append(retries[h.ID], h.RetryCount)
		}
		assert.Equal(t, []int{0, 1, 2}, retries[early[0]], "retryCount counts real attempts only")
		assert.Equal(t, []int{0, 1}, retries[early[1]])
		assert.Equal(t, []int{0, 1}, retries[early[2]])
		for _, id := range late {
			assert.Equal(t, []int{0}, retries[id], "sent once, when the endpoint was back")
		}
		assert.Equal(t, 10, srv.Count())
		assert.Equal(t, int64(srv.Count()), attempts.n.Load(), "every attempt the observer saw was a request")
		st, _ := d.Endpoint("ep")
		assert.Equal(t, dispatch.EndpointActive, st.State)
	})
}
