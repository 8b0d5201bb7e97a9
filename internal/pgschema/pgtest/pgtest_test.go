package pgtest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

var pool pgtest.SharedPool

func TestMain(m *testing.M) { os.Exit(pool.Run(m)) }

// TestSharedPoolIsOpenedOnce: every Get returns the same working pool.
func TestSharedPoolIsOpenedOnce(t *testing.T) {
	p := pool.Get(t)
	assert.Same(t, p, pool.Get(t))
	var one int
	require.NoError(t, p.QueryRow(t.Context(), "SELECT 1").Scan(&one))
	assert.Equal(t, 1, one)
}

// TestClosingAnUnopenedPoolDoesNothing: Close (and so Run) is safe when no test opened it.
func TestClosingAnUnopenedPoolDoesNothing(t *testing.T) {
	var unused pgtest.SharedPool
	assert.NotPanics(t, unused.Close)
}

// exists reports whether a schema named schema is on the test server.
func exists(t *testing.T, schema string) bool {
	t.Helper()
	var n int
	require.NoError(t, pool.Get(t).QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n))
	return n == 1
}

// TestSchemaIsNewAndDropped: each Schema is a name no schema has yet, SchemaPrefix and
// more, another for each test, and the schema created under it is gone, with what it
// held, at the end of the test.
func TestSchemaIsNewAndDropped(t *testing.T) {
	var names []string
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			schema := pgtest.Schema(t)
			assert.True(t, strings.HasPrefix(schema, services.SchemaPrefix), schema)
			assert.False(t, exists(t, schema), "a name no schema has")
			t1 := pgx.Identifier{schema, "t"}.Sanitize()
			_, err := pool.Get(t).Exec(t.Context(), "CREATE SCHEMA "+schema+"; CREATE TABLE "+t1+" (x int); INSERT INTO "+t1+" VALUES (1)")
			require.NoError(t, err)
			require.True(t, exists(t, schema))
			names = append(names, schema)
		})
	}
	require.Len(t, names, 2)
	assert.NotEqual(t, names[0], names[1])
	for _, schema := range names {
		assert.False(t, exists(t, schema), "%s dropped at the end of its test", schema)
	}
}

// TestPoolIsItsOwnAndClosed: Pool is a working pool other than the shared one, another
// for each call, and closed at the end of the test.
func TestPoolIsItsOwnAndClosed(t *testing.T) {
	var own *pgxpool.Pool
	t.Run("test", func(t *testing.T) {
		own = pgtest.Pool(t)
		assert.NotSame(t, pool.Get(t), own)
		assert.NotSame(t, own, pgtest.Pool(t))
		require.NoError(t, own.Ping(t.Context()))
	})
	require.NotNil(t, own)
	assert.Error(t, own.Ping(t.Context()), "closed at the end of its test")
}

// childEnv names the helper TestWithoutAServer's child process calls (see there).
const childEnv = "PGTEST_CHILD_HELPER"

// helpers are the ways a test asks for the test server, by name.
var helpers = map[string]func(testing.TB){
	"SharedPool.Get": func(t testing.TB) { pool.Get(t) },
	"Schema":         func(t testing.TB) { pgtest.Schema(t) },
	"Pool":           func(t testing.TB) { pgtest.Pool(t) },
}

// TestWithoutAServer: without a test server (services.PostgresEnv empty) each helper
// skips the test, and with CI=true fails it (in a child process: the test binary again,
// running this test with the helper to call in childEnv), so that CI never passes by
// skipping.
func TestWithoutAServer(t *testing.T) {
	if name := os.Getenv(childEnv); name != "" {
		helpers[name](t)
		return // not reached: the helper fails the test
	}
	for name, call := range helpers {
		t.Run(name, func(t *testing.T) {
			t.Setenv(services.PostgresEnv, "")
			t.Setenv("CI", "")
			var inner *testing.T
			reached := false
			t.Run("local", func(t *testing.T) {
				inner = t
				call(t)
				reached = true
			})
			assert.True(t, inner.Skipped(), "skipped")
			assert.False(t, reached, "the test stops at the helper")

			cmd := exec.Command(os.Args[0], "-test.run=^TestWithoutAServer$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CI=true", services.PostgresEnv+"=", childEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the child fails:\n%s", out)
			assert.Contains(t, string(out), "--- FAIL: TestWithoutAServer")
			assert.Contains(t, string(out), services.PostgresEnv+" is not set")
		})
	}
}
