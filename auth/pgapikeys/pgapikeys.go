// Package pgapikeys keeps API keys in Postgres (pgx v5): an auth.APIKeyStore shared by
// every replica of a receiver, with the keys' management (Create, List, Revoke).
//
//	store, err := pgapikeys.New(ctx, pool, pgapikeys.Config{})
//	v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: store})
//
// Only SHA-256 digests are stored. Lookup finds a key by its digest through the table's
// unique index on it (one index probe, whatever the number of keys). Every Lookup asks
// the database, with no cache in between, so a key revoked by any process is refused
// from the next request on, in every replica.
//
// LastUsed is written by the validator's Touch, at most once per
// auth.APIKeyConfig.TouchInterval per key and replica, with an UPDATE that never moves
// it back. "Who still uses the old key" is List, or one query:
//
//	SELECT id, name, prefix, last_used FROM hookkit.api_keys WHERE revoked IS NULL ORDER BY last_used NULLS FIRST;
//
// # Schema
//
// The table api_keys is in the schema Config.Schema ("hookkit" by default, the schema
// hookkit/dispatch/pgqueue uses too: the tables' names do not collide), created if
// missing. Its version is kept in the table api_keys_version (SchemaVersion): New creates
// or migrates it in one transaction under a transaction-scoped advisory lock derived
// from the schema name, so that processes starting at once migrate one after the other,
// and refuses a version newer than this package's (ErrSchemaTooNew). When the schema is
// current, New only reads its version, so a role without the CREATE privilege can use a
// schema its administrator made.
package pgapikeys

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/auth"
)

// DefaultSchema is the Postgres schema holding the table when Config.Schema is "".
const DefaultSchema = "hookkit"

// createAttempts bounds the keys Create makes when the ID or digest of the previous one
// is taken (one chance in 2^32 per stored key for the 8-hex-digit ID).
const createAttempts = 8

// ErrInvalidConfig is returned by New for a nil pool or a schema name it refuses.
var ErrInvalidConfig = errors.New("hookkit/pgapikeys: invalid config")

// Config configures a Store. The zero value is ready to use: schema "hookkit".
type Config struct {
	// Schema is the Postgres schema holding the table api_keys, created if missing. ""
	// means DefaultSchema ("hookkit"). It must be a plain lower-case identifier: a letter
	// or '_', then letters, digits or '_', at most 63 bytes, not starting with "pg_". It
	// is always quoted in SQL.
	Schema string
}

// Store is an auth.APIKeyStore in a Postgres schema, shared by every process that opens
// a Store on the same database and schema. It is safe for concurrent use. It does not
// own the pool: closing the pool is the application's. Its times are kept to the
// microsecond.
type Store struct {
	pool   *pgxpool.Pool
	schema string // the validated name, unquoted
	q      statements
}

var _ auth.APIKeyStore = (*Store)(nil)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// statements are the store's SQL, with the schema name quoted in.
type statements struct {
	schema, create, lookup, list, revoke, touch string
}

func newStatements(schema string) statements {
	q := func(sql string) string { return strings.ReplaceAll(sql, "{s}", schema) }
	const cols = `id, name, digest, prefix, created, last_used, revoked`
	return statements{
		schema: schema,
		create: q(`INSERT INTO {s}.api_keys (id, name, digest, prefix, created) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`),
		lookup: q(`SELECT ` + cols + ` FROM {s}.api_keys WHERE digest = $1 AND revoked IS NULL`),
		list:   q(`SELECT ` + cols + ` FROM {s}.api_keys ORDER BY created, id`),
		// The CTE's snapshot is the statement's: the key exists whether or not it was
		// revoked before.
		revoke: q(`WITH r AS (UPDATE {s}.api_keys SET revoked = $2 WHERE id = $1 AND revoked IS NULL)
SELECT EXISTS (SELECT 1 FROM {s}.api_keys WHERE id = $1)`),
		touch: q(`UPDATE {s}.api_keys SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used < $2)`),
	}
}

// New returns the Store kept in the schema cfg.Schema of the pool's database, creating
// the schema and table if needed and migrating an older one (see SchemaVersion):
// several processes may call New on one new schema at once. It refuses a schema written
// by a newer hookkit (ErrSchemaTooNew).
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
	s := &Store{pool: pool, schema: schema, q: newStatements(pgx.Identifier{schema}.Sanitize())}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Schema returns the name of the Postgres schema holding the store's table.
func (s *Store) Schema() string { return s.schema }

// dbTime is t as Postgres keeps it: UTC, microseconds.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Create makes a new key with that prefix (as auth.GenerateAPIKey accepts) and name,
// and stores it. plaintext is the key, to be shown once: the table keeps its digest.
func (s *Store) Create(ctx context.Context, prefix, name string) (plaintext string, key auth.APIKey, err error) {
	for range createAttempts {
		plaintext, key, err = auth.NewAPIKey(prefix, name, dbTime(time.Now()))
		if err != nil {
			return "", auth.APIKey{}, err
		}
		tag, err := s.pool.Exec(ctx, s.q.create, key.ID, key.Name, key.Digest[:], key.Prefix, key.Created)
		if err != nil {
			return "", auth.APIKey{}, fmt.Errorf("hookkit/pgapikeys: create key: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return plaintext, key, nil
		}
	}
	return "", auth.APIKey{}, fmt.Errorf("hookkit/pgapikeys: create key: %d keys made, the ID of each taken", createAttempts)
}

// List returns every key, revoked ones included, by Created then ID.
func (s *Store) List(ctx context.Context) ([]auth.APIKey, error) {
	rows, err := s.pool.Query(ctx, s.q.list)
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgapikeys: list keys: %w", err)
	}
	var out []auth.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hookkit/pgapikeys: list keys: %w", err)
	}
	return out, nil
}

// Revoke revokes the key id: every Lookup refuses it from the commit on, and List shows
// when it was revoked. Revoking a revoked key changes nothing. It returns
// auth.ErrUnknownAPIKey for an unknown id.
func (s *Store) Revoke(ctx context.Context, id string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, s.q.revoke, id, dbTime(time.Now())).Scan(&exists); err != nil {
		return fmt.Errorf("hookkit/pgapikeys: revoke key: %w", err)
	}
	if !exists {
		return auth.ErrUnknownAPIKey
	}
	return nil
}

// Lookup implements auth.APIKeyStore: one probe of the unique index on the digest.
func (s *Store) Lookup(ctx context.Context, digest [32]byte) (auth.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, s.q.lookup, digest[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.APIKey{}, auth.ErrUnknownAPIKey
	}
	return k, err
}

// Touch implements auth.APIKeyStore, in one UPDATE that changes nothing unless at is
// later than last_used.
func (s *Store) Touch(ctx context.Context, id string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, s.q.touch, id, dbTime(at)); err != nil {
		return fmt.Errorf("hookkit/pgapikeys: touch key: %w", err)
	}
	return nil
}

// scanKey reads a row of the columns id, name, digest, prefix, created, last_used,
// revoked.
func scanKey(row pgx.Row) (auth.APIKey, error) {
	var (
		k                 auth.APIKey
		digest            []byte
		lastUsed, revoked *time.Time
	)
	if err := row.Scan(&k.ID, &k.Name, &digest, &k.Prefix, &k.Created, &lastUsed, &revoked); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.APIKey{}, err
		}
		return auth.APIKey{}, fmt.Errorf("hookkit/pgapikeys: read key: %w", err)
	}
	if len(digest) != len(k.Digest) {
		return auth.APIKey{}, fmt.Errorf("hookkit/pgapikeys: read key %s: digest of %d bytes", k.ID, len(digest))
	}
	copy(k.Digest[:], digest)
	k.Created = k.Created.UTC()
	if lastUsed != nil {
		k.LastUsed = lastUsed.UTC()
	}
	if revoked != nil {
		k.Revoked = revoked.UTC()
	}
	return k, nil
}
