// Package pgtest is what the tests of hookkit's Postgres stores share: the connection
// pool of the test binary (SharedPool: one pgxpool on the test server, services.Postgres,
// opened by the first test that asks for it and closed when the tests end), a schema of
// each test's own (Schema) and a pool of a test's own (Pool, another instance's).
//
//	var shared pgtest.SharedPool
//
//	func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }
//
//	func TestX(t *testing.T) {
//		s, err := store.New(ctx, shared.Get(t), store.Config{Schema: pgtest.Schema(t)})
//		...
//	}
//
// Without a test server each of them skips the test, and fails it when CI=true (as
// services.Postgres does).
package pgtest

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // services.PostgresSchema's driver, for Schema

	"github.com/hookkit/hookkit/internal/testenv/services"
)

// Schema returns the name of a schema no one uses, dropped with all it holds at the end
// of t (services.PostgresSchema: without a test server t is skipped, failed when
// CI=true). It does not create the schema: the stores create theirs. Call it before
// opening what uses the schema, so that the drop comes after their cleanups.
func Schema(t testing.TB) string {
	t.Helper()
	_, schema := services.PostgresSchema(t)
	return schema
}

// Pool returns a pool of its own on the test server (another instance's, beside the
// shared one), closed at the end of t; without a test server t is skipped (failed when
// CI=true), and a pool that could not be opened fails t.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), services.Postgres(t))
	if err != nil {
		t.Fatalf("opening a test pool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// SharedPool is a pool opened once, on first use. The zero value is ready to use.
type SharedPool struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

// Get returns the pool, opening it on the test server the first time; without a test
// server t is skipped (failed when CI=true, as services.Postgres does), and a pool that
// could not be opened fails t.
func (s *SharedPool) Get(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := services.Postgres(t)
	s.once.Do(func() { s.pool, s.err = pgxpool.New(context.Background(), url) })
	if s.err != nil {
		t.Fatalf("opening the shared test pool: %v", s.err)
	}
	return s.pool
}

// Close closes the pool if it was opened.
func (s *SharedPool) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// Run runs the tests, then closes the pool, and returns m.Run's exit code: a TestMain's
// os.Exit(pool.Run(m)).
func (s *SharedPool) Run(m *testing.M) int {
	code := m.Run()
	s.Close()
	return code
}
