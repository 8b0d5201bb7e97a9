package dispatch_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/sender"
)

// TestRegistryBacklogResumesWithTheProbe: with a registry, the deliveries of a paused
// endpoint leased while its probe is in flight wait a poll interval, not until the probe
// claim would expire (LeaseFor): once the probe succeeds, the backlog is delivered within
// a few poll intervals of the cool-down's end.
func TestRegistryBacklogResumesWithTheProbe(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		var down atomic.Bool
		down.Store(true)
		var mu sync.Mutex
		acked := map[string]time.Time{}
		srv := nw.server(func(w http.ResponseWriter, h dspHit, _ int) {
			if down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			acked[h.ID] = time.Now()
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
		const coolDown, poll = 10 * time.Second, time.Second
		cfg := dispatch.Config{Registry: memqueue.NewRegistry(), RegistryPlaintext: true, Workers: 2, PollInterval: poll,
			Breaker: dispatch.BreakerConfig{Threshold: 1, CoolDown: coolDown}}
		retry := sender.RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Second, RandomizationFactor: -1, MaxAttempts: 100, MaxElapsedTime: time.Hour}
		d := newDispatcher(t, nw.newSender(t, sender.Config{Retry: retry}), memqueue.New(memqueue.Config{}), cfg)
		ctx := context.Background()
		require.NoError(t, d.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, MaxInFlight: 2}))
		require.NoError(t, d.Start(ctx))
		start := time.Now()
		for range 10 {
			_, err := d.Publish(ctx, newEvent(t, "x"))
			require.NoError(t, err)
		}
		time.Sleep(coolDown / 2)
		synctest.Wait()
		st, ok := d.Endpoint("ep")
		require.True(t, ok)
		require.Equal(t, dispatch.EndpointPaused, st.State)
		down.Store(false)
		time.Sleep(coolDown/2 + 5*poll)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Len(t, acked, 10, "every delivery acknowledged within a few poll intervals of the cool-down's end")
		for id, at := range acked {
			assert.Less(t, at.Sub(start), coolDown+5*poll, "delivery %s", id)
		}
	})
}

// TestRegistryPausesAfterThresholdAttempts: with a registry, an attempt's failure is
// recorded in the endpoint's state before its worker takes the next delivery, so the
// endpoint pauses after Threshold attempts, as without a registry (Threshold 1, one
// worker, an endpoint answering 503: one attempt, not Threshold + Workers).
func TestRegistryPausesAfterThresholdAttempts(t *testing.T) {
	for _, withRegistry := range []bool{false, true} {
		name := "local"
		if withRegistry {
			name = "registry"
		}
		t.Run(name, func(t *testing.T) {
			dspBubble(t, func(t *testing.T, nw *dspNet) {
				srv := nw.server(status(http.StatusServiceUnavailable))
				cfg := dispatch.Config{Workers: 1, Breaker: dispatch.BreakerConfig{Threshold: 1, CoolDown: time.Hour}}
				if withRegistry {
					cfg.Registry, cfg.RegistryPlaintext = memqueue.NewRegistry(), true
				}
				retry := sender.RetryPolicy{InitialInterval: time.Minute, MaxInterval: time.Minute, RandomizationFactor: -1, MaxAttempts: 100, MaxElapsedTime: time.Hour}
				d := newDispatcher(t, nw.newSender(t, sender.Config{Retry: retry}), memqueue.New(memqueue.Config{}), cfg)
				ctx := context.Background()
				if withRegistry {
					require.NoError(t, d.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL}))
				} else {
					require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
				}
				for range 5 {
					_, err := d.Publish(ctx, newEvent(t, "x"))
					require.NoError(t, err)
				}
				require.NoError(t, d.Start(ctx))
				time.Sleep(10 * time.Second)
				synctest.Wait()
				st, ok := d.Endpoint("ep")
				require.True(t, ok)
				assert.Equal(t, dispatch.EndpointPaused, st.State)
				assert.Equal(t, 1, srv.Count(), "one attempt before the pause")
			})
		})
	}
}
