package pgqueue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

var (
	poolOnce sync.Once
	shared   *pgxpool.Pool
	poolErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

// testPool returns the pool shared by the tests of this package, on the test server
// (services.Postgres: skipped without one, failed when CI=true).
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := services.Postgres(t)
	poolOnce.Do(func() { shared, poolErr = pgxpool.New(context.Background(), url) })
	require.NoError(t, poolErr)
	return shared
}

// newSchema returns the name of a new schema, hk_test_<random>, dropped at the end of t.
func newSchema(t testing.TB) string {
	t.Helper()
	pool := testPool(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hk_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})
	return name
}

// newStore returns a Store in a new schema of the shared pool.
func newStore(t testing.TB, cfg pgqueue.Config) *pgqueue.Store {
	t.Helper()
	cfg.Schema = newSchema(t)
	s, err := pgqueue.New(context.Background(), testPool(t), cfg)
	require.NoError(t, err)
	return s
}

// TestConformance runs the queue.Store conformance suite (every clause of the contract,
// the pending bound and the dead-letter bound), each subtest in a schema of its own.
func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Store { return newStore(t, pgqueue.Config{}) })
	queuetest.RunBounded(t, func(t *testing.T, max int) queue.Store {
		return newStore(t, pgqueue.Config{MaxPending: max})
	})
	queuetest.RunDeadBounded(t, func(t *testing.T, maxDead int) queue.Store {
		return newStore(t, pgqueue.Config{MaxDead: maxDead})
	})
}
