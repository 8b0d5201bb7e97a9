package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// DefaultSchema is the Postgres schema holding the store's tables when Config.Schema is "".
const DefaultSchema = "hookkit"

// DefaultMaxPending is the bound on pending (including leased) deliveries when
// Config.MaxPending is zero.
const DefaultMaxPending = 10_000_000

// DefaultMaxDead is the bound on dead letters when Config.MaxDead is zero.
const DefaultMaxDead = 1_000_000

// compactEvery is how many writes to the counts log (see schema.go) this Store makes
// between two compactions of it. Each compaction rides along in the round trip of a
// store-owned write (Enqueue, Complete, DeadLetterEndpoint, Requeue).
const compactEvery = 64

// ErrInvalidConfig is returned by New for a nil pool or a Config it refuses (a schema
// name that is not a plain lower-case identifier, a NotifyMode it does not know).
var ErrInvalidConfig = errors.New("hookkit/pgqueue: invalid config")

// Config configures a Store. The zero value is ready to use: schema "hookkit", the
// default bounds, wake-ups sent and listened for (NotifyOn).
type Config struct {
	// Schema is the Postgres schema holding the store's tables, created if missing. ""
	// means DefaultSchema ("hookkit"). It must be a plain lower-case identifier: a letter
	// or '_', then letters, digits or '_', at most 63 bytes, not starting with "pg_". It is
	// always quoted in SQL. Two Stores with different schemas in one database are
	// independent queues.
	Schema string
	// MaxPending bounds the pending (including leased) deliveries: Enqueue, EnqueueTx and
	// Requeue return queue.ErrQueueFull beyond it. The bound is checked inside the
	// enqueuing transaction against the committed count, so concurrent transactions can
	// overshoot it by their own size. 0 means DefaultMaxPending; negative means no bound.
	MaxPending int
	// MaxDead bounds the dead letters: when new ones would exceed it, the oldest
	// (earliest DeadAt, then lowest Seq) are deleted and reported through
	// queue.DeadEvicter. 0 means DefaultMaxDead; negative means no bound.
	MaxDead int
	// Notify says whether the Store wakes dispatchers through Postgres LISTEN/NOTIFY (see
	// NotifyMode and the package documentation, Wake-ups): the zero value, NotifyOn, both
	// sends (in the enqueuing transaction) and listens. Polling (dispatch.Config.PollInterval)
	// stays the fallback in every mode.
	Notify NotifyMode
}

// Store is a queue.Store kept in a Postgres schema, shared by every process that opens a
// Store on the same database and schema. See the package documentation. It is safe for
// concurrent use. It does not own the pool: closing the pool is the application's.
type Store struct {
	pool       *pgxpool.Pool
	schema     string // the validated name, unquoted
	maxPending int
	maxDead    int
	q          statements
	// writes counts the statements this Store made that append to the counts log, so
	// that every compactEvery of them one compaction is sent along.
	writes atomic.Int64
	// owed is set when a compaction fell due in a call that cannot send one (EnqueueTx,
	// EnqueueSQLTx: the caller's transaction is no place for it); the next store-owned
	// write sends it.
	owed atomic.Bool

	notify  NotifyMode
	channel string        // the LISTEN/NOTIFY channel of the schema (channelFor)
	wake    chan struct{} // Notifications; capacity 1
	// mu guards started, closed and cancel: the listener starts once, at the first
	// Notifications, unless Close came first.
	mu              sync.Mutex
	started, closed bool
	cancel          context.CancelFunc // stops the listener
	listener        sync.WaitGroup
	waker           waker        // the notifications sent after Enqueue's commits (notify.go)
	eg              enqueueGroup // concurrent Enqueues merged (merge.go)
}

var (
	_ queue.Store           = (*Store)(nil)
	_ queue.NextDuer        = (*Store)(nil)
	_ queue.DeadEvicter     = (*Store)(nil)
	_ queue.LeasingEnqueuer = (*Store)(nil)
	_ queue.Notifier        = (*Store)(nil)
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New returns the Store kept in the schema cfg.Schema of the pool's database, creating
// the schema and its tables if needed and migrating an older schema (see SchemaVersion):
// several processes may call New on one new schema at once. It refuses a schema written
// by a newer hookkit (ErrSchemaTooNew). The pool stays the caller's: the Store never
// closes it, and the application may use it for its own queries (and the transactions
// it passes to EnqueueTx). Call Close when done with the Store: it stops the listener
// that Notifications starts.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidConfig)
	}
	schema := cfg.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaName.MatchString(schema) || strings.HasPrefix(schema, "pg_") {
		return nil, fmt.Errorf("%w: schema %q: a lower-case identifier is needed (a letter or '_', then letters, digits, '_'; at most 63 bytes; not pg_)", ErrInvalidConfig, schema)
	}
	if cfg.Notify < NotifyOn || cfg.Notify > NotifyOff {
		return nil, fmt.Errorf("%w: unknown NotifyMode %d", ErrInvalidConfig, int(cfg.Notify))
	}
	s := &Store{pool: pool, schema: schema, maxPending: cfg.MaxPending, maxDead: cfg.MaxDead,
		notify: cfg.Notify, channel: channelFor(schema), wake: make(chan struct{}, 1)}
	if s.maxPending == 0 {
		s.maxPending = DefaultMaxPending
	}
	if s.maxDead == 0 {
		s.maxDead = DefaultMaxDead
	}
	sendTo := ""
	if s.sends() {
		sendTo = s.channel
	}
	s.q = newStatements(pgx.Identifier{schema}.Sanitize(), sendTo)
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Schema returns the name of the Postgres schema holding the store's tables.
func (s *Store) Schema() string { return s.schema }

// Lock keys (pg_advisory_xact_lock and friends). The schema name has neither '/' nor
// ':', so the keys of one schema never equal the keys of another or of each other, nor
// the migration key internal/pgschema takes (the schema name followed by ":migrate").
func (s *Store) compactKey() string  { return s.schema + ":counts" }
func (s *Store) endpointKey() string { return s.schema + "/" } // followed by the endpoint ID

// wrote records n statements appending to the counts log and reports whether a
// compaction is due.
func (s *Store) wrote(n int) bool {
	if n == 0 {
		return false
	}
	w := s.writes.Add(int64(n))
	return w/compactEvery != (w-int64(n))/compactEvery
}

// queueCompaction adds the compaction of the counts log to b when one is due after the
// n writes that b makes.
func (s *Store) queueCompaction(b *pgx.Batch, n int) {
	if s.wrote(n) || s.owed.Swap(false) {
		b.Queue(s.q.compact, s.compactKey())
	}
}
