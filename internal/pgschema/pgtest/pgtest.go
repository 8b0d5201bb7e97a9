// Package pgtest is the connection pool the tests of hookkit's Postgres stores share:
// one pgxpool per test binary on the test server (services.Postgres), opened by the
// first test that asks for it and closed when the tests end.
//
//	var pool pgtest.SharedPool
//
//	func TestMain(m *testing.M) { os.Exit(pool.Run(m)) }
//
//	func testPool(t testing.TB) *pgxpool.Pool { return pool.Get(t) }
package pgtest

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/internal/testenv/services"
)

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
