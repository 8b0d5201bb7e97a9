package pgapikeys

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaVersion is the version of the table this package writes, kept in the table
// api_keys_version of the store's schema. New creates the table at version 0 (a new
// schema), migrates an older one, and refuses a newer one (ErrSchemaTooNew).
const SchemaVersion = 1

// ErrSchemaTooNew is returned by New for a schema whose api_keys_version is above
// SchemaVersion: it was written by a newer hookkit, which this one must not change.
var ErrSchemaTooNew = errors.New("hookkit/pgapikeys: database schema is newer than this hookkit (written by a newer version)")

// migrations[v] takes a schema from version v to v+1; {s} is the quoted schema name.
//
// id is the primary key (Revoke, Touch); the digest has a unique index (Lookup, and no
// two keys with one digest). Times are timestamptz, microseconds, so that operators can
// query them as times.
var migrations = []string{
	0: `
CREATE TABLE {s}.api_keys (
	id        text        PRIMARY KEY,
	digest    bytea       NOT NULL UNIQUE CHECK (length(digest) = 32), -- SHA-256 of the key
	name      text        NOT NULL,
	prefix    text        NOT NULL,  -- the start of the key that may be shown
	created   timestamptz NOT NULL,
	last_used timestamptz,           -- NULL: never used
	revoked   timestamptz            -- NULL: valid
);
`,
}

// migrate creates or migrates the schema. When the schema is at SchemaVersion already
// (every start but the first), it reads the version and changes nothing. Otherwise, in
// one transaction, it takes a transaction-scoped advisory lock on a key derived from
// the schema name, so that processes starting at once migrate one after the other (each
// after the first then finds the schema at SchemaVersion).
func (s *Store) migrate(ctx context.Context) error {
	q := func(sql string) string { return strings.ReplaceAll(sql, "{s}", s.q.schema) }
	var version int
	err := s.pool.QueryRow(ctx, q(`SELECT version FROM {s}.api_keys_version`)).Scan(&version)
	var pe *pgconn.PgError
	switch {
	case err == nil && version == SchemaVersion:
		return nil
	case err == nil && version > SchemaVersion:
		return fmt.Errorf("%w: schema %s at version %d, this hookkit writes %d", ErrSchemaTooNew, s.schema, version, SchemaVersion)
	case err == nil, errors.Is(err, pgx.ErrNoRows):
	case errors.As(err, &pe) && (pe.Code == "3F000" || pe.Code == "42P01"): // no schema, no table
	default:
		return fmt.Errorf("hookkit/pgapikeys: read schema version: %w", err)
	}
	for attempt := 1; ; attempt++ {
		err := s.migrateTx(ctx)
		if !errors.As(err, &pe) || attempt == migrateAttempts {
			return err
		}
		switch pe.Code {
		case "23505", "42P06", "42P07": // unique_violation, duplicate_schema, duplicate_table
		default:
			return err
		}
	}
}

// migrateAttempts bounds the transactions migrate makes. A connection that waited for
// the advisory lock while another created the schema can still fail to see the new
// schema in its CREATE ... IF NOT EXISTS (seen here with the warm connections of one
// pool: their catalog caches are not refreshed by the advisory lock) and run into it as
// a duplicate; the next transaction sees it.
const migrateAttempts = 3

// migrateTx is one transaction of migrate.
func (s *Store) migrateTx(ctx context.Context) error {
	q := func(sql string) string { return strings.ReplaceAll(sql, "{s}", s.q.schema) }
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, s.migrateKey()); err != nil {
			return fmt.Errorf("hookkit/pgapikeys: lock schema %s: %w", s.schema, err)
		}
		if _, err := tx.Exec(ctx, q(`CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.api_keys_version (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version integer NOT NULL
)`)); err != nil {
			return fmt.Errorf("hookkit/pgapikeys: create schema %s: %w", s.schema, err)
		}
		version := 0
		if err := tx.QueryRow(ctx, q(`SELECT coalesce(max(version), 0) FROM {s}.api_keys_version`)).Scan(&version); err != nil {
			return fmt.Errorf("hookkit/pgapikeys: read schema version: %w", err)
		}
		switch {
		case version > SchemaVersion:
			return fmt.Errorf("%w: schema %s at version %d, this hookkit writes %d", ErrSchemaTooNew, s.schema, version, SchemaVersion)
		case version == SchemaVersion:
			return nil
		case version < 0:
			return fmt.Errorf("hookkit/pgapikeys: invalid schema version %d", version)
		}
		for v := version; v < SchemaVersion; v++ {
			if _, err := tx.Exec(ctx, q(migrations[v])); err != nil {
				return fmt.Errorf("hookkit/pgapikeys: migrate schema %s from %d to %d: %w", s.schema, v, v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, q(`INSERT INTO {s}.api_keys_version (version) VALUES ($1)
ON CONFLICT (one) DO UPDATE SET version = excluded.version`), SchemaVersion); err != nil {
			return fmt.Errorf("hookkit/pgapikeys: write schema version: %w", err)
		}
		return nil
	})
}
