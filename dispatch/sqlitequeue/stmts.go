package sqlitequeue

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// pendingCols and deadCols are the columns of a delivery in pending and in dead, in the
// order scanDelivery reads them.
const (
	pendingCols = `seq, id, endpoint, event, ordered, created, due, round_start, lease, lease_expires, NULL, NULL, n_attempts`
	deadCols    = `seq, id, endpoint, event, ordered, created, due, round_start, NULL, NULL, dead_reason, dead_at, n_attempts`
	// The columns a delivery keeps when it moves between pending and dead.
	movedCols = `seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts`
)

// insertPending stores one pending delivery, its seq given: stInsert, and Exclusive
// mode's exInsert (which has no index of ids for an ON CONFLICT to name).
const insertPending = `INSERT INTO pending (seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts, lease, lease_expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// headRule is the condition on d for an ordered delivery: it is the head of its
// endpoint's ordered group (no lower seq of the group is pending or leased).
const headRule = `(d.ordered = 0 OR NOT EXISTS (SELECT 1 FROM pending o
		WHERE o.endpoint = d.endpoint AND o.ordered = 1 AND o.seq < d.seq))`

// Every LIMIT that takes a bound parameter is written "LIMIT ? + 0": SQLite reads a
// plain "LIMIT ?" as an integer known when it plans, and so prepares the statement again
// (sqlite3Reprepare, some 40 µs) whenever the value bound to it changes. "? + 0" is an
// expression it leaves to the run.
//
// The index each statement uses (EXPLAIN QUERY PLAN): the lease candidates by endpoint
// pending_endpoint, without endpoints pending_due (not leased) and pending_lease
// (expired leases), the head rule pending_ordered; the lease, Complete and the moves by
// seq, the rowid; the insert's duplicate check the unique ids of pending and dead. The
// listings by event id: dead_event for dead letters; the pending ones are scanned (see
// schema version 3).

// The statements of the writer connection.
const (
	stMeta = iota
	stMetaUpdate
	stInsert
	stDeadID
	stInsertAttempt
	stAck
	stAckAttempts
	stReschedule
	stBury
	stDeletePending
	stLeaseFree
	stLeaseExpired
	stLeaseEndpoint
	stLeaseTake
	stAttempts
	stEvictList
	stEvictAttempts
	stEvict
	stDeadEndpoint
	stDeadEndpointDelete
	stRequeueID
	stRequeueIDDelete
	stRequeueEndpoint
	stRequeueEndpointDelete
	stRequeueAll
	stRequeueAllDelete
	stSavepoint
	stRollbackTo
	stRelease
	nStmts
)

var writeSQL = [nStmts]string{
	stMeta:       `SELECT next_seq, pending, dead FROM meta`,
	stMetaUpdate: `UPDATE meta SET next_seq = max(next_seq, ?), pending = pending + ?, dead = dead + ?`,
	// Seq is given (from meta.next_seq); no row when the id is pending. One row of
	// VALUES, not a SELECT: SQLite then checks the constraints before it writes, and
	// needs no statement journal.
	// lease and lease_expires are NULL but for a delivery EnqueueLeased stores leased.
	stInsert: insertPending + ` ON CONFLICT (id) DO NOTHING`,
	// An id among the dead letters (checked only when there are some).
	stDeadID: `SELECT 1 FROM dead WHERE id = ?`,
	stInsertAttempt: `INSERT INTO attempts (seq, n, number, start, duration, status, class, error_text, retry_after)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	// The outcomes name their delivery by its lease token, which ends in its seq: the
	// rowid, then the token and the id checked.
	stAck:         `DELETE FROM pending WHERE seq = ? AND lease = ? AND id = ?`,
	stAckAttempts: `DELETE FROM attempts WHERE seq IN (SELECT value FROM json_each(?))`,
	stReschedule: `UPDATE pending SET due = ?, lease = NULL, lease_expires = NULL, n_attempts = n_attempts + ?
		WHERE seq = ? AND lease = ? AND id = ? RETURNING n_attempts`,
	stBury: `INSERT INTO dead (` + movedCols + `, dead_reason, dead_at)
		SELECT seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts + ?1, ?2, ?3
		FROM pending WHERE seq = ?4 AND lease = ?5 AND id = ?6 RETURNING n_attempts`,
	stDeletePending: `DELETE FROM pending WHERE seq = ?`,
	stLeaseFree: `SELECT d.seq, d.due FROM pending d WHERE d.lease IS NULL AND d.due <= ?1 AND ` + headRule +
		` ORDER BY d.due, d.seq LIMIT ?2 + 0`,
	stLeaseExpired: `SELECT d.seq, d.due FROM pending d WHERE d.lease IS NOT NULL AND d.lease_expires <= ?1 AND d.due <= ?1 AND ` +
		headRule + ` ORDER BY d.due, d.seq LIMIT ?2 + 0`,
	stLeaseEndpoint: `SELECT d.seq, d.due FROM pending d WHERE d.endpoint = ?3 AND d.due <= ?1
		AND (d.lease IS NULL OR d.lease_expires <= ?1) AND ` + headRule + ` ORDER BY d.due, d.seq LIMIT ?2 + 0`,
	// The token of each delivery is the call's random prefix and its seq: unique.
	stLeaseTake: `UPDATE pending SET lease = ?1 || seq, lease_expires = ?2
		WHERE seq IN (SELECT value FROM json_each(?3)) RETURNING ` + pendingCols,
	stAttempts: `SELECT seq, number, start, duration, status, class, error_text, retry_after FROM attempts
		WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq, n`,
	stEvictList:     `SELECT ` + deadCols + ` FROM dead ORDER BY dead_at, seq LIMIT ? + 0`,
	stEvictAttempts: `DELETE FROM attempts WHERE seq IN (SELECT seq FROM dead ORDER BY dead_at, seq LIMIT ? + 0)`,
	stEvict:         `DELETE FROM dead WHERE seq IN (SELECT seq FROM dead ORDER BY dead_at, seq LIMIT ? + 0)`,
	stDeadEndpoint: `INSERT INTO dead (` + movedCols + `, dead_reason, dead_at)
		SELECT ` + movedCols + `, ?2, ?1 FROM pending
		WHERE endpoint = ?3 AND (lease IS NULL OR lease_expires <= ?1)`,
	stDeadEndpointDelete: `DELETE FROM pending WHERE endpoint = ?2 AND (lease IS NULL OR lease_expires <= ?1)`,
	stRequeueID: `INSERT INTO pending (` + movedCols + `)
		SELECT seq, id, endpoint, event_id, event, ordered, created, ?1, n_attempts, n_attempts FROM dead WHERE id = ?2`,
	stRequeueIDDelete: `DELETE FROM dead WHERE id = ?`,
	stRequeueEndpoint: `INSERT INTO pending (` + movedCols + `)
		SELECT seq, id, endpoint, event_id, event, ordered, created, ?1, n_attempts, n_attempts FROM dead WHERE endpoint = ?2`,
	stRequeueEndpointDelete: `DELETE FROM dead WHERE endpoint = ?`,
	stRequeueAll: `INSERT INTO pending (` + movedCols + `)
		SELECT seq, id, endpoint, event_id, event, ordered, created, ?1, n_attempts, n_attempts FROM dead WHERE true`,
	stRequeueAllDelete: `DELETE FROM dead`,
	// An Enqueue of several deliveries in a group commit (commit, inSavepoint).
	stSavepoint:  `SAVEPOINT request`,
	stRollbackTo: `ROLLBACK TO request`,
	stRelease:    `RELEASE request`,
}

// readStmts are the statements of the read-only connections.
type readStmts struct {
	// list[dead][byEndpoint][byEvent]: ListPending and ListDead, with or without the
	// filters, so that each uses its index. Arguments: the cursor (time, seq), the
	// endpoint and event id when filtered, the limit.
	list     [2][2][2]*sql.Stmt
	stats    *sql.Stmt
	nextDue  *sql.Stmt
	attempts *sql.Stmt
}

func (r *readStmts) close() {
	for _, a := range r.list {
		for _, b := range a {
			for _, st := range b {
				if st != nil {
					_ = st.Close()
				}
			}
		}
	}
	for _, st := range []*sql.Stmt{r.stats, r.nextDue, r.attempts} {
		if st != nil {
			_ = st.Close()
		}
	}
}

func listSQL(dead, byEndpoint, byEvent bool) string {
	table, cols, at := "pending", pendingCols, "due"
	if dead {
		table, cols, at = "dead", deadCols, "dead_at"
	}
	if !dead && !byEndpoint && !byEvent {
		// pending_due holds the rows not leased, in order; the leased ones (as many as
		// the attempts in flight) are read through pending_lease and sorted in.
		return `SELECT * FROM (SELECT ` + cols + ` FROM pending WHERE lease IS NULL AND (due, seq) > (?1, ?2)
			ORDER BY due, seq LIMIT ?3 + 0)
			UNION ALL SELECT * FROM (SELECT ` + cols + ` FROM pending WHERE lease IS NOT NULL AND (due, seq) > (?1, ?2))
			ORDER BY 7, 1 LIMIT ?3 + 0`
	}
	q := `SELECT ` + cols + ` FROM ` + table + ` WHERE (` + at + `, seq) > (?, ?)`
	if byEndpoint {
		q += ` AND endpoint = ?`
	}
	if byEvent {
		q += ` AND event_id = ?`
	}
	return q + ` ORDER BY ` + at + `, seq LIMIT ? + 0`
}

// prepareWriter prepares the statements of the writer connection: writeSQL, BEGIN
// IMMEDIATE, COMMIT and ROLLBACK; with exclusive, all but stInsert (Exclusive mode drops
// the index its ON CONFLICT names, and inserts with exInsert).
func (s *Store) prepareWriter(ctx context.Context, exclusive bool) error {
	var err error
	for i, q := range writeSQL {
		if exclusive && i == stInsert {
			continue
		}
		if s.st[i], err = s.wc.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: prepare %q: %w", q, err)
		}
	}
	for _, w := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.stBegin, "BEGIN IMMEDIATE"},
		{&s.stCommit, "COMMIT"},
		{&s.stRollback, "ROLLBACK"},
	} {
		if *w.st, err = s.wc.PrepareContext(ctx, w.q); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: prepare %q: %w", w.q, err)
		}
	}
	return nil
}

// prepare prepares the statements of the writer connection (prepareWriter) and of the
// read-only ones.
func (s *Store) prepare(ctx context.Context) error {
	if err := s.prepareWriter(ctx, false); err != nil {
		return err
	}
	var err error
	for d := range 2 {
		for e := range 2 {
			for v := range 2 {
				q := listSQL(d == 1, e == 1, v == 1)
				if s.rs.list[d][e][v], err = s.r.PrepareContext(ctx, q); err != nil {
					return fmt.Errorf("hookkit/sqlitequeue: prepare %q: %w", q, err)
				}
			}
		}
	}
	read := []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.rs.stats, `SELECT m.pending, m.dead,
			(SELECT count(*) FROM pending WHERE lease IS NOT NULL AND lease_expires > ?) FROM meta m`},
		{&s.rs.nextDue, `SELECT
			(SELECT due FROM pending WHERE lease IS NULL ORDER BY due, seq LIMIT 1),
			(SELECT min(lease_expires) FROM pending WHERE lease IS NOT NULL)`},
		{&s.rs.attempts, writeSQL[stAttempts]},
	}
	for _, r := range read {
		if *r.st, err = s.r.PrepareContext(ctx, r.q); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: prepare %q: %w", r.q, err)
		}
	}
	return nil
}

// txStmts is one write transaction of the writer connection: its context, the
// writer's statements, its view of the meta row.
type txStmts struct {
	ctx context.Context
	s   *Store
	m   meta
}

// meta is the transaction's view of the meta row: read once (at the first statement
// that needs it), changed in memory by the statements of the transaction, written back
// once before the commit (flushMeta). The file's write lock, held from BEGIN IMMEDIATE to
// the commit, keeps another process from changing the row in between.
type meta struct {
	read            bool
	nextSeq         int64 // the next Seq to assign
	pending, dead   int64 // the counts when read
	dPending, dDead int64 // the transaction's changes to them
	seqUsed         bool  // nextSeq advanced
}

// meta returns the transaction's meta row, reading it the first time.
func (t *txStmts) meta() (*meta, error) {
	if !t.m.read {
		if err := t.get(stMeta).QueryRowContext(t.ctx).Scan(&t.m.nextSeq, &t.m.pending, &t.m.dead); err != nil {
			return nil, fmt.Errorf("hookkit/sqlitequeue: read meta: %w", err)
		}
		t.m.read = true
	}
	return &t.m, nil
}

// counts changes the counts of pending and dead deliveries by dp and dd (written by
// flushMeta, whether meta was read or not).
func (t *txStmts) counts(dp, dd int64) {
	t.m.dPending += dp
	t.m.dDead += dd
}

// flushMeta writes the transaction's changes to the meta row, if any.
func (t *txStmts) flushMeta() error {
	if t.m.dPending == 0 && t.m.dDead == 0 && !t.m.seqUsed {
		return nil
	}
	if _, err := t.get(stMetaUpdate).ExecContext(t.ctx, t.m.nextSeq, t.m.dPending, t.m.dDead); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: write meta: %w", err)
	}
	return nil
}

// get returns the writer's statement i (writeSQL).
func (t *txStmts) get(i int) *sql.Stmt {
	return t.s.st[i]
}

// scanner is *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// row is the scratch space of scanDelivery.
type row struct {
	seq        int64
	ev         sql.RawBytes
	created    sql.NullInt64
	due        int64
	roundStart int64
	lease      sql.NullString
	leaseExp   sql.NullInt64
	deadReason sql.NullString
	deadAt     sql.NullInt64
	nAttempts  int64
	dest       []any
}

// scanDelivery reads the columns cols into d, decoding the event once; it returns the
// number of attempts stored for it (loaded by loadAttempts).
func (r *row) scanDelivery(sc scanner, d *queue.Delivery) (int, error) {
	if r.dest == nil {
		r.dest = []any{&r.seq, &d.ID, &d.EndpointID, &r.ev, &d.Ordered, &r.created, &r.due, &r.roundStart,
			&r.lease, &r.leaseExp, &r.deadReason, &r.deadAt, &r.nAttempts}
	}
	r.dest[1], r.dest[2], r.dest[4] = &d.ID, &d.EndpointID, &d.Ordered
	if err := sc.Scan(r.dest...); err != nil {
		return 0, fmt.Errorf("hookkit/sqlitequeue: read delivery: %w", err)
	}
	enc := new(event.Encoded)
	if err := enc.UnmarshalBinary(r.ev); err != nil {
		return 0, fmt.Errorf("hookkit/sqlitequeue: delivery %s: %w", d.ID, err)
	}
	d.Event = enc
	d.Seq = uint64(r.seq)
	d.Created = fromNull(r.created)
	d.Due = sqltime.FromNanos(r.due)
	d.RoundStart = int(r.roundStart)
	d.Lease = r.lease.String
	d.LeaseExpires = fromNull(r.leaseExp)
	d.DeadReason = r.deadReason.String
	d.DeadAt = fromNull(r.deadAt)
	return int(r.nAttempts), nil
}

// scanDeliveries reads every row of rows.
func scanDeliveries(rows *sql.Rows, capHint int) ([]queue.Delivery, []int, error) {
	defer rows.Close()
	var out []queue.Delivery
	var nAtt []int
	var r row
	for rows.Next() {
		if out == nil {
			out = make([]queue.Delivery, 0, capHint)
			nAtt = make([]int, 0, capHint)
		}
		out = append(out, queue.Delivery{})
		n, err := r.scanDelivery(rows, &out[len(out)-1])
		if err != nil {
			return nil, nil, err
		}
		nAtt = append(nAtt, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("hookkit/sqlitequeue: read deliveries: %w", err)
	}
	return out, nAtt, nil
}

// loadAttempts fills the Attempts of the deliveries that have some (nAtt), with one
// query (stAttempts on the connection of st).
func loadAttempts(ctx context.Context, st *sql.Stmt, ds []queue.Delivery, nAtt []int) error {
	var seqs []byte
	var at map[int64]int
	for i, n := range nAtt {
		if n == 0 {
			continue
		}
		if at == nil {
			seqs = append(make([]byte, 0, 64), '[')
			at = make(map[int64]int)
		} else {
			seqs = append(seqs, ',')
		}
		seqs = strconv.AppendUint(seqs, ds[i].Seq, 10)
		at[int64(ds[i].Seq)] = i
		ds[i].Attempts = make([]queue.Attempt, 0, n)
	}
	if at == nil {
		return nil
	}
	seqs = append(seqs, ']')
	rows, err := st.QueryContext(ctx, string(seqs))
	if err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: read attempts: %w", err)
	}
	defer rows.Close()
	var (
		seq                                  int64
		a                                    queue.Attempt
		start                                sql.NullInt64
		duration, retryAfter, number, status int64
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &number, &start, &duration, &status, &a.Class, &a.Error, &retryAfter); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: read attempts: %w", err)
		}
		a.Number, a.Start, a.Duration, a.Status, a.RetryAfter = int(number), fromNull(start), time.Duration(duration), int(status), time.Duration(retryAfter)
		i, ok := at[seq]
		if !ok {
			return fmt.Errorf("hookkit/sqlitequeue: read attempts: unexpected delivery %d", seq)
		}
		ds[i].Attempts = append(ds[i].Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: read attempts: %w", err)
	}
	return nil
}

// insertAttempts stores as as the attempts of seq from position first.
func insertAttempts(ctx context.Context, st *sql.Stmt, seq int64, first int, as []queue.Attempt) error {
	for i := range as {
		a := &as[i]
		if _, err := st.ExecContext(ctx, seq, first+i, a.Number, nullNanos(a.Start), int64(a.Duration), a.Status,
			a.Class, a.Error, int64(a.RetryAfter)); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: store attempt: %w", err)
		}
	}
	return nil
}
