// Command postgres-outbox shows transactional publishing with hookkit's Postgres store:
// an order and its order-created webhook are stored in one database transaction, so the
// webhook is delivered if and only if the order is committed.
//
// It creates a schema of its own (hookkit_outbox_demo_<pid>) holding an orders table and
// the store's tables, starts a receiver on 127.0.0.1 that verifies the Standard Webhooks
// signature, and places three orders, each in one transaction of the application's
// pool: BEGIN; INSERT INTO orders; the dispatcher's FanOut of the order-created event;
// the store's EnqueueTx of those deliveries; COMMIT (or ROLLBACK); then Notify. Order
// 1002's transaction is rolled back, as a failed payment would: neither the order nor its
// webhook exists, and the receiver never sees it. At the end the schema is dropped.
//
// It needs a PostgreSQL server: HOOKKIT_TEST_POSTGRES, else DATABASE_URL, else the local
// default postgres://postgres@127.0.0.1:5432/test. Run it with:
//
//	go run ./examples/postgres-outbox
//
// Everything listens on 127.0.0.1 only; the sender's guard against loopback and plain-http
// destinations is relaxed for this demo only.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// defaultURL is the local server tried when neither variable is set.
const defaultURL = "postgres://postgres@127.0.0.1:5432/test"

// errNoPostgres is returned by run when no PostgreSQL server answers at the URL.
var errNoPostgres = errors.New("no PostgreSQL server answered")

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, from := databaseURL()
	if err := run(ctx, os.Stdout, dsn); err != nil {
		if errors.Is(err, errNoPostgres) {
			fmt.Fprintf(os.Stderr, "postgres-outbox: %v (the URL from %s). This demo needs a PostgreSQL server: set HOOKKIT_TEST_POSTGRES or DATABASE_URL to a postgres:// URL of a database it may create a schema in.\n", err, from)
		} else {
			fmt.Fprintln(os.Stderr, "postgres-outbox:", err)
		}
		os.Exit(1)
	}
}

// databaseURL returns the URL of the server to use, and where it came from.
func databaseURL() (dsn, from string) {
	for _, env := range []string{"HOOKKIT_TEST_POSTGRES", "DATABASE_URL"} {
		if v := os.Getenv(env); v != "" {
			return v, env
		}
	}
	return defaultURL, "the local default"
}

// where names the server of dsn without its credentials, for messages.
func where(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "the configured server"
	}
	return u.Host + u.Path
}

// run is the demo; it writes its trace to w.
func run(ctx context.Context, w io.Writer, dsn string) error {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("not a valid PostgreSQL URL: %w", errors.New(strings.ReplaceAll(err.Error(), dsn, "…")))
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("%w at %s", errNoPostgres, where(dsn))
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("%w at %s", errNoPostgres, where(dsn))
	}

	// A schema of the demo's own, dropped at the end, for the orders and the store.
	schema := fmt.Sprintf("hookkit_outbox_demo_%d", os.Getpid())
	quoted := pgx.Identifier{schema}.Sanitize()
	orders := pgx.Identifier{schema, "orders"}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+quoted); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(dctx, `DROP SCHEMA `+quoted+` CASCADE`); err != nil {
			fmt.Fprintf(w, "could not drop schema %s: %v\n", schema, err)
			return
		}
		fmt.Fprintf(w, "schema %s dropped\n", schema)
	}()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+orders+` (id bigint PRIMARY KEY, total_cents bigint NOT NULL)`); err != nil {
		return fmt.Errorf("create table orders: %w", err)
	}
	store, err := pgqueue.New(ctx, pool, pgqueue.Config{Schema: schema})
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(w, "schema %s: table orders and the hookkit store (on %s)\n", schema, where(dsn))

	// The receiver: verifies the signature, prints what it accepts.
	key, secret, err := signature.Standard().GenerateKey("2026-01")
	if err != nil {
		return err
	}
	ks, err := signature.NewKeySet(key)
	if err != nil {
		return err
	}
	var mu sync.Mutex // orders the trace: the receiver prints from its own goroutine
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format, args...)
	}
	accepted := make(chan int, 8)
	var received []int // the orders whose webhook the receiver accepted, under mu
	verify, err := receiver.New(receiver.Config{Keys: ks})
	if err != nil {
		return err
	}
	handler := verify(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ev, _ := receiver.EventFrom(r.Context())
		data, err := event.Decode[orderCreated](ev)
		if err != nil {
			http.Error(rw, "not an order-created event", http.StatusUnprocessableEntity)
			return
		}
		mu.Lock()
		received = append(received, data.Order)
		fmt.Fprintf(w, "receiver: accepted %s for order %d (signature verified)\n", ev.Type, data.Order)
		mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
		accepted <- data.Order
	}))
	hookURL, stop, err := serve(handler)
	if err != nil {
		return err
	}
	defer stop()

	// The dispatcher of this process. It also listens (LISTEN/NOTIFY), so that a
	// commit made by another instance of the application would wake it as well.
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true}) // demo only: loopback, plain http
	if err != nil {
		return err
	}
	defer snd.CloseIdleConnections()
	d, err := dispatch.New(snd, store, dispatch.Config{})
	if err != nil {
		return err
	}
	sub, err := subscription(hookURL, secret)
	if err != nil {
		return err
	}
	if err := d.Subscribe(sub); err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(sctx)
	}()

	// placeOrder stores an order and its webhook in one transaction.
	placeOrder := func(id, cents int, commit bool) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op once committed
		if _, err := tx.Exec(ctx, `INSERT INTO `+orders+` (id, total_cents) VALUES ($1, $2)`, id, cents); err != nil {
			return err
		}
		ev, err := event.New("order-created", map[string]int{"order": id, "total_cents": cents})
		if err != nil {
			return err
		}
		ds, err := d.FanOut(ev) // the deliveries Publish would store; no I/O
		if err != nil {
			return err
		}
		if err := store.EnqueueTx(ctx, tx, ds...); err != nil {
			return err
		}
		if !commit {
			if err := tx.Rollback(ctx); err != nil {
				return err
			}
			printf("order %d: BEGIN; INSERT INTO orders; %d order-created webhook enqueued in the same transaction; ROLLBACK (payment declined)\n", id, len(ds))
			return nil
		}
		// The trace's lock is held over the commit, so that the receiver's line (which
		// may come within milliseconds) is printed after this one.
		mu.Lock()
		err = tx.Commit(ctx)
		if err == nil {
			fmt.Fprintf(w, "order %d: BEGIN; INSERT INTO orders; %d order-created webhook enqueued in the same transaction; COMMIT\n", id, len(ds))
		}
		mu.Unlock()
		if err != nil {
			return err
		}
		d.Notify() // lease at once; other instances are woken by the commit's NOTIFY
		return nil
	}
	waitFor := func(order int) error {
		select {
		case got := <-accepted:
			if got != order {
				return fmt.Errorf("the receiver accepted the webhook of order %d, expected %d", got, order)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("the webhook of order %d was not delivered: %w", order, ctx.Err())
		}
	}

	if err := placeOrder(1001, 4999, true); err != nil {
		return err
	}
	if err := waitFor(1001); err != nil {
		return err
	}
	if err := placeOrder(1002, 1250, false); err != nil {
		return err
	}
	if err := placeOrder(1003, 800, true); err != nil {
		return err
	}
	if err := waitFor(1003); err != nil {
		return err
	}
	if err := d.Drain(ctx); err != nil {
		return err
	}

	// What is left: the committed orders, nothing pending, nothing else received.
	rows, err := pool.Query(ctx, `SELECT id FROM `+orders+` ORDER BY id`)
	if err != nil {
		return err
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return err
	}
	st, err := store.Stats(ctx, time.Now())
	if err != nil {
		return err
	}
	mu.Lock()
	got := append([]int(nil), received...)
	mu.Unlock()
	printf("orders table: %v; store: %d pending, %d leased, %d dead; webhooks accepted for orders %v (order 1002's never)\n",
		stored, st.Pending, st.Leased, st.Dead, got)
	if !slices.Equal(got, []int{1001, 1003}) || !slices.Equal(stored, []int{1001, 1003}) || st != (queue.Stats{}) {
		return fmt.Errorf("unexpected end state: webhooks %v, orders %v, store %+v", got, stored, st)
	}
	return nil
}

// orderCreated is the data of an order-created event.
type orderCreated struct {
	Order      int `json:"order"`
	TotalCents int `json:"total_cents"`
}

// subscription is the one endpoint of the demo, signing with the Standard Webhooks
// secret.
func subscription(url, secret string) (dispatch.Subscription, error) {
	key, err := signature.Standard().ParseKey("2026-01", secret)
	if err != nil {
		return dispatch.Subscription{}, err
	}
	ks, err := signature.NewKeySet(key)
	if err != nil {
		return dispatch.Subscription{}, err
	}
	return dispatch.Subscription{Endpoint: sender.Endpoint{ID: "shop", URL: url, Keys: ks, Timeout: 5 * time.Second}}, nil
}

// serve starts h on a loopback listener with every server timeout set.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/webhooks", func() { _ = srv.Close() }, nil
}
