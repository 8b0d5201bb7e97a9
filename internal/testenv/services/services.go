// Package services gives tests the servers they need beside the program: the URLs of the
// PostgreSQL and Redis servers that scripts/test.sh provides (start.sh, sourced by it,
// takes HOOKKIT_TEST_POSTGRES / HOOKKIT_TEST_REDIS when set, else the local defaults when
// they answer, else starts throwaway servers from Debian's packages).
//
// A test that needs a server asks for it; when there is none it is skipped on a developer's
// machine, and fails when CI=true, so that CI never passes by skipping. The package imports
// no driver: each store's module connects with its own.
//
// A Postgres test works in a schema of its own: PostgresSchema names one and drops it at
// the end of the test, through database/sql and the pgx driver the test binary imports.
//
//	import _ "github.com/jackc/pgx/v5/stdlib" // PostgresSchema's driver
//
//	dsn, schema := services.PostgresSchema(t)
//	pool, err := pgxpool.New(ctx, dsn)
//	... // a store with Config{Schema: schema} on pool
//
// A test that stops and starts its database (a restart, a failover) must not do it to the
// shared server: ThrowawayPostgres gives it a server of its own, started from the
// PostgreSQL binaries in a temporary directory, that it may Stop and Start again.
package services

import (
	"os"
	"testing"
)

// Environment variables read by this package and set by start.sh.
const (
	PostgresEnv = "HOOKKIT_TEST_POSTGRES" // a postgres:// URL of a database the tests may create schemas in
	RedisEnv    = "HOOKKIT_TEST_REDIS"    // a redis:// URL
)

// tb is the part of testing.TB used here.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// Postgres returns the URL of the test PostgreSQL server (PostgresEnv).
func Postgres(t testing.TB) string {
	t.Helper()
	return need(t, "PostgreSQL", PostgresEnv)
}

// Redis returns the URL of the test Redis server (RedisEnv).
func Redis(t testing.TB) string {
	t.Helper()
	return need(t, "Redis", RedisEnv)
}

func need(t tb, what, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test needs %s and %s is not set: run the tests with scripts/test.sh, which provides one", what, env)
		return ""
	}
	t.Skipf("needs %s: set %s, or run scripts/test.sh, which provides one", what, env)
	return ""
}
