package sqlitequeue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// A dispatcher whose deliveries are kept in a SQLite file: Publish returns once they are
// committed (and fsynced), so they survive a crash or a restart of the process.
func Example() {
	dir, err := os.MkdirTemp("", "sqlitequeue-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := sqlitequeue.Open(ctx, filepath.Join(dir, "webhooks.db"), sqlitequeue.Config{})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	got := make(chan string, 1)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ev, err := event.Parse(body); err == nil {
			got <- ev.Type
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer listener.Close()

	// The listener is on loopback: AllowPrivate admits it, AllowHTTP plain http://.
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	if err != nil {
		panic(err)
	}
	d, err := dispatch.New(snd, store, dispatch.Config{})
	if err != nil {
		panic(err)
	}
	if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "shop", URL: listener.URL}}); err != nil {
		panic(err)
	}
	if err := d.Start(ctx); err != nil {
		panic(err)
	}
	ev, _ := event.New("order-created", map[string]string{"order": "42"})
	n, err := d.Publish(ctx, ev)
	fmt.Println("stored deliveries:", n, err)
	fmt.Println("listener got:", <-got)

	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fmt.Println("shutdown:", d.Shutdown(shutdownCtx))
	st, _ := store.Stats(ctx, time.Now())
	fmt.Printf("left in the store: %+v\n", st)
	fmt.Println("integrity:", store.IntegrityCheck(ctx))
	// Output:
	// stored deliveries: 1 <nil>
	// listener got: order-created
	// shutdown: <nil>
	// left in the store: {Pending:0 Leased:0 Dead:0}
	// integrity: <nil>
}

// With Exclusive the file is this process's alone: the deliveries are served from
// memory and only their changes are written. Another Open fails with ErrInUse until
// Close; then the file is any Open's again, with what was stored.
func ExampleConfig_exclusive() {
	dir, err := os.MkdirTemp("", "sqlitequeue-exclusive")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, "webhooks.db")
	store, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{Exclusive: true})
	if err != nil {
		panic(err)
	}
	snd, _ := sender.New(sender.Config{})
	d, _ := dispatch.New(snd, store, dispatch.Config{}) // not started: the deliveries wait
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "shop", URL: "https://shop.example/hooks"}})
	ev, _ := event.New("order-created", map[string]string{"order": "42"})
	n, err := d.Publish(ctx, ev)
	fmt.Println("stored deliveries:", n, err)

	_, err = sqlitequeue.Open(ctx, path, sqlitequeue.Config{BusyTimeout: 50 * time.Millisecond})
	fmt.Println("another Open:", errors.Is(err, sqlitequeue.ErrInUse))
	_ = d.Shutdown(ctx)
	_ = store.Close()

	shared, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{})
	if err != nil {
		panic(err)
	}
	defer shared.Close()
	st, _ := shared.Stats(ctx, time.Now())
	fmt.Printf("after Close: %+v\n", st)
	// Output:
	// stored deliveries: 1 <nil>
	// another Open: true
	// after Close: {Pending:1 Leased:0 Dead:0}
}
