package pgqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// TestMigration: New creates a fresh schema at SchemaVersion; a schema at a newer
// version is refused with ErrSchemaTooNew (and left as it is); four News at once on one
// new schema all succeed, and the stores they return share one queue.
func TestMigration(t *testing.T) {
	ctx := t.Context()
	pool := shared.Get(t)
	t.Run("Fresh", func(t *testing.T) {
		schema := pgtest.Schema(t)
		_, err := pgqueue.New(ctx, pool, pgqueue.Config{Schema: schema})
		require.NoError(t, err)
		var version int
		require.NoError(t, pool.QueryRow(ctx, "SELECT version FROM "+pgx.Identifier{schema}.Sanitize()+".schema_version").Scan(&version))
		assert.Equal(t, pgqueue.SchemaVersion, version)
		for _, table := range []string{"deliveries", "attempts", "counts", "endpoints", "endpoint_patterns"} {
			var exists bool
			require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", schema+"."+table).Scan(&exists))
			assert.True(t, exists, table)
		}
		_, err = pgqueue.New(ctx, pool, pgqueue.Config{Schema: schema})
		require.NoError(t, err, "a schema at SchemaVersion is opened as it is")
	})
	t.Run("TooNew", func(t *testing.T) {
		schema := pgtest.Schema(t)
		_, err := pgqueue.New(ctx, pool, pgqueue.Config{Schema: schema})
		require.NoError(t, err)
		_, err = pool.Exec(ctx, "UPDATE "+pgx.Identifier{schema}.Sanitize()+".schema_version SET version = $1", pgqueue.SchemaVersion+1)
		require.NoError(t, err)
		_, err = pgqueue.New(ctx, pool, pgqueue.Config{Schema: schema})
		assert.ErrorIs(t, err, pgqueue.ErrSchemaTooNew)
		var version int
		require.NoError(t, pool.QueryRow(ctx, "SELECT version FROM "+pgx.Identifier{schema}.Sanitize()+".schema_version").Scan(&version))
		assert.Equal(t, pgqueue.SchemaVersion+1, version, "left as it was")
	})
	t.Run("ConcurrentNewsOnANewSchema", func(t *testing.T) {
		schema := pgtest.Schema(t)
		stores := make([]*pgqueue.Store, 4)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() {
				// A pool each, as four processes starting at once have.
				p, err := pgxpool.New(ctx, services.Postgres(t))
				if err != nil {
					errs[i] = err
					return
				}
				t.Cleanup(p.Close)
				stores[i], errs[i] = pgqueue.New(ctx, p, pgqueue.Config{Schema: schema})
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.NoError(t, stores[0].Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0)))
		got, err := stores[3].Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, ids(got), "one queue")
	})
}

// TestNewRefusesBadConfig: a nil pool and schema names that are not plain lower-case
// identifiers are refused with ErrInvalidConfig, before any SQL.
func TestNewRefusesBadConfig(t *testing.T) {
	_, err := pgqueue.New(context.Background(), nil, pgqueue.Config{})
	assert.ErrorIs(t, err, pgqueue.ErrInvalidConfig)
	pool := shared.Get(t)
	for _, schema := range []string{"Hookkit", "1abc", "a-b", "a b", `a"b`, "a.b", "pg_queue", "é", string(make([]byte, 64))} {
		_, err := pgqueue.New(t.Context(), pool, pgqueue.Config{Schema: schema})
		assert.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "%q", schema)
	}
	long := pgtest.Schema(t)
	long += strings.Repeat("x", 63-len(long))
	_, err = pgqueue.New(t.Context(), pool, pgqueue.Config{Schema: long + "x"})
	assert.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "64 bytes")
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+long+" CASCADE")
		require.NoError(t, err)
	})
	_, err = pgqueue.New(t.Context(), pool, pgqueue.Config{Schema: long})
	assert.NoError(t, err, "63 bytes, Postgres's limit")
}

// zone is a location other than UTC, for times that must come back as the same instant.
var zone = time.FixedZone("UTC-03:30", -(3*3600 + 30*60))

// TestPersistenceAcrossRestart: what one Store stored — pending (with a history and a
// RoundStart), leased (its token and expiry), ordered, dead (reason, DeadAt, history) —
// a new Store on a new pool (a restarted process) lists with every field as it was, the
// times as the same instants to the nanosecond, the event bodies byte for byte.
func TestPersistenceAcrossRestart(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	open := func() *pgqueue.Store {
		s, err := pgqueue.New(ctx, pgtest.Pool(t), pgqueue.Config{Schema: schema})
		require.NoError(t, err)
		return s
	}
	first := open()
	as := queuetest.RoundTripAttempts()
	created := time.Date(2030, 1, 2, 3, 4, 5, 123456789, zone)
	ev, err := newEncoded(`{"text":"h\u00e9llo","n":[1,2,3]}`)
	require.NoError(t, err)
	hist := queue.Delivery{ID: "hist", EndpointID: "ep-h", Event: ev, Created: created,
		Due: created.Add(time.Hour + 7), Attempts: as[:2], RoundStart: 1}
	held := queuetest.Delivery(t, "held", "ep-l", queuetest.T0)
	held.Ordered = true
	gone := queuetest.Delivery(t, "gone", "ep-g", queuetest.T0)
	require.NoError(t, first.Enqueue(ctx, hist, held, gone))
	leaseNow := time.Date(2030, 1, 2, 3, 4, 6, 999999999, zone)
	l, err := first.Lease(ctx, queue.LeaseRequest{Now: leaseNow, Max: 1, For: time.Minute + 3, Endpoints: map[string]int{"ep-l": 1}})
	require.NoError(t, err)
	require.Len(t, l, 1)
	g, err := first.Lease(ctx, queue.LeaseRequest{Now: leaseNow, Max: 1, For: time.Minute, Endpoints: map[string]int{"ep-g": 1}})
	require.NoError(t, err)
	require.Len(t, g, 1)
	deadAt := time.Date(2031, 5, 6, 7, 8, 9, 1, zone)
	errs, err := first.Complete(ctx, deadAt, queue.DeadLetter("gone", g[0].Lease, queue.DeadReasonGone, as[2]))
	require.NoError(t, err)
	require.NoError(t, errs[0])
	before := listAll(t, first)

	again := open()
	after := listAll(t, again)
	require.Len(t, after, 3)
	require.Equal(t, ids(before), ids(after))
	for i := range before {
		sameDelivery(t, before[i], after[i])
	}
	byID := map[string]queue.Delivery{}
	for _, d := range after {
		byID[d.ID] = d
	}
	h := byID["hist"]
	assert.True(t, h.Created.Equal(created))
	assert.True(t, h.Due.Equal(created.Add(time.Hour+7)))
	assert.Equal(t, 1, h.RoundStart)
	sameAttempts(t, as[:2], h.Attempts)
	for _, retry := range []int{0, 1, 12} {
		assert.Equal(t, ev.Body(retry), h.Event.Body(retry), "body of attempt %d byte for byte", retry+1)
	}
	assert.Equal(t, ev.ID(), h.Event.ID())
	assert.Equal(t, ev.Type(), h.Event.Type())
	lh := byID["held"]
	assert.True(t, lh.Ordered)
	assert.Equal(t, l[0].Lease, lh.Lease, "the lease token")
	assert.True(t, lh.LeaseExpires.Equal(leaseNow.Add(time.Minute+3)), "LeaseExpires %v", lh.LeaseExpires)
	dg := byID["gone"]
	assert.Equal(t, queue.DeadReasonGone, dg.DeadReason)
	assert.True(t, dg.DeadAt.Equal(deadAt))
	assert.Empty(t, dg.Lease)
	sameAttempts(t, as[2:], dg.Attempts)
	assert.Equal(t, held.Event.Body(0), lh.Event.Body(0))
	assert.Equal(t, gone.Event.Body(2), dg.Event.Body(2))
	// The lease taken before the restart is still the one that counts.
	errs, err = again.Complete(ctx, leaseNow, queue.Ack("held", l[0].Lease))
	require.NoError(t, err)
	assert.NoError(t, errs[0])
}

// listAll returns the pending deliveries then the dead letters.
func listAll(t *testing.T, s queue.Store) []queue.Delivery {
	t.Helper()
	p, err := s.ListPending(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	d, err := s.ListDead(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	return append(p.Deliveries, d.Deliveries...)
}

func sameDelivery(t *testing.T, want, got queue.Delivery) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.EndpointID, got.EndpointID, want.ID)
	assert.Equal(t, want.Ordered, got.Ordered, want.ID)
	assert.Equal(t, want.Seq, got.Seq, want.ID)
	assert.Equal(t, want.RoundStart, got.RoundStart, want.ID)
	assert.Equal(t, want.Lease, got.Lease, want.ID)
	assert.Equal(t, want.DeadReason, got.DeadReason, want.ID)
	for _, tm := range [][2]time.Time{{want.Created, got.Created}, {want.Due, got.Due}, {want.LeaseExpires, got.LeaseExpires}, {want.DeadAt, got.DeadAt}} {
		assert.True(t, tm[0].Equal(tm[1]), "%s: %v, want %v", want.ID, tm[1], tm[0])
	}
	sameAttempts(t, want.Attempts, got.Attempts)
	assert.Equal(t, want.Event.Body(0), got.Event.Body(0), want.ID)
}

func sameAttempts(t *testing.T, want, got []queue.Attempt) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		assert.True(t, w.Start.Equal(g.Start), "attempt %d start %v, want %v", i, g.Start, w.Start)
		w.Start, g.Start = time.Time{}, time.Time{}
		assert.Equal(t, w, g, "attempt %d", i)
	}
}

// TestCountsLogCompacts: after many writes (enqueues, acknowledgements, dead letters,
// requeues) the counts log has been compacted to a few rows, and Stats still agrees
// with a count of the table.
func TestCountsLogCompacts(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, pgqueue.Config{})
	for i := range 150 {
		require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, fmt.Sprint("a", i), "ep", queuetest.T0),
			queuetest.Delivery(t, fmt.Sprint("b", i), "ep", queuetest.T0)))
		got := leaseAt(t, s, queuetest.T0)
		require.Len(t, got, 2)
		errs, err := s.Complete(ctx, queuetest.T0, queue.Ack(got[0].ID, got[0].Lease), queue.DeadLetter(got[1].ID, got[1].Lease, "r"))
		require.NoError(t, err)
		require.Equal(t, []error{nil, nil}, errs)
		if i%10 == 0 {
			_, err := s.Requeue(ctx, queue.Selector{ID: got[1].ID}, queuetest.T0.Add(time.Hour))
			require.NoError(t, err)
		}
	}
	pool := shared.Get(t)
	table := pgx.Identifier{s.Schema()}.Sanitize()
	var rows, pending, dead int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+table+".counts").Scan(&rows))
	assert.Less(t, rows, 64+16, "compacted every 64 writes")
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE dead_at IS NULL), count(*) FILTER (WHERE dead_at IS NOT NULL) FROM "+table+".deliveries").Scan(&pending, &dead))
	assert.Equal(t, queue.Stats{Pending: pending, Dead: dead}, stats(t, s))
	assert.Equal(t, queue.Stats{Pending: 15, Dead: 135}, stats(t, s))
}

// newEncoded returns an encoded event whose data is the JSON object data, with fields
// set that a round trip must keep.
func newEncoded(data string) (*event.Encoded, error) {
	ev, err := event.New("order-created", json.RawMessage(data))
	if err != nil {
		return nil, err
	}
	ev.URI = "/orders/42"
	ev.APIVersion = "v2.1"
	ev.ConfigurationID = 7
	return ev.Encode()
}
