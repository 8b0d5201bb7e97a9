package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/sender"
)

// rsReceiver is the loopback receiver of TestPostgresRestartMidRun: it counts the
// requests per event id and hands each arrival to a channel; each request takes delay.
type rsReceiver struct {
	url      string
	arrivals chan arrival // every request; buffered for the whole run
	mu       sync.Mutex
	got      map[string]int
}

func newRSReceiver(t *testing.T, capacity int, delay time.Duration) *rsReceiver {
	t.Helper()
	r := &rsReceiver{arrivals: make(chan arrival, capacity), got: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(req.Body)
		ev, err := event.Parse(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(delay) // the receiver's work
		r.mu.Lock()
		r.got[ev.ID]++
		r.mu.Unlock()
		select {
		case r.arrivals <- arrival{ev.ID, at}:
		default: // only the probes read arrivals; got counts every one
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *rsReceiver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

// TestPostgresRestartMidRun: two dispatchers on pgqueue, each with a pool of its own
// (LISTEN/NOTIFY on, polling once an hour, so that only a notification, their own work or
// a lease's expiry wakes them) deliver a stream of 300 events that another instance
// publishes one at a time, and their Postgres (a throwaway server of this test's own, not
// the shared one) is stopped in fast mode after the 100th and started again a second
// later on the same port. The publisher
// retries what fails while the server is down, with the same delivery IDs, so that an
// enqueue whose commit was not acknowledged is found stored (queue.ErrDuplicateDelivery)
// rather than stored twice. Pass: every event committed is received; the store ends
// empty; both listeners reconnected (two backends LISTEN again) and NOTIFY wakes the
// dispatchers again: each of 10 events published after the restart, one at a time, is
// received within a second.
func TestPostgresRestartMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, stops and starts a PostgreSQL server")
	}
	const (
		events    = 300
		restartAt = 100
		probes    = 10
		schema    = "hk_restart"
	)
	srv := services.ThrowawayPostgres(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	newPool := func() *pgxpool.Pool {
		pool, err := pgxpool.New(ctx, srv.URL())
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	// Two delivering instances, each a dispatcher with one worker on a pool of its own;
	// 30 ms per request: slower than the publisher, so that deliveries are pending and
	// in flight when the server stops.
	const instances = 2
	recv := newRSReceiver(t, 4*events, 30*time.Millisecond)
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	require.NoError(t, err)
	t.Cleanup(snd.CloseIdleConnections)
	ep := dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: recv.url, Timeout: 2 * time.Second}}
	for range instances {
		store, err := pgqueue.New(ctx, newPool(), pgqueue.Config{Schema: schema})
		require.NoError(t, err)
		t.Cleanup(store.Close)
		d, err := dispatch.New(snd, store, dispatch.Config{Workers: 1, LeaseFor: 3 * time.Second, PollInterval: time.Hour})
		require.NoError(t, err)
		require.NoError(t, d.Subscribe(ep))
		require.NoError(t, d.Start(ctx))
		t.Cleanup(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			assert.NoError(t, d.Shutdown(sctx))
		})
	}

	// The publishing instance: another pool, a dispatcher never started (FanOut).
	ppool := newPool()
	pstore, err := pgqueue.New(ctx, ppool, pgqueue.Config{Schema: schema, Notify: pgqueue.NotifySendOnly})
	require.NoError(t, err)
	t.Cleanup(pstore.Close)
	pd, err := dispatch.New(snd, pstore, dispatch.Config{})
	require.NoError(t, err)
	require.NoError(t, pd.Subscribe(ep))

	// listeners counts the backends LISTENing for the delivering Stores.
	listeners := func() int {
		var n int
		err := ppool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'idle' AND query LIKE 'LISTEN %'`, "hookkit listen "+schema).Scan(&n)
		if err != nil {
			return 0
		}
		return n
	}
	waitUntil := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			require.True(t, time.Now().Before(deadline), "%s within %v", what, within)
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("the listeners", 10*time.Second, func() bool { return listeners() == instances })

	// publish stores the event's deliveries, retrying until they are stored, and
	// returns how many attempts failed.
	publish := func(ev *event.Event) int {
		t.Helper()
		ds, err := pd.FanOut(ev)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		for failed := 0; ; failed++ {
			err := pstore.Enqueue(ctx, ds...)
			if err == nil || errors.Is(err, queue.ErrDuplicateDelivery) {
				return failed // a duplicate: an earlier attempt committed
			}
			require.NoError(t, ctx.Err(), "publishing %s: %v", ev.ID, err)
			time.Sleep(50 * time.Millisecond) // the publisher's retry pause
		}
	}

	stopped := make(chan struct{})
	restarted := make(chan error, 1)
	var ids []string
	failures, downAt, atStop := 0, time.Time{}, 0
	for i := range events {
		if i == restartAt {
			if st, err := pstore.Stats(ctx, time.Now()); err == nil {
				atStop = st.Pending + st.Leased
			}
			go func() {
				err := srv.Stop(ctx)
				downAt = time.Now()
				close(stopped)
				if err == nil {
					time.Sleep(time.Second) // the outage
					err = srv.Start(ctx)
				}
				restarted <- err
			}()
			<-stopped // the next publish finds the server down
		}
		ev, err := event.New("order-created", map[string]int{"n": i})
		require.NoError(t, err)
		failures += publish(ev)
		ids = append(ids, ev.ID)
		time.Sleep(5 * time.Millisecond) // the stream's pace
	}
	require.NoError(t, <-restarted)
	t.Logf("restart: %d deliveries pending or in flight at the stop; %d publish attempts failed while the server was down; %d events committed, the last %.1f s after the stop",
		atStop, failures, len(ids), time.Since(downAt).Seconds())
	assert.Positive(t, failures, "publishing failed while the server was down (and was retried)")

	missing := func() int {
		n := 0
		for _, id := range ids {
			if recv.count(id) == 0 {
				n++
			}
		}
		return n
	}
	waitUntil("every committed event received", 30*time.Second, func() bool { return missing() == 0 })
	waitUntil("an empty store", 30*time.Second, func() bool {
		st, err := pstore.Stats(ctx, time.Now())
		return err == nil && st == queue.Stats{}
	})
	dups := 0
	for _, id := range ids {
		dups += recv.count(id) - 1
	}
	t.Logf("restart: %d events received, %d of them more than once (outcomes lost with the server)", len(ids), dups)

	// NOTIFY works again: with a poll interval of an hour and nothing due, only a
	// reconnected listener can wake a dispatcher within a second.
	waitUntil("the listeners reconnected", 20*time.Second, func() bool { return listeners() == instances })
	var lat []time.Duration
	for i := range probes {
		ev, err := event.New("order-created", map[string]int{"probe": i})
		require.NoError(t, err)
		start := time.Now()
		publish(ev)
		timer := time.NewTimer(10 * time.Second)
	wait:
		for {
			select {
			case a := <-recv.arrivals:
				if a.eventID == ev.ID {
					lat = append(lat, a.at.Sub(start))
					break wait
				}
			case <-timer.C:
				require.FailNow(t, "not delivered", "probe %d after the restart", i)
			}
		}
		timer.Stop()
	}
	slices.Sort(lat)
	t.Logf("after the restart: publish-to-receive of %d events p50 %v, max %v (poll interval 1 h)", probes,
		percentile(lat, 0.5).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	for i, l := range lat {
		assert.Less(t, l, time.Second, fmt.Sprintf("probe %d woken by its notification", i))
	}
}
