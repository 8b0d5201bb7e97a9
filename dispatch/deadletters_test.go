package dispatch_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// evictions records the dead letters a dispatcher reports as evicted.
type evictions struct {
	mu  sync.Mutex
	ids []string // delivery IDs, in the order reported
	evs []string // their event IDs
}

func (e *evictions) DeadLetterEvicted(_ context.Context, d queue.Delivery) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids = append(e.ids, d.ID)
	e.evs = append(e.evs, d.Event.ID())
}

func (e *evictions) events() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.evs...)
}

// hooks returns an Observer whose DeadLetterEvicted records into e.
func (e *evictions) hooks() dispatch.Observer {
	return dispatch.Observer{DeadLetterEvicted: e.DeadLetterEvicted}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestDispatcherReportsEvictedDeadLetters: an endpoint that rejects everything fills a
// store that keeps 5 dead letters; each of the 7 older ones is evicted, oldest first, and
// reported to Config.Observer's DeadLetterEvicted hook and to the logger,
// without the endpoint's token.
func TestDispatcherReportsEvictedDeadLetters(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		const token = "tok-3f9a7c51e2d8"
		srv := nw.server(status(http.StatusBadRequest))
		obs := &evictions{}
		s := nw.newSender(t, sender.Config{})
		var logs syncBuffer
		store := memqueue.New(memqueue.Config{MaxDead: 5})
		d := newDispatcher(t, s, store, dispatch.Config{
			Observer: obs.hooks(),
			Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		sub := dspSub(t, "crm", srv.URL, nil)
		sub.Endpoint.Credentials = auth.Bearer(auth.NewPassword(token))
		sub.MaxInFlight = 1 // one at a time: publish order
		require.NoError(t, d.Subscribe(sub))
		var published []string
		for range 12 {
			ev := newEvent(t, "order-created")
			_, err := d.Publish(bg, ev)
			require.NoError(t, err)
			published = append(published, ev.ID)
		}
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		require.Equal(t, 12, srv.Count(), "all twelve rejected")
		require.NoError(t, d.Shutdown(bg))

		assert.Equal(t, published[:7], obs.events(), "the oldest dead letters are evicted, in order")
		dead, err := listDead(d, queue.ListFilter{})
		require.NoError(t, err)
		var kept []string
		for _, del := range dead {
			assert.Equal(t, queue.DeadReasonRejected, del.DeadReason)
			kept = append(kept, del.Event.ID())
		}
		assert.Equal(t, published[7:], kept, "the newest five are kept")
		out := logs.String()
		assert.Equal(t, 7, bytes.Count([]byte(out), []byte("dead letter evicted")), "one warning per eviction")
		for _, id := range obs.ids {
			assert.Contains(t, out, "delivery="+id)
		}
		assert.Contains(t, out, "endpoint=crm")
		assert.Contains(t, out, "event="+published[0])
		assert.NotContains(t, out, token)
		assert.NotContains(t, out, srv.URL, "no URL either")
	})
}

// TestDispatcherUnsubscribeEvictsOldestDeadLetters unsubscribes an endpoint with 20,000
// pending deliveries into a store that keeps 1,000 dead letters: the 1,000 newest are kept
// and the 19,000 others are reported to Config.Observer.DeadLetterEvicted.
func TestDispatcherUnsubscribeEvictsOldestDeadLetters(t *testing.T) {
	dspNoLeaks(t)
	const total, maxDead = 20_000, 1000
	obs := &evictions{}
	store := memqueue.New(memqueue.Config{MaxDead: maxDead})
	d := newDispatcher(t, dspSender(t), store, dispatch.Config{Observer: obs.hooks()})
	require.NoError(t, d.Subscribe(dspSub(t, "ep", "http://127.0.0.1:1/", nil)))
	published := make([]string, 0, total)
	for range total {
		ev := newEvent(t, "order-created")
		_, err := d.Publish(bg, ev)
		require.NoError(t, err)
		published = append(published, ev.ID)
	}
	require.NoError(t, d.Unsubscribe(bg, "ep"))

	pending, dead := store.Len()
	assert.Zero(t, pending)
	assert.Equal(t, maxDead, dead)
	got := obs.events()
	require.Equal(t, total-maxDead, len(got), "every eviction reported")
	assert.Equal(t, published[0], got[0], "oldest first")
	assert.Equal(t, published[total-maxDead-1], got[len(got)-1])
	ds, err := listDead(d, queue.ListFilter{})
	require.NoError(t, err)
	require.Equal(t, maxDead, len(ds))
	for i, del := range ds {
		if !assert.Equal(t, published[total-maxDead+i], del.Event.ID(), "the newest are kept, in publish order") {
			break
		}
		assert.Equal(t, queue.DeadReasonUnsubscribed, del.DeadReason)
	}
}

// TestDispatcherObserverAndSenderObserver: the state and eviction hooks of
// Config.Observer (dispatch.Observer) are called, and the dispatcher's attempts go to the
// attempt hooks of the Sender's Config.Observer (sender.DeliveryObserver). Which
// component calls which hook is now said by the types: neither struct has the other's.
func TestDispatcherObserverAndSenderObserver(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		srv := nw.server(status(http.StatusServiceUnavailable))
		var dispatcherStates dspStates
		var dispatcherEvicted evictions
		var senderAttempts attemptCounter
		s := nw.newSender(t, sender.Config{Observer: senderAttempts.hooks()})
		store := memqueue.New(memqueue.Config{MaxDead: 1})
		d := newDispatcher(t, s, store, dispatch.Config{
			Observer: dispatch.Observer{
				EndpointStateChanged: dispatcherStates.EndpointStateChanged,
				DeadLetterEvicted:    dispatcherEvicted.DeadLetterEvicted,
			},
		})
		sub := dspSub(t, "ep", srv.URL, dspRetry(1, time.Millisecond))
		sub.MaxInFlight = 1
		require.NoError(t, d.Subscribe(sub))
		var published []string
		for range 3 {
			ev := newEvent(t, "order-created")
			_, err := d.Publish(bg, ev)
			require.NoError(t, err)
			published = append(published, ev.ID)
		}
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		require.Equal(t, 3, srv.Count(), "three attempts, three dead letters")
		require.NoError(t, d.Shutdown(bg))

		assert.Equal(t, published[:2], dispatcherEvicted.events(), "two evicted: the oldest two, in order")
		assert.Contains(t, dispatcherStates.States("ep"), dispatch.EndpointFailing)
		assert.Equal(t, int64(3), senderAttempts.n.Load(), "the Sender's attempt hooks see the dispatcher's attempts")
	})
}
