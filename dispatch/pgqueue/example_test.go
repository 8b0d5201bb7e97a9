package pgqueue_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// The outbox: an order and its order-created webhook are stored in one transaction of
// the application's own pool, so the webhook is delivered if and only if the order is
// committed (and even if the process dies right after the commit). It needs a Postgres
// server (DATABASE_URL) with a table orders; TestOutboxExample runs the same steps.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	store, err := pgqueue.New(ctx, pool, pgqueue.Config{}) // schema "hookkit"
	if err != nil {
		panic(err)
	}
	defer store.Close() // stops its listener (before pool.Close, deferred earlier)
	snd, err := sender.New(sender.Config{})
	if err != nil {
		panic(err)
	}
	d, err := dispatch.New(snd, store, dispatch.Config{})
	if err != nil {
		panic(err)
	}
	if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "shop", URL: "https://shop.example.com/hooks"}}); err != nil {
		panic(err)
	}
	if err := d.Start(ctx); err != nil {
		panic(err)
	}
	defer d.Shutdown(ctx)

	tx, err := pool.Begin(ctx)
	if err != nil {
		panic(err)
	}
	defer tx.Rollback(ctx) // a no-op once committed
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, total) VALUES ($1, $2)`, 42, 1999); err != nil {
		panic(err)
	}
	ev, err := event.New("order-created", map[string]int{"order": 42})
	if err != nil {
		panic(err)
	}
	ds, err := d.FanOut(ev) // the deliveries Publish would store; no I/O
	if err != nil {
		panic(err)
	}
	if err := store.EnqueueTx(ctx, tx, ds...); err != nil {
		panic(err)
	}
	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}
	d.Notify() // this process leases at once; the commit's NOTIFY wakes the others
	fmt.Println("order 42 and its webhook committed")
}

// TestOutboxExample runs the steps of Example against the test server: an order
// committed with its webhook in one transaction is delivered (woken by Notify, not by a
// poll: the poll interval is an hour), an order rolled back with its webhook is neither
// stored nor delivered.
func TestOutboxExample(t *testing.T) {
	ctx := t.Context()
	pool := shared.Get(t)
	store := newStore(t, pgqueue.Config{})
	orders := pgx.Identifier{store.Schema(), "orders"}.Sanitize()
	_, err := pool.Exec(ctx, `CREATE TABLE `+orders+` (id bigint PRIMARY KEY, total bigint NOT NULL)`)
	require.NoError(t, err)

	var mu sync.Mutex
	var got []string
	received := make(chan struct{}, 10)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := event.Parse(body)
		if err == nil {
			mu.Lock()
			got = append(got, string(ev.Data))
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
		received <- struct{}{}
	}))
	defer listener.Close()
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true}) // loopback, plain http
	require.NoError(t, err)
	d, err := dispatch.New(snd, store, dispatch.Config{PollInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "shop", URL: listener.URL}}))
	require.NoError(t, d.Start(ctx))
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, d.Shutdown(sctx))
	}()

	placeOrder := func(id int, commit bool) {
		t.Helper()
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = tx.Exec(ctx, `INSERT INTO `+orders+` (id, total) VALUES ($1, $2)`, id, 1999)
		require.NoError(t, err)
		ev, err := event.New("order-created", map[string]int{"order": id})
		require.NoError(t, err)
		ds, err := d.FanOut(ev)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.NoError(t, store.EnqueueTx(ctx, tx, ds...))
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
		d.Notify()
	}
	waitReceived := func() {
		t.Helper()
		select {
		case <-received:
		case <-time.After(30 * time.Second):
			t.Fatal("the committed order's webhook was not delivered")
		}
	}

	placeOrder(42, true)
	waitReceived()
	placeOrder(43, false)
	placeOrder(44, true)
	waitReceived()
	require.NoError(t, d.Drain(ctx))

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{`{"order":42}`, `{"order":44}`}, got, "the committed orders' webhooks, and only them")
	rows, err := pool.Query(ctx, `SELECT id FROM `+orders+` ORDER BY id`)
	require.NoError(t, err)
	stored, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	assert.Equal(t, []int{42, 44}, stored)
	st, err := store.Stats(ctx, time.Now())
	require.NoError(t, err)
	assert.Zero(t, st, "nothing left in the store")
}

// Behind PgBouncer in transaction pooling mode a session cannot keep a LISTEN: the
// Store sends its notifications (PgBouncer forwards a NOTIFY) and the dispatcher polls.
// The instances that connect to Postgres directly keep listening and are woken by them.
// It needs a Postgres server (DATABASE_URL).
func ExampleNotifyMode() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // through PgBouncer
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	store, err := pgqueue.New(ctx, pool, pgqueue.Config{Notify: pgqueue.NotifySendOnly})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	fmt.Println(store.Notifications() == nil, store.Channel()) // true hookkit:hookkit
}
