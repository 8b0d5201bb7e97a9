package dispatch_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// TestFanOutReturnsWhatPublishWouldStoreAndStoresNothing: FanOut is pure — one delivery
// per matching subscription, the event encoded once and shared, nothing stored — and the
// deliveries, enqueued by the caller and followed by Notify, are delivered at once rather
// than at the next poll.
func TestFanOutReturnsWhatPublishWouldStoreAndStoresNothing(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		a, b, other := nw.server(nil), nw.server(nil), nw.server(nil)
		store := memqueue.New(memqueue.Config{})
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{PollInterval: time.Hour})
		require.NoError(t, d.Subscribe(dspSub(t, "a", a.URL, nil, "order-*")))
		b2 := dspSub(t, "b", b.URL, nil, "order-created")
		b2.Ordered = true
		require.NoError(t, d.Subscribe(b2))
		require.NoError(t, d.Subscribe(dspSub(t, "other", other.URL, nil, "invoice-*")))
		require.NoError(t, d.Start(t.Context()))
		synctest.Wait()

		ev := newEvent(t, "order-created")
		ds, err := d.FanOut(ev)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		byEndpoint := map[string]queue.Delivery{}
		for _, dl := range ds {
			byEndpoint[dl.EndpointID] = dl
			assert.NotEmpty(t, dl.ID)
			assert.Equal(t, ev.ID, dl.Event.ID())
			assert.Equal(t, time.Now(), dl.Due, "due now, on the dispatcher's clock")
		}
		assert.Same(t, byEndpoint["a"].Event, byEndpoint["b"].Event, "encoded once")
		assert.False(t, byEndpoint["a"].Ordered)
		assert.True(t, byEndpoint["b"].Ordered, "the subscription's ordering travels with the delivery")
		assert.NotEqual(t, byEndpoint["a"].ID, byEndpoint["b"].ID)
		st, err := store.Stats(bg, time.Now())
		require.NoError(t, err)
		assert.Equal(t, queue.Stats{}, st, "FanOut stores nothing")

		none, err := d.FanOut(newEvent(t, "user-deleted"))
		require.NoError(t, err)
		assert.Empty(t, none)

		require.NoError(t, store.Enqueue(bg, ds...))
		d.Notify()
		synctest.Wait()
		assert.Equal(t, 1, a.Count(), "Notify woke the dispatcher, PollInterval is an hour")
		assert.Equal(t, 1, b.Count())
		assert.Zero(t, other.Count())
	})
}

// notifyingStore is a memqueue.Store that reports outside enqueues on a channel, as a
// Postgres store would with LISTEN/NOTIFY.
type notifyingStore struct {
	*memqueue.Store
	ch chan struct{}
}

func (s *notifyingStore) Notifications() <-chan struct{} { return s.ch }

// TestDispatcherLeasesOnTheStoresNotification: a store implementing queue.Notifier wakes
// the dispatcher for deliveries another process enqueued: delivered at once, not at the
// next poll (an hour here).
func TestDispatcherLeasesOnTheStoresNotification(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(nil)
		store := &notifyingStore{Store: memqueue.New(memqueue.Config{}), ch: make(chan struct{}, 1)}
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{PollInterval: time.Hour})
		require.NoError(t, d.Subscribe(dspSub(t, "a", srv.URL, nil)))
		require.NoError(t, d.Start(t.Context()))
		synctest.Wait() // the dispatcher has looked, found nothing, and sleeps until its poll
		ds, err := d.FanOut(newEvent(t, "order-created"))
		require.NoError(t, err)
		require.NoError(t, store.Enqueue(bg, ds...)) // "another process": no Notify of ours
		synctest.Wait()
		assert.Zero(t, srv.Count(), "without a notification the delivery waits for the poll")
		store.ch <- struct{}{}
		synctest.Wait()
		assert.Equal(t, 1, srv.Count(), "the store's notification woke the dispatcher")
	})
}
