// Package sqlitequeue is a durable queue.Store kept in one SQLite file, with the pure Go
// driver modernc.org/sqlite (no cgo): pending deliveries and dead letters survive a
// restart, and nothing needs to be installed or run beside the program.
//
//	store, err := sqlitequeue.Open(ctx, "/var/lib/myapp/webhooks.db", sqlitequeue.Config{})
//	...
//	defer store.Close()
//	d, err := dispatch.New(snd, store, dispatch.Config{})
//
// # When to pick it
//
// One host. A program that is the file's only user (it embeds its queue, and no CLI or
// second process opens the file while it runs): Exclusive mode (below), the faster one.
// Otherwise several processes on that host may share the file (several dispatchers, a
// CLI listing dead letters): every write transaction begins with BEGIN IMMEDIATE, so
// two processes never lease the same delivery, lease tokens are random (crypto/rand)
// and so unique across processes, and the ordered head rule is part of the query that
// leases. The file must be on a local disk (SQLite's locks do not work over NFS). For
// dispatchers on several hosts use a server database (dispatch/pgqueue).
//
// # Durability: Synchronous
//
// Enqueue returns only once its deliveries are committed. With SyncFull (the default)
// every call that stores deliveries (Enqueue, Requeue, DeadLetterEndpoint) returns only
// once its commit is on the disk: what it accepted survives a power loss. That is SQLite's
// synchronous=FULL in WAL mode (one fsync of the WAL after each commit's frames are
// written) with the fsync made by the store, outside the file's write lock: the writer
// commits with synchronous=NORMAL, and the calls wait for an fsync (fdatasync on Linux) of
// the WAL file begun after their commit, which a goroutine of the store makes while the
// next transactions are applied; one fsync serves every commit made before it began. It
// is as safe because the WAL keeps commits in order and recovery stops at the first frame
// that did not reach the disk (a commit on the disk puts every earlier one there), and a
// checkpoint, the only step that moves frames out of the WAL or lets later ones overwrite
// them, fsyncs the WAL before and the database file after. If an fsync fails, the calls
// waiting for it return ErrSyncFailed and so does every later write (see ErrSyncFailed).
// A commit of Leases and Completes alone is not waited for: it is made durable by the
// next fsync or checkpoint, so a power loss may undo the last leases and outcomes, and
// those deliveries are attempted again (at-least-once), but it never loses a delivery
// Enqueue accepted; a Lease may take a delivery whose Enqueue still waits for its fsync
// (a power loss then undoes both, and that Enqueue never returned). With SyncNormal
// (synchronous=NORMAL, in WAL mode) every commit survives a crash of the process
// (SIGKILL, a panic) but the last commits before a power loss or an OS crash may be lost;
// it costs no fsync per commit. A lost commit of Lease or Complete only makes a delivery
// be attempted again (at-least-once).
//
// # Group commit
//
// A committer goroutine merges the Enqueue, Complete and Lease calls that are waiting into
// one transaction, up to Config.MaxBatch, applied in the order they arrived (a Lease after
// a Complete sees its effect; two Leases never take the same delivery, the second seeing
// the first's leases): while one transaction is applied and committed, the next calls
// queue up, and the next transaction takes all of them, so that many concurrent publishers are not
// capped at the disk's fsync rate, and a lone caller is not delayed (there is no wait
// window: before it begins a transaction the committer only yields the processor, so that
// the callers its last commit woke can send their next calls). Each call keeps its own
// result: an Enqueue that is refused (queue.ErrDuplicateDelivery, queue.ErrQueueFull)
// changes nothing and fails alone while the others are stored (an Enqueue of several
// deliveries runs in a SAVEPOINT of its own for that; one of a single delivery, and a
// Complete, whose outcomes each have their own result, need none). Any other error, of a
// statement or of the commit, fails every call of the transaction, and none of them is
// stored. A call whose context ends while it waits is never applied and returns the
// context's error; once its transaction has begun, it waits for the commit, so an error
// always means that nothing of it was stored (and a Lease returns its deliveries only once
// their leases are committed).
// DeadLetterEndpoint and Requeue run in transactions of their own.
//
// # Connections
//
// One writer connection, held by the store, where every statement is prepared once (BEGIN
// IMMEDIATE and COMMIT too): SQLite admits one writer per file at a time, so more
// connections would only wait on the file lock. A few read-only connections serve
// ListPending, ListDead, Stats, EndpointStats and NextDue; in WAL mode
// (journal_mode=WAL) they read the last commit without waiting for the writer. In
// Exclusive mode the writer connection is the only one: memory serves the reads.
//
// # Exclusive mode
//
// With Config.Exclusive the file is this process's alone: the one connection takes
// SQLite's exclusive lock (locking_mode=EXCLUSIVE) and holds it until Close, so that any
// other Open, in this process or another, fails with ErrInUse (after BusyTimeout), and
// an Exclusive Open fails so while another process has the file open. Open then loads
// every delivery of the file into a dispatch/memqueue Store, which serves Lease, the
// listings, Stats, EndpointStats and NextDue from memory, and writes the changes that
// Store reports (memqueue.Config.Journal) — an insert per delivery stored, a delete per
// acknowledgement, the rare reschedules, dead letters, evictions and requeues — in group
// commits like the shared mode's: each call that changed something returns once a commit
// holding its changes has been made (with SyncFull, SQLite's synchronous=FULL: once it is
// on the disk, for Completes too). Leases are never written: they end with the process,
// so a restart (after a crash too) finds every pending delivery leasable at once, and
// Open forgets the leases a shared process left in the file. Without leases to find and
// write, the file needs no index on its pending deliveries but their unique ids: an
// Exclusive Open drops the others and an Open without Exclusive creates them again, so
// the file stays one both modes read. A delivery a Lease takes may be attempted before
// the commit of its Enqueue (which returns only after it), as in the shared mode with
// SyncFull.
//
// What it costs: memory for every delivery the file holds, events included (as the
// memory store: MaxPending and MaxDead bound it), and a load of the whole file at Open
// (about 0.3 s for 100,000 pending deliveries on a small machine, BenchmarkOpenLoads).
// What it gives: a Lease is a few microseconds of memory work instead of a transaction, and
// the writes per delivery fall from three statements (insert, lease, delete) to two, on
// fewer indexes: BENCHMARKS.md has the figures. If a commit fails (the disk is full),
// memory holds changes the file does not: the calls waiting for it and every later call
// return ErrWriteFailed, and the file keeps what was committed before.
//
// # What is stored
//
// Pending (and leased) deliveries in one table, dead letters in another, so that the
// pending table and its indexes hold only what the dispatcher works on; a delivery keeps
// its Seq when it moves between them. Seq comes from a counter in the file (never reused),
// and the counts of pending and dead deliveries (MaxPending, MaxDead, Stats) are kept in
// the file too, updated once per write transaction under the file's write lock, so that
// several processes sharing the file keep them exact. Every field of queue.Delivery: the
// event as its binary form (event.Encoded.MarshalBinary) in a BLOB, rebuilt with
// UnmarshalBinary when loaded, so that every attempt's body is byte for byte the one
// Encode wrote and no JSON is parsed; the event id and endpoint id also as columns, for
// the listing filters; every field of every Attempt in a table of its own. Times are int64
// Unix nanoseconds (instants from 1678 to 2262 are kept exactly; others are clamped to
// those bounds) and come back in UTC. The store reads no clock: every time comes from its
// caller.
//
// # Schema versions
//
// Open creates the schema in a new file and migrates an older one, in one write
// transaction, versioned by PRAGMA user_version (SchemaVersion), keeping every
// delivery, dead letter, attempt and lease (version 1, one table for both, is moved into
// version 2's two tables; version 3 drops the index of pending deliveries by event id,
// see Store.ListPending; a hookkit that writes version 2 refuses a file at version 3).
// It refuses a file written by a newer hookkit (ErrSchemaTooNew)
// rather than change what it does not know.
//
// # Dependencies
//
// The package is a module of its own (github.com/hookkit/hookkit/dispatch/sqlitequeue),
// so the SQLite driver stays out of the library's module: a program pays for it only
// when it imports this package. The package imports dispatch/queue, dispatch/memqueue
// (Exclusive mode), event, the standard library and the driver; never the sender or
// net/http.
package sqlitequeue
