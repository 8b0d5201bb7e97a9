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
)

// watchedLeases is a memqueue.Store (a queue.LeasingEnqueuer) that counts the
// deliveries its Lease returns and those stored leased by EnqueueLeased, and whose
// NextDue waits, while gate is set, until gate is closed: a test holds the dispatcher's
// loop there. It counts the Lease calls too.
type watchedLeases struct {
	*memqueue.Store
	viaLease, viaEnqueue atomic.Int64
	leases               atomic.Int64 // Lease calls
	gate                 atomic.Pointer[chan struct{}]
	leaseGate            atomic.Pointer[chan struct{}] // Lease returns once it is closed
}

func newWatchedLeases(cfg memqueue.Config) *watchedLeases {
	return &watchedLeases{Store: memqueue.New(cfg)}
}

func (w *watchedLeases) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	w.leases.Add(1)
	ds, err := w.Store.Lease(ctx, req)
	if g := w.leaseGate.Load(); g != nil {
		<-*g
	}
	w.viaLease.Add(int64(len(ds)))
	return ds, err
}

func (w *watchedLeases) EnqueueLeased(ctx context.Context, ds []queue.Delivery, committed func()) error {
	err := w.Store.EnqueueLeased(ctx, ds, committed)
	if err == nil {
		for _, d := range ds {
			if d.Lease != "" {
				w.viaEnqueue.Add(1)
			}
		}
	}
	return err
}

func (w *watchedLeases) NextDue(ctx context.Context) (time.Time, bool) {
	if g := w.gate.Load(); g != nil {
		<-*g
	}
	return w.Store.NextDue(ctx)
}

// firstWaits answers 204, the first request once release is closed.
func firstWaits(release <-chan struct{}) func(w http.ResponseWriter, _ dspHit, n int) {
	return func(w http.ResponseWriter, _ dspHit, n int) {
		if n == 1 {
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// TestPublishHandsOffToAnIdleWorker: with idle workers and nothing waiting, a published
// delivery is stored leased and attempted without a Lease (the store holds it, leased,
// while the endpoint answers); with Config.NoHandoff the dispatcher's Lease takes it.
func TestPublishHandsOffToAnIdleWorker(t *testing.T) {
	for _, noHandoff := range []bool{false, true} {
		name := map[bool]string{false: "handoff", true: "NoHandoff"}[noHandoff]
		t.Run(name, func(t *testing.T) {
			dspBubble(t, func(t *testing.T, nw *dspNet) {
				store := newWatchedLeases(memqueue.Config{})
				var whileSent atomic.Pointer[queue.Stats]
				srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
					st, err := store.Stats(bg, time.Now())
					if err == nil {
						whileSent.Store(&st)
					}
					w.WriteHeader(http.StatusNoContent)
				})
				d := newDispatcher(t, nw.sender(t), store, dispatch.Config{NoHandoff: noHandoff})
				require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
				require.NoError(t, d.Start(bg))
				synctest.Wait() // the first Lease found the store empty
				n, err := d.Publish(bg, newEvent(t, "order-created"))
				require.NoError(t, err)
				require.Equal(t, 1, n)
				synctest.Wait()
				require.Equal(t, 1, srv.Count(), "delivered")
				require.NotNil(t, whileSent.Load())
				assert.Equal(t, queue.Stats{Leased: 1}, *whileSent.Load(), "stored, leased, while it was being sent")
				pending, err := listPending(d, queue.ListFilter{})
				require.NoError(t, err)
				assert.Empty(t, pending, "acknowledged")
				if noHandoff {
					assert.Equal(t, int64(1), store.viaLease.Load(), "NoHandoff: the Lease took it")
					assert.Zero(t, store.viaEnqueue.Load())
				} else {
					assert.Zero(t, store.viaLease.Load(), "no Lease returned it")
					assert.Equal(t, int64(1), store.viaEnqueue.Load(), "stored leased by Publish")
				}
			})
		})
	}
}

// TestHandoffKeepsTheBacklogFirst: a delivery published while older ones of its endpoint
// wait is not handed to a free worker ahead of them, even when the dispatcher's loop is
// busy elsewhere at that moment: the endpoint gets them in the order they were published.
func TestHandoffKeepsTheBacklogFirst(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		release := make(chan struct{})
		srv := nw.server(firstWaits(release))
		store := newWatchedLeases(memqueue.Config{})
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{})
		sub := dspSub(t, "ep", srv.URL, nil)
		sub.MaxInFlight = 1
		require.NoError(t, d.Subscribe(sub))
		var order []string
		for range 2 { // b, then c: waiting before the start
			ev := newEvent(t, "order-created")
			_, err := d.Publish(bg, ev)
			require.NoError(t, err)
			order = append(order, ev.ID)
			time.Sleep(time.Millisecond)
		}
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		require.Equal(t, 1, srv.Count(), "b in flight, alone (MaxInFlight 1)")

		// Hold the dispatcher's loop in NextDue, then let b finish: its place is free,
		// c waits, and the loop cannot lease it yet.
		gate := make(chan struct{})
		store.gate.Store(&gate)
		d.Notify()
		synctest.Wait()
		close(release)
		synctest.Wait()
		st, _ := d.Endpoint("ep")
		require.Zero(t, st.InFlight, "b finished, its place is free")

		time.Sleep(time.Millisecond)
		ev := newEvent(t, "order-created") // d
		_, err := d.Publish(bg, ev)
		require.NoError(t, err)
		order = append(order, ev.ID)
		synctest.Wait()
		assert.Equal(t, 1, srv.Count(), "d was not handed off ahead of c")
		store.gate.Store(nil)
		close(gate)
		synctest.Wait()
		var got []string
		for _, h := range srv.Hits() {
			got = append(got, h.ID)
		}
		assert.Equal(t, order, got, "in publish order")
		assert.Zero(t, store.viaEnqueue.Load(), "nothing handed off while a backlog waited")
	})
}

// TestHandoffKeepsTheBounds: handed-off deliveries count against Workers and the
// endpoint's MaxInFlight like leased ones; what does not fit waits in the store and is
// leased as places free up.
func TestHandoffKeepsTheBounds(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		release := make(chan struct{})
		slow := func(w http.ResponseWriter, _ dspHit, _ int) {
			<-release
			w.WriteHeader(http.StatusNoContent)
		}
		one, four := nw.server(slow), nw.server(slow)
		store := newWatchedLeases(memqueue.Config{})
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 3})
		subOne, subFour := dspSub(t, "one", one.URL, nil, "one.*"), dspSub(t, "four", four.URL, nil, "four.*")
		subOne.MaxInFlight, subFour.MaxInFlight = 1, 4
		require.NoError(t, d.Subscribe(subOne))
		require.NoError(t, d.Subscribe(subFour))
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		for range 3 {
			_, err := d.Publish(bg, newEvent(t, "one.created"))
			require.NoError(t, err)
		}
		for range 5 {
			_, err := d.Publish(bg, newEvent(t, "four.created"))
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.Equal(t, int32(1), one.inflight.Load(), "MaxInFlight 1")
		assert.Equal(t, int32(2), four.inflight.Load(), "the two workers left of 3")
		assert.Equal(t, int64(3), store.viaEnqueue.Load(), "three handed off")
		st, err := store.Stats(bg, time.Now())
		require.NoError(t, err)
		assert.Equal(t, queue.Stats{Pending: 5, Leased: 3}, st)
		close(release)
		synctest.Wait()
		assert.Equal(t, 3, one.Count())
		assert.Equal(t, 5, four.Count())
		assert.Equal(t, int32(1), one.maxIn.Load(), "never more than MaxInFlight")
		assert.LessOrEqual(t, four.maxIn.Load(), int32(3), "never more than Workers")
		st, err = store.Stats(bg, time.Now())
		require.NoError(t, err)
		assert.Equal(t, queue.Stats{}, st, "all acknowledged")
	})
}

// TestHandoffRefusedByTheStoreFreesItsPlaces: when the store refuses a Publish that had
// places reserved (queue full), Publish returns the store's error and the places are
// free again: the in-flight count is what is really in flight, and a later Publish is
// delivered.
func TestHandoffRefusedByTheStoreFreesItsPlaces(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		release := make(chan struct{})
		srv := nw.server(firstWaits(release))
		store := newWatchedLeases(memqueue.Config{MaxPending: 1})
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		synctest.Wait()
		_, err = d.Publish(bg, newEvent(t, "order-created"))
		require.ErrorIs(t, err, queue.ErrQueueFull)
		st, _ := d.Endpoint("ep")
		assert.Equal(t, 1, st.InFlight, "the refused delivery holds no place")
		close(release)
		synctest.Wait()
		_, err = d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, 2, srv.Count())
		assert.Equal(t, int64(2), store.viaEnqueue.Load(), "both stored were handed off")
		st, _ = d.Endpoint("ep")
		assert.Zero(t, st.InFlight)
	})
}

// TestPendingStoredDuringALeaseIsNotLeftBehind: a delivery Publish stores pending while
// the dispatcher's Lease is in flight (its places held by that Lease), and that the
// Lease did not see, is leased at once when the Lease returns, not at the next poll,
// though the Lease found the endpoint clear.
func TestPendingStoredDuringALeaseIsNotLeftBehind(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(nil)
		store := newWatchedLeases(memqueue.Config{})
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{PollInterval: time.Hour})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		gate := make(chan struct{})
		store.leaseGate.Store(&gate)
		d.Notify() // a Lease that has read the store and holds the places
		synctest.Wait()
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
		assert.Zero(t, store.viaEnqueue.Load(), "not handed off: the Lease in flight holds the places")
		store.leaseGate.Store(nil)
		close(gate)
		synctest.Wait()
		assert.Equal(t, 1, srv.Count(), "leased when the Lease that missed it returned, not an hour later")
	})
}
