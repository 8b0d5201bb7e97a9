package dispatch_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// enqueueCounter is a memqueue.Store that records the size of every Enqueue call.
type enqueueCounter struct {
	*memqueue.Store
	calls []int
}

func (s *enqueueCounter) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	s.calls = append(s.calls, len(ds))
	return s.Store.Enqueue(ctx, ds...)
}

// TestPublishManyStoresEveryEventInOneEnqueue: the deliveries of all the events, each
// fanned out as Publish does (an event no subscription matches adds none), go to the store
// in one Enqueue, in the order of the events, so that an ordered endpoint has them in
// that order; PublishMany returns how many it stored.
func TestPublishManyStoresEveryEventInOneEnqueue(t *testing.T) {
	dspNoLeaks(t)
	store := &enqueueCounter{Store: memqueue.New(memqueue.Config{})}
	d := newDispatcher(t, dspSender(t), store, dispatch.Config{})
	require.NoError(t, d.Subscribe(dspSub(t, "a", "http://127.0.0.1:1/", nil, "order-*")))
	b := dspSub(t, "b", "http://127.0.0.1:1/", nil, "order-created")
	b.Ordered = true
	require.NoError(t, d.Subscribe(b))

	evs := []*event.Event{newEvent(t, "order-created"), newEvent(t, "invoice-paid"),
		newEvent(t, "order-updated"), newEvent(t, "order-created")}
	n, err := d.PublishMany(bg, evs...)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "a: 3 order events; b: 2 order-created")
	assert.Equal(t, []int{5}, store.calls, "one Enqueue for all of them")

	for ep, want := range map[string][]*event.Event{"a": {evs[0], evs[2], evs[3]}, "b": {evs[0], evs[3]}} {
		ds, err := listPending(d, queue.ListFilter{EndpointID: ep})
		require.NoError(t, err)
		var got []string
		for _, dl := range ds {
			got = append(got, dl.Event.ID())
		}
		var ids []string
		for _, ev := range want {
			ids = append(ids, ev.ID)
		}
		assert.Equal(t, ids, got, "endpoint %s: in the order of the events", ep)
	}

	n, err = d.PublishMany(bg, newEvent(t, "user-deleted"))
	require.NoError(t, err)
	assert.Zero(t, n, "nothing matches")
	n, err = d.PublishMany(bg)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, []int{5}, store.calls, "no Enqueue when there is nothing to store")
}

// TestPublishManyIsAllOrNothing: deliveries that do not all fit in the store are refused
// together (queue.ErrQueueFull), and an event that cannot be fanned out stores nothing of
// the others, a *FanOutError naming it; after Shutdown, ErrClosed (not a FanOutError).
func TestPublishManyIsAllOrNothing(t *testing.T) {
	dspNoLeaks(t)
	store := &enqueueCounter{Store: memqueue.New(memqueue.Config{MaxPending: 3})}
	d, err := dispatch.New(dspSender(t), store, dispatch.Config{})
	require.NoError(t, err)
	require.NoError(t, d.Subscribe(dspSub(t, "a", "http://127.0.0.1:1/", nil)))
	require.NoError(t, d.Subscribe(dspSub(t, "b", "http://127.0.0.1:1/", nil)))

	n, err := d.PublishMany(bg, newEvent(t, "order-created"), newEvent(t, "order-created"))
	assert.ErrorIs(t, err, queue.ErrQueueFull, "four deliveries, three places")
	assert.Zero(t, n)
	pending, _ := store.Len()
	assert.Zero(t, pending, "none of them stored")

	n, err = d.PublishMany(bg, newEvent(t, "order-created"), nil, newEvent(t, "order-created"))
	var fe *dispatch.FanOutError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 1, fe.Index, "the nil one")
	assert.Equal(t, "hookkit/dispatch: event 1: "+fe.Err.Error(), err.Error())
	assert.Zero(t, n)
	assert.Equal(t, []int{4}, store.calls, "the nil event stopped it before the store")

	require.NoError(t, d.Shutdown(bg))
	_, err = d.PublishMany(bg, newEvent(t, "order-created"))
	assert.ErrorIs(t, err, dispatch.ErrClosed)
	assert.NotErrorAs(t, err, &fe)
}

// TestPublishManyWakesTheDispatcher: PublishMany notifies the dispatcher, as Publish
// does: the deliveries go out at once, not at the next poll (an hour here).
func TestPublishManyWakesTheDispatcher(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(nil)
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{PollInterval: time.Hour})
		require.NoError(t, d.Subscribe(dspSub(t, "a", srv.URL, nil)))
		require.NoError(t, d.Start(t.Context()))
		synctest.Wait()
		n, err := d.PublishMany(bg, newEvent(t, "order-created"), newEvent(t, "order-updated"), newEvent(t, "order-paid"))
		require.NoError(t, err)
		require.Equal(t, 3, n)
		synctest.Wait()
		assert.Equal(t, 3, srv.Count())
	})
}
