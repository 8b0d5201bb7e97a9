package dispatch_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// finishedLog records the Delivered and DeadLettered hooks.
type finishedLog struct {
	mu        sync.Mutex
	delivered []queue.Delivery
	dead      []queue.Delivery
}

func (l *finishedLog) hooks() dispatch.Observer {
	return dispatch.Observer{
		Delivered: func(_ context.Context, d queue.Delivery) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.delivered = append(l.delivered, d)
		},
		DeadLettered: func(_ context.Context, d queue.Delivery) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.dead = append(l.dead, d)
		},
	}
}

// TestObserverReportsEachFinishedDeliveryOnce: a delivery acknowledged (at once or after a
// retry) is reported by Delivered with every attempt, the last included; one rejected
// permanently by DeadLettered with its reason; a retry that is merely rescheduled by
// neither.
func TestObserverReportsEachFinishedDeliveryOnce(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		ok := nw.server(nil)
		flaky := nw.server(func(w http.ResponseWriter, _ dspHit, n int) {
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		bad := nw.server(status(http.StatusBadRequest))
		var log finishedLog
		d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{Observer: log.hooks()})
		require.NoError(t, d.Subscribe(dspSub(t, "ok", ok.URL, nil)))
		require.NoError(t, d.Subscribe(dspSub(t, "flaky", flaky.URL, dspRetry(5, time.Second))))
		require.NoError(t, d.Subscribe(dspSub(t, "bad", bad.URL, nil)))
		require.NoError(t, d.Start(t.Context()))
		ev := newEvent(t, "order-created")
		n, err := d.Publish(bg, ev)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		synctest.Wait()

		log.mu.Lock()
		assert.Len(t, log.delivered, 1, "the flaky endpoint's retry is rescheduled, not finished")
		assert.Len(t, log.dead, 1)
		log.mu.Unlock()
		time.Sleep(2 * time.Second) // fake clock: past the retry's due time
		synctest.Wait()

		log.mu.Lock()
		defer log.mu.Unlock()
		attempts := map[string]int{}
		for _, dl := range log.delivered {
			assert.Equal(t, ev.ID, dl.Event.ID())
			attempts[dl.EndpointID] = len(dl.Attempts)
			assert.Equal(t, queue.ClassAcknowledged, dl.Attempts[len(dl.Attempts)-1].Class, "the last attempt is the acknowledged one")
		}
		assert.Equal(t, map[string]int{"ok": 1, "flaky": 2}, attempts)
		require.Len(t, log.dead, 1)
		assert.Equal(t, "bad", log.dead[0].EndpointID)
		assert.Equal(t, queue.DeadReasonRejected, log.dead[0].DeadReason)
		require.Len(t, log.dead[0].Attempts, 1)
		assert.Equal(t, http.StatusBadRequest, log.dead[0].Attempts[0].Status)
		assert.Empty(t, log.dead[0].Lease)
	})
}

// TestDrainReturnsOnceNothingIsPendingOrLeased: Drain waits through retries (pending, not
// yet due) and returns when every delivery was acknowledged or dead-lettered; with an
// endpoint that never answers it returns its context's error instead.
func TestDrainReturnsOnceNothingIsPendingOrLeased(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		flaky := nw.server(func(w http.ResponseWriter, _ dspHit, n int) {
			if n%2 == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		store := memqueue.New(memqueue.Config{})
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 1, PollInterval: time.Hour})
		require.NoError(t, d.Subscribe(dspSub(t, "flaky", flaky.URL, dspRetry(5, 3*time.Second))))
		require.NoError(t, d.Start(t.Context()))
		for range 3 {
			_, err := d.Publish(bg, newEvent(t, "order-created"))
			require.NoError(t, err)
		}
		start := time.Now()
		require.NoError(t, d.Drain(t.Context()))
		assert.GreaterOrEqual(t, time.Since(start), time.Second, "it waited for the retries")
		assert.Equal(t, 6, flaky.Count(), "three failures, three successes")
		st, err := store.Stats(bg, time.Now())
		require.NoError(t, err)
		assert.Equal(t, queue.Stats{}, st)

		dead := nw.server(status(http.StatusServiceUnavailable))
		require.NoError(t, d.Subscribe(dspSub(t, "down", dead.URL, dspRetry(100, time.Second), "invoice-*")))
		_, err = d.Publish(bg, newEvent(t, "invoice-paid"))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		assert.ErrorIs(t, d.Drain(ctx), context.DeadlineExceeded)
	})
}
