package sqlitequeue

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// cols are the columns of a delivery, in the order scanDelivery reads them.
const cols = `seq, id, endpoint, event, ordered, created, due, round_start, lease, lease_expires, dead_reason, dead_at, n_attempts`

// leasable is the condition on d for a delivery that Lease may take at ?1 (now): pending,
// due, not leased or its lease expired, and, if ordered, the head of its endpoint's
// ordered group (no lower seq of the group is stored, pending or leased).
const leasable = `d.dead_at IS NULL AND d.due <= ?1 AND (d.lease IS NULL OR d.lease_expires <= ?1)
	AND (d.ordered = 0 OR NOT EXISTS (SELECT 1 FROM deliveries o
		WHERE o.endpoint = d.endpoint AND o.ordered = 1 AND o.dead_at IS NULL AND o.seq < d.seq))`

// Every LIMIT that takes a bound parameter is written "LIMIT ? + 0": SQLite reads a
// plain "LIMIT ?" as an integer known when it plans, and so prepares the statement again
// (sqlite3Reprepare, some 40 µs) whenever the value bound to it changes. "? + 0" is an
// expression it leaves to the run.

// The statements of the writer connection.
const (
	stCount = iota
	stInsert
	stInsertAttempt
	stAck
	stReschedule
	stDeadLetter
	stLeaseAll
	stLeaseEndpoint
	stLeaseTake
	stAttempts
	stEvictList
	stEvict
	stDeadEndpoint
	stRequeueID
	stRequeueEndpoint
	stRequeueAll
	stSavepoint
	stRollbackTo
	stRelease
	nStmts
)

var writeSQL = [nStmts]string{
	stCount: `SELECT pending, dead FROM counts`,
	stInsert: `INSERT INTO deliveries (id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq`,
	stInsertAttempt: `INSERT INTO attempts (seq, n, number, start, duration, status, class, error_text, retry_after)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	stAck: `DELETE FROM deliveries WHERE id = ? AND lease = ? AND dead_at IS NULL`,
	stReschedule: `UPDATE deliveries SET due = ?, lease = NULL, lease_expires = NULL, n_attempts = n_attempts + ?
		WHERE id = ? AND lease = ? AND dead_at IS NULL RETURNING seq, n_attempts`,
	stDeadLetter: `UPDATE deliveries SET dead_at = ?, dead_reason = ?, lease = NULL, lease_expires = NULL, n_attempts = n_attempts + ?
		WHERE id = ? AND lease = ? AND dead_at IS NULL RETURNING seq, n_attempts`,
	stLeaseAll:      `SELECT d.seq, d.due FROM deliveries d WHERE ` + leasable + ` ORDER BY d.due, d.seq LIMIT ?2 + 0`,
	stLeaseEndpoint: `SELECT d.seq, d.due FROM deliveries d WHERE d.endpoint = ?3 AND ` + leasable + ` ORDER BY d.due, d.seq LIMIT ?2 + 0`,
	// The token of each delivery is the call's random prefix and its seq: unique.
	stLeaseTake: `UPDATE deliveries SET lease = ?1 || seq, lease_expires = ?2
		WHERE seq IN (SELECT value FROM json_each(?3)) RETURNING ` + cols,
	stAttempts: `SELECT seq, number, start, duration, status, class, error_text, retry_after FROM attempts
		WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq, n`,
	stEvictList: `SELECT ` + cols + ` FROM deliveries WHERE dead_at IS NOT NULL ORDER BY dead_at, seq LIMIT ? + 0`,
	stEvict: `DELETE FROM deliveries WHERE seq IN
		(SELECT seq FROM deliveries WHERE dead_at IS NOT NULL ORDER BY dead_at, seq LIMIT ? + 0)`,
	stDeadEndpoint: `UPDATE deliveries SET dead_at = ?1, dead_reason = ?2, lease = NULL, lease_expires = NULL
		WHERE endpoint = ?3 AND dead_at IS NULL AND (lease IS NULL OR lease_expires <= ?1)`,
	stRequeueID: `UPDATE deliveries SET dead_at = NULL, dead_reason = NULL, due = ?, round_start = n_attempts
		WHERE id = ? AND dead_at IS NOT NULL`,
	stRequeueEndpoint: `UPDATE deliveries SET dead_at = NULL, dead_reason = NULL, due = ?, round_start = n_attempts
		WHERE endpoint = ? AND dead_at IS NOT NULL`,
	stRequeueAll: `UPDATE deliveries SET dead_at = NULL, dead_reason = NULL, due = ?, round_start = n_attempts
		WHERE dead_at IS NOT NULL`,
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
	where, at := "dead_at IS NULL", "due"
	if dead {
		where, at = "dead_at IS NOT NULL", "dead_at"
	}
	q := `SELECT ` + cols + ` FROM deliveries WHERE ` + where + ` AND (` + at + `, seq) > (?, ?)`
	if byEndpoint {
		q += ` AND endpoint = ?`
	}
	if byEvent {
		q += ` AND event_id = ?`
	}
	return q + ` ORDER BY ` + at + `, seq LIMIT ? + 0`
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	for i, q := range writeSQL {
		if s.st[i], err = s.w.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: prepare %q: %w", q, err)
		}
	}
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
		{&s.rs.stats, `SELECT c.pending, c.dead,
			(SELECT count(*) FROM deliveries WHERE lease IS NOT NULL AND lease_expires > ?) FROM counts c`},
		{&s.rs.nextDue, `SELECT
			(SELECT due FROM deliveries WHERE dead_at IS NULL AND lease IS NULL ORDER BY due, seq LIMIT 1),
			(SELECT min(lease_expires) FROM deliveries WHERE lease IS NOT NULL)`},
		{&s.rs.attempts, writeSQL[stAttempts]},
	}
	for _, r := range read {
		if *r.st, err = s.r.PrepareContext(ctx, r.q); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: prepare %q: %w", r.q, err)
		}
	}
	return nil
}

// txStmts hands out the writer's statements bound to one transaction, each bound once.
type txStmts struct {
	ctx context.Context
	tx  *sql.Tx
	s   *Store
	st  [nStmts]*sql.Stmt
}

func (t *txStmts) get(i int) *sql.Stmt {
	if t.st[i] == nil {
		t.st[i] = t.tx.StmtContext(t.ctx, t.s.st[i])
	}
	return t.st[i]
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
	d.Due = fromNanos(r.due)
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
