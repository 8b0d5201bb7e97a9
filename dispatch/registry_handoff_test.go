package dispatch_test

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// TestRegistryPublishHandsOff: with a Registry, once the dispatcher has the endpoint
// cached and its last Lease found nothing more, each delivery published to idle workers
// is stored leased and sent without a Lease; with Config.NoHandoff the Lease takes each.
// The first delivery, to an endpoint not cached yet, is stored pending and leased. While
// Publish hands off, a finished attempt makes no Lease.
func TestRegistryPublishHandsOff(t *testing.T) {
	for _, noHandoff := range []bool{false, true} {
		t.Run(map[bool]string{false: "handoff", true: "NoHandoff"}[noHandoff], func(t *testing.T) {
			dspBubble(t, func(t *testing.T, nw *dspNet) {
				srv := nw.server(status(http.StatusNoContent))
				store := newWatchedLeases(memqueue.Config{})
				d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Registry: memqueue.NewRegistry(),
					RegistryKey: registryKey(t), NoHandoff: noHandoff})
				sec := []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
				require.NoError(t, d.Register(bg, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, Secrets: sec}))
				require.NoError(t, d.Start(bg))
				synctest.Wait()
				_, err := d.Publish(bg, newEvent(t, "order-created"))
				require.NoError(t, err)
				synctest.Wait()
				require.Equal(t, 1, srv.Count())
				assert.Equal(t, int64(1), store.viaLease.Load(), "not cached yet: stored pending, leased")
				assert.Zero(t, store.viaEnqueue.Load())

				leases := store.leases.Load()
				for i := range 3 {
					_, err := d.Publish(bg, newEvent(t, "order-created"))
					require.NoError(t, err)
					synctest.Wait()
					require.Equal(t, 2+i, srv.Count(), "delivered")
				}
				if noHandoff {
					assert.Equal(t, int64(4), store.viaLease.Load(), "NoHandoff: every one leased")
					assert.Zero(t, store.viaEnqueue.Load())
				} else {
					assert.Equal(t, int64(1), store.viaLease.Load(), "no Lease returned the handed-off ones")
					assert.Equal(t, int64(3), store.viaEnqueue.Load(), "stored leased by Publish")
					assert.Equal(t, leases, store.leases.Load(), "nothing waits: no Lease after each finished attempt")
				}
				pending, err := listPending(d, queue.ListFilter{})
				require.NoError(t, err)
				assert.Empty(t, pending, "every one acknowledged")
			})
		})
	}
}

// TestRegistryHandoffKeepsTheBounds: with a Registry, handed-off deliveries count against
// the endpoint's MaxInFlight; one published while the endpoint is full is stored pending,
// and the next one too (a backlog formed), both delivered in turn once the place frees up
// (with a Registry, the pump hands back what its endpoint cannot take now, due a poll
// interval later).
func TestRegistryHandoffKeepsTheBounds(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		release := make(chan struct{})
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			<-release
			w.WriteHeader(http.StatusNoContent)
		})
		store := newWatchedLeases(memqueue.Config{})
		const poll = 5 * time.Second
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Registry: memqueue.NewRegistry(), RegistryKey: registryKey(t),
			PollInterval: poll})
		sec := []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
		require.NoError(t, d.Register(bg, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, Secrets: sec, MaxInFlight: 1}))
		require.NoError(t, d.Start(bg))
		synctest.Wait()
		first := newEvent(t, "order-created")
		_, err := d.Publish(bg, first) // not cached: leased by the pump, held by the endpoint
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, int32(1), srv.inflight.Load())
		var order []string
		for range 2 {
			ev := newEvent(t, "order-created")
			_, err := d.Publish(bg, ev)
			require.NoError(t, err)
			order = append(order, ev.ID)
		}
		synctest.Wait()
		assert.Equal(t, int32(1), srv.inflight.Load(), "MaxInFlight 1")
		assert.Zero(t, store.viaEnqueue.Load(), "the endpoint full: nothing handed off")
		close(release)
		time.Sleep(2 * poll) // the bubble's clock: the handed-back deliveries fall due
		synctest.Wait()
		hits := srv.Hits()
		require.Len(t, hits, 3)
		assert.Equal(t, order, []string{hits[1].ID, hits[2].ID}, "in publish order")
	})
}
