// Package pgseen is a receiver.SeenStore kept in Postgres (pgx v5), shared by every
// replica of a receiver that uses the same database and schema, and its transactional
// mode: a handler that writes to Postgres records the delivery id as seen in its own
// transaction, so that its changes happen exactly once per delivery id.
//
//	pool, _ := pgxpool.New(ctx, "postgres://…")
//	seen, _ := pgseen.New(ctx, pool, pgseen.Config{})
//	mw, _ := receiver.New(receiver.Config{Keys: keys, Seen: seen})
//	http.Handle("/webhooks", mw(seen.TxHandler(pool, func(ctx context.Context, tx pgx.Tx, ev *event.Event) error {
//		_, err := tx.Exec(ctx, "INSERT INTO payments (event_id, …) VALUES ($1, …)", ev.ID, …)
//		return err // nil: committed together with the delivery id
//	})))
//
// It is a module of its own (github.com/hookkit/hookkit/receiver/pgseen) so that the
// driver stays out of the library's module.
//
// # The store
//
// New creates (or migrates, under an advisory lock, so replicas may start at once) the
// table seen in Config.Schema ("hookkit" by default; the names start with "seen", so the
// schema can be shared with dispatch/pgqueue): one row per id, a reservation (an owner
// token of 128 random bits and the end of its lease) or a seen record (the end of its
// retention, and the token of the reservation it replaced). Reserve and Commit are one
// round trip each (the functions seen_reserve and seen_commit); Release is a
// compare-and-delete (DELETE … WHERE id = $1 AND token = $2 AND NOT committed). Commit by
// the owner of a seen record — the middleware's Commit after a TxHandler committed the id —
// succeeds; Commit by anyone else records the id all the same and returns
// receiver.ErrLeaseLost, as the SeenStore contract says. The store passes
// receiver/seentest.
//
// # The clock
//
// Every expiry is computed and compared on the database's clock (clock_timestamp(), in
// the statement that writes or reads it); the store sends durations, never times. The
// replicas of a receiver run on several machines whose clocks disagree by milliseconds or
// more: a lease written by one and judged by another on its own clock would expire early
// or late by the skew. The database is the one clock they all share, it costs nothing
// (the statements run there anyway), and it is the clock the transactional mode needs,
// since its records are written inside the handler's transaction. Durations are rounded up
// to whole microseconds, the resolution of timestamptz, so nothing expires early.
//
// # The transactional mode
//
// TxHandler (or TxHandlerFunc for a receiver.Router, or RunTx without HTTP) runs the
// handler's function in a transaction that begins by locking the id's row — the
// reservation the middleware just made — and ends by turning it into a seen record
// (keeping the reservation's token) just before COMMIT. So the business change and the
// seen record commit together or not at all:
//
//   - fn returns nil: the change and the id commit; TxHandler answers 204; the
//     middleware's Commit with its token finds the id committed by its owner (nil).
//   - fn returns an error or panics: both roll back; the middleware releases its
//     reservation; the sender's retry runs the handler again. receiver.Permanent answers
//     422 (the sender stops), receiver.Retryable 503, anything else 500.
//   - the id is already seen when the row is locked (another delivery committed it,
//     after this one's lease ran out): rollback, fn does not run, 204.
//
// While the transaction is open, the row lock is what protects the id: Reserve never waits
// for it (it locks with SKIP LOCKED) and answers InFlight, even after the lease ran out, so
// a handler slower than its lease is not run twice; a second RunTx of the id (for example
// behind a middleware with another store) waits for the lock and then finds the id seen.
//
// Crash points (the process dies, is SIGKILLed, or loses its connection) and what the
// sender's retry gets:
//
//	crash point                                   what the retry sees                          outcome
//	--------------------------------------------  -------------------------------------------  -------------------------------
//	before Reserve                                nothing                                      handled once
//	after Reserve, before the transaction         the reservation: 503 in flight until its     reserved again after the lease,
//	                                              lease (receiver.Config.Lease) runs out       handled once
//	inside the transaction (fn, or before COMMIT  Postgres rolls back when the connection      as above: once, after the lease
//	reached the server)                           closes; the reservation until its lease
//	COMMIT sent, its answer lost                  either the reservation or the seen record    as the row says: once either way
//	after COMMIT, before the 204 was sent         the seen record (kept Config.TxRetention):   204 at once, fn not run again
//	                                              already seen
//	after the 204, before the middleware's Commit the seen record: already seen                204 (the first one was received)
//	COMMIT fails with an error                    503; the middleware's release deletes the    run again if it did not commit,
//	                                              row only if it is still a reservation        204 if it did
//	the host vanishes (no clean disconnect)       503 in flight while Postgres keeps the dead  once the server drops the
//	                                              session's lock (TCP keepalive,               session: as "inside the
//	                                              idle_in_transaction_session_timeout)         transaction"
//
// TxRetention (24 hours by default, the longest default retention of the middleware) is
// how long the id stays seen when the process dies before the middleware's Commit, which
// otherwise replaces it by the middleware's retention: set it to at least
// receiver.Config.Retention when that is longer.
//
// # Cleanup of expired rows
//
// Expired rows are harmless (Reserve treats them as absent) and are removed three ways:
// lazily, when Reserve of the same id takes the expired row over in place; amortised, every
// Config.SweepEvery-th Reserve of a Store (100 by default) first deletes up to
// Config.SweepBatch (1,000) expired rows, oldest first through the index on expires, in the
// same statement; and Sweep, for a periodic job (with SweepEvery negative, or where few
// deliveries arrive). Sweeps skip rows another transaction holds (FOR UPDATE SKIP LOCKED),
// so they never delete a row a running TxHandler has locked, and never wait.
package pgseen
