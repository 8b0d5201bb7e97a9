package pgqueue

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
)

// TestMigrationFromVersion1: a schema written by the previous version (1: deliveries
// only), holding a pending delivery, is migrated by New to SchemaVersion: the registry's
// tables are there and work, and the delivery is still there.
func TestMigrationFromVersion1(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	pool := pgtest.Pool(t)
	quoted := pgx.Identifier{schema}.Sanitize()
	require.NoError(t, pgschema.Migrate(ctx, pool, pgschema.Spec{Pkg: "test", Schema: schema,
		VersionTable: "schema_version", Migrations: migrations[:1], TooNew: ErrSchemaTooNew}))
	ev, err := event.New("order.created", map[string]int{"n": 1})
	require.NoError(t, err)
	enc, err := ev.Encode()
	require.NoError(t, err)
	bin, err := enc.MarshalBinary()
	require.NoError(t, err)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err = pool.Exec(ctx, `INSERT INTO `+quoted+`.deliveries (created, due, round_start, n_attempts, ordered, id, endpoint_id, event_id, event)
		VALUES ($1, $1, 0, 0, false, 'd1', 'ep', $2, $3)`, t0.UnixNano(), enc.ID(), bin)
	require.NoError(t, err)

	s, err := New(ctx, pool, Config{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	var version int
	require.NoError(t, pool.QueryRow(ctx, "SELECT version FROM "+quoted+".schema_version").Scan(&version))
	assert.Equal(t, SchemaVersion, version)
	page, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 1)
	assert.Equal(t, "d1", page.Deliveries[0].ID)
	_, err = s.PutEndpoint(ctx, queue.Endpoint{ID: "ep", Patterns: []queue.Pattern{{Kind: queue.PatternPrefix, Value: "order."}}, UpdatedAt: t0})
	require.NoError(t, err)
	ms, err := s.MatchEndpoints(ctx, "order.created")
	require.NoError(t, err)
	assert.Equal(t, []queue.EndpointMatch{{ID: "ep"}}, ms)
}
