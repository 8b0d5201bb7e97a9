package pgschema_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/pgschema"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
)

var errTooNew = errors.New("too new")

// freshSchema returns a pool of the test Postgres and the name of a schema no one uses,
// dropped at the end of the test.
func freshSchema(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	schema := pgtest.Schema(t)
	return pgtest.Pool(t), schema
}

func spec(schema, table string, migrations ...string) pgschema.Spec {
	return pgschema.Spec{Pkg: "hookkit/test", Schema: schema, VersionTable: table, Migrations: migrations, TooNew: errTooNew}
}

// A migration that fails when run twice (no IF NOT EXISTS): a second Migrate must not run it.
const (
	m0 = `CREATE TABLE {s}.a (x int)`
	m1 = `CREATE TABLE {s}.b (x int)`
)

func version(t *testing.T, pool *pgxpool.Pool, schema, table string) int {
	t.Helper()
	var v int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT version FROM "+pgx.Identifier{schema, table}.Sanitize()).Scan(&v))
	return v
}

// TestMigrateRunsEachMigrationOnce: a new schema is created and brought to the last
// version; Migrate again changes nothing; a later version runs only the new migrations.
func TestMigrateRunsEachMigrationOnce(t *testing.T) {
	ctx := context.Background()
	pool, schema := freshSchema(t)
	require.NoError(t, pgschema.Migrate(ctx, pool, spec(schema, "v", m0)))
	assert.Equal(t, 1, version(t, pool, schema, "v"))
	require.NoError(t, pgschema.Migrate(ctx, pool, spec(schema, "v", m0)), "at the version: nothing runs again")
	require.NoError(t, pgschema.Migrate(ctx, pool, spec(schema, "v", m0, m1)), "from 1 to 2: only the second runs")
	assert.Equal(t, 2, version(t, pool, schema, "v"))
	err := pgschema.Migrate(ctx, pool, spec(schema, "v", m0))
	require.ErrorIs(t, err, errTooNew, "tables at a newer version are refused")
	assert.Contains(t, err.Error(), "at version 2, this hookkit writes 1")
}

// TestMigrateConcurrentStoresOnOneWarmPool: several stores (version tables) created at once
// in one new schema through one pool whose connections are warm all succeed — the race a
// per-store lock key, or no retry, lost.
func TestMigrateConcurrentStoresOnOneWarmPool(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		pool, schema := freshSchema(t)
		var warm sync.WaitGroup
		for range 8 {
			warm.Go(func() { _, _ = pool.Exec(ctx, "SELECT 1") })
		}
		warm.Wait()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				table := fmt.Sprintf("v%d", i%2)
				m := fmt.Sprintf(`CREATE TABLE {s}.t%d (x int)`, i%2)
				errs[i] = pgschema.Migrate(ctx, pool, spec(schema, table, m))
			})
		}
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "round %d, migration %d", round, i)
		}
		assert.Equal(t, 1, version(t, pool, schema, "v0"))
		assert.Equal(t, 1, version(t, pool, schema, "v1"))
	}
}
