package pgschema_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/testenv/services"
)

// TestPostgresSchemaIsDropped pins services.PostgresSchema on the real server (its own
// module has no driver): the schema it names does not exist yet, two tests get two
// names, and at the end of the test the schema is gone with what it held, even while a
// pool opened after it (closed by an earlier cleanup) was using it.
func TestPostgresSchemaIsDropped(t *testing.T) {
	dsn := services.Postgres(t)
	pool, err := pgxpool.New(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	exists := func(schema string) bool {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n))
		return n == 1
	}
	var names []string
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			got, schema := services.PostgresSchema(t)
			assert.Equal(t, dsn, got)
			assert.False(t, exists(schema), "a name no schema has")
			names = append(names, schema)
			own, err := pgxpool.New(t.Context(), got)
			require.NoError(t, err)
			t.Cleanup(own.Close)
			_, err = own.Exec(t.Context(), "CREATE SCHEMA "+schema+"; CREATE TABLE "+pgx.Identifier{schema, "t"}.Sanitize()+" (x int); INSERT INTO "+pgx.Identifier{schema, "t"}.Sanitize()+" VALUES (1)")
			require.NoError(t, err)
			assert.True(t, exists(schema))
		})
	}
	require.Len(t, names, 2)
	assert.NotEqual(t, names[0], names[1])
	for _, schema := range names {
		assert.False(t, exists(schema), "%s dropped at the end of its test", schema)
	}
}
