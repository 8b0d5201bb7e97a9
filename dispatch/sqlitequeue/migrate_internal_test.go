package sqlitequeue

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// TestMigrateV1ToV2: a file written at schema version 1 (one deliveries table, counts
// kept by triggers, seq from AUTOINCREMENT) with a pending delivery with attempts, a
// leased one, a dead letter with an attempt and a deleted delivery of the highest seq is
// opened at version 2 and keeps all of it: the listings show every field as stored, the
// counts are right, the lease taken before the migration is completed with its token,
// the dead letter is a duplicate for Enqueue and is requeued with its attempt, a new
// delivery gets a Seq above every Seq version 1 gave (the deleted one too), and the
// per-endpoint counts and the integrity check agree.
func TestMigrateV1ToV2(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, migrations[0]+"; PRAGMA user_version = 1")
	require.NoError(t, err)
	ev := queuetest.Event(t)
	blob, err := ev.MarshalBinary()
	require.NoError(t, err)
	t0 := sqltime.Nanos(queuetest.T0)
	ins := `INSERT INTO deliveries (id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts,
		lease, lease_expires, dead_reason, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	for _, r := range [][]any{
		{"pending", "ep-a", ev.ID(), blob, 1, t0, t0, 1, 2, nil, nil, nil, nil},
		{"leased", "ep-a", ev.ID(), blob, 0, t0, t0, 0, 0, "tok.2", t0 + int64(time.Minute), nil, nil},
		{"dead", "ep-b", ev.ID(), blob, 0, t0, t0, 0, 1, nil, nil, queue.DeadReasonExhausted, t0 + int64(time.Second)},
		{"gone", "ep-b", ev.ID(), blob, 0, t0, t0, 0, 0, nil, nil, nil, nil},
	} {
		_, err := db.ExecContext(ctx, ins, r...)
		require.NoError(t, err)
	}
	att := `INSERT INTO attempts (seq, n, number, start, duration, status, class, error_text, retry_after)
		VALUES (?, ?, ?, ?, ?, 500, 'server-error', ?, 0)`
	for _, a := range [][]any{{1, 0, 1, t0, 1000, "first"}, {1, 1, 2, t0 + 1, 2000, "second"}, {3, 0, 1, t0, 3000, "last"}} {
		_, err := db.ExecContext(ctx, att, a...)
		require.NoError(t, err)
	}
	_, err = db.ExecContext(ctx, `DELETE FROM deliveries WHERE id = 'gone'`)
	require.NoError(t, err)
	var counts [2]int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT pending, dead FROM counts`).Scan(&counts[0], &counts[1]))
	require.Equal(t, [2]int{2, 1}, counts, "the version 1 file as its triggers kept it")
	require.NoError(t, db.Close())

	s, err := Open(ctx, path, Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	var version int
	require.NoError(t, s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version))
	assert.Equal(t, SchemaVersion, version)
	require.NoError(t, s.IntegrityCheck(ctx))

	st, err := s.Stats(ctx, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 1, Leased: 1, Dead: 1}, st)
	eps, err := s.EndpointStats(ctx, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, map[string]queue.Stats{"ep-a": {Pending: 1, Leased: 1}, "ep-b": {Dead: 1}}, eps)

	p, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 2)
	a, l := p.Deliveries[0], p.Deliveries[1]
	assert.Equal(t, "pending", a.ID)
	assert.Equal(t, uint64(1), a.Seq)
	assert.True(t, a.Ordered)
	assert.Equal(t, 1, a.RoundStart)
	assert.True(t, a.Due.Equal(queuetest.T0))
	require.Len(t, a.Attempts, 2)
	assert.Equal(t, "first", a.Attempts[0].Error)
	assert.Equal(t, "second", a.Attempts[1].Error)
	assert.Equal(t, 2*time.Microsecond, a.Attempts[1].Duration)
	assert.Equal(t, "leased", l.ID)
	assert.Equal(t, "tok.2", l.Lease)
	assert.True(t, l.LeaseExpires.Equal(queuetest.T0.Add(time.Minute)))
	assert.Equal(t, ev.ID(), a.Event.ID(), "the event blob is read back")
	assert.Equal(t, ev.Body(1), a.Event.Body(1))

	d, err := s.ListDead(ctx, queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, d.Deliveries, 1)
	x := d.Deliveries[0]
	assert.Equal(t, "dead", x.ID)
	assert.Equal(t, uint64(3), x.Seq)
	assert.Equal(t, queue.DeadReasonExhausted, x.DeadReason)
	assert.True(t, x.DeadAt.Equal(queuetest.T0.Add(time.Second)))
	require.Len(t, x.Attempts, 1)
	assert.Equal(t, "last", x.Attempts[0].Error)

	errs, err := s.Complete(ctx, queuetest.T0, queue.Ack("leased", "tok.2"))
	require.NoError(t, err)
	assert.Equal(t, []error{nil}, errs, "a lease taken at version 1 is completed with its token")

	assert.ErrorIs(t, s.Enqueue(ctx, queuetest.Delivery(t, "dead", "ep-b", queuetest.T0)), queue.ErrDuplicateDelivery,
		"a dead letter's id is stored")
	require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "new", "ep-b", queuetest.T0)))
	p, err = s.ListPending(ctx, queue.ListFilter{EndpointID: "ep-b"})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 1)
	assert.Equal(t, uint64(5), p.Deliveries[0].Seq, "above every seq version 1 gave, the deleted one's (4) too")

	n, err := s.Requeue(ctx, queue.Selector{ID: "dead"}, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	p, err = s.ListPending(ctx, queue.ListFilter{EndpointID: "ep-b"})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 2)
	assert.Equal(t, "dead", p.Deliveries[0].ID, "requeued with its seq, before the new one")
	require.Len(t, p.Deliveries[0].Attempts, 1, "and its attempt")
	st, err = s.Stats(ctx, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 3}, st)
	require.NoError(t, s.IntegrityCheck(ctx))
}

// TestMigrateV2ToV3: a file at schema version 2 with pending deliveries is opened at
// version 3 without the index of pending deliveries by event, keeps its deliveries, and
// still lists them by event id (the store's new files have no such index either).
func TestMigrateV2ToV3(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, migrations[0]+migrations[1]+"; PRAGMA user_version = 2")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	indexed := func(s *Store) bool {
		var n int
		require.NoError(t, s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'pending_event'`).Scan(&n))
		return n == 1
	}

	s, err := Open(ctx, path, Config{})
	require.NoError(t, err)
	assert.False(t, indexed(s), "an empty version 2 file migrated")
	var ds []queue.Delivery
	for _, id := range []string{"a", "b"} {
		ev, err := event.New("order-created", map[string]string{"order": id})
		require.NoError(t, err)
		enc, err := ev.Encode()
		require.NoError(t, err)
		ds = append(ds, queue.Delivery{ID: id, EndpointID: "ep", Event: enc, Due: queuetest.T0})
	}
	require.NoError(t, s.Enqueue(ctx, ds...))
	require.NoError(t, s.Close())
	// Back to version 2, as a file an older hookkit wrote, with its index and deliveries.
	db, err = sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "CREATE INDEX pending_event ON pending (event_id); PRAGMA user_version = 2")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err = Open(ctx, path, Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	var version int
	require.NoError(t, s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version))
	assert.Equal(t, 3, version)
	assert.False(t, indexed(s), "version 3 has no pending_event")
	st, err := s.Stats(ctx, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 2}, st)
	p, err := s.ListPending(ctx, queue.ListFilter{EventID: ds[0].Event.ID()})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 1)
	assert.Equal(t, "a", p.Deliveries[0].ID)
	require.NoError(t, s.IntegrityCheck(ctx))
}
