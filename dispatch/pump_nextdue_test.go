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

// idleStore is a memqueue.Store that counts the NextDue calls made right after a Lease
// that took deliveries (busy) and the others (idle).
type idleStore struct {
	*memqueue.Store
	took       atomic.Bool // the last Lease took something
	busy, idle atomic.Int64
	leases     atomic.Int64
}

func (s *idleStore) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	ds, err := s.Store.Lease(ctx, req)
	s.leases.Add(1)
	s.took.Store(len(ds) > 0)
	return ds, err
}

func (s *idleStore) NextDue(ctx context.Context) (time.Time, bool) {
	if s.took.Load() {
		s.busy.Add(1)
	} else {
		s.idle.Add(1)
	}
	return s.Store.NextDue(ctx)
}

// TestPumpAsksNextDueWhenIdle: the pump asks the store for the next due time only when
// its last Lease found nothing (once per idle period), not after every Lease that handed
// deliveries to the workers (their attempts wake it when they finish); the deliveries
// are all delivered, and a retry published after them is still sent exactly when due.
func TestPumpAsksNextDueWhenIdle(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		ok := nw.server(nil)
		var failed atomic.Bool
		flaky := nw.server(func(w http.ResponseWriter, _ dspHit, n int) {
			if n == 1 {
				failed.Store(true)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		store := &idleStore{Store: memqueue.New(memqueue.Config{})}
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 4, MaxInFlight: 4})
		require.NoError(t, d.Subscribe(dspSub(t, "ok", ok.URL, nil, "order-*")))
		const interval = 400 * time.Millisecond
		require.NoError(t, d.Subscribe(dspSub(t, "flaky", flaky.URL, dspRetry(3, interval), "user-*")))
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		for range 40 {
			_, err := d.Publish(bg, newEvent(t, "order-created"))
			require.NoError(t, err)
		}
		synctest.Wait()
		require.Equal(t, 40, ok.Count())
		assert.Zero(t, store.busy.Load(), "no NextDue after a Lease that took deliveries")
		assert.Positive(t, store.idle.Load(), "NextDue once idle")
		assert.Greater(t, store.leases.Load(), store.idle.Load(), "fewer NextDue calls than Leases")

		t0 := time.Now()
		_, err := d.Publish(bg, newEvent(t, "user-created"))
		require.NoError(t, err)
		synctest.Wait()
		require.True(t, failed.Load())
		pending, err := listPending(d, queue.ListFilter{EndpointID: "flaky"})
		require.NoError(t, err)
		require.Len(t, pending, 1)
		due := pending[0].Due
		time.Sleep(time.Until(due))
		synctest.Wait()
		hits := flaky.Hits()
		require.Len(t, hits, 2)
		assert.Equal(t, due, hits[1].At, "the retry exactly when due")
		assert.Greater(t, due, t0)
		assert.Zero(t, store.busy.Load())
	})
}

// TestPumpAsksNextDueWhenIdleWithARegistry: the same rule with a Config.Registry (the
// pump's other lease path): no NextDue right after a Lease that took deliveries, one once
// the pump is idle, and every delivery made.
func TestPumpAsksNextDueWhenIdleWithARegistry(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		ok := nw.server(nil)
		store := &idleStore{Store: memqueue.New(memqueue.Config{})}
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 4, MaxInFlight: 4, Registry: memqueue.NewRegistry()})
		require.NoError(t, d.Register(bg, dispatch.EndpointSpec{ID: "ok", URL: ok.URL, Filter: []string{"order-*"}}))
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		for range 40 {
			_, err := d.Publish(bg, newEvent(t, "order-created"))
			require.NoError(t, err)
		}
		synctest.Wait()
		require.Equal(t, 40, ok.Count())
		assert.Zero(t, store.busy.Load(), "no NextDue after a Lease that took deliveries")
		assert.Positive(t, store.idle.Load(), "NextDue once idle")
		assert.Greater(t, store.leases.Load(), store.idle.Load(), "fewer NextDue calls than Leases")
	})
}
