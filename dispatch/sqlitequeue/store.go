package sqlitequeue

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE) on the writer connection and
// commits it when fn returns nil; with SyncFull it returns once the WAL is fsynced
// after the commit. The fsync is made once the write lock is released, so that the
// committer's transactions go on meanwhile (as the syncer's fsyncs let them).
func (s *Store) writeTx(ctx context.Context, fn func(t *txStmts) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.failure(); err != nil {
		return err
	}
	if err := s.commitWrite(ctx, fn); err != nil {
		return err
	}
	if s.full {
		return s.syncWAL()
	}
	return nil
}

// commitWrite is writeTx under the write lock: the transaction, without the fsync.
func (s *Store) commitWrite(ctx context.Context, fn func(t *txStmts) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	t := &txStmts{ctx: ctx, s: s}
	if err := fn(t); err != nil {
		s.rollback()
		return err
	}
	if err := t.flushMeta(); err != nil {
		s.rollback()
		return err
	}
	return s.commitTx()
}

// candidate is a delivery Lease may take.
type candidate struct{ seq, due int64 }

// Lease implements queue.Store. It joins the group commit: the committer applies it in
// the transaction of the requests waiting with it, in arrival order, so that it shares
// their commit (and fsync). It selects the leasable deliveries, earliest (Due, Seq) first
// (with LeaseRequest.Endpoints, the first of each listed endpoint up to its limit), and
// gives each a token made of a random prefix drawn for the call (crypto/rand) and its
// Seq, unique across processes. It returns once the leases are committed.
func (s *Store) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	if s.ex != nil {
		return s.ex.lease(ctx, req)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if req.Max <= 0 || req.For <= 0 {
		return nil, nil
	}
	if req.Endpoints != nil {
		listed := false
		for _, n := range req.Endpoints {
			listed = listed || n > 0
		}
		if !listed {
			return nil, nil
		}
	}
	r := &request{ctx: ctx, lease: &req, prefix: leasePrefix()}
	if err := s.submit(r); err != nil {
		return nil, err
	}
	out := r.leased
	// RETURNING gives no order: earliest (Due, Seq) first.
	slices.SortFunc(out, func(a, b queue.Delivery) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return out, nil
}

// applyLease leases what r.lease asks for in the committer's transaction, reporting
// whether it changed anything.
func (s *Store) applyLease(t *txStmts, r *request) (bool, error) {
	req := r.lease
	now := sqltime.Nanos(req.Now)
	exp := sqltime.Nanos(req.Now.Add(req.For))
	cands, err := s.candidates(t, req, now)
	if err != nil || len(cands) == 0 {
		return false, err
	}
	seqs := make([]byte, 1, 2+len(cands)*8)
	seqs[0] = '['
	for i, c := range cands {
		if i > 0 {
			seqs = append(seqs, ',')
		}
		seqs = strconv.AppendInt(seqs, c.seq, 10)
	}
	seqs = append(seqs, ']')
	rows, err := t.get(stLeaseTake).QueryContext(t.ctx, r.prefix, exp, string(seqs))
	if err != nil {
		return false, fmt.Errorf("hookkit/sqlitequeue: lease: %w", err)
	}
	ds, nAtt, err := scanDeliveries(rows, len(cands))
	if err != nil {
		return false, err
	}
	if err := loadAttempts(t.ctx, t.get(stAttempts), ds, nAtt); err != nil {
		return false, err
	}
	r.leased = ds
	return true, nil
}

// candidates returns what Lease takes, earliest (due, seq) first, at most req.Max.
func (s *Store) candidates(t *txStmts, req *queue.LeaseRequest, now int64) ([]candidate, error) {
	var cands []candidate
	read := func(rows *sql.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: lease: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.seq, &c.due); err != nil {
				return fmt.Errorf("hookkit/sqlitequeue: lease: %w", err)
			}
			cands = append(cands, c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: lease: %w", err)
		}
		return nil
	}
	if req.Endpoints == nil {
		// The first due of those not leased (pending_due) and of the expired leases
		// (pending_lease); then the earliest of both.
		if err := read(t.get(stLeaseFree).QueryContext(t.ctx, now, req.Max)); err != nil {
			return nil, err
		}
		if err := read(t.get(stLeaseExpired).QueryContext(t.ctx, now, req.Max)); err != nil {
			return nil, err
		}
	} else {
		// One indexed query per listed endpoint, for its first due deliveries; then the
		// earliest of all of them.
		st := t.get(stLeaseEndpoint)
		for ep, n := range req.Endpoints {
			if n <= 0 {
				continue
			}
			if err := read(st.QueryContext(t.ctx, now, min(n, req.Max), ep)); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(a.due, b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	return cands[:min(len(cands), req.Max)], nil
}

// DeadLetterEndpoint implements queue.Store. A delivery whose lease expired at or
// before now counts as not leased: it is dead-lettered too.
func (s *Store) DeadLetterEndpoint(ctx context.Context, now time.Time, endpointID, reason string) (int, error) {
	n, _, err := s.deadLetterEndpoint(ctx, now, endpointID, reason, false)
	return n, err
}

// DeadLetterEndpointEvicting implements queue.DeadEvicter.
func (s *Store) DeadLetterEndpointEvicting(ctx context.Context, now time.Time, endpointID, reason string) (int, []queue.Delivery, error) {
	return s.deadLetterEndpoint(ctx, now, endpointID, reason, true)
}

func (s *Store) deadLetterEndpoint(ctx context.Context, now time.Time, endpointID, reason string, report bool) (int, []queue.Delivery, error) {
	if s.ex != nil {
		n, evicted, err := s.ex.deadLetterEndpoint(ctx, now, endpointID, reason)
		if !report {
			evicted = nil
		}
		return n, evicted, err
	}
	var n int64
	var evicted []queue.Delivery
	err := s.writeTx(ctx, func(t *txStmts) error {
		// The same rows are copied into dead, then deleted from pending: nothing
		// changes them in between (the transaction holds the write lock).
		res, err := t.get(stDeadEndpoint).ExecContext(t.ctx, sqltime.Nanos(now), reason, endpointID)
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: dead-letter endpoint: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: dead-letter endpoint: %w", err)
		}
		if n == 0 {
			return nil
		}
		if err := moved(t.get(stDeadEndpointDelete).ExecContext(t.ctx, sqltime.Nanos(now), endpointID))(n); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: dead-letter endpoint: %w", err)
		}
		t.counts(-n, n)
		evicted, err = s.evict(t, report)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return int(n), evicted, nil
}

// Requeue implements queue.Store, in one write transaction: a requeue that would exceed
// MaxPending is rolled back whole.
func (s *Store) Requeue(ctx context.Context, sel queue.Selector, due time.Time) (int, error) {
	if s.ex != nil {
		return s.ex.requeue(ctx, sel, due)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.writeTx(ctx, func(t *txStmts) error {
		// Copied into pending with their seq, then deleted from dead.
		ins, del, args := stRequeueAll, stRequeueAllDelete, []any(nil)
		switch {
		case sel.ID != "":
			ins, del, args = stRequeueID, stRequeueIDDelete, []any{sel.ID}
		case sel.EndpointID != "":
			ins, del, args = stRequeueEndpoint, stRequeueEndpointDelete, []any{sel.EndpointID}
		}
		res, err := t.get(ins).ExecContext(t.ctx, append([]any{sqltime.Nanos(due)}, args...)...)
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: requeue: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: requeue: %w", err)
		}
		if n == 0 {
			if sel.ID != "" {
				return queue.ErrNotFound
			}
			return nil
		}
		if err := moved(t.get(del).ExecContext(t.ctx, args...))(n); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: requeue: %w", err)
		}
		t.counts(n, -n)
		if s.max > 0 {
			m, err := t.meta()
			if err != nil {
				return err
			}
			if m.pending+m.dPending > int64(s.max) {
				return queue.ErrQueueFull // rolled back
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// moved checks that the delete of a move (dead-lettering, requeueing) deleted as many rows
// as were copied: the result and error of its Exec, then the count copied.
func moved(res sql.Result, err error) func(n int64) error {
	return func(n int64) error {
		if err != nil {
			return err
		}
		d, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if d != n {
			return fmt.Errorf("%d rows copied, %d deleted", n, d)
		}
		return nil
	}
}

// ListPending implements queue.Store. A listing by ListFilter.EventID without an
// EndpointID reads the whole pending table (no index of the pending deliveries by event
// since SchemaVersion 3, so that Enqueue and Complete write fewer pages): some 26 ms a
// page at 100,000 pending (BenchmarkListPendingByEvent); by endpoint and event it reads
// the endpoint's deliveries.
func (s *Store) ListPending(ctx context.Context, f queue.ListFilter) (queue.Page, error) {
	return s.list(ctx, f, false)
}

// ListDead implements queue.Store.
func (s *Store) ListDead(ctx context.Context, f queue.ListFilter) (queue.Page, error) {
	return s.list(ctx, f, true)
}

// list returns one page of a listing, a keyset after f.After: WHERE (at, seq) > cursor
// ORDER BY at, seq, reading one row more than the limit to know whether one follows.
func (s *Store) list(ctx context.Context, f queue.ListFilter, dead bool) (queue.Page, error) {
	if s.ex != nil {
		var p queue.Page
		err := s.ex.read(func() (err error) {
			if dead {
				p, err = s.ex.m.ListDead(ctx, f)
			} else {
				p, err = s.ex.m.ListPending(ctx, f)
			}
			return err
		})
		return p, err
	}
	if s.closed.Load() {
		return queue.Page{}, ErrClosed
	}
	afterAt, afterSeq, err := sqltime.After(f.After)
	if err != nil {
		return queue.Page{}, err
	}
	d, e, v := 0, 0, 0
	args := make([]any, 2, 5)
	args[0], args[1] = afterAt, afterSeq
	if dead {
		d = 1
	}
	if f.EndpointID != "" {
		e = 1
		args = append(args, f.EndpointID)
	}
	if f.EventID != "" {
		v = 1
		args = append(args, f.EventID)
	}
	limit := -1 // SQLite: no limit
	if f.Limit > 0 {
		limit = f.Limit + 1
	}
	args = append(args, limit)
	rows, err := s.rs.list[d][e][v].QueryContext(ctx, args...)
	if err != nil {
		return queue.Page{}, fmt.Errorf("hookkit/sqlitequeue: list: %w", err)
	}
	ds, nAtt, err := scanDeliveries(rows, min(max(f.Limit+1, 1), 256))
	if err != nil {
		return queue.Page{}, err
	}
	var p queue.Page
	if f.Limit > 0 && len(ds) > f.Limit {
		ds, nAtt = ds[:f.Limit], nAtt[:f.Limit]
		last := &ds[len(ds)-1]
		at := last.Due
		if dead {
			at = last.DeadAt
		}
		p.Next = queue.Cursor(at, last.Seq)
	}
	// The attempts are read after the rows, on another snapshot: a delivery changed in
	// between may show a newer history (ListPending reports what is stored, not a
	// transaction).
	if err := loadAttempts(ctx, s.rs.attempts, ds, nAtt); err != nil {
		return queue.Page{}, err
	}
	p.Deliveries = ds
	return p, nil
}

// Stats implements queue.Store: the counts at now, read in one statement.
func (s *Store) Stats(ctx context.Context, now time.Time) (queue.Stats, error) {
	if s.ex != nil {
		var st queue.Stats
		err := s.ex.read(func() (err error) {
			st, err = s.ex.m.Stats(ctx, now)
			return err
		})
		return st, err
	}
	if s.closed.Load() {
		return queue.Stats{}, ErrClosed
	}
	var pending, dead, leased int
	if err := s.rs.stats.QueryRowContext(ctx, sqltime.Nanos(now)).Scan(&pending, &dead, &leased); err != nil {
		return queue.Stats{}, fmt.Errorf("hookkit/sqlitequeue: stats: %w", err)
	}
	return queue.Stats{Pending: pending - leased, Leased: leased, Dead: dead}, nil
}

// NextDue implements queue.NextDuer: the earliest Due of a delivery not leased, or
// LeaseExpires of a lease, whichever comes first. It reports false on an error too.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool) {
	if s.ex != nil {
		var t time.Time
		var ok bool
		_ = s.ex.read(func() error {
			t, ok = s.ex.m.NextDue(ctx)
			return nil
		})
		return t, ok
	}
	if s.closed.Load() {
		return time.Time{}, false
	}
	var due, exp sql.NullInt64
	if err := s.rs.nextDue.QueryRowContext(ctx).Scan(&due, &exp); err != nil {
		return time.Time{}, false
	}
	var t time.Time
	if due.Valid {
		t = sqltime.FromNanos(due.Int64)
	}
	if exp.Valid && (t.IsZero() || exp.Int64 < sqltime.Nanos(t)) {
		t = sqltime.FromNanos(exp.Int64)
	}
	return t, !t.IsZero()
}
