package sqlitequeue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// ErrInUse is returned by Open when another process has the file open in a way that
// excludes this Open: with Config.Exclusive, any other process that has it open; without,
// a process that opened it with Exclusive (or a write transaction of another process
// that outlasted Config.BusyTimeout).
var ErrInUse = errors.New("hookkit/sqlitequeue: the file is in use by another process")

// ErrWriteFailed is returned, in Exclusive mode, by a call whose changes could not be
// written to the file (a statement or the commit failed: the disk is full, the file was
// damaged), and from then on by every call: the deliveries in memory are no longer what
// the file holds, so the store stops. Close it, see to the disk, and open the file again:
// it holds every change committed before the failure.
var ErrWriteFailed = errors.New("hookkit/sqlitequeue: writing to the file failed")

// pendingIndexes are the indexes of the pending table that the shared mode needs (for
// its queries, and its check of unique ids); Exclusive mode, which never queries the
// table and keeps ids unique in memory, drops them (they are most of what a write costs),
// and an Open without it creates them again.
const pendingIndexes = `
-- Not leased, earliest (due, seq) first: Lease without endpoints, NextDue, ListPending.
-- The unique ids: Enqueue's duplicate check (ON CONFLICT (id)).
CREATE UNIQUE INDEX IF NOT EXISTS pending_id ON pending (id);
CREATE INDEX IF NOT EXISTS pending_due ON pending (due, seq) WHERE lease IS NULL;
-- An endpoint's deliveries, leased or not: Lease by endpoint, ListPending by endpoint,
-- DeadLetterEndpoint.
CREATE INDEX IF NOT EXISTS pending_endpoint ON pending (endpoint, due, seq);
-- The head rule: the lowest seq of an endpoint's ordered group.
CREATE INDEX IF NOT EXISTS pending_ordered ON pending (endpoint, seq) WHERE ordered = 1;
-- Leases by expiry: expired leases for Lease without endpoints, Stats, NextDue, and the
-- leased rows of ListPending.
CREATE INDEX IF NOT EXISTS pending_lease ON pending (lease_expires) WHERE lease IS NOT NULL;
`

// exclusiveSetUp is what an Exclusive Open changes in the file, in its migration
// transaction: the shared mode's indexes of pending dropped, and the leases of the
// processes that had the file before forgotten (none of them has it open now: SQLite's
// exclusive lock says so), so that every pending delivery can be leased at once.
const exclusiveSetUp = `
DROP INDEX IF EXISTS pending_id;
DROP INDEX IF EXISTS pending_due;
DROP INDEX IF EXISTS pending_endpoint;
DROP INDEX IF EXISTS pending_ordered;
DROP INDEX IF EXISTS pending_lease;
UPDATE pending SET lease = NULL, lease_expires = NULL WHERE lease IS NOT NULL;
`

// The statements of Exclusive mode's writes, besides writeSQL's stInsertAttempt,
// stDeletePending, stAckAttempts and stMetaUpdate.
const (
	exAttemptsDelete = iota
	exReschedule
	exBury
	exDeadDelete
	exRequeue
	exAckMany
	exInsert
	nExStmts
)

var exclusiveSQL = [nExStmts]string{
	exAttemptsDelete: `DELETE FROM attempts WHERE seq = ?`,
	exReschedule:     `UPDATE pending SET due = ?, n_attempts = ? WHERE seq = ?`,
	exBury: `INSERT INTO dead (` + movedCols + `, dead_reason, dead_at)
		SELECT seq, id, endpoint, event_id, event, ordered, created, due, round_start, ?1, ?2, ?3 FROM pending WHERE seq = ?4`,
	exDeadDelete: `DELETE FROM dead WHERE seq = ?`,
	exRequeue: `INSERT INTO pending (` + movedCols + `)
		SELECT seq, id, endpoint, event_id, event, ordered, created, ?1, ?2, n_attempts FROM dead WHERE seq = ?3`,
	// The acknowledgements of a transaction, one statement (see acks).
	exAckMany: `DELETE FROM pending WHERE seq IN (SELECT value FROM json_each(?))`,
	// stInsert without its ON CONFLICT (id), which needs pending_id.
	exInsert: insertPending,
}

// excl is a Store in Exclusive mode: a memqueue.Store holds the deliveries and their
// leases, and tells every change it makes (memqueue.Config.Journal) to record, which
// appends it to the batch the committer writes next, in one transaction. Each call that
// changed something waits for the commit of a batch that holds its changes.
type excl struct {
	s *Store
	m *memqueue.Store

	// calls is read-held by every call from its check of closed to its last change,
	// and held by Close before the committer's last batch, so that no change is
	// recorded after it.
	calls sync.RWMutex

	jmu      sync.Mutex
	cur      *jbatch // being filled
	inflight *jbatch // being written, nil between batches
	last     *jbatch // the last one written (its done closed), nil before the first
	kick     chan struct{}
	syncs    chan *jbatch // to the syncer, with SyncFull

	// Of the committer (and of IntegrityCheck, which shares the connection): cmu is held
	// while it writes.
	cmu  sync.Mutex
	st   [nExStmts]*sql.Stmt
	blob []byte // scratch for the binary form of an event
	acks acks
}

// acks gathers the acknowledgements of a transaction, written by one DELETE (their
// attempts by another) at its end, or before a change that might depend on them: an
// insert of an ID acknowledged earlier in the transaction (the only later change that
// could meet an acknowledged delivery's row, through the unique ID).
type acks struct {
	seqs, withAttempts []byte              // JSON arrays, without the closing bracket; empty when none
	ids                map[string]struct{} // of the deliveries gathered, one each

}

func (a *acks) add(seq int64, id string, history int) {
	a.seqs = appendSeq(a.seqs, seq)
	if history > 0 {
		a.withAttempts = appendSeq(a.withAttempts, seq)
	}
	if a.ids == nil {
		a.ids = make(map[string]struct{})
	}
	a.ids[id] = struct{}{}
}

func appendSeq(b []byte, seq int64) []byte {
	if len(b) == 0 {
		b = append(b, '[')
	} else {
		b = append(b, ',')
	}
	return strconv.AppendInt(b, seq, 10)
}

// flush writes the acknowledgements gathered.
func (x *excl) flushAcks(ctx context.Context) error {
	a := &x.acks
	if len(a.ids) == 0 {
		return nil
	}
	res, err := x.st[exAckMany].ExecContext(ctx, string(append(a.seqs, ']')))
	if err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: write acknowledgements: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(a.ids)) {
		return fmt.Errorf("hookkit/sqlitequeue: write acknowledgements: %d rows deleted, not %d (%v)", n, len(a.ids), err)
	}
	if len(a.withAttempts) > 0 {
		if _, err := x.s.st[stAckAttempts].ExecContext(ctx, string(append(a.withAttempts, ']'))); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: write acknowledgements: %w", err)
		}
	}
	a.reset()
	return nil
}

func (a *acks) reset() {
	a.seqs, a.withAttempts = a.seqs[:0], a.withAttempts[:0]
	clear(a.ids)
}

// jbatch is the changes of one transaction; done is closed once it is committed, or has
// failed with err. With SyncFull, synced is closed once an fsync of the WAL begun after
// the commit has returned (serr its error, or err).
type jbatch struct {
	recs   []jrec
	done   chan struct{}
	err    error
	synced chan struct{}
	serr   error
	stores bool // it stores deliveries (an insert, a requeue or a dead letter): fsync it
}

// jrec is one change, copied out of the memqueue.Change that told it.
type jrec struct {
	kind     memqueue.ChangeKind
	seq      int64
	history  int
	d        queue.Delivery // ChangeEnqueued
	due      int64
	attempts []queue.Attempt
	id       string
	reason   string
	at       int64
	round    int
}

// newBatch returns an empty batch, room made for n changes.
func (x *excl) newBatch(n int) *jbatch {
	b := &jbatch{recs: make([]jrec, 0, n), done: make(chan struct{})}
	if x.s.full {
		b.synced = make(chan struct{})
	}
	return b
}

// record is the memqueue Store's Journal: it runs under that store's lock.
func (x *excl) record(c *memqueue.Change) {
	r := jrec{kind: c.Kind, seq: int64(c.Seq), id: c.ID, history: c.History, attempts: slices.Clone(c.Attempts), reason: c.Reason, round: c.RoundStart}
	switch c.Kind {
	case memqueue.ChangeEnqueued:
		r.d = *c.Delivery
		r.d.Attempts = slices.Clone(r.d.Attempts)
	case memqueue.ChangeRescheduled, memqueue.ChangeRequeued:
		r.due = sqltime.Nanos(c.Due)
	case memqueue.ChangeBuried:
		r.at = sqltime.Nanos(c.At)
	}
	x.jmu.Lock()
	x.cur.recs = append(x.cur.recs, r)
	x.jmu.Unlock()
}

// begin starts a call, holding calls (read): it returns ErrClosed once the store is
// closed, or the error that failed it (then calls is not held).
func (x *excl) begin() error {
	x.calls.RLock()
	if x.s.closed.Load() {
		x.calls.RUnlock()
		return ErrClosed
	}
	if err := x.s.failure(); err != nil {
		x.calls.RUnlock()
		return err
	}
	return nil
}

// end ends a call begun by begin: with changed, it waits until every change recorded so
// far is committed — the batch being filled, or if that is empty the one being written,
// or if none is the last one written (the call's changes are in it or in an earlier
// one) — calls committed (when not nil) once it is, and with durable and SyncFull waits
// for the fsync of the WAL after that commit; it returns the commit's error, or the
// fsync's.
func (x *excl) end(changed, durable bool, committed func()) error {
	var b *jbatch
	if changed {
		x.jmu.Lock()
		switch {
		case len(x.cur.recs) > 0:
			b = x.cur
			select {
			case x.kick <- struct{}{}:
			default:
			}
		case x.inflight != nil:
			b = x.inflight
		default:
			b = x.last
		}
		x.jmu.Unlock()
	}
	x.calls.RUnlock()
	if b == nil {
		if committed != nil && changed {
			committed()
		}
		return nil
	}
	<-b.done
	if b.err != nil {
		return b.err
	}
	if committed != nil {
		committed()
	}
	if !durable || b.synced == nil {
		return nil
	}
	<-b.synced
	return b.serr
}

// committer writes the batches, one transaction each, until Close: it waits for a kick,
// lets the callers that are running record their changes (gather), and writes what the
// batch holds. After quit it writes the last batch and returns.
func (x *excl) committer() {
	defer close(x.s.done)
	if x.syncs != nil {
		defer close(x.syncs)
	}
	for {
		stop := false
		select {
		case <-x.kick:
		case <-x.s.quit:
			stop = true
		}
		if !stop {
			x.gather()
		}
		x.jmu.Lock()
		b := x.cur
		if len(b.recs) == 0 {
			b = nil // left to fill
		} else {
			x.cur, x.inflight = x.newBatch(len(b.recs)), b
		}
		x.jmu.Unlock()
		if b != nil {
			for i := range b.recs {
				switch b.recs[i].kind {
				case memqueue.ChangeEnqueued, memqueue.ChangeRequeued, memqueue.ChangeBuried:
					b.stores = true
				}
			}
			b.err = x.write(b.recs)
			close(b.done)
			x.jmu.Lock()
			x.inflight, x.last = nil, b
			x.jmu.Unlock()
			switch {
			case b.synced == nil:
			case b.err != nil:
				b.serr = b.err
				close(b.synced)
			default:
				x.syncs <- b
			}
		}
		if stop {
			return
		}
	}
}

// syncer fsyncs the WAL for the batches the committer sends once committed (SyncFull),
// in the order of their commits: it takes every batch waiting, fsyncs once if one of
// them stores deliveries (acknowledgements and reschedules alone are made durable by the
// next fsync, as in the shared mode), and releases their durable calls (with
// ErrSyncFailed if the fsync failed, which every later call then returns too). A call
// may wait on a later batch than its own changes' (see end): batches are released in
// order, so that is never before its own is fsynced. It returns once the committer has
// closed syncs and every batch sent is released.
func (x *excl) syncer() {
	defer close(x.s.syncerDone)
	var bs []*jbatch
	for b := range x.syncs {
		bs = drain(x.syncs, append(bs[:0], b))
		var err error
		if slices.ContainsFunc(bs, func(b *jbatch) bool { return b.stores }) {
			x.s.wmu.Lock() // closeDBs closes the WAL with wmu held
			err = x.s.syncWAL()
			x.s.wmu.Unlock()
		}
		for _, b := range bs {
			b.serr = err
			close(b.synced)
		}
		clear(bs)
	}
}

// gather yields the processor (runtime.Gosched) while doing so brings more changes,
// twice in a row without any ending it, up to maxBatch changes: the callers the last
// commit woke, which run on this processor, then record their next changes, and one
// transaction takes them all.
func (x *excl) gather() {
	idle := 0
	x.jmu.Lock()
	n := len(x.cur.recs)
	x.jmu.Unlock()
	for n < x.s.maxBatch && idle < 2 {
		runtime.Gosched()
		x.jmu.Lock()
		m := len(x.cur.recs)
		x.jmu.Unlock()
		if m == n {
			idle++
		} else {
			idle = 0
		}
		n = m
	}
}

// write applies recs in one transaction. An error fails the store (ErrWriteFailed):
// memory has changes the file does not.
func (x *excl) write(recs []jrec) error {
	if err := x.s.failure(); err != nil {
		return err
	}
	x.cmu.Lock()
	defer x.cmu.Unlock()
	err := x.apply(recs)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrWriteFailed, err)
		x.s.failed.CompareAndSwap(nil, &err)
		return err
	}
	x.s.commits.Add(1)
	return nil
}

func (x *excl) apply(recs []jrec) error {
	ctx := context.Background()
	s := x.s
	if err := s.begin(ctx); err != nil {
		return err
	}
	var nextSeq, dPending, dDead int64
	x.acks.reset()
	for i := range recs {
		if err := x.applyOne(ctx, &recs[i], &dPending, &dDead); err != nil {
			s.rollback()
			return err
		}
		nextSeq = max(nextSeq, recs[i].seq+1)
	}
	if err := x.flushAcks(ctx); err != nil {
		s.rollback()
		return err
	}
	if _, err := s.st[stMetaUpdate].ExecContext(ctx, nextSeq, dPending, dDead); err != nil {
		s.rollback()
		return fmt.Errorf("hookkit/sqlitequeue: write meta: %w", err)
	}
	return s.commitTx()
}

// applyOne writes one change.
func (x *excl) applyOne(ctx context.Context, r *jrec, dPending, dDead *int64) error {
	s := x.s
	exec := func(st *sql.Stmt, args ...any) error {
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: write delivery %d: %w", r.seq, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("hookkit/sqlitequeue: write delivery %d: %d rows changed, not 1 (%v)", r.seq, n, err)
		}
		return nil
	}
	switch r.kind {
	case memqueue.ChangeEnqueued:
		d := &r.d
		if _, ok := x.acks.ids[d.ID]; ok {
			if err := x.flushAcks(ctx); err != nil {
				return err
			}
		}
		x.blob, _ = d.Event.AppendBinary(x.blob[:0]) // never fails
		if err := exec(x.st[exInsert], r.seq, d.ID, d.EndpointID, d.Event.ID(), x.blob, d.Ordered,
			nullNanos(d.Created), sqltime.Nanos(d.Due), d.RoundStart, len(d.Attempts), nil, nil); err != nil {
			return err
		}
		*dPending++
		return insertAttempts(ctx, s.st[stInsertAttempt], r.seq, 0, d.Attempts)
	case memqueue.ChangeAcked:
		x.acks.add(r.seq, r.id, r.history)
		*dPending--
		return nil
	case memqueue.ChangeRescheduled:
		if err := exec(x.st[exReschedule], r.due, r.history+len(r.attempts), r.seq); err != nil {
			return err
		}
		return insertAttempts(ctx, s.st[stInsertAttempt], r.seq, r.history, r.attempts)
	case memqueue.ChangeBuried:
		if err := exec(x.st[exBury], r.history+len(r.attempts), r.reason, r.at, r.seq); err != nil {
			return err
		}
		if err := exec(s.st[stDeletePending], r.seq); err != nil {
			return err
		}
		*dPending--
		*dDead++
		return insertAttempts(ctx, s.st[stInsertAttempt], r.seq, r.history, r.attempts)
	case memqueue.ChangeEvicted:
		if err := exec(x.st[exDeadDelete], r.seq); err != nil {
			return err
		}
		*dDead--
		if r.history > 0 {
			if _, err := x.st[exAttemptsDelete].ExecContext(ctx, r.seq); err != nil {
				return fmt.Errorf("hookkit/sqlitequeue: delete attempts of %d: %w", r.seq, err)
			}
		}
		return nil
	case memqueue.ChangeRequeued:
		if err := exec(x.st[exRequeue], r.due, r.round, r.seq); err != nil {
			return err
		}
		if err := exec(x.st[exDeadDelete], r.seq); err != nil {
			return err
		}
		*dPending++
		*dDead--
		return nil
	}
	return fmt.Errorf("hookkit/sqlitequeue: unknown change %d", r.kind)
}

// openExclusiveStore is Open's end in Exclusive mode, w the one connection, set up.
func (s *Store) openExclusiveStore(ctx context.Context, path string, w *sql.DB) (*Store, error) {
	s.w = w
	var err error
	if s.wc, err = w.Conn(ctx); err != nil {
		_ = s.closeDBs()
		return nil, fmt.Errorf("hookkit/sqlitequeue: open %s: %w", path, err)
	}
	if err := s.prepareWriter(ctx, true); err != nil {
		_ = s.closeDBs()
		return nil, err
	}
	if err := s.openExclusive(ctx); err != nil {
		_ = s.closeDBs()
		return nil, err
	}
	if s.full {
		if s.wal, err = openWAL(ctx, s.wc); err != nil {
			_ = s.closeDBs()
			return nil, err
		}
		s.ex.syncs = make(chan *jbatch, 16)
		s.syncerDone = make(chan struct{})
		go s.ex.syncer()
	}
	s.quit = make(chan struct{})
	s.done = make(chan struct{})
	go s.ex.committer()
	return s, nil
}

// openExclusive makes s an Exclusive store: it prepares the statements its writes need
// and loads every delivery of the file into a new memqueue.Store.
func (s *Store) openExclusive(ctx context.Context) error {
	x := &excl{s: s, kick: make(chan struct{}, 1)}
	x.cur = x.newBatch(0)
	var err error
	for i, q := range exclusiveSQL {
		if x.st[i], err = s.wc.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: prepare %q: %w", q, err)
		}
	}
	var ds []queue.Delivery
	for _, q := range []string{`SELECT ` + pendingCols + ` FROM pending ORDER BY seq`, `SELECT ` + deadCols + ` FROM dead ORDER BY seq`} {
		rows, err := s.wc.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: load deliveries: %w", err)
		}
		some, nAtt, err := scanDeliveries(rows, 0)
		if err != nil {
			return err
		}
		if err := loadAttempts(ctx, s.st[stAttempts], some, nAtt); err != nil {
			return err
		}
		ds = append(ds, some...)
	}
	var nextSeq int64
	if err := s.wc.QueryRowContext(ctx, `SELECT next_seq FROM meta`).Scan(&nextSeq); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: read meta: %w", err)
	}
	x.m = memqueue.New(memqueue.Config{MaxPending: s.max, MaxDead: s.maxDead, Journal: x.record})
	if err := x.m.Load(uint64(max(nextSeq, 1)), ds...); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: load deliveries: %w", err)
	}
	s.ex = x
	return nil
}

func (x *excl) closeStmts() {
	for _, st := range x.st {
		if st != nil {
			_ = st.Close()
		}
	}
}

// close ends the calls (those under way record their last changes first), lets the
// committer write the last batch, and waits for it.
func (x *excl) close() {
	x.calls.Lock()
	x.s.closed.Store(true)
	x.calls.Unlock()
	close(x.s.quit)
	<-x.s.done
	if x.s.full {
		<-x.s.syncerDone
	}
}

func (x *excl) enqueue(ctx context.Context, ds []queue.Delivery, leasing bool, committed func()) error {
	if err := x.begin(); err != nil {
		return err
	}
	var err error
	if leasing {
		err = x.m.EnqueueLeased(ctx, ds, nil)
	} else {
		err = x.m.Enqueue(ctx, ds...)
	}
	if err != nil {
		return errors.Join(err, x.end(false, false, nil))
	}
	return x.end(len(ds) > 0, true, committed)
}

func (x *excl) lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	if err := x.begin(); err != nil {
		return nil, err
	}
	ds, err := x.m.Lease(ctx, req)
	return ds, errors.Join(err, x.end(false, false, nil))
}

func (x *excl) complete(ctx context.Context, now time.Time, outcomes []queue.Outcome) ([]error, []queue.Delivery, error) {
	if err := x.begin(); err != nil {
		return nil, nil, err
	}
	errs, evicted, err := x.m.CompleteEvicting(ctx, now, outcomes...)
	changed := false
	for _, e := range errs {
		changed = changed || e == nil
	}
	if err := errors.Join(err, x.end(changed, false, nil)); err != nil {
		return nil, nil, err
	}
	return errs, evicted, nil
}

func (x *excl) deadLetterEndpoint(ctx context.Context, now time.Time, endpointID, reason string) (int, []queue.Delivery, error) {
	if err := x.begin(); err != nil {
		return 0, nil, err
	}
	n, evicted, err := x.m.DeadLetterEndpointEvicting(ctx, now, endpointID, reason)
	if err := errors.Join(err, x.end(n > 0, true, nil)); err != nil {
		return 0, nil, err
	}
	return n, evicted, nil
}

func (x *excl) requeue(ctx context.Context, sel queue.Selector, due time.Time) (int, error) {
	if err := x.begin(); err != nil {
		return 0, err
	}
	n, err := x.m.Requeue(ctx, sel, due)
	if err := errors.Join(err, x.end(n > 0, true, nil)); err != nil {
		return 0, err
	}
	return n, nil
}

// read runs f, a call that changes nothing, unless the store is closed.
func (x *excl) read(f func() error) error {
	if err := x.begin(); err != nil {
		return err
	}
	defer func() { _ = x.end(false, false, nil) }()
	return f()
}

// integrityCheck runs PRAGMA integrity_check on the connection, between two commits.
func (x *excl) integrityCheck(ctx context.Context) ([]string, error) {
	var found []string
	err := x.read(func() error {
		x.cmu.Lock()
		defer x.cmu.Unlock()
		var err error
		found, err = integrityLines(ctx, x.s.wc)
		return err
	})
	return found, err
}
