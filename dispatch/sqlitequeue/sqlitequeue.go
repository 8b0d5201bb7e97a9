package sqlitequeue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"

	// The pure Go SQLite driver, registered as "sqlite".
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DefaultMaxPending is the bound on pending (including leased) deliveries when
// Config.MaxPending is zero.
const DefaultMaxPending = 1_000_000

// DefaultMaxDead is the bound on dead letters when Config.MaxDead is zero.
const DefaultMaxDead = 100_000

// DefaultBusyTimeout is how long a write waits for another process's lock when
// Config.BusyTimeout is zero.
const DefaultBusyTimeout = 10 * time.Second

// DefaultMaxBatch is the most requests (Enqueue, Complete and Lease calls) one group commit
// takes when Config.MaxBatch is zero.
const DefaultMaxBatch = 256

// readers is the size of the pool of read-only connections (ListPending, ListDead,
// Stats, NextDue, IntegrityCheck).
const readers = 4

var (
	// ErrClosed is returned by every method of a Store after Close.
	ErrClosed = errors.New("hookkit/sqlitequeue: store is closed")
	// ErrInvalidConfig is returned by Open for a Config or a path it refuses.
	ErrInvalidConfig = errors.New("hookkit/sqlitequeue: invalid config")
	// ErrIntegrity is returned by IntegrityCheck when SQLite finds the file damaged.
	ErrIntegrity = errors.New("hookkit/sqlitequeue: integrity check failed")
)

// Synchronous is how hard a commit waits for the disk: SQLite's PRAGMA synchronous.
type Synchronous int

// The durability levels of Config.Synchronous.
const (
	// SyncFull (the default): every call that stores deliveries (Enqueue, Requeue,
	// DeadLetterEndpoint) returns only once its commit is on the disk, an fsync of the
	// WAL begun after the commit having returned, so a stored delivery survives a power
	// loss. The store makes that fsync itself, outside the file's write lock, and one
	// fsync serves every commit made before it began (the package documentation,
	// Durability). A commit of Leases and Completes alone is not waited for: it is made
	// durable by the next fsync, and a power loss may undo it, so its deliveries are
	// attempted again.
	SyncFull Synchronous = iota
	// SyncNormal runs PRAGMA synchronous=NORMAL in WAL mode: a commit survives a crash of
	// the process (SIGKILL), but the last commits before a power loss or an OS crash may
	// be lost. The WAL is fsynced at checkpoints only, so commits are cheaper.
	SyncNormal
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Synchronous is the durability of a commit. Zero: SyncFull.
	Synchronous Synchronous
	// MaxPending bounds the pending (including leased) deliveries; Enqueue and Requeue
	// return queue.ErrQueueFull beyond it. 0 means DefaultMaxPending; negative means no bound.
	MaxPending int
	// MaxDead bounds the dead letters: when a new one would exceed it, the oldest
	// (earliest DeadAt, then lowest Seq) are deleted and reported through
	// queue.DeadEvicter. 0 means DefaultMaxDead; negative means no bound.
	MaxDead int
	// BusyTimeout is how long a write waits for the lock that another process (or
	// another Store on the same file) holds, before failing with SQLITE_BUSY. 0 means
	// DefaultBusyTimeout; negative is refused.
	BusyTimeout time.Duration
	// MaxBatch is the most Enqueue, Complete and Lease calls merged into one transaction by
	// group commit. There is no wait window: a commit takes every request already
	// waiting (they queue up while the previous commit fsyncs), up to MaxBatch, so a
	// lone caller is committed at once. 0 means DefaultMaxBatch; 1 turns group commit
	// off; negative is refused. In Exclusive mode it bounds the changes the committer
	// gathers before it begins a transaction (1: none), which then writes every change
	// recorded by then.
	MaxBatch int
	// Exclusive opens the file for this process alone (another Open, here or in another
	// process, fails with ErrInUse while it is open): the deliveries are loaded into
	// memory, where Lease, the listings and Stats are served without a query, and only
	// their changes are written (group committed as without it), never a lease. A restart
	// therefore finds every pending delivery leasable at once. Memory holds every
	// delivery the file holds, events included. The file stays one a later Open without
	// Exclusive reads (it recreates the indexes Exclusive drops). The package
	// documentation, Exclusive mode, says what it costs and gives. False: the file is
	// shared.
	Exclusive bool
}

// Store is a queue.Store kept in one SQLite file. See the package documentation.
// It is safe for concurrent use, and for use by several processes sharing the file
// (in Exclusive mode, by this process alone).
type Store struct {
	w        *sql.DB   // the one writer connection
	wc       *sql.Conn // w's connection, held from Open to Close
	r        *sql.DB   // read-only connections
	max      int
	maxDead  int
	maxBatch int

	st [nStmts]*sql.Stmt // prepared on w

	// With SyncFull, the writer commits with synchronous=NORMAL and the store fsyncs the
	// WAL itself (walsync.go): the syncer goroutine for the committer's commits that
	// store deliveries, writeTx for its own (with wmu held). wmu is held from a
	// transaction's begin to its commit or rollback, and by writeTx through its fsync
	// (the committer and writeTx share the writer connection).
	full       bool
	wmu        sync.Mutex
	wal        *os.File             // the WAL file, with SyncFull
	fsync      func(*os.File) error // datasync; tests replace it
	syncs      chan []*request      // to the syncer
	syncerDone chan struct{}
	failed     atomic.Pointer[error] // a failed fsync's error (ErrSyncFailed)
	fsyncs     atomic.Int64          // fsyncs of the WAL begun (for tests)

	// The writer's transactions are statements prepared once on wc (not sql.Tx, which
	// binds every statement to each transaction anew and prepares BEGIN and COMMIT each
	// time); wmu is held from begin to the commit or rollback.
	stBegin, stCommit, stRollback *sql.Stmt

	rs readStmts // prepared on r

	reqs    chan *request
	quit    chan struct{}
	done    chan struct{}
	closing sync.Once
	closed  atomic.Bool
	commits atomic.Int64 // group commits made (for tests)

	ex *excl // Exclusive mode; nil when the file is shared
}

var (
	_ queue.Store       = (*Store)(nil)
	_ queue.NextDuer    = (*Store)(nil)
	_ queue.DeadEvicter = (*Store)(nil)

	_ queue.LeasingEnqueuer = (*Store)(nil)
)

// Open opens the store in the SQLite file at path, creating the file and its schema if
// needed and migrating an older schema (see SchemaVersion). path is a file name, not a
// URI: it may not be empty, ":memory:", start with "file:" or contain '?'.
func Open(ctx context.Context, path string, cfg Config) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("%w: path %q: a plain file name is needed", ErrInvalidConfig, path)
	}
	if cfg.Synchronous != SyncFull && cfg.Synchronous != SyncNormal {
		return nil, fmt.Errorf("%w: Synchronous %d", ErrInvalidConfig, cfg.Synchronous)
	}
	busy := cfg.BusyTimeout
	switch {
	case busy == 0:
		busy = DefaultBusyTimeout
	case busy < 0:
		return nil, fmt.Errorf("%w: negative BusyTimeout", ErrInvalidConfig)
	}
	s := &Store{max: cfg.MaxPending, maxDead: cfg.MaxDead, maxBatch: cfg.MaxBatch, full: cfg.Synchronous == SyncFull, fsync: datasync}
	if s.max == 0 {
		s.max = DefaultMaxPending
	}
	if s.maxDead == 0 {
		s.maxDead = DefaultMaxDead
	}
	switch {
	case s.maxBatch == 0:
		s.maxBatch = DefaultMaxBatch
	case s.maxBatch < 0:
		return nil, fmt.Errorf("%w: negative MaxBatch", ErrInvalidConfig)
	}

	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(max(busy.Milliseconds(), 1), 10)+")")
	if cfg.Exclusive {
		q.Add("_pragma", "locking_mode(EXCLUSIVE)")
	}
	// NORMAL with SyncFull too: the store then fsyncs the WAL itself, outside the
	// write lock (walsync.go; exclusive.go's syncer in Exclusive mode).
	q.Add("_pragma", "synchronous(NORMAL)")
	rq := q
	q = url.Values{"_pragma": q["_pragma"]}
	// Every write transaction starts with BEGIN IMMEDIATE: it takes the file's write
	// lock before reading, so two processes never both lease one delivery, and a
	// transaction never fails half-way to upgrade a read lock.
	q.Set("_txlock", "immediate")
	// Savepoints and statement journals in memory: they never spill to a temporary
	// file (one created, written and deleted per commit).
	q.Add("_pragma", "temp_store(MEMORY)")
	w, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: open %s: %w", path, err)
	}
	// One writer connection: SQLite admits one writer at a time per file anyway, so more
	// would only wait on the file lock (busy_timeout sleeps) instead of in database/sql's
	// queue, and the statements stay prepared on the one connection that uses them.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := setUp(ctx, w, busy, cfg.Exclusive); err != nil {
		_ = w.Close()
		if isBusy(err) {
			return nil, fmt.Errorf("%w: %s: %w", ErrInUse, path, err)
		}
		return nil, err
	}
	if cfg.Exclusive {
		return s.openExclusiveStore(ctx, path, w)
	}
	rq = url.Values{"_pragma": rq["_pragma"]}
	rq.Set("_query_only", "1")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("hookkit/sqlitequeue: open %s: %w", path, err)
	}
	// A few read-only connections: in WAL mode readers see the last commit without
	// waiting for the writer, so listings and Stats never queue behind a group commit.
	// Few, because the machine's cores bound how many queries run at once.
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.w, s.r = w, r
	if s.wc, err = w.Conn(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("hookkit/sqlitequeue: open %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.full {
		if s.wal, err = openWAL(ctx, s.wc); err != nil {
			s.closeDBs()
			return nil, err
		}
		s.syncs = make(chan []*request, 16)
		s.syncerDone = make(chan struct{})
		go s.syncer()
	}
	s.reqs = make(chan *request)
	s.quit = make(chan struct{})
	s.done = make(chan struct{})
	go s.committer()
	return s, nil
}

// Close stops the store: calls waiting to be committed fail with ErrClosed, the commit
// under way finishes, and the file is closed.
func (s *Store) Close() error {
	var err error
	s.closing.Do(func() {
		if s.ex != nil {
			s.ex.close()
			err = s.closeDBs()
			return
		}
		s.closed.Store(true)
		close(s.quit)
		<-s.done
		if s.full {
			<-s.syncerDone
		}
		err = s.closeDBs()
	})
	return err
}

func (s *Store) closeDBs() error {
	for _, st := range append(s.st[:], s.stBegin, s.stCommit, s.stRollback) {
		if st != nil {
			_ = st.Close()
		}
	}
	s.rs.close()
	if s.ex != nil {
		s.ex.closeStmts()
	}
	// The WAL first: SQLite deletes it when its last connection closes, which an open
	// handle would keep it from on Windows. writeTx fsyncs with wmu held.
	var werr error
	if s.wal != nil {
		s.wmu.Lock()
		werr = s.wal.Close()
		s.wmu.Unlock()
	}
	var err error
	if s.wc != nil {
		err = s.wc.Close()
	}
	var rerr error
	if s.r != nil {
		rerr = s.r.Close()
	}
	return errors.Join(err, rerr, s.w.Close(), werr)
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check on the file: nil when it answers
// "ok", else an error wrapping ErrIntegrity with what it found.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	var found []string
	var err error
	if s.ex != nil {
		found, err = s.ex.integrityCheck(ctx)
	} else {
		found, err = integrityLines(ctx, s.r)
	}
	if err != nil {
		return err
	}
	if len(found) == 1 && found[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrIntegrity, strings.Join(found, "; "))
}

// integrityLines returns what PRAGMA integrity_check answers on db.
func integrityLines(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: integrity check: %w", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("hookkit/sqlitequeue: integrity check: %w", err)
		}
		found = append(found, line)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: integrity check: %w", err)
	}
	return found, nil
}

// begin starts a write transaction on the writer connection: BEGIN IMMEDIATE, which
// takes the file's write lock before reading, so that two processes never both lease one
// delivery and a transaction never fails half-way to upgrade a read lock. s.wmu is held.
func (s *Store) begin(ctx context.Context) error {
	if _, err := s.stBegin.ExecContext(ctx); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: begin: %w", err)
	}
	return nil
}

// commitTx commits the transaction begun by begin; if the commit fails, the transaction
// is rolled back. Neither watches a context: once the statements have run, the outcome
// is the commit's.
func (s *Store) commitTx() error {
	if _, err := s.stCommit.ExecContext(context.Background()); err != nil {
		s.rollback()
		return fmt.Errorf("hookkit/sqlitequeue: commit: %w", err)
	}
	return nil
}

// rollback ends the transaction begun by begin, undoing it (an error, such as no
// transaction being open after a failed COMMIT, changes nothing).
func (s *Store) rollback() {
	_, _ = s.stRollback.ExecContext(context.Background())
}

// nullNanos returns t for a nullable column: nil for the zero time.
func nullNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return sqltime.Nanos(t)
}

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return sqltime.FromNanos(n.Int64)
}

// setUp puts the file in WAL mode (a lasting property of the file) and creates or
// migrates its schema. SQLite answers SQLITE_BUSY at once, without waiting for
// busy_timeout, when two connections set up a new file together (the change to WAL needs
// the file to itself): setUp then tries again until busy has passed.
func setUp(ctx context.Context, w *sql.DB, busy time.Duration, exclusive bool) error {
	deadline := time.Now().Add(busy)
	wait := time.Millisecond
	for {
		err := func() error {
			var mode string
			if err := w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
				return fmt.Errorf("hookkit/sqlitequeue: set WAL mode: %w", err)
			}
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("hookkit/sqlitequeue: journal mode %q, not WAL", mode)
			}
			return migrate(ctx, w, exclusive)
		}()
		if !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (or one of its extended codes).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
