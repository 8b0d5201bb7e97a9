package pgseen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/receiver"
)

// DefaultSchema is the Postgres schema holding the store's tables when Config.Schema is
// "": the schema dispatch/pgqueue uses by default too (the names do not clash).
const DefaultSchema = "hookkit"

// DefaultSweepEvery is how many Reserve calls a Store makes between two amortised sweeps
// of expired rows when Config.SweepEvery is zero.
const DefaultSweepEvery = 100

// DefaultSweepBatch is the most expired rows one sweep deletes when Config.SweepBatch is
// zero.
const DefaultSweepBatch = 1000

// ErrInvalidConfig is returned by New for a nil pool or a Config it refuses.
var ErrInvalidConfig = errors.New("hookkit/pgseen: invalid config")

// Config configures New. The zero value is ready to use: schema "hookkit", TxHandler
// records kept 24 hours, a sweep of up to 1,000 expired rows every 100 reservations.
type Config struct {
	// Schema is the Postgres schema holding the table seen (and seen_version), created
	// if missing. "" means DefaultSchema ("hookkit"). It must be a plain lower-case
	// identifier: a letter or '_', then letters, digits or '_', at most 63 bytes, not
	// starting with "pg_". It is always quoted in SQL. Stores on one database and schema
	// share their ids (the replicas of one receiver); receivers that must not see each
	// other's ids use different schemas.
	Schema string
	// TxRetention is how long TxHandler and RunTx record an id as seen, in the handler's
	// transaction. The receiver middleware's Commit that follows a successful TxHandler
	// replaces it by the retention the middleware uses (receiver.Config.Retention), so it
	// only counts when the process dies between the two: it must then be at least that
	// retention, or a retry arriving later would run the handler again. 0 means
	// receiver.UntimedRetention (24 hours), the longest default retention of the
	// middleware; a negative value is refused.
	TxRetention time.Duration
	// SweepEvery is how many Reserve calls the Store makes between two sweeps of expired
	// rows (each one rides along in the Reserve statement, deleting at most SweepBatch
	// rows, oldest first, skipping rows another transaction holds). 0 means
	// DefaultSweepEvery (100); a negative value turns the amortised sweep off (call Sweep
	// yourself, e.g. from a ticker or a cron job).
	SweepEvery int
	// SweepBatch is the most rows one sweep deletes, in the amortised sweep and per
	// statement of Sweep. 0 means DefaultSweepBatch (1,000); a negative value is refused.
	SweepBatch int
}

// Store is a receiver.SeenStore kept in a Postgres table, shared by every process that
// opens a Store on the same database and schema, and the maker of TxHandler, which
// records an id as seen in the handler's own transaction. It is safe for concurrent use.
// It does not own the pool: closing the pool is the application's. See the package
// documentation.
type Store struct {
	pool        *pgxpool.Pool
	schema      string // the validated name, unquoted
	quoted      string // pgx.Identifier{schema}.Sanitize()
	txRetention time.Duration
	sweepEvery  int64 // 0: never
	sweepBatch  int
	reserves    atomic.Int64

	reserveSQL, commitSQL, releaseSQL, sweepSQL string
	lockSQL, insertSQL, markSQL                 string // RunTx
}

var _ receiver.SeenStore = (*Store)(nil)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New returns the Store kept in the schema cfg.Schema of the pool's database, creating
// the schema and its table if needed and migrating an older one (see SchemaVersion):
// several processes may call New on one new schema at once. It refuses a schema written
// by a newer hookkit (ErrSchemaTooNew), and a nil pool or an unusable cfg with an error
// wrapping ErrInvalidConfig. The pool stays the caller's; the application may use it for
// its own queries and for TxHandler's transactions.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidConfig)
	}
	schema := cfg.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	switch {
	case !schemaName.MatchString(schema) || strings.HasPrefix(schema, "pg_"):
		return nil, fmt.Errorf("%w: schema %q: a lower-case identifier is needed (a letter or '_', then letters, digits, '_'; at most 63 bytes; not pg_)", ErrInvalidConfig, schema)
	case cfg.TxRetention < 0:
		return nil, fmt.Errorf("%w: TxRetention is negative", ErrInvalidConfig)
	case cfg.SweepBatch < 0:
		return nil, fmt.Errorf("%w: SweepBatch is negative", ErrInvalidConfig)
	}
	s := &Store{
		pool:        pool,
		schema:      schema,
		quoted:      pgx.Identifier{schema}.Sanitize(),
		txRetention: cfg.TxRetention,
		sweepEvery:  int64(cfg.SweepEvery),
		sweepBatch:  cfg.SweepBatch,
	}
	if s.txRetention == 0 {
		s.txRetention = receiver.UntimedRetention
	}
	switch {
	case s.sweepEvery == 0:
		s.sweepEvery = DefaultSweepEvery
	case s.sweepEvery < 0:
		s.sweepEvery = 0
	}
	if s.sweepBatch == 0 {
		s.sweepBatch = DefaultSweepBatch
	}
	q := func(sql string) string { return strings.ReplaceAll(sql, "{s}", s.quoted) }
	s.reserveSQL = q(`SELECT {s}.seen_reserve($1, $2, $3, $4)`)
	s.commitSQL = q(`SELECT {s}.seen_commit($1, $2, $3)`)
	s.releaseSQL = q(`DELETE FROM {s}.seen WHERE id = $1 AND token = $2 AND NOT committed`)
	s.sweepSQL = q(`DELETE FROM {s}.seen WHERE id IN (
	SELECT id FROM {s}.seen WHERE expires < now() ORDER BY expires LIMIT $1 FOR UPDATE SKIP LOCKED)`)
	s.lockSQL = q(`SELECT committed AND expires > clock_timestamp() FROM {s}.seen WHERE id = $1 FOR UPDATE`)
	s.insertSQL = q(`INSERT INTO {s}.seen (expires, committed, id, token)
VALUES (clock_timestamp() + $2 * interval '1 microsecond', false, $1, $3) ON CONFLICT (id) DO NOTHING`)
	s.markSQL = q(`UPDATE {s}.seen SET committed = true, expires = clock_timestamp() + $2 * interval '1 microsecond' WHERE id = $1`)
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Schema returns the name of the schema holding the store's table (unquoted).
func (s *Store) Schema() string { return s.schema }

// Reserve implements receiver.SeenStore in one statement (the function seen_reserve):
// insert a reservation with a new 128-bit random token; if the id has a row, answer
// AlreadySeen or InFlight while it has not expired, and take it over (the lazy cleanup of
// that id) when it has. A row locked by a running TxHandler transaction is InFlight even
// when its lease expired, and Reserve never waits for that lock. Every SweepEvery-th call
// also deletes up to SweepBatch expired rows. lease is rounded up to whole microseconds.
func (s *Store) Reserve(ctx context.Context, id string, lease time.Duration) (receiver.ReserveResult, string, error) {
	token := newToken()
	sweep := 0
	if s.sweepEvery > 0 && s.reserves.Add(1)%s.sweepEvery == 0 {
		sweep = s.sweepBatch
	}
	var res int
	if err := s.pool.QueryRow(ctx, s.reserveSQL, id, token, micros(lease), sweep).Scan(&res); err != nil {
		return 0, "", fmt.Errorf("hookkit/pgseen: reserve %q: %w", id, err)
	}
	switch res {
	case 1:
		return receiver.Reserved, token, nil
	case 2:
		return receiver.AlreadySeen, "", nil
	case 3:
		return receiver.InFlight, "", nil
	}
	return 0, "", fmt.Errorf("hookkit/pgseen: reserve %q: unexpected answer %d", id, res)
}

// Commit implements receiver.SeenStore in one statement (the function seen_commit): the
// row of id becomes a seen record for ttl. It returns nil when token held the id — its
// unexpired reservation, or the seen record that a TxHandler made of its reservation —
// and receiver.ErrLeaseLost otherwise (the id is recorded all the same). A seen record
// keeps the owner it has. ttl is rounded up to whole microseconds.
func (s *Store) Commit(ctx context.Context, id, token string, ttl time.Duration) error {
	var held bool
	if err := s.pool.QueryRow(ctx, s.commitSQL, id, token, micros(ttl)).Scan(&held); err != nil {
		return fmt.Errorf("hookkit/pgseen: commit %q: %w", id, err)
	}
	if !held {
		return receiver.ErrLeaseLost
	}
	return nil
}

// Release implements receiver.SeenStore: it deletes the row of id if it is a
// reservation of token (expired or not), and leaves anything else alone.
func (s *Store) Release(ctx context.Context, id, token string) error {
	if token == "" {
		return nil // no reservation has the empty token
	}
	if _, err := s.pool.Exec(ctx, s.releaseSQL, id, token); err != nil {
		return fmt.Errorf("hookkit/pgseen: release %q: %w", id, err)
	}
	return nil
}

// Sweep deletes the expired rows (reservations whose lease ran out, seen records past
// their retention), SweepBatch rows per statement, oldest first, until a statement
// deletes fewer, and returns how many it deleted. Rows another transaction holds (a
// running TxHandler's) are skipped. It is the periodic cleanup for a Store whose
// SweepEvery is negative, or for a database that receives few deliveries; expired rows
// are harmless meanwhile (Reserve takes them over).
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, s.sweepSQL, s.sweepBatch)
		if err != nil {
			return total, fmt.Errorf("hookkit/pgseen: sweep: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(s.sweepBatch) {
			return total, nil
		}
	}
}

// micros returns d in whole microseconds, rounded up, at least 1: timestamptz has
// microsecond resolution, and rounding down could free an id before its lease or
// retention has run.
func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if d%time.Microsecond > 0 {
		us++
	}
	return max(us, 1)
}

// newToken returns 128 random bits in hex. crypto/rand.Read does not fail (it aborts the
// program when the system's generator is unusable).
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
