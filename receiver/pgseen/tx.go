package pgseen

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
)

var (
	// ErrAlreadySeen is returned by RunTx, without calling its function, when the id is
	// recorded as seen already: a delivery of it committed its transaction (or the
	// middleware committed it) within the retention. TxHandler answers it with 204.
	ErrAlreadySeen = errors.New("hookkit/pgseen: delivery already handled")
	// ErrTransaction wraps the failures of RunTx's own statements: beginning the
	// transaction, locking or writing the id's row, and COMMIT. After a failed COMMIT the
	// outcome may be unknown (the connection was lost while it ran): either way the retry
	// finds out, as AlreadySeen or as a new run. TxHandler answers it with 503 so the
	// sender retries.
	ErrTransaction = errors.New("hookkit/pgseen: seen-id transaction failed")
)

// Beginner begins the transactions of RunTx and TxHandler: a *pgxpool.Pool or a
// *pgx.Conn (not shared between goroutines), on the database that holds the Store's
// schema.
type Beginner interface {
	BeginTx(ctx context.Context, txOptions pgx.TxOptions) (pgx.Tx, error)
}

// TxFunc is a webhook handler's work in its database transaction: it makes its changes
// through tx and returns nil to commit them, together with the delivery id, or an error
// to roll them back. It must not commit or roll back tx itself. Errors made with
// receiver.Permanent and receiver.Retryable choose the answer as they do for a
// receiver.Router (422, 503); any other error answers 500, which the sender retries.
type TxFunc func(ctx context.Context, tx pgx.Tx, ev *event.Event) error

// RunTx runs fn in a transaction begun on db (with default options: read committed) that
// records id as seen when, and only when, it commits, so that fn's changes are made once
// per id. Before fn runs, it locks the id's row — the middleware's reservation, or a row
// it inserts when there is none — and it returns ErrAlreadySeen without calling fn if the
// id is seen already; while the transaction is open, every Reserve of the id answers
// InFlight, even after the reservation's lease ran out, and another RunTx of the id waits
// for it. When fn returns nil it marks the row seen for Config.TxRetention and commits;
// when fn returns an error or panics, it rolls back (the row is as it was, the
// middleware's reservation released by the middleware) and returns fn's error unchanged,
// or lets the panic go on. Failures of its own statements wrap ErrTransaction.
//
// A reservation taken over keeps its token, so the receiver middleware's Commit with that
// token finds the id committed by its owner and succeeds. Use it directly for work that is
// not an HTTP handler; TxHandler and TxHandlerFunc call it with DeliveryIDFrom.
func (s *Store) RunTx(ctx context.Context, db Beginner, id string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("%w: begin: %w", ErrTransaction, err)
	}
	// A no-op once committed; after an error or a panic it ends the transaction (on a
	// context that is not cancelled, so that the connection goes back to the pool clean).
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for attempt := 1; ; attempt++ {
		var seen bool
		err := tx.QueryRow(ctx, s.lockSQL, id).Scan(&seen)
		if err == nil {
			if seen {
				return ErrAlreadySeen
			}
			break // the reservation (or an expired row) is ours while the transaction lasts
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: lock %q: %w", ErrTransaction, id, err)
		}
		// No row: the middleware uses another store, or the lease ran out and the row was
		// swept. Insert one, invisible to others until commit (their inserts wait for it).
		tag, err := tx.Exec(ctx, s.insertSQL, id, micros(s.txRetention), newToken())
		if err != nil {
			return fmt.Errorf("%w: insert %q: %w", ErrTransaction, id, err)
		}
		if tag.RowsAffected() == 1 {
			break
		}
		if attempt == 3 {
			return fmt.Errorf("%w: %q inserted and deleted repeatedly", ErrTransaction, id)
		}
		// Another transaction inserted it meanwhile: lock that row.
	}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, s.markSQL, id, micros(s.txRetention))
	if err != nil {
		return fmt.Errorf("%w: mark %q seen: %w", ErrTransaction, id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%w: the row of %q vanished while locked", ErrTransaction, id) // cannot happen
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%w: commit: %w", ErrTransaction, err)
	}
	return nil
}

// TxHandlerFunc returns a receiver.HandlerFunc, for a receiver.Router, that runs fn in
// RunTx with the delivery id of the request (receiver.DeliveryIDFrom): nil when the
// transaction committed, and also when the id turned out to be seen already (the router
// answers 204 and fn did not run again); receiver.Retryable around an ErrTransaction
// (503); fn's error as it is otherwise. It panics if db or fn is nil.
func (s *Store) TxHandlerFunc(db Beginner, fn TxFunc) receiver.HandlerFunc {
	if db == nil || fn == nil {
		panic("hookkit/pgseen: TxHandlerFunc needs a Beginner and a TxFunc")
	}
	return func(ctx context.Context, ev *event.Event) error {
		id, ok := receiver.DeliveryIDFrom(ctx)
		if !ok {
			return errNoDelivery
		}
		err := s.RunTx(ctx, db, id, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, tx, ev) })
		switch {
		case errors.Is(err, ErrAlreadySeen):
			return nil
		case errors.Is(err, ErrTransaction):
			return receiver.Retryable(err, 0)
		}
		return err
	}
}

var errNoDelivery = errors.New("hookkit/pgseen: no delivery in the context: put the handler behind the receiver middleware")

// TxHandler returns the http.Handler to put behind the receiver middleware (built with
// this Store as receiver.Config.Seen) when the handler writes to Postgres: for each
// verified delivery it runs fn in a transaction that records the delivery id as seen
// when it commits (RunTx), so that the changes fn makes happen exactly once per id,
// whatever fails and wherever the process dies; see the package documentation. It
// answers 204 when the transaction committed or the id was seen already, 503 when the
// transaction itself failed, and for fn's errors what a receiver.Router answers (422 for
// receiver.Permanent, 503 for receiver.Retryable, else 500), with a problem document. It
// is a receiver.Router routing every event type to TxHandlerFunc(db, fn): use
// TxHandlerFunc to route types to different functions or to log handler errors. It
// panics if db or fn is nil.
func (s *Store) TxHandler(db Beginner, fn TxFunc) http.Handler {
	rt := receiver.NewRouter(receiver.RouterConfig{})
	if err := rt.Handle("*", s.TxHandlerFunc(db, fn)); err != nil {
		panic(err) // unreachable: "*" on a new router
	}
	return rt
}
