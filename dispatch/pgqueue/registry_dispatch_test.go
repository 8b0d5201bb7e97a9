package pgqueue_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/sender"
)

// eventually polls cond every 20 ms for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "never: %s", what)
		time.Sleep(20 * time.Millisecond)
	}
}

// regInstance is one application instance: its own pool, Store and dispatcher on the
// shared schema, and the endpoint state changes its dispatcher reported.
type regInstance struct {
	store   *pgqueue.Store
	d       *dispatch.Dispatcher
	mu      sync.Mutex
	changes []dispatch.EndpointStateChange
}

func (in *regInstance) reported(to dispatch.EndpointState) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, c := range in.changes {
		if c.To == to {
			return true
		}
	}
	return false
}

// TestRegistryTwoInstancesShareEndpointState: two instances (two pools, one schema) share
// the registry. The loopback endpoint answers 410 once it is gone: the instance that gets
// the 410 disables it in the registry; Publish from either stores nothing more for it;
// the disabling instance is shut down, and within a poll interval the other, leasing
// deliveries of the endpoint that reached the store anyway, dead-letters them without an
// attempt. EnableEndpoint on that instance re-enables it for the first one, restarted:
// the first delivers to it again.
func TestRegistryTwoInstancesShareEndpointState(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	var gone atomic.Bool
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s, err := sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true,
		Retry: sender.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaxAttempts: 3}})
	require.NoError(t, err)
	t.Cleanup(s.CloseIdleConnections)
	key := make([]byte, dispatch.SpecKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	const poll = 300 * time.Millisecond
	start := func() *regInstance {
		store, err := pgqueue.New(ctx, pgtest.Pool(t), pgqueue.Config{Schema: schema})
		require.NoError(t, err)
		t.Cleanup(store.Close)
		in := &regInstance{store: store}
		in.d, err = dispatch.New(s, store, dispatch.Config{Registry: store, RegistryKey: key, PollInterval: poll,
			Observer: dispatch.Observer{EndpointStateChanged: func(_ context.Context, c dispatch.EndpointStateChange) {
				in.mu.Lock()
				in.changes = append(in.changes, c)
				in.mu.Unlock()
			}}})
		require.NoError(t, err)
		require.NoError(t, in.d.Start(ctx))
		t.Cleanup(func() { _ = in.d.Shutdown(context.Background()) })
		return in
	}
	a, b := start(), start()
	sec := []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
	require.NoError(t, a.d.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, Secrets: sec, Filter: []string{"order.*"}}))
	ev := func() *event.Event {
		e, err := event.New("order.created", map[string]int{"n": 1})
		require.NoError(t, err)
		return e
	}
	for range 6 {
		n, err := b.d.Publish(ctx, ev())
		require.NoError(t, err)
		require.Equal(t, 1, n, "b publishes to what a registered")
	}
	eventually(t, "6 deliveries", func() bool { return hits.Load() == 6 })
	// Until both instances have delivered to ep (and so cache it as active), publish more,
	// from one that has not: its Publish stores the delivery pending (an instance hands
	// off only to endpoints it has cached), for either to lease, where one that has it
	// cached would hand what it publishes to its own idle workers.
	cached := func(in *regInstance) bool { _, ok := in.d.Endpoint("ep"); return ok }
	for i := 0; !cached(a) || !cached(b); i++ {
		require.Less(t, i, 200, "both instances deliver to ep")
		from := b
		if cached(b) {
			from = a
		}
		_, err := from.d.Publish(ctx, ev())
		require.NoError(t, err)
		want := hits.Load() + 1
		eventually(t, "delivered", func() bool { return hits.Load() == want })
	}

	gone.Store(true)
	_, err = a.d.Publish(ctx, ev())
	require.NoError(t, err)
	state := func() queue.EndpointState {
		es, err := a.store.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		require.Len(t, es, 1)
		return es[0].State
	}
	eventually(t, "disabled in the registry", func() bool { return state() == queue.EndpointDisabled })
	disabler, other := a, b
	if b.reported(dispatch.EndpointDisabled) {
		disabler, other = b, a
	}
	require.True(t, disabler.reported(dispatch.EndpointDisabled))
	for _, in := range []*regInstance{a, b} {
		n, err := in.d.Publish(ctx, ev())
		require.NoError(t, err)
		assert.Zero(t, n, "disabled: nothing published, by either")
	}
	require.NoError(t, disabler.d.Shutdown(ctx))
	time.Sleep(2 * poll) // the other instance has polled the registry since
	before := hits.Load()
	enc, err := ev().Encode()
	require.NoError(t, err)
	for i := range 5 {
		now := time.Now()
		require.NoError(t, other.store.Enqueue(ctx, queue.Delivery{ID: fmt.Sprintf("late-%d", i), EndpointID: "ep", Event: enc, Created: now, Due: now}))
	}
	other.d.Notify()
	eventually(t, "the late deliveries dead-lettered", func() bool {
		page, err := other.store.ListDead(ctx, queue.ListFilter{EndpointID: "ep"})
		require.NoError(t, err)
		return len(page.Deliveries) == 6
	})
	assert.Equal(t, before, hits.Load(), "the other instance sends nothing to the disabled endpoint")

	gone.Store(false)
	require.NoError(t, other.d.EnableEndpoint("ep"))
	assert.Equal(t, queue.EndpointActive, state())
	require.NoError(t, other.d.Shutdown(ctx))
	first := start() // the first instance again, with a cache of its own
	n, err := first.d.Publish(ctx, ev())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	eventually(t, "delivered after enabling", func() bool { return hits.Load() == before+1 })
	page, err := first.store.ListDead(ctx, queue.ListFilter{EndpointID: "ep"})
	require.NoError(t, err)
	assert.Len(t, page.Deliveries, 6, "nothing more dead-lettered")
}

// TestRegistryEnableSeenByRunningInstance: an instance that has the endpoint cached as
// disabled (it leased one of its deliveries) sees it enabled by another instance within a
// poll interval, without a restart.
func TestRegistryEnableSeenByRunningInstance(t *testing.T) {
	ctx := t.Context()
	store := newStore(t, pgqueue.Config{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s, err := sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true})
	require.NoError(t, err)
	const poll = 200 * time.Millisecond
	d, err := dispatch.New(s, store, dispatch.Config{Registry: store, PollInterval: poll})
	require.NoError(t, err)
	require.NoError(t, d.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL}))
	require.NoError(t, d.Start(ctx))
	t.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	require.NoError(t, d.DisableEndpoint(ctx, "ep"))
	enc, err := mustEvent(t).Encode()
	require.NoError(t, err)
	now := time.Now()
	require.NoError(t, store.Enqueue(ctx, queue.Delivery{ID: "while-disabled", EndpointID: "ep", Event: enc, Created: now, Due: now}))
	d.Notify()
	eventually(t, "dead-lettered while disabled", func() bool {
		page, err := store.ListDead(ctx, queue.ListFilter{})
		require.NoError(t, err)
		return len(page.Deliveries) == 1
	})
	st, ok := d.Endpoint("ep")
	require.True(t, ok, "cached")
	require.Equal(t, dispatch.EndpointDisabled, st.State)

	// Another instance (here: the registry written directly, as the CLI does) enables it.
	es, err := store.GetEndpoints(ctx, "ep")
	require.NoError(t, err)
	_, err = store.SetEndpointState(ctx, "ep", es[0].Version, queue.StateUpdate{State: queue.EndpointActive, Reason: "enabled", UpdatedAt: time.Now()})
	require.NoError(t, err)
	eventually(t, "the running instance sees it enabled", func() bool {
		st, ok := d.Endpoint("ep")
		return ok && st.State == dispatch.EndpointActive
	})
	now = time.Now()
	require.NoError(t, store.Enqueue(ctx, queue.Delivery{ID: "after", EndpointID: "ep", Event: enc, Created: now, Due: now}))
	d.Notify()
	eventually(t, "delivered", func() bool { return hits.Load() == 1 })
}

func mustEvent(t testing.TB) *event.Event {
	t.Helper()
	e, err := event.New("order.created", map[string]int{"n": 1})
	require.NoError(t, err)
	return e
}

// BenchmarkPublishFanOut measures Dispatcher.Publish with the Postgres registry: 10,
// 1,000 and 100,000 endpoints of which 3 match (MatchEndpoints, one indexed query), the
// deliveries stored in the Postgres store (store=postgres: the whole Publish) or in a
// memqueue.Store (store=memory: the registry's part alone). The ratio 100,000/10 must
// be about 1. 100,000 endpoints are stored with COPY, not one round trip each.
func BenchmarkPublishFanOut(b *testing.B) {
	for _, where := range []string{"store=postgres", "store=memory"} {
		for _, n := range fanOutSizes {
			b.Run(fmt.Sprintf("%s/endpoints=%d", where, n), func(b *testing.B) {
				reg := newStore(b, pgqueue.Config{})
				fillRegistry(b, reg, n)
				var store queue.Store = reg
				if where == "store=memory" {
					store = memqueue.New(memqueue.Config{MaxPending: -1})
				}
				s, err := sender.New(sender.Config{})
				require.NoError(b, err)
				d, err := dispatch.New(s, store, dispatch.Config{Registry: reg})
				require.NoError(b, err)
				ev := mustEvent(b)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					got, err := d.Publish(ctx, ev)
					if err != nil || got != 3 {
						b.Fatalf("published %d: %v", got, err)
					}
				}
			})
		}
	}
}
