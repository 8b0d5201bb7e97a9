// Package pgqueue is a durable queue.Store kept in a Postgres schema, on
// github.com/jackc/pgx/v5: pending deliveries and dead letters survive a restart, and
// every instance of an application that opens a Store on the same database and schema
// shares one queue, each delivery leased by one of them at a time.
//
//	pool, err := pgxpool.New(ctx, "postgres://app@db/shop")
//	...
//	store, err := pgqueue.New(ctx, pool, pgqueue.Config{})
//	d, err := dispatch.New(snd, store, dispatch.Config{})
//
// # When to pick it
//
// Several instances of an application (on several hosts) that must share the work and
// agree on what is delivered, or an application whose data is in Postgres already and
// that wants its webhooks stored in the same transaction as the change they announce
// (the outbox, below). For one process the in-memory store (memqueue) is enough; for one
// host without a database server, the SQLite store (sqlitequeue).
//
// # The pool is yours
//
// New takes the application's *pgxpool.Pool and never closes it. The same pool serves
// the application's own queries and the transactions it passes to EnqueueTx. Every call
// takes one connection for one round trip (Enqueue, Lease, Complete, DeadLetterEndpoint
// and Requeue each send one statement, or one batch run as one implicit transaction), so
// the pool needs no more connections than calls made at once. Statements are prepared
// once per connection and cached by pgx, results read in the binary protocol. The one
// connection the Store holds for long is its listener's (see Wake-ups), which is not the
// pool's; Close stops it. Close the Store before the pool.
//
// # Schema
//
// The tables are in the schema Config.Schema ("hookkit" by default), created if missing
// and migrated by New; the name must be a plain lower-case identifier and is always
// quoted. The schema is versioned by its table schema_version (SchemaVersion): New
// creates a new schema and migrates an older one in one transaction, under a
// transaction-scoped advisory lock derived from the schema name, so that instances
// started at once migrate one after the other; a schema written by a newer hookkit is
// refused (ErrSchemaTooNew). When the schema is current New only reads its version, so
// the role the application runs as needs no CREATE privilege after the first start. Two
// schemas in one database are two independent queues (tests use one each).
//
// # Leasing
//
// Lease is one statement, after one of settings in the same round trip (the plan settings,
// below, and synchronous_commit off): a CTE selects the due deliveries, earliest (Due,
// Seq) first, with FOR UPDATE SKIP LOCKED (two instances leasing at once take different
// rows without waiting), and an UPDATE ... RETURNING gives each a random lease token. With
// LeaseRequest.Endpoints, each listed endpoint's first deliveries up to its limit are
// taken in the same statement (a LATERAL index scan per endpoint over unnest of the IDs
// and limits), then the earliest of them up to Max. The ordered head rule is a NOT EXISTS
// condition (no lower Seq of the endpoint's ordered group is stored): it holds across
// instances, because the NOT EXISTS reads the statement's snapshot, in which a head that
// another transaction has locked is still visible. The lease's transaction commits with
// synchronous_commit off (for it alone): it is visible to every instance at once, but
// Lease does not wait for its WAL flush. A lease lost in a server crash leaves the
// delivery leasable, as its expiry would: an attempt made under it is one the store had
// not recorded yet, the duplicate at-least-once delivery allows and a crash before
// Complete makes anyway; Complete commits synchronously, and its flush makes the earlier
// lease durable too. With the pump's Leases one after the other, their flush was its pace:
// BenchmarkDispatchEndToEnd, alternating runs, Lease 3.4-4.1 ms -> 2.1-2.4 ms a call,
// deliveries/s new/old 1.11, 1.25, 0.95, 1.23 per round. Complete sends all the outcomes
// of a call in one round trip: one statement per kind of outcome over arrays, in one
// transaction; an acknowledged delivery is deleted.
//
// Concurrent Enqueues share statements: at most two Enqueue statements of a Store run at
// once, and the calls made meanwhile are inserted together by the next one, in one
// transaction and one commit, each call still all or none with its own result (a merged
// statement refused because of one call's duplicate or the bound is retried call by
// call). With 16 publishers, about five calls share each commit.
//
// EnqueueLeased (queue.LeasingEnqueuer, the dispatcher's publish-time handoff) goes
// through the same shared statements: its deliveries with a LeaseExpires are inserted
// leased, under tokens of a random prefix drawn for the call, and the statement returns
// the Seqs. No Lease has to find them, and the delivery goes to a worker once its insert
// commits: one delivery at a time, 1.0 ms from Publish to acknowledgement against 1.5 ms
// stored pending (BenchmarkDispatchLatency). A statement that stores only leased
// deliveries wakes no listener.
//
// # Plans that hold
//
// A queue table is the worst case for a planner's statistics: it may go from empty to a
// backlog of millions in less time than autovacuum takes to analyze it, and pgx's
// prepared statements keep the plan made when it was small. Every statement the Store
// runs in a transaction of its own (Enqueue, Lease, Complete, NextDue, Stats,
// EndpointStats, ListPending, ListDead, DeadLetterEndpoint, Requeue and the registry's
// lookups; not EnqueueTx's, which are the caller's) therefore begins its transaction, in
// the same round trip, with settings local to it: the cached generic plan (the lease
// statements were planned anew on every call, as long as they took to run), index scans
// only (a plan made on an empty table read every pending delivery to acknowledge a few:
// 3,000 rows for 2 in TestCompletePlansHoldWithAStaleTable) and no JIT. Each statement
// has the index it needs: the primary key for Complete's IDs, the due indexes for Lease
// and NextDue, the patterns' and endpoints' keys for the registry. The pool's other
// statements, the application's included, are planned as before.
//
// # Clocks and skew
//
// Every time comes from the caller, as the queue.Store contract says: the store never
// reads now(), the database's clock, nor time.Now. Due, LeaseExpires and DeadAt are the
// times the dispatchers pass, each by its own clock. Skew between the instances' clocks
// cannot make two of them hold one delivery: a Lease replaces the lease token, and
// Complete applies an outcome only under the token it names. An instance whose clock is
// ahead by s sees a lease expire up to s early and may lease the delivery again while its
// first holder is still at work (an early duplicate attempt, bounded by the skew); the
// first holder's Complete then finds its token replaced and gets queue.ErrLeaseLost, so
// only one lease is ever valid. Keep the clocks synchronized (NTP) and LeaseFor much
// longer than any skew between them.
//
// # Ordering across publishers
//
// Seq comes from a Postgres sequence, drawn when a row is inserted, so two transactions
// enqueueing at once may commit out of seq order: an ordered endpoint could see seq 6
// committed, and leased, before seq 5 commits. To prevent it, enqueueing ordered
// deliveries first takes a transaction-scoped advisory lock per endpoint
// (pg_advisory_xact_lock(hashtextextended(schema || '/' || endpoint, 0))), held until the
// transaction ends, so that within an ordered endpoint seq order is commit order. A
// transaction enqueueing ordered deliveries of an endpoint waits for another one that
// holds the endpoint's lock: keep such transactions short. One call takes its locks in
// the order of the endpoint IDs; a transaction that makes several EnqueueTx calls for
// several ordered endpoints in different orders than another may deadlock with it, which
// Postgres detects and breaks by failing one of them. Unordered deliveries take no lock.
//
// # The outbox: publishing in the caller's transaction
//
// EnqueueTx (pgx.Tx) and EnqueueSQLTx (*sql.Tx of the pgx stdlib driver) store
// deliveries in the application's own transaction, with every rule of Enqueue: stored if
// and only if the transaction commits, invisible to Lease until then.
//
//	tx, _ := pool.Begin(ctx)
//	tx.Exec(ctx, `INSERT INTO orders (id, total) VALUES ($1, $2)`, 42, 1999)
//	ds, _ := d.FanOut(ev)             // the deliveries Publish would store; no I/O
//	store.EnqueueTx(ctx, tx, ds...)   // in the same transaction
//	tx.Commit(ctx)                    // the order and its webhook, or neither
//	d.Notify()                        // lease now (other instances: woken by the NOTIFY)
//
// A unique violation (queue.ErrDuplicateDelivery) aborts the caller's transaction, as any
// failed statement does in Postgres; queue.ErrInvalidDelivery and queue.ErrQueueFull
// leave it usable.
//
// # Wake-ups: LISTEN/NOTIFY
//
// A dispatcher leases at once when the Store tells it that deliveries were committed
// (queue.Notifier), instead of at its next poll. With Config.Notify at its zero value,
// NotifyOn:
//
//   - Sending in the caller's transaction. The statement of EnqueueTx and EnqueueSQLTx
//     that stores deliveries also calls pg_notify on the schema's channel (Channel:
//     "hookkit:" and the schema name), with an empty payload, inside the caller's
//     transaction, and only when it stored something. Postgres delivers a notification
//     when the transaction commits, never for one rolled back, so a listener is woken
//     only once the deliveries can be leased, and a committed transaction always wakes
//     it: that is what makes the wake-up atomic with the application's commit. It costs
//     no round trip, but a transaction that notified takes a database-wide lock at
//     commit and holds it through its commit record's flush, so Postgres commits the
//     notifying transactions one at a time. Two schemas have two channels and never wake
//     each other.
//   - Sending after the Store's own commits. Enqueue and Requeue run in transactions of
//     the Store's, which cannot be rolled back once they return, so their statements do
//     not notify: after the commit the Store sends the notification itself, in a
//     transaction of its own that does not wait for its commit record's flush
//     (synchronous_commit off for it alone: it writes nothing else), from a goroutine, so
//     the call does not wait for it. At most one is in flight per Store: the commits made
//     while one is sent share one more, sent after it and at least 5 ms after the start of
//     the previous one, so every commit is followed by a notification that began after it
//     (a listener leasing on it sees the deliveries), an idle Store announces its first
//     commit at once, and a burst of Enqueues sends at most 200 notifications a second
//     instead of a commit serialized on the lock each (TestEnqueueBurstNotifiesTwice:
//     200 concurrent Enqueues while one notification is held back, two in all).
//     BenchmarkDispatchEndToEnd (16 publishers, one dispatcher): Enqueue 27-58 ms a call
//     with the notification in its transaction, 4-7 ms now (as with NotifyListenOnly).
//   - Debouncing. Postgres folds the identical notifications (same channel, same
//     payload) of one transaction into one: a transaction that calls EnqueueTx ten times
//     wakes each listener once. The listener coalesces too: the channel Notifications
//     returns holds one value, so a thousand commits arriving while a dispatcher leases
//     are one more Lease, which takes everything due. EnqueueTx does not throttle across
//     transactions. River (v0.51) does: its client notifies in the inserting transaction
//     at most once per FetchCooldown (100 ms) per queue, so an insert within that
//     cool-down sends nothing, even when the transaction that did send rolled back or
//     committed before it, and its jobs wait for the next fetch poll (1 s by default).
//     Here a transaction that skipped its notification because another was just sent
//     could not know that the listener leases after its own commit, so its deliveries
//     could wait for a poll interval (dispatch.Config.PollInterval, 1 s by default):
//     every storing transaction of the caller's sends, and an application enqueueing in
//     many small transactions at a high rate picks the trade-off itself:
//     NotifyListenOnly (wake-ups from the other Stores and the poll only), or Enqueue
//     after its commit.
//   - Listening. The first call of Notifications (a dispatcher's Start makes it) starts
//     a goroutine holding one connection of its own, made with the pool's ConnConfig
//     (not acquired from the pool: see connectListener), which LISTENs on the channel and
//     signals on each notification. When that connection fails (the server restarted, a
//     failover, pg_terminate_backend), it connects again with a backoff from 100 ms to
//     5 s and signals once connected, since something may have been committed while no
//     one listened. A connection that dies silently is found by TCP keepalive (pgx's
//     dialer: 5 minutes). Close stops the goroutine and closes the connection.
//
// Polling (dispatch.Config.PollInterval) stays the fallback in every mode: a lost
// notification delays a delivery by at most a poll interval, never loses it. Measured
// on loopback (TestPublishToReceiveLatency, 200 events published one at a time through
// another pool, 7 runs with -race on 2 CPUs): publish-to-receive p50 5-7 ms, p99
// 12-58 ms with NOTIFY; p50 51-63 ms, p99 104-124 ms when polling every 100 ms.
//
// Turn either half off: NotifyListenOnly sends nothing, for high enqueue rates (a
// transaction that notified takes a database-wide lock at commit, so Postgres commits
// notifying transactions one at a time); NotifySendOnly never LISTENs, for a pool behind
// PgBouncer in transaction pooling mode (which forwards NOTIFY but cannot keep a
// session's LISTEN) or a Store that only publishes; NotifyOff does neither.
//
// # Bounds and counts
//
// Config.MaxPending and Config.MaxDead are checked against counts kept in a log table:
// every statement that changes them appends a delta row in the same statement (an
// insert, which no other transaction waits for), and now and then a compaction, sent in
// the round trip of a store-owned write, replaces the committed rows by their sum
// (EnqueueTx never sends one into the caller's transaction: the Store's next own write,
// a dispatcher's Complete say, does). So
// the bound check and Stats read a few rows instead of counting the table: at 100,000
// pending deliveries a count took 9.5 ms, the log 0.2 ms. The bound is checked inside
// the enqueuing transaction against what is committed: concurrent transactions can
// overshoot it by their own size.
//
// # What is stored
//
// Every field of queue.Delivery: the event as its binary form
// (event.Encoded.MarshalBinary) in a bytea, rebuilt with UnmarshalBinary when loaded, so
// that every attempt's body is byte for byte the one Encode wrote and no JSON is parsed;
// the event id and endpoint id also as columns, for the listing filters; every field of
// every Attempt, in a table of its own. Times are bigint Unix nanoseconds, not
// timestamptz, which keeps microseconds only (instants from 1678 to 2262 are kept
// exactly; others are clamped to those bounds); they come back in UTC. Indexes serve the
// due deliveries (due, seq), the ordered heads (endpoint, seq), the leases by expiry, the
// dead letters (dead_at, seq), the event id and the endpoint.
//
// # Endpoint registry
//
// Store implements queue.Registry (schema version 2: the tables endpoints and
// endpoint_patterns): the endpoints themselves — their specs as dispatch.SpecCodec sealed
// them, their event-type patterns — and their shared circuit-breaker state. Every
// dispatcher with dispatch.Config.Registry set to the Store, and every "hookkit worker
// --registry" on the schema, shares them: an endpoint disabled by one (410 Gone) is
// disabled for all; enabled again from any (Dispatcher.EnableEndpoint, "hookkit endpoint
// enable", the console's Enable form: "hookkit console --registry") it is served again
// within a poll interval. MatchEndpoints finds an event's endpoints with index probes,
// SetEndpointState is a compare-and-set on the version, EndpointChanges follows the
// writers' transaction ids and ListEndpoints pages by id: the design comment at the top
// of registry.go says how, and what each costs. The lookups run with the plan settings
// too (Plans that hold): on a registry that grew from empty, MatchEndpoints kept a plan
// that read every pattern, 9 ms a Publish with 50,000 endpoints. A deleted endpoint
// stays as a tombstone row until PurgeDeleted (queue.DeletedPurger; "hookkit endpoint
// purge --older-than 168h") drops those deleted before a time, in one scan of the table.
//
// # Dependencies
//
// The package is a module of its own (github.com/hookkit/hookkit/dispatch/pgqueue), so
// pgx stays out of the library's module. It imports dispatch/queue, event, the standard
// library and pgx; never the sender or net/http.
package pgqueue
