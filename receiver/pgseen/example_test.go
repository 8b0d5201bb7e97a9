package pgseen_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/pgseen"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// A handler that writes to Postgres records the delivery id in its own transaction: the
// payment and the id commit together, so a redelivery — even one that follows a crash
// after COMMIT — is acknowledged without a second payment. Here a sender delivers one
// event twice.
func ExampleStore_TxHandler() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgURL) // e.g. "postgres://app@db/app"
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	schema := fmt.Sprint("pgseen_example_", time.Now().UnixNano())
	defer pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")

	seen, err := pgseen.New(ctx, pool, pgseen.Config{Schema: schema})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE TABLE "+schema+".payments (event_id text, amount int)"); err != nil {
		log.Fatal(err)
	}
	key, err := signature.Standard().ParseKey("k1", testSecret)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := signature.NewKeySet(key)
	if err != nil {
		log.Fatal(err)
	}
	mw, err := receiver.New(receiver.Config{Keys: keys, Seen: seen})
	if err != nil {
		log.Fatal(err)
	}
	handler := seen.TxHandler(pool, func(ctx context.Context, tx pgx.Tx, ev *event.Event) error {
		p, err := event.Decode[struct{ Amount int }](ev)
		if err != nil {
			return receiver.Permanent(err) // 422: the sender must not retry
		}
		_, err = tx.Exec(ctx, "INSERT INTO "+schema+".payments VALUES ($1, $2)", ev.ID, p.Amount)
		return err // nil: the id is committed as seen in this same transaction
	})
	srv := httptest.NewServer(mw(handler)) // in a program: http.Handle("/webhooks", mw(handler))
	defer srv.Close()

	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true}) // a loopback receiver
	if err != nil {
		log.Fatal(err)
	}
	ev, err := event.New("payment-received", map[string]int{"amount": 42})
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		res, err := s.Send(ctx, sender.Endpoint{URL: srv.URL, Keys: keys}, ev)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("answer:", res.Attempts[len(res.Attempts)-1].Status)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".payments").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("payments:", n)
	// Output:
	// answer: 204
	// answer: 204
	// payments: 1
}
