package pgqueue_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/sender"
)

// quiet is how long a test waits to conclude that no notification comes; one arrives
// within a few milliseconds of the commit on loopback.
const quiet = 500 * time.Millisecond

// received reports whether a value arrives on ch within d.
func received(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// openStore opens a Store on schema through pool, closed at the end of t.
func openStore(t *testing.T, pool *pgxpool.Pool, schema string, mode pgqueue.NotifyMode) *pgqueue.Store {
	t.Helper()
	s, err := pgqueue.New(t.Context(), pool, pgqueue.Config{Schema: schema, Notify: mode})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// listening returns the pids of the backends LISTENing for the Stores of schema (found
// by their application_name in pg_stat_activity), once their LISTEN has completed.
func listening(t *testing.T, schema string) []int {
	t.Helper()
	rows, err := shared.Get(t).Query(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND state = 'idle' AND query LIKE 'LISTEN %' ORDER BY pid`, "hookkit listen "+schema)
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	return pids
}

// waitListening waits (10 s at most) until exactly one backend listens for schema and
// it is not the one whose pid is old, and returns its pid.
func waitListening(t *testing.T, schema string, old int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := listening(t, schema)
		if len(pids) == 1 && pids[0] != old {
			return pids[0]
		}
		require.True(t, time.Now().Before(deadline), "listeners of %s: %v (old %d)", schema, pids, old)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNotifyConfig: a NotifyMode New does not know is refused; the channel is derived
// from the schema, distinct for two long names that share their first 60 bytes and never
// longer than Postgres keeps; the modes that do not listen have no Notifications.
func TestNotifyConfig(t *testing.T) {
	pool := shared.Get(t)
	for _, m := range []pgqueue.NotifyMode{-1, pgqueue.NotifyOff + 1} {
		_, err := pgqueue.New(t.Context(), pool, pgqueue.Config{Schema: pgtest.Schema(t), Notify: m})
		assert.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "mode %d", m)
	}
	short := pgtest.Schema(t)
	assert.Equal(t, "hookkit:"+short, openStore(t, pool, short, pgqueue.NotifyOn).Channel())
	long1 := "hk_test_long_" + strings.Repeat("x", 47) + "_a1"
	long2 := "hk_test_long_" + strings.Repeat("x", 47) + "_a2"
	require.Len(t, long1, 63)
	for _, name := range []string{long1, long2} {
		t.Cleanup(func() {
			_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
			require.NoError(t, err)
		})
	}
	s1, s2 := openStore(t, pool, long1, pgqueue.NotifyOn), openStore(t, pool, long2, pgqueue.NotifyOn)
	assert.NotEqual(t, s1.Channel(), s2.Channel())
	assert.LessOrEqual(t, len(s1.Channel()), 63)
	assert.True(t, strings.HasPrefix(s1.Channel(), "hookkit:hk_test_long_"), s1.Channel())
	// The long channel works end to end (pg_notify refuses a name longer than 63 bytes).
	ch := s1.Notifications()
	require.True(t, received(ch, 10*time.Second), "the signal sent once listening")
	require.NoError(t, s2.Enqueue(t.Context(), queuetest.Delivery(t, "other", "ep", queuetest.T0)))
	assert.False(t, received(ch, quiet), "not woken by the other long-named schema")
	require.NoError(t, s1.Enqueue(t.Context(), queuetest.Delivery(t, "a", "ep", queuetest.T0)))
	assert.True(t, received(ch, 5*time.Second), "woken by an enqueue on its long-named schema")

	for _, m := range []pgqueue.NotifyMode{pgqueue.NotifySendOnly, pgqueue.NotifyOff} {
		assert.Nil(t, openStore(t, pool, pgtest.Schema(t), m).Notifications(), "mode %d does not listen", m)
	}
}

// TestNotifications: a Store listening on a schema (A) is woken by what another Store
// (B, another pool) commits to it, only once committed, only when something was stored,
// once per transaction however many statements enqueued in it; not by a rolled-back
// transaction, a refused enqueue, a Store that does not send, or another schema.
func TestNotifications(t *testing.T) {
	schema := pgtest.Schema(t)
	a := openStore(t, shared.Get(t), schema, pgqueue.NotifyOn)
	pool2 := pgtest.Pool(t)
	b := openStore(t, pool2, schema, pgqueue.NotifySendOnly)
	ch := a.Notifications()
	require.True(t, received(ch, 10*time.Second), "the signal sent once listening")
	waitListening(t, schema, 0)
	require.False(t, received(ch, quiet), "nothing else yet")
	n := 0
	next := func(endpoint string) queue.Delivery {
		n++
		return queuetest.Delivery(t, fmt.Sprint("n", n), endpoint, queuetest.T0)
	}

	for _, api := range txAPIs {
		t.Run(api.name, func(t *testing.T) {
			tx := api.begin(t, b)
			require.NoError(t, tx.enqueue(next("ep")))
			assert.False(t, received(ch, quiet), "nothing before the commit")
			require.NoError(t, tx.rollback())
			assert.False(t, received(ch, quiet), "a rolled-back transaction wakes no one")

			tx = api.begin(t, b)
			require.NoError(t, tx.enqueue(next("ep")))
			require.NoError(t, tx.commit())
			assert.True(t, received(ch, 5*time.Second), "woken by the commit")
			assert.False(t, received(ch, quiet), "once")
		})
	}

	t.Run("Enqueue", func(t *testing.T) {
		require.NoError(t, b.Enqueue(t.Context(), next("ep")))
		assert.True(t, received(ch, 5*time.Second))
	})

	t.Run("OneNotificationPerTransaction", func(t *testing.T) {
		raw, err := pgx.Connect(t.Context(), services.Postgres(t))
		require.NoError(t, err)
		defer raw.Close(context.Background())
		_, err = raw.Exec(t.Context(), "LISTEN "+pgx.Identifier{a.Channel()}.Sanitize())
		require.NoError(t, err)
		tx, err := pool2.Begin(t.Context())
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(context.Background()) }()
		for range 3 {
			require.NoError(t, b.EnqueueTx(t.Context(), tx, next("ep"), next("ep2")))
		}
		require.NoError(t, tx.Commit(t.Context()))
		wctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		nf, err := raw.WaitForNotification(wctx)
		cancel()
		require.NoError(t, err)
		assert.Equal(t, a.Channel(), nf.Channel)
		assert.Empty(t, nf.Payload)
		wctx, cancel = context.WithTimeout(t.Context(), quiet)
		_, err = raw.WaitForNotification(wctx)
		cancel()
		assert.Error(t, err, "three EnqueueTx calls in one transaction: one notification")
		assert.True(t, received(ch, 5*time.Second), "the Store was woken too")
	})

	t.Run("RefusedEnqueueSendsNothing", func(t *testing.T) {
		full, err := pgqueue.New(t.Context(), pool2, pgqueue.Config{Schema: schema, Notify: pgqueue.NotifySendOnly, MaxPending: 1})
		require.NoError(t, err)
		tx, err := pool2.Begin(t.Context())
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(context.Background()) }()
		require.ErrorIs(t, full.EnqueueTx(t.Context(), tx, next("ep")), queue.ErrQueueFull)
		require.NoError(t, tx.Commit(t.Context()))
		assert.False(t, received(ch, quiet), "a refused enqueue sends no notification")
	})

	t.Run("Requeue", func(t *testing.T) {
		d := next("ep-dead")
		require.NoError(t, b.Enqueue(t.Context(), d))
		require.True(t, received(ch, 5*time.Second))
		got, err := b.Lease(t.Context(), queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute, Endpoints: map[string]int{"ep-dead": 1}})
		require.NoError(t, err)
		require.Len(t, got, 1)
		errs, err := b.Complete(t.Context(), queuetest.T0, queue.DeadLetter(d.ID, got[0].Lease, "test", queue.Attempt{Number: 1, Status: 500}))
		require.NoError(t, err)
		require.NoError(t, errs[0])
		assert.False(t, received(ch, quiet), "leasing and burying wake no one")
		_, err = b.Requeue(t.Context(), queue.Selector{EndpointID: "ep-nothing"}, queuetest.T0)
		require.NoError(t, err)
		assert.False(t, received(ch, quiet), "a requeue of nothing wakes no one")
		k, err := b.Requeue(t.Context(), queue.Selector{ID: d.ID}, queuetest.T0)
		require.NoError(t, err)
		require.Equal(t, 1, k)
		assert.True(t, received(ch, 5*time.Second), "a requeued dead letter wakes the listeners")
	})

	t.Run("SendingOff", func(t *testing.T) {
		for _, m := range []pgqueue.NotifyMode{pgqueue.NotifyListenOnly, pgqueue.NotifyOff} {
			silent := openStore(t, pool2, schema, m)
			require.NoError(t, silent.Enqueue(t.Context(), next("ep")))
			assert.False(t, received(ch, quiet), "mode %d sends nothing", m)
		}
	})

	t.Run("OtherSchema", func(t *testing.T) {
		other := openStore(t, pool2, pgtest.Schema(t), pgqueue.NotifyOn)
		require.NoError(t, other.Enqueue(t.Context(), next("ep")))
		assert.False(t, received(ch, quiet), "another schema's enqueue wakes no one here")
	})
}

// TestListenerReconnects: when the listener's backend is terminated
// (pg_terminate_backend, as a server restart or a failover does), the listener connects
// again, signals once (something may have been committed meanwhile), and is woken by
// enqueues again.
func TestListenerReconnects(t *testing.T) {
	schema := pgtest.Schema(t)
	a := openStore(t, shared.Get(t), schema, pgqueue.NotifyOn)
	b := openStore(t, pgtest.Pool(t), schema, pgqueue.NotifySendOnly)
	ch := a.Notifications()
	require.True(t, received(ch, 10*time.Second))
	pid := waitListening(t, schema, 0)
	for i := range 2 {
		var ok bool
		require.NoError(t, shared.Get(t).QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok))
		require.True(t, ok)
		assert.True(t, received(ch, 10*time.Second), "the signal sent after reconnecting (%d)", i)
		pid = waitListening(t, schema, pid)
		require.NoError(t, b.Enqueue(t.Context(), queuetest.Delivery(t, fmt.Sprint("r", i), "ep", queuetest.T0)))
		assert.True(t, received(ch, 5*time.Second), "woken again after reconnecting (%d)", i)
	}
}

// TestCloseStopsListener: Close ends the listener goroutine and its connection, leaves
// the pool and the Store usable, is idempotent, and a Notifications after it starts
// nothing.
func TestCloseStopsListener(t *testing.T) {
	schema := pgtest.Schema(t)
	pool := shared.Get(t)
	s, err := pgqueue.New(t.Context(), pool, pgqueue.Config{Schema: schema})
	require.NoError(t, err)
	before := goleak.IgnoreCurrent()
	ch := s.Notifications()
	require.True(t, received(ch, 10*time.Second))
	waitListening(t, schema, 0)
	s.Close()
	goleak.VerifyNone(t, before)
	deadline := time.Now().Add(10 * time.Second)
	for len(listening(t, schema)) > 0 {
		require.True(t, time.Now().Before(deadline), "the listener's backend is gone")
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	assert.Equal(t, ch, s.Notifications(), "the same channel")
	goleak.VerifyNone(t, before, goleak.IgnoreCurrent())
	require.NoError(t, pool.Ping(t.Context()), "the pool is the application's: still open")
	require.NoError(t, s.Enqueue(t.Context(), queuetest.Delivery(t, "after", "ep", queuetest.T0)), "the Store still works")
	assert.False(t, received(ch, quiet), "no listener after Close")
}

// countingStore counts the Leases of a dispatcher: after Start, one for its first look
// at the store, one for the Notify of Subscribe (buffered before Start), and one for the
// signal the listener sends once listening; another only when something wakes the
// dispatcher.
type countingStore struct {
	*pgqueue.Store
	leases atomic.Int64
}

func (c *countingStore) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	c.leases.Add(1)
	return c.Store.Lease(ctx, req)
}

// arrival is a delivery received by a loopback receiver.
type arrival struct {
	eventID string
	at      time.Time
}

// instance is a started dispatcher on a Store, delivering to a loopback receiver.
type instance struct {
	store    *countingStore
	d        *dispatch.Dispatcher
	url      string
	arrivals chan arrival
}

// startInstance starts a dispatcher (PollInterval poll) on a Store of schema on the
// shared pool, subscribed as endpoint "ep" to a loopback receiver, and waits (10 s at
// most) until the dispatcher has made the Leases its start makes (see countingStore):
// its listener (if mode listens) has connected, and from then on only a notification,
// a poll or the dispatcher's own work makes it lease again.
func startInstance(t *testing.T, schema string, mode pgqueue.NotifyMode, poll time.Duration) *instance {
	t.Helper()
	in := &instance{store: &countingStore{Store: openStore(t, shared.Get(t), schema, mode)}, arrivals: make(chan arrival, 256)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		if ev, err := event.Parse(body); err == nil {
			in.arrivals <- arrival{ev.ID, at}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	in.url = srv.URL
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true}) // loopback, plain http
	require.NoError(t, err)
	t.Cleanup(snd.CloseIdleConnections)
	in.d, err = dispatch.New(snd, in.store, dispatch.Config{PollInterval: poll})
	require.NoError(t, err)
	require.NoError(t, in.d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: srv.URL}}))
	require.NoError(t, in.d.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, in.d.Shutdown(ctx))
	})
	want := int64(2)
	if mode == pgqueue.NotifyOn || mode == pgqueue.NotifyListenOnly {
		want = 3
	}
	deadline := time.Now().Add(10 * time.Second)
	for in.store.leases.Load() < want {
		require.True(t, time.Now().Before(deadline), "the dispatcher's first looks at the store")
		time.Sleep(5 * time.Millisecond)
	}
	return in
}

// publisher returns a dispatcher that is never started, on a Store of schema on another
// pool, subscribed as "ep" to url: another instance of the application, publishing.
func publisher(t *testing.T, schema string, mode pgqueue.NotifyMode, url string) (*dispatch.Dispatcher, *pgqueue.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	s := openStore(t, pool, schema, mode)
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	require.NoError(t, err)
	d, err := dispatch.New(snd, s, dispatch.Config{})
	require.NoError(t, err)
	require.NoError(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: url}}))
	return d, s, pool
}

// waitArrival waits (within d) for the arrival of the event id.
func (in *instance) waitArrival(t *testing.T, id string, d time.Duration) (time.Time, bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case a := <-in.arrivals:
			if a.eventID == id {
				return a.at, true
			}
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

func newEvent(t *testing.T, n int) *event.Event {
	t.Helper()
	ev, err := event.New("order-created", map[string]int{"order": n})
	require.NoError(t, err)
	return ev
}

// TestNotifyWakesAnotherInstance: a dispatcher on store A that polls once an hour
// delivers within a second what another instance (store B, another pool) commits to
// the schema, by Publish (Enqueue), by EnqueueTx or by EnqueueSQLTx in a committed
// transaction: the notification woke it. When B does not send, the delivery waits: the
// dispatcher does not even look at the store, until something else wakes it.
func TestNotifyWakesAnotherInstance(t *testing.T) {
	ways := []struct {
		name    string
		publish func(t *testing.T, d *dispatch.Dispatcher, s *pgqueue.Store, pool *pgxpool.Pool, ev *event.Event)
	}{
		{"Publish", func(t *testing.T, d *dispatch.Dispatcher, _ *pgqueue.Store, _ *pgxpool.Pool, ev *event.Event) {
			n, err := d.Publish(t.Context(), ev)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}},
		{"EnqueueTx", func(t *testing.T, d *dispatch.Dispatcher, s *pgqueue.Store, pool *pgxpool.Pool, ev *event.Event) {
			tx, err := pool.Begin(t.Context())
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(context.Background()) }()
			ds, err := d.FanOut(ev)
			require.NoError(t, err)
			require.NoError(t, s.EnqueueTx(t.Context(), tx, ds...))
			require.NoError(t, tx.Commit(t.Context()))
		}},
		{"EnqueueSQLTx", func(t *testing.T, d *dispatch.Dispatcher, s *pgqueue.Store, pool *pgxpool.Pool, ev *event.Event) {
			db := stdlib.OpenDBFromPool(pool)
			defer db.Close()
			tx, err := db.BeginTx(t.Context(), nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			ds, err := d.FanOut(ev)
			require.NoError(t, err)
			require.NoError(t, s.EnqueueSQLTx(t.Context(), tx, ds...))
			require.NoError(t, tx.Commit())
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			schema := pgtest.Schema(t)
			a := startInstance(t, schema, pgqueue.NotifyOn, time.Hour)
			pd, ps, pool := publisher(t, schema, pgqueue.NotifySendOnly, a.url)
			ev := newEvent(t, 1)
			start := time.Now()
			w.publish(t, pd, ps, pool, ev)
			at, ok := a.waitArrival(t, ev.ID, 5*time.Second)
			require.True(t, ok, "delivered")
			assert.Less(t, at.Sub(start), time.Second, "within a second (the poll interval is an hour)")
		})
	}
	t.Run("SendingOff", func(t *testing.T) {
		schema := pgtest.Schema(t)
		a := startInstance(t, schema, pgqueue.NotifyOn, time.Hour)
		pd, _, _ := publisher(t, schema, pgqueue.NotifyListenOnly, a.url)
		ev := newEvent(t, 1)
		looks := a.store.leases.Load()
		_, err := pd.Publish(t.Context(), ev)
		require.NoError(t, err)
		_, ok := a.waitArrival(t, ev.ID, time.Second)
		assert.False(t, ok, "not delivered: nothing woke the dispatcher")
		assert.Equal(t, looks, a.store.leases.Load(), "the dispatcher did not look at the store again")
		st, err := a.store.Stats(t.Context(), time.Now())
		require.NoError(t, err)
		assert.Equal(t, 1, st.Pending, "the delivery waits in the store")
		a.d.Notify() // what the application would do, or the next poll
		_, ok = a.waitArrival(t, ev.ID, 5*time.Second)
		assert.True(t, ok, "delivered once woken")
	})
}

// percentile returns the p-th percentile (0 < p <= 1) of sorted, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// TestPublishToReceiveLatency measures publish-to-receive latency: 200 events
// published one at a time through store B (another pool), each after the previous one
// was received and a random pause of up to 100 ms (so that publishes fall anywhere in
// the poll cycle), received by a loopback receiver of a dispatcher on store A; latency
// is receive time - the time Publish was called. With NOTIFY the dispatcher polls once
// an hour, so every delivery is woken by its notification; poll-only (NotifyOff on both)
// polls every 100 ms. Both run at once, each in its own schema. It logs p50/p99 and
// pins that every event arrives, within a second with NOTIFY, and that NOTIFY's median
// is below polling's.
func TestPublishToReceiveLatency(t *testing.T) {
	const events = 200
	modes := []struct {
		name string
		mode pgqueue.NotifyMode
		poll time.Duration
	}{
		{"notify", pgqueue.NotifyOn, time.Hour},
		{"poll-100ms", pgqueue.NotifyOff, 100 * time.Millisecond},
	}
	p50 := make([]time.Duration, len(modes))
	t.Run("modes", func(t *testing.T) {
		for i, m := range modes {
			t.Run(m.name, func(t *testing.T) {
				t.Parallel()
				schema := pgtest.Schema(t)
				a := startInstance(t, schema, m.mode, m.poll)
				pd, _, _ := publisher(t, schema, m.mode, a.url)
				lat := make([]time.Duration, 0, events)
				for n := range events {
					// Think time between events: the load's shape, not a wait for anything.
					time.Sleep(rand.N(100 * time.Millisecond))
					ev := newEvent(t, n)
					start := time.Now()
					_, err := pd.Publish(t.Context(), ev)
					require.NoError(t, err)
					at, ok := a.waitArrival(t, ev.ID, 5*time.Second)
					require.True(t, ok, "event %d delivered", n)
					lat = append(lat, at.Sub(start))
				}
				slices.Sort(lat)
				p50[i] = percentile(lat, 0.50)
				t.Logf("%s: %d events, publish-to-receive p50 %v, p99 %v, max %v", m.name, events,
					p50[i].Round(10*time.Microsecond), percentile(lat, 0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
				if m.mode == pgqueue.NotifyOn {
					assert.Less(t, lat[len(lat)-1], time.Second, "every event within a second by its notification")
				}
			})
		}
	})
	if !t.Failed() {
		assert.Less(t, p50[0], p50[1], "NOTIFY's median below polling's")
	}
}
