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
	assert.Equal(t, SchemaVersion, version)
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

// TestMigrateV3ToV4: a file at schema version 3 (pending's ids unique by a column
// constraint) with a pending delivery with attempts, a leased one and a dead letter is
// opened at version 4 and keeps all of it, the lease with its token; pending's ids are
// then unique through pending_id, which an Exclusive Open drops and a shared Open makes
// again, Enqueue refusing a pending id twice either way.
func TestMigrateV3ToV4(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(ctx, path, Config{})
	require.NoError(t, err)
	as := queuetest.RoundTripAttempts()
	d := func(id string) queue.Delivery { return queuetest.Delivery(t, id, "ep", queuetest.T0) }
	a := d("a")
	a.Attempts = as[:2]
	require.NoError(t, s.Enqueue(ctx, a, d("b"), d("c")))
	leased, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 2, For: time.Hour})
	require.NoError(t, err)
	require.Len(t, leased, 2)
	errs, err := s.Complete(ctx, queuetest.T0, queue.DeadLetter(leased[1].ID, leased[1].Lease, queue.DeadReasonGone, as[2]))
	require.NoError(t, err)
	require.Equal(t, []error{nil}, errs)
	before, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	beforeDead, err := s.ListDead(ctx, queue.ListFilter{})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// Back to version 3, as an older hookkit wrote it: the same rows in version 2's
	// pending table.
	raw := func(f func(db *sql.DB)) {
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		defer func() { require.NoError(t, db.Close()) }()
		f(db)
	}
	raw(func(db *sql.DB) {
		_, err := db.ExecContext(ctx, `DROP VIEW deliveries;`+v2Pending+`INSERT INTO pending_v3 SELECT * FROM pending;
			DROP TABLE pending; ALTER TABLE pending_v3 RENAME TO pending;`+v2PendingIndexes+deliveriesView+`PRAGMA user_version = 3`)
		require.NoError(t, err)
	})
	version := func() (v int) {
		raw(func(db *sql.DB) { require.NoError(t, db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)) })
		return v
	}
	unique := func() (n int) {
		raw(func(db *sql.DB) {
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_index_list('pending') WHERE "unique" = 1`).Scan(&n))
		})
		return n
	}
	require.Equal(t, 3, version())
	require.Equal(t, 1, unique(), "version 3: the column's UNIQUE")

	for n, exclusive := range []bool{false, true, false} {
		s, err := Open(ctx, path, Config{Exclusive: exclusive})
		require.NoError(t, err, "exclusive=%v", exclusive)
		p, err := s.ListPending(ctx, queue.ListFilter{})
		require.NoError(t, err)
		dl, err := s.ListDead(ctx, queue.ListFilter{})
		require.NoError(t, err)
		require.Len(t, p.Deliveries, len(before.Deliveries), "exclusive=%v", exclusive)
		for i, got := range p.Deliveries {
			want := before.Deliveries[i]
			assert.Equal(t, want.ID, got.ID)
			assert.Len(t, got.Attempts, len(want.Attempts))
			if n > 0 {
				// Exclusive mode forgot the leases (TestExclusiveRestartLeasesAtOnce).
				want.Lease = ""
			}
			assert.Equal(t, want.Lease, got.Lease, "open %d: the lease, with its token", n)
		}
		require.Len(t, dl.Deliveries, 1)
		assert.Equal(t, beforeDead.Deliveries[0].ID, dl.Deliveries[0].ID)
		assert.Len(t, dl.Deliveries[0].Attempts, 1)
		assert.ErrorIs(t, s.Enqueue(ctx, d("c")), queue.ErrDuplicateDelivery, "exclusive=%v: a pending id twice", exclusive)
		require.NoError(t, s.IntegrityCheck(ctx))
		require.NoError(t, s.Close())
		assert.Equal(t, SchemaVersion, version())
		assert.Equal(t, map[bool]int{true: 0, false: 1}[exclusive], unique(), "exclusive=%v: pending_id", exclusive)
	}
}

// v2Pending is version 2's pending table, as migrations[1] made it (under another name),
// and v2PendingIndexes its indexes.
const v2Pending = `
CREATE TABLE pending_v3 (
	seq           INTEGER PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	endpoint      TEXT    NOT NULL,
	event_id      TEXT    NOT NULL,
	event         BLOB    NOT NULL,
	ordered       INTEGER NOT NULL,
	created       INTEGER,
	due           INTEGER NOT NULL,
	round_start   INTEGER NOT NULL,
	n_attempts    INTEGER NOT NULL,
	lease         TEXT,
	lease_expires INTEGER
);
`

const v2PendingIndexes = `
CREATE INDEX pending_due ON pending (due, seq) WHERE lease IS NULL;
CREATE INDEX pending_endpoint ON pending (endpoint, due, seq);
CREATE INDEX pending_ordered ON pending (endpoint, seq) WHERE ordered = 1;
CREATE INDEX pending_lease ON pending (lease_expires) WHERE lease IS NOT NULL;
`
