// Package pgschema creates and migrates the tables of hookkit's Postgres stores
// (dispatch/pgqueue, receiver/pgseen, auth/pgapikeys): one rule for all of them, so that
// stores sharing a schema can start together.
//
// Each store keeps its version in a table of its own in the schema (Spec.VersionTable).
// When the tables are at the version already (every start but the first), Migrate only
// reads it, so that a role without the CREATE privilege can use a schema its
// administrator made. Otherwise, in one transaction, it takes a transaction-scoped
// advisory lock on a key derived from the schema name — the same key for every store, so
// that two stores created at once in one schema do not race on CREATE SCHEMA — and runs
// the migrations from the version found. A schema at a newer version is refused.
//
// It is a module of its own (internal to hookkit) so that the library's module never
// requires the driver.
package pgschema

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Spec describes the tables of one store.
type Spec struct {
	// Pkg prefixes the errors: "hookkit/pgqueue".
	Pkg string
	// Schema is the schema's name, unquoted (validated by the store).
	Schema string
	// VersionTable is the table, in the schema, that holds the store's version.
	VersionTable string
	// Migrations[v] takes the tables from version v to v+1; "{s}" stands for the quoted
	// schema. The version Migrate brings the tables to is len(Migrations).
	Migrations []string
	// TooNew is wrapped by the error for tables at a version above len(Migrations).
	TooNew error
}

// attempts bounds the transactions Migrate makes. A connection that waited for the
// advisory lock while another created the schema can still fail to see the new schema in
// its CREATE ... IF NOT EXISTS (the warm connections of one pool: their catalog caches are
// not refreshed by the advisory lock) and run into it as a duplicate; the next transaction
// sees it.
const attempts = 3

// LockKey is the advisory lock key Migrate takes for schema (hashtextextended of it).
func LockKey(schema string) string { return schema + ":migrate" }

// Migrate brings the tables of spec to version len(spec.Migrations).
func Migrate(ctx context.Context, pool *pgxpool.Pool, spec Spec) error {
	quoted := pgx.Identifier{spec.Schema}.Sanitize()
	q := func(sql string) string { return strings.ReplaceAll(sql, "{s}", quoted) }
	want := len(spec.Migrations)
	tooNew := func(v int) error {
		return fmt.Errorf("%w: schema %s at version %d, this hookkit writes %d", spec.TooNew, spec.Schema, v, want)
	}
	var version int
	err := pool.QueryRow(ctx, q(`SELECT version FROM {s}.`+spec.VersionTable)).Scan(&version)
	var pe *pgconn.PgError
	switch {
	case err == nil && version == want:
		return nil
	case err == nil && version > want:
		return tooNew(version)
	case err == nil, errors.Is(err, pgx.ErrNoRows):
	case errors.As(err, &pe) && (pe.Code == "3F000" || pe.Code == "42P01"): // no schema, no table
	default:
		return fmt.Errorf("%s: read schema version: %w", spec.Pkg, err)
	}
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return migrateTx(ctx, tx, spec, q, tooNew) })
		if !errors.As(err, &pe) || attempt == attempts {
			return err
		}
		switch pe.Code {
		case "23505", "42P06", "42P07": // unique_violation, duplicate_schema, duplicate_table
		default:
			return err
		}
	}
}

// migrateTx is one transaction of Migrate.
func migrateTx(ctx context.Context, tx pgx.Tx, spec Spec, q func(string) string, tooNew func(int) error) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, LockKey(spec.Schema)); err != nil {
		return fmt.Errorf("%s: lock schema %s: %w", spec.Pkg, spec.Schema, err)
	}
	if _, err := tx.Exec(ctx, q(`CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.`+spec.VersionTable+` (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version integer NOT NULL
)`)); err != nil {
		return fmt.Errorf("%s: create schema %s: %w", spec.Pkg, spec.Schema, err)
	}
	version := 0
	if err := tx.QueryRow(ctx, q(`SELECT coalesce(max(version), 0) FROM {s}.`+spec.VersionTable)).Scan(&version); err != nil {
		return fmt.Errorf("%s: read schema version: %w", spec.Pkg, err)
	}
	want := len(spec.Migrations)
	switch {
	case version > want:
		return tooNew(version)
	case version == want:
		return nil
	case version < 0:
		return fmt.Errorf("%s: invalid schema version %d", spec.Pkg, version)
	}
	for v := version; v < want; v++ {
		if _, err := tx.Exec(ctx, q(spec.Migrations[v])); err != nil {
			return fmt.Errorf("%s: migrate schema %s from %d to %d: %w", spec.Pkg, spec.Schema, v, v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, q(`INSERT INTO {s}.`+spec.VersionTable+` (version) VALUES ($1)
ON CONFLICT (one) DO UPDATE SET version = excluded.version`), want); err != nil {
		return fmt.Errorf("%s: write schema version: %w", spec.Pkg, err)
	}
	return nil
}
