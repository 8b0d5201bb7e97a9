package pgqueue

import (
	"context"
	"github.com/hookkit/hookkit/internal/sqltime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// TestLeaseCommitsAsynchronously: both lease statements, whether they take a delivery or
// none, turn synchronous_commit off for their own transaction only (seen inside it), and
// the connection's setting is back to on after the commit.
func TestLeaseCommitsAsynchronously(t *testing.T) {
	ctx := t.Context()
	dsn, schema := services.PostgresSchema(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := New(ctx, pool, Config{Schema: schema, Notify: NotifyOff})
	require.NoError(t, err)
	show := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) string {
		var v string
		require.NoError(t, q.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v))
		return v
	}
	require.Equal(t, "on", show(pool))
	now, exp := sqltime.Nanos(queuetest.T0), sqltime.Nanos(queuetest.T0.Add(time.Minute))
	for i, c := range []struct {
		name string
		sql  string
		args []any
	}{
		{"all", s.q.leaseAll, []any{now, 10, "p.", exp}},
		{"endpoints", s.q.leaseEndpoints, []any{now, 10, "p.", exp, []string{"ep"}, []int32{10}}},
	} {
		for _, took := range []int{1, 0} {
			if took == 1 {
				require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, c.name, "ep", queuetest.T0)))
			}
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			rows, err := tx.Query(ctx, c.sql, c.args...)
			require.NoError(t, err)
			n := 0
			for rows.Next() {
				n++
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, took, n, "%s: leased", c.name)
			assert.Equal(t, "off", show(tx), "%s (%d): off in the lease's transaction", c.name, i)
			require.NoError(t, tx.Commit(ctx))
			assert.Equal(t, "on", show(pool), "%s: the session's setting after the commit", c.name)
		}
	}
}
