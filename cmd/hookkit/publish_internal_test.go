package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// TestPublishEventsStoresAllOrNothing: publish stores a batch's deliveries in one
// PublishMany; an event that cannot be fanned out is a usage error naming it, and a store
// that refuses the batch stores none of it, the error saying how many events were lost.
func TestPublishEventsStoresAllOrNothing(t *testing.T) {
	ctx := context.Background()
	store := memqueue.New(memqueue.Config{MaxPending: 3})
	d, err := fanOutDispatcher(store, nil, []dispatch.Subscription{
		{Endpoint: sender.Endpoint{ID: "a", URL: "https://a.example/hook"}},
		{Endpoint: sender.Endpoint{ID: "b", URL: "https://b.example/hook"}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Shutdown(ctx) })
	ev := func() *event.Event {
		e, err := event.New("envelope-sent", map[string]string{"envelopeId": "93be"})
		require.NoError(t, err)
		return e
	}

	var n publishCount
	require.NoError(t, publishEvents(ctx, d, []*event.Event{ev()}, &n))
	assert.Equal(t, publishCount{Events: 1, Deliveries: 2}, n)

	first := ev()
	err = publishEvents(ctx, d, []*event.Event{first, nil}, &n)
	var ue *usageError
	require.ErrorAs(t, err, &ue, "an event that does not fan out is the input's fault")
	assert.Contains(t, err.Error(), `event ""`)

	err = publishEvents(ctx, d, []*event.Event{first}, &n)
	require.ErrorIs(t, err, queue.ErrQueueFull, "two more deliveries, one place left")
	assert.NotErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "storing the event's deliveries")
	err = publishEvents(ctx, d, []*event.Event{first, ev()}, &n)
	require.ErrorIs(t, err, queue.ErrQueueFull)
	assert.Contains(t, err.Error(), "storing the deliveries of 2 events")
	assert.Equal(t, publishCount{Events: 1, Deliveries: 2}, n, "what failed is not counted")
	pending, _ := store.Len()
	assert.Equal(t, 2, pending, "nothing of the failed calls stored")
}
