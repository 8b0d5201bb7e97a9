package pgqueue_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// countedLeases is a pgqueue Store that counts the deliveries its Lease returns and those
// EnqueueLeased stores leased.
type countedLeases struct {
	*pgqueue.Store
	viaLease, viaEnqueue atomic.Int64
}

func (c *countedLeases) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	ds, err := c.Store.Lease(ctx, req)
	c.viaLease.Add(int64(len(ds)))
	return ds, err
}

func (c *countedLeases) EnqueueLeased(ctx context.Context, ds []queue.Delivery, committed func()) error {
	err := c.Store.EnqueueLeased(ctx, ds, committed)
	if err == nil {
		for _, d := range ds {
			if d.Lease != "" {
				c.viaEnqueue.Add(1)
			}
		}
	}
	return err
}

// TestDispatcherHandsOffThroughPostgres: a dispatcher on pgqueue whose workers are idle
// gives each published delivery to a worker from Publish itself, stored leased by
// EnqueueLeased, and no Lease returns it; with Config.NoHandoff each is stored pending
// and the dispatcher's Lease takes it. A first delivery, not counted, lets the dispatcher
// learn that nothing of the endpoint waits (however its first Lease and Publish raced);
// nothing else leases meanwhile: no notifications, no poll within the test.
func TestDispatcherHandsOffThroughPostgres(t *testing.T) {
	const n = 5
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	require.NoError(t, err)
	t.Cleanup(snd.CloseIdleConnections)
	for _, noHandoff := range []bool{false, true} {
		t.Run(map[bool]string{false: "handoff", true: "NoHandoff"}[noHandoff], func(t *testing.T) {
			store := &countedLeases{Store: newStore(t, pgqueue.Config{Notify: pgqueue.NotifyOff})}
			delivered := make(chan struct{}, n+1)
			d, err := dispatch.New(snd, store, dispatch.Config{NoHandoff: noHandoff, PollInterval: time.Hour,
				Observer: dispatch.Observer{Delivered: func(context.Context, queue.Delivery) { delivered <- struct{}{} }}})
			require.NoError(t, err)
			require.NoError(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: srv.URL}}))
			require.NoError(t, d.Start(t.Context()))
			t.Cleanup(func() { assert.NoError(t, d.Shutdown(context.Background())) })
			ev, err := event.New("order-created", map[string]string{"order": "1"})
			require.NoError(t, err)
			for i := range n + 1 {
				if i == 1 { // the first one delivered: count from here
					store.viaLease.Store(0)
					store.viaEnqueue.Store(0)
				}
				published, err := d.Publish(t.Context(), ev)
				require.NoError(t, err)
				require.Equal(t, 1, published)
				select {
				case <-delivered:
				case <-time.After(30 * time.Second):
					t.Fatalf("delivery %d not acknowledged after 30 s", i)
				}
			}
			if noHandoff {
				assert.Zero(t, store.viaEnqueue.Load(), "nothing stored leased")
				assert.EqualValues(t, n, store.viaLease.Load(), "every delivery taken by a Lease")
			} else {
				assert.EqualValues(t, n, store.viaEnqueue.Load(), "every delivery stored leased by EnqueueLeased")
				assert.Zero(t, store.viaLease.Load(), "no Lease returned a handed-off delivery")
			}
			st, err := store.Stats(t.Context(), time.Now())
			require.NoError(t, err)
			assert.Equal(t, queue.Stats{}, st, "every delivery acknowledged and removed")
		})
	}
}
