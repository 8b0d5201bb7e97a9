package sqlitequeue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// The states of a request.
const (
	waiting   = iota // sent, not yet taken into a transaction
	taken            // in a transaction: the caller waits for its commit
	abandoned        // its caller's context ended first: never applied
)

// request is one Enqueue, Complete or Lease call handed to the committer.
type request struct {
	ctx   context.Context
	state atomic.Int32
	done  chan struct{}

	// Enqueue; with leasing (EnqueueLeased) the deliveries with a LeaseExpires are stored
	// leased, their tokens prefix and seq.
	ds        []queue.Delivery
	blobs     [][]byte
	leasing   bool
	committed func() // EnqueueLeased's, called by the committer after the commit

	// Complete
	now      time.Time
	outcomes []queue.Outcome
	evicting bool

	// Lease
	lease  *queue.LeaseRequest
	prefix string // of its tokens

	// synced: with SyncFull, an Enqueue whose commit was made and is handed to the
	// syncer, which releases it (done) once the WAL is fsynced.
	synced bool

	// results
	err     error
	errs    []error
	evicted []queue.Delivery
	leased  []queue.Delivery
}

// submit hands r to the committer and waits for its result. While r waits (to be taken
// and, once taken, for its transaction to begin), r.ctx ends the wait: the request is then
// never applied and submit returns the context's error. Once taken, it waits for the
// commit, so that an error means nothing of the request was stored.
func (s *Store) submit(r *request) error {
	if s.closed.Load() {
		return ErrClosed
	}
	r.done = make(chan struct{})
	select {
	case s.reqs <- r:
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-s.quit:
		return ErrClosed
	}
	select {
	case <-r.done:
		return r.err
	case <-r.ctx.Done():
		if r.state.CompareAndSwap(waiting, abandoned) {
			return r.ctx.Err()
		}
		<-r.done
		return r.err
	}
}

// committer merges the requests waiting into one transaction at a time (group commit):
// while one transaction commits, the next requests queue up, and the next transaction
// takes all of them. With SyncFull, the syncer fsyncs the WAL for the commits made while
// the committer goes on with the next transactions.
func (s *Store) committer() {
	defer close(s.done)
	if s.full {
		defer close(s.syncs)
	}
	batch := make([]*request, 0, s.maxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.quit:
			return
		}
		batch = s.gather(batch)
		s.commit(batch)
		clear(batch)
	}
}

// gather adds to batch the requests waiting, up to maxBatch: it takes those already
// sent, then yields the processor (runtime.Gosched) so that the goroutines the last
// commit woke, which run on this processor, can send theirs, and takes those, as long as
// yielding brings more.
func (s *Store) gather(batch []*request) []*request {
	idle := 0
	for len(batch) < s.maxBatch {
		n := len(batch)
	more:
		for len(batch) < s.maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		if len(batch) == n {
			idle++
			if idle > 1 {
				break
			}
		} else {
			idle = 0
		}
		runtime.Gosched()
	}
	return batch
}

// commit applies batch in one write transaction, in order (a Lease after a Complete
// sees what the Complete changed; two Leases of one batch never take the same
// delivery, as the second sees the first's leases). A request that is refused
// (ErrDuplicateDelivery, ErrQueueFull) changes nothing and fails alone: an Enqueue of one
// delivery is refused before it changes anything, an Enqueue of several runs in a
// savepoint that is rolled back; a Complete cannot be refused as a whole (each outcome
// has its own result) and runs without a savepoint. Any other error (a statement's, the
// commit's) fails the transaction and every request in it: nothing of them is stored.
// It closes every request's done channel.
func (s *Store) commit(batch []*request) {
	ctx := context.Background()
	defer func() {
		for _, r := range batch {
			if !r.synced {
				close(r.done)
			}
		}
	}()
	// fail ends the transaction with err for every request taken, and for every request
	// not yet taken: nothing of them is stored.
	fail := func(begun bool, err error) {
		if begun {
			s.rollback()
		}
		for _, r := range batch {
			if r.state.CompareAndSwap(waiting, taken) || r.state.Load() == taken {
				r.err, r.errs, r.evicted, r.leased = err, nil, nil, nil
			}
		}
	}
	if err := s.failure(); err != nil {
		fail(false, err)
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.begin(ctx); err != nil {
		fail(false, err)
		return
	}
	t := &txStmts{ctx: ctx, s: s}
	applied := false
	for _, r := range batch {
		if r.ctx.Err() != nil {
			if r.state.CompareAndSwap(waiting, abandoned) {
				r.err = r.ctx.Err()
			}
			continue
		}
		if !r.state.CompareAndSwap(waiting, taken) {
			continue
		}
		var err error
		changed := true
		switch {
		case r.lease != nil:
			changed, err = s.applyLease(t, r)
		case r.outcomes != nil:
			err = s.applyComplete(t, r)
		case len(r.ds) == 1:
			err = s.applyEnqueue(t, r)
		default:
			err = s.inSavepoint(t, func() error { return s.applyEnqueue(t, r) })
		}
		switch {
		case err == nil:
			applied = applied || changed
		case errors.Is(err, queue.ErrDuplicateDelivery) || errors.Is(err, queue.ErrQueueFull):
			r.err = err // refused: nothing of it was applied
		default:
			fail(true, err)
			return
		}
	}
	if !applied {
		s.rollback()
		s.toSyncer(batch) // the refused duplicates
		return
	}
	if err := t.flushMeta(); err != nil {
		fail(true, err)
		return
	}
	if err := s.commitTx(); err != nil {
		fail(false, err)
		return
	}
	s.commits.Add(1)
	for _, r := range batch {
		if r.committed != nil && r.err == nil && r.state.Load() == taken {
			r.committed()
		}
	}
	s.toSyncer(batch)
}

// toSyncer hands the syncer the Enqueues of batch that the commit just made stored, and
// those it refused as duplicates (the delivery they collide with may be one a commit not
// yet fsynced stored: ErrDuplicateDelivery says "already stored"): they return once the
// WAL is fsynced. The batch's Leases and Completes return at once (see SyncFull). Only
// with SyncFull: with SyncNormal every request returns once its transaction ends.
func (s *Store) toSyncer(batch []*request) {
	if !s.full {
		return
	}
	var job []*request
	for _, r := range batch {
		if r.ds != nil && r.state.Load() == taken && (r.err == nil || errors.Is(r.err, queue.ErrDuplicateDelivery)) {
			r.synced = true
			job = append(job, r)
		}
	}
	if job != nil {
		s.syncs <- job
	}
}

// inSavepoint runs fn in a savepoint, rolled back if fn returns an error, with the
// transaction's view of the meta row as it was before fn (read first, so that the view
// restored is one read); an error of the savepoint's own statements is returned wrapped,
// so that commit fails the transaction.
func (s *Store) inSavepoint(t *txStmts, fn func() error) error {
	if _, err := t.meta(); err != nil {
		return err
	}
	if _, err := t.get(stSavepoint).ExecContext(t.ctx); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: savepoint: %w", err)
	}
	m := t.m
	err := fn()
	if err != nil {
		if _, rerr := t.get(stRollbackTo).ExecContext(t.ctx); rerr != nil {
			return fmt.Errorf("hookkit/sqlitequeue: rollback to savepoint: %w", rerr)
		}
		t.m = m // what fn did to the meta row is undone with the rest
	}
	if _, rerr := t.get(stRelease).ExecContext(t.ctx); rerr != nil {
		return fmt.Errorf("hookkit/sqlitequeue: release savepoint: %w", rerr)
	}
	return err
}

// Enqueue implements queue.Store. It returns once the deliveries are committed (with
// SyncFull, once the WAL is fsynced after the commit); concurrent calls share a
// transaction (group commit), each keeping its own all-or-nothing result.
func (s *Store) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	return s.enqueue(ctx, ds, false, nil)
}

// EnqueueLeased implements queue.LeasingEnqueuer: Enqueue, in the same group commit, with
// each delivery that has a LeaseExpires inserted leased under a token made as Lease makes
// them (a random prefix drawn for the call, then its Seq), so that no Lease has to find,
// update and read it back. The committer calls committed right after the commit, before
// the fsync of SyncFull.
func (s *Store) EnqueueLeased(ctx context.Context, ds []queue.Delivery, committed func()) error {
	return s.enqueue(ctx, ds, true, committed)
}

// enqueue is Enqueue, and with leasing EnqueueLeased.
func (s *Store) enqueue(ctx context.Context, ds []queue.Delivery, leasing bool, committed func()) error {
	if s.ex != nil {
		return s.ex.enqueue(ctx, ds, leasing, committed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	if s.max > 0 && len(ds) > s.max {
		return queue.ErrQueueFull
	}
	if err := queue.CheckDeliveries(ds, leasing); err != nil {
		return err
	}
	blobs := make([][]byte, len(ds))
	for i := range ds {
		d := &ds[i]
		b, err := d.Event.MarshalBinary()
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: encode event of %s: %w", d.ID, err)
		}
		blobs[i] = b
	}
	r := &request{ctx: ctx, ds: ds, blobs: blobs, leasing: leasing, committed: committed}
	if leasing {
		r.prefix = leasePrefix()
	}
	return s.submit(r)
}

// leasePrefix returns a new random prefix for the lease tokens of one call: 16 bytes
// from crypto/rand, base64, then ".", before each token's seq (leaseSeq reads it back).
func leasePrefix() string {
	var random [16]byte
	_, _ = rand.Read(random[:]) // never fails (crypto/rand.Read's documentation)
	return base64.RawURLEncoding.EncodeToString(random[:]) + "."
}

func (s *Store) applyEnqueue(t *txStmts, r *request) error {
	m, err := t.meta()
	if err != nil {
		return err
	}
	if s.max > 0 && m.pending+m.dPending+int64(len(r.ds)) > int64(s.max) {
		return queue.ErrQueueFull
	}
	ins := t.get(stInsert)
	for i := range r.ds {
		d := &r.ds[i]
		if m.dead+m.dDead > 0 {
			var one int
			switch err := t.get(stDeadID).QueryRowContext(t.ctx, d.ID).Scan(&one); {
			case err == nil:
				return queue.ErrDuplicateDelivery
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("hookkit/sqlitequeue: store delivery: %w", err)
			}
		}
		seq := m.nextSeq
		var lease, expires any // NULL: stored pending
		if r.leasing {
			d.Lease = ""
			if !d.LeaseExpires.IsZero() {
				d.Lease = r.prefix + strconv.FormatInt(seq, 10)
				lease, expires = d.Lease, sqltime.Nanos(d.LeaseExpires)
			}
		}
		res, err := ins.ExecContext(t.ctx, seq, d.ID, d.EndpointID, d.Event.ID(), r.blobs[i], d.Ordered,
			nullNanos(d.Created), sqltime.Nanos(d.Due), d.RoundStart, len(d.Attempts), lease, expires)
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: store delivery: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: store delivery: %w", err)
		}
		if n == 0 {
			return queue.ErrDuplicateDelivery
		}
		if r.leasing {
			d.Seq = uint64(seq)
		}
		m.nextSeq, m.seqUsed = seq+1, true
		t.counts(1, 0)
		if len(d.Attempts) > 0 {
			if err := insertAttempts(t.ctx, t.get(stInsertAttempt), seq, 0, d.Attempts); err != nil {
				return err
			}
		}
	}
	return nil
}

// Complete implements queue.Store. The outcomes of one call are applied in one
// transaction, which concurrent calls share (group commit).
func (s *Store) Complete(ctx context.Context, now time.Time, outcomes ...queue.Outcome) ([]error, error) {
	errs, _, err := s.complete(ctx, now, outcomes, false)
	return errs, err
}

// CompleteEvicting implements queue.DeadEvicter.
func (s *Store) CompleteEvicting(ctx context.Context, now time.Time, outcomes ...queue.Outcome) ([]error, []queue.Delivery, error) {
	return s.complete(ctx, now, outcomes, true)
}

func (s *Store) complete(ctx context.Context, now time.Time, outcomes []queue.Outcome, evicting bool) ([]error, []queue.Delivery, error) {
	if s.ex != nil {
		errs, evicted, err := s.ex.complete(ctx, now, outcomes)
		if !evicting {
			evicted = nil
		}
		return errs, evicted, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	if len(outcomes) == 0 {
		return nil, nil, nil
	}
	r := &request{ctx: ctx, now: now, outcomes: outcomes, evicting: evicting}
	if err := s.submit(r); err != nil {
		return nil, nil, err
	}
	return r.errs, r.evicted, nil
}

// leaseSeq returns the seq a lease token ends in (Lease writes prefix "." seq), false for
// a token Lease did not write.
func leaseSeq(token string) (int64, bool) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return 0, false
	}
	seq, err := strconv.ParseInt(token[i+1:], 10, 64)
	return seq, err == nil && seq > 0
}

func (s *Store) applyComplete(t *txStmts, r *request) error {
	r.errs = make([]error, len(r.outcomes))
	buried := false
	var acked []byte // the seqs acknowledged, a JSON array, for their attempts
	for i := range r.outcomes {
		o := &r.outcomes[i]
		switch o.Kind {
		case queue.OutcomeAck, queue.OutcomeReschedule, queue.OutcomeDeadLetter:
		default:
			r.errs[i] = queue.ErrInvalidOutcome
			continue
		}
		seq, ok := leaseSeq(o.Lease)
		if !ok {
			r.errs[i] = queue.ErrLeaseLost
			continue
		}
		var (
			nAtt int
			err  error
		)
		switch o.Kind {
		case queue.OutcomeAck:
			var res sql.Result
			if res, err = t.get(stAck).ExecContext(t.ctx, seq, o.Lease, o.ID); err != nil {
				return fmt.Errorf("hookkit/sqlitequeue: ack: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("hookkit/sqlitequeue: ack: %w", err)
			} else if n == 0 {
				r.errs[i] = queue.ErrLeaseLost
				continue
			}
			t.counts(-1, 0)
			if acked == nil {
				acked = append(make([]byte, 0, 16*len(r.outcomes)), '[')
			} else {
				acked = append(acked, ',')
			}
			acked = strconv.AppendInt(acked, seq, 10)
			continue
		case queue.OutcomeReschedule:
			err = t.get(stReschedule).QueryRowContext(t.ctx, sqltime.Nanos(o.Due), len(o.Attempts), seq, o.Lease, o.ID).Scan(&nAtt)
		case queue.OutcomeDeadLetter:
			err = t.get(stBury).QueryRowContext(t.ctx, len(o.Attempts), o.Reason, sqltime.Nanos(r.now), seq, o.Lease, o.ID).Scan(&nAtt)
			if err == nil {
				if _, err = t.get(stDeletePending).ExecContext(t.ctx, seq); err != nil {
					return fmt.Errorf("hookkit/sqlitequeue: dead-letter: %w", err)
				}
				t.counts(-1, 1)
			}
		}
		if errors.Is(err, sql.ErrNoRows) {
			r.errs[i] = queue.ErrLeaseLost
			continue
		}
		if err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: complete: %w", err)
		}
		if len(o.Attempts) > 0 {
			if err := insertAttempts(t.ctx, t.get(stInsertAttempt), seq, nAtt-len(o.Attempts), o.Attempts); err != nil {
				return err
			}
		}
		buried = buried || o.Kind == queue.OutcomeDeadLetter
	}
	if acked != nil {
		if _, err := t.get(stAckAttempts).ExecContext(t.ctx, string(append(acked, ']'))); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: ack: %w", err)
		}
	}
	if buried {
		var err error
		if r.evicted, err = s.evict(t, r.evicting); err != nil {
			return err
		}
	}
	return nil
}

// evict deletes the oldest dead letters beyond MaxDead, returning them when report is set.
func (s *Store) evict(t *txStmts, report bool) ([]queue.Delivery, error) {
	if s.maxDead < 0 {
		return nil, nil
	}
	m, err := t.meta()
	if err != nil {
		return nil, err
	}
	excess := int(m.dead + m.dDead - int64(s.maxDead))
	if excess <= 0 {
		return nil, nil
	}
	var evicted []queue.Delivery
	if report {
		rows, err := t.get(stEvictList).QueryContext(t.ctx, excess)
		if err != nil {
			return nil, fmt.Errorf("hookkit/sqlitequeue: list evicted: %w", err)
		}
		ds, nAtt, err := scanDeliveries(rows, excess)
		if err != nil {
			return nil, err
		}
		if err := loadAttempts(t.ctx, t.get(stAttempts), ds, nAtt); err != nil {
			return nil, err
		}
		evicted = ds
	}
	if _, err := t.get(stEvictAttempts).ExecContext(t.ctx, excess); err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: evict: %w", err)
	}
	res, err := t.get(stEvict).ExecContext(t.ctx, excess)
	if err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: evict: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: evict: %w", err)
	}
	t.counts(0, -n)
	return evicted, nil
}
