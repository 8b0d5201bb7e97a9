package services

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"slices"
	"testing"
	"time"
)

// PostgresDriver is the name of the database/sql driver PostgresSchema drops its schemas
// with: pgx's, registered by importing github.com/jackc/pgx/v5/stdlib. This package
// imports no driver; a test binary that calls PostgresSchema imports that one (its
// module requires pgx already).
const PostgresDriver = "pgx"

// SchemaPrefix begins the name of every schema PostgresSchema returns.
const SchemaPrefix = "hk_test_"

// dropTimeout bounds the DROP SCHEMA of PostgresSchema's cleanup.
const dropTimeout = 30 * time.Second

// schemaTB is the part of testing.TB used by PostgresSchema.
type schemaTB interface {
	tb
	Cleanup(func())
	Errorf(format string, args ...any)
}

// PostgresSchema returns the URL of the test PostgreSQL server (as Postgres does: the
// test is skipped without one, and failed when CI=true) and the name of a schema no one
// uses, SchemaPrefix and 12 random hexadecimal digits, dropped with all it holds (DROP
// SCHEMA IF EXISTS … CASCADE) at the end of t. It does not create the schema: the stores
// create theirs, and some tests create it themselves. Call it before opening what uses
// the schema, so that the drop comes after their cleanups (t's cleanups run last added,
// first called). The name needs no quoting in SQL.
//
// It fails t at once when the test binary has no PostgresDriver registered.
func PostgresSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	return postgresSchema(t)
}

func postgresSchema(t schemaTB) (dsn, schema string) {
	t.Helper()
	dsn = need(t, "PostgreSQL", PostgresEnv)
	if dsn == "" { // a recorder's Skipf or Fatalf, which do not stop the caller
		return "", ""
	}
	if !slices.Contains(sql.Drivers(), PostgresDriver) {
		t.Fatalf("services.PostgresSchema drops its schema through the database/sql driver %q: import _ \"github.com/jackc/pgx/v5/stdlib\" in the test", PostgresDriver)
		return "", ""
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = SchemaPrefix + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
		defer cancel()
		db, err := sql.Open(PostgresDriver, dsn)
		if err != nil {
			t.Errorf("services: dropping schema %s: %v", schema, err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("services: dropping schema %s: %v", schema, err)
		}
	})
	return dsn, schema
}
