package sqlitequeue_test

import (
	"context"
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
