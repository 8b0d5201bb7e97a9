package pgqueue

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// Lease implements queue.Store in one statement: a CTE selects the leasable deliveries,
// earliest (Due, Seq) first (with LeaseRequest.Endpoints, the first of each listed
// endpoint up to its limit, in the same statement), locking them with FOR UPDATE SKIP
// LOCKED, and an UPDATE ... RETURNING gives each a token: a random prefix drawn for the
// call (crypto/rand) and the delivery's Seq, unique across processes.
func (s *Store) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.Max <= 0 || req.For <= 0 {
		return nil, nil
	}
	var eps []string
	var lims []int32
	if req.Endpoints != nil {
		for ep, n := range req.Endpoints {
			if n > 0 {
				eps = append(eps, ep)
				lims = append(lims, int32(min(n, req.Max, math.MaxInt32)))
			}
		}
		if len(eps) == 0 {
			return nil, nil
		}
	}
	prefix := leasePrefix()
	now, exp := sqltime.Nanos(req.Now), sqltime.Nanos(req.Now.Add(req.For))
	var rows pgx.Rows
	var err error
	if eps == nil {
		rows, err = s.querySettings(ctx, leaseSettings, s.q.leaseAll, now, req.Max, prefix, exp)
	} else {
		rows, err = s.querySettings(ctx, leaseSettings, s.q.leaseEndpoints, now, req.Max, prefix, exp, eps, lims)
	}
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: lease: %w", err)
	}
	ds, err := scanDeliveries(rows, min(req.Max, 64))
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: lease: %w", err)
	}
	return ds, nil
}

// Complete implements queue.Store: the outcomes of one call are applied in one round
// trip (a pgx.Batch, run by Postgres in one implicit transaction), one statement per
// kind of outcome over arrays. Outcomes that name an ID already named earlier in the call
// go to a later statement, so that they find what the earlier one did, as the contract's
// "applied in order" asks.
func (s *Store) Complete(ctx context.Context, now time.Time, outcomes ...queue.Outcome) ([]error, error) {
	errs, _, err := s.complete(ctx, now, outcomes)
	return errs, err
}

// CompleteEvicting implements queue.DeadEvicter.
func (s *Store) CompleteEvicting(ctx context.Context, now time.Time, outcomes ...queue.Outcome) ([]error, []queue.Delivery, error) {
	return s.complete(ctx, now, outcomes)
}

// group is the outcomes of one kind, with distinct IDs, applied by one statement.
type group struct {
	kind queue.OutcomeKind
	idx  []int // positions in the call's outcomes
}

func (s *Store) complete(ctx context.Context, now time.Time, outcomes []queue.Outcome) ([]error, []queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if len(outcomes) == 0 {
		return nil, nil, nil
	}
	errs := make([]error, len(outcomes))
	// rounds[r][kind-1]: the outcomes that are the (r+1)th of the call to name their ID.
	var rounds [][3]group
	var seen map[string]int
	if len(outcomes) > 1 {
		seen = make(map[string]int, len(outcomes))
	}
	buries := false
	for i := range outcomes {
		o := &outcomes[i]
		switch o.Kind {
		case queue.OutcomeAck, queue.OutcomeReschedule, queue.OutcomeDeadLetter:
		default:
			errs[i] = queue.ErrInvalidOutcome
			continue
		}
		errs[i] = queue.ErrLeaseLost // until its statement reports it applied
		if o.Lease == "" {
			continue
		}
		r := 0
		if seen != nil {
			r = seen[o.ID]
			seen[o.ID] = r + 1
		}
		for len(rounds) <= r {
			rounds = append(rounds, [3]group{{kind: queue.OutcomeAck}, {kind: queue.OutcomeReschedule}, {kind: queue.OutcomeDeadLetter}})
		}
		g := &rounds[r][o.Kind-1]
		g.idx = append(g.idx, i)
		buries = buries || o.Kind == queue.OutcomeDeadLetter
	}
	b := &pgx.Batch{}
	b.Queue(planSettings)
	var queued []*group
	writes := 0
	for r := range rounds {
		for k := range rounds[r] {
			g := &rounds[r][k]
			if len(g.idx) == 0 {
				continue
			}
			s.queueGroup(b, now, outcomes, g)
			queued = append(queued, g)
			if g.kind != queue.OutcomeReschedule {
				writes++
			}
		}
	}
	if len(queued) == 0 {
		return errs, nil, nil
	}
	evicting := buries && s.maxDead >= 0
	if evicting {
		b.Queue(s.q.evict, s.maxDead)
		writes++
	}
	s.queueCompaction(b, writes)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, nil, fmt.Errorf("hookkit/pgqueue: complete: %w", err)
	}
	for _, g := range queued {
		rows, err := br.Query()
		if err != nil {
			return nil, nil, fmt.Errorf("hookkit/pgqueue: complete: %w", err)
		}
		var ord int64
		_, err = pgx.ForEachRow(rows, []any{&ord}, func() error {
			if ord < 1 || int(ord) > len(g.idx) {
				return fmt.Errorf("hookkit/pgqueue: complete: unexpected position %d", ord)
			}
			errs[g.idx[ord-1]] = nil
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("hookkit/pgqueue: complete: %w", err)
		}
	}
	var evicted []queue.Delivery
	if evicting {
		rows, err := br.Query()
		if err != nil {
			return nil, nil, fmt.Errorf("hookkit/pgqueue: evict: %w", err)
		}
		if evicted, err = scanDeliveries(rows, 1); err != nil {
			return nil, nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, nil, fmt.Errorf("hookkit/pgqueue: complete: %w", err)
	}
	return errs, evicted, nil
}

// attemptCols are the arrays of attemptArrays.
type attemptCols struct {
	id                                  []string
	k                                   []int32
	number, start, duration, retryAfter []int64
	status                              []int32
	class, err                          []string
}

func (a *attemptCols) add(id string, as []queue.Attempt) {
	for k := range as {
		x := &as[k]
		a.id = append(a.id, id)
		a.k = append(a.k, int32(k))
		a.number = append(a.number, int64(x.Number))
		a.start = append(a.start, sqltime.Nanos(x.Start))
		a.duration = append(a.duration, int64(x.Duration))
		a.status = append(a.status, int32(x.Status))
		a.class = append(a.class, x.Class)
		a.err = append(a.err, x.Error)
		a.retryAfter = append(a.retryAfter, int64(x.RetryAfter))
	}
}

func (a *attemptCols) args() []any {
	// Non-nil slices: pgx sends a nil slice as NULL, and unnest(NULL) is no rows, which
	// is right too, but an empty array says what is meant.
	if a.id == nil {
		return []any{[]string{}, []int32{}, []int64{}, []int64{}, []int64{}, []int32{}, []string{}, []string{}, []int64{}}
	}
	return []any{a.id, a.k, a.number, a.start, a.duration, a.status, a.class, a.err, a.retryAfter}
}

// queueGroup adds the statement applying g to b.
func (s *Store) queueGroup(b *pgx.Batch, now time.Time, outcomes []queue.Outcome, g *group) {
	ids := make([]string, len(g.idx))
	leases := make([]string, len(g.idx))
	for j, i := range g.idx {
		ids[j], leases[j] = outcomes[i].ID, outcomes[i].Lease
	}
	if g.kind == queue.OutcomeAck {
		b.Queue(s.q.ack, ids, leases)
		return
	}
	nadd := make([]int32, len(g.idx))
	var att attemptCols
	for j, i := range g.idx {
		nadd[j] = int32(len(outcomes[i].Attempts))
		att.add(outcomes[i].ID, outcomes[i].Attempts)
	}
	if g.kind == queue.OutcomeReschedule {
		dues := make([]int64, len(g.idx))
		for j, i := range g.idx {
			dues[j] = sqltime.Nanos(outcomes[i].Due)
		}
		b.Queue(s.q.reschedule, append([]any{ids, leases, dues, nadd}, att.args()...)...)
		return
	}
	reasons := make([]string, len(g.idx))
	for j, i := range g.idx {
		reasons[j] = outcomes[i].Reason
	}
	b.Queue(s.q.deadLetter, append([]any{ids, leases, sqltime.Nanos(now), reasons, nadd}, att.args()...)...)
}

// DeadLetterEndpoint implements queue.Store. A delivery whose lease expired at or
// before now counts as not leased: it is dead-lettered too.
func (s *Store) DeadLetterEndpoint(ctx context.Context, now time.Time, endpointID, reason string) (int, error) {
	n, _, err := s.DeadLetterEndpointEvicting(ctx, now, endpointID, reason)
	return n, err
}

// DeadLetterEndpointEvicting implements queue.DeadEvicter, in one round trip.
func (s *Store) DeadLetterEndpointEvicting(ctx context.Context, now time.Time, endpointID, reason string) (int, []queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	b := &pgx.Batch{}
	b.Queue(planSettings)
	b.Queue(s.q.deadEndpoint, sqltime.Nanos(now), reason, endpointID)
	evicting := s.maxDead >= 0
	writes := 1
	if evicting {
		b.Queue(s.q.evict, s.maxDead)
		writes++
	}
	s.queueCompaction(b, writes)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, nil, fmt.Errorf("hookkit/pgqueue: dead-letter endpoint: %w", err)
	}
	var n int
	if err := br.QueryRow().Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("hookkit/pgqueue: dead-letter endpoint: %w", err)
	}
	var evicted []queue.Delivery
	if evicting {
		rows, err := br.Query()
		if err != nil {
			return 0, nil, fmt.Errorf("hookkit/pgqueue: evict: %w", err)
		}
		if evicted, err = scanDeliveries(rows, 1); err != nil {
			return 0, nil, err
		}
	}
	if err := br.Close(); err != nil {
		return 0, nil, fmt.Errorf("hookkit/pgqueue: dead-letter endpoint: %w", err)
	}
	return n, evicted, nil
}

// Requeue implements queue.Store, in one statement: the bound is checked against the
// committed count in the same statement that requeues, so the requeue is all or nothing.
func (s *Store) Requeue(ctx context.Context, sel queue.Selector, due time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	bounded := 0
	if s.maxPending >= 0 {
		bounded = 1
	}
	args := []any{sqltime.Nanos(due)}
	k := 2
	switch {
	case sel.ID != "":
		k = 0
		args = append(args, sel.ID)
	case sel.EndpointID != "":
		k = 1
		args = append(args, sel.EndpointID)
	}
	if bounded == 1 {
		args = append(args, s.maxPending)
	}
	b := &pgx.Batch{}
	b.Queue(planSettings)
	b.Queue(s.q.requeue[bounded][k], args...)
	s.queueCompaction(b, 1)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, fmt.Errorf("hookkit/pgqueue: requeue: %w", err)
	}
	var found, done int
	if err := br.QueryRow().Scan(&found, &done); err != nil {
		return 0, fmt.Errorf("hookkit/pgqueue: requeue: %w", err)
	}
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("hookkit/pgqueue: requeue: %w", err)
	}
	switch {
	case found == 0 && sel.ID != "":
		return 0, queue.ErrNotFound
	case done < found && done == 0:
		return 0, queue.ErrQueueFull
	}
	if done > 0 {
		s.wakeAfterCommit()
	}
	return done, nil
}

// ListPending implements queue.Store.
func (s *Store) ListPending(ctx context.Context, f queue.ListFilter) (queue.Page, error) {
	return s.list(ctx, f, false)
}

// ListDead implements queue.Store.
func (s *Store) ListDead(ctx context.Context, f queue.ListFilter) (queue.Page, error) {
	return s.list(ctx, f, true)
}

// list returns one page of a listing, a keyset after f.After: WHERE (at, seq) > cursor
// ORDER BY at, seq, reading one row more than the limit to know whether one follows. The
// rows and their attempts are read in one statement, on one snapshot.
func (s *Store) list(ctx context.Context, f queue.ListFilter, dead bool) (queue.Page, error) {
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
	limit := pgtype.Int8{} // NULL: no limit
	if f.Limit > 0 {
		limit = pgtype.Int8{Int64: int64(f.Limit) + 1, Valid: true}
	}
	args = append(args, limit)
	rows, err := s.queryPlanned(ctx, s.q.list[d][e][v], args...)
	if err != nil {
		return queue.Page{}, fmt.Errorf("hookkit/pgqueue: list: %w", err)
	}
	ds, err := scanDeliveries(rows, min(max(f.Limit+1, 1), 256))
	if err != nil {
		return queue.Page{}, err
	}
	var p queue.Page
	if f.Limit > 0 && len(ds) > f.Limit {
		ds = slices.Clip(ds[:f.Limit])
		last := &ds[len(ds)-1]
		at := last.Due
		if dead {
			at = last.DeadAt
		}
		p.Next = queue.Cursor(at, last.Seq)
	}
	p.Deliveries = ds
	return p, nil
}

// Stats implements queue.Store: the counts at now, read in one statement (the sums of
// the counts log and the live leases, counted with the lease index).
func (s *Store) Stats(ctx context.Context, now time.Time) (queue.Stats, error) {
	var pending, dead, leased int
	if err := s.queryRowPlanned(ctx, s.q.stats, sqltime.Nanos(now)).Scan(&pending, &dead, &leased); err != nil {
		return queue.Stats{}, fmt.Errorf("hookkit/pgqueue: stats: %w", err)
	}
	return queue.Stats{Pending: pending - leased, Leased: leased, Dead: dead}, nil
}

// NextDue implements queue.NextDuer: the earliest Due of a delivery not leased, or
// LeaseExpires of a lease, whichever comes first. It reports false on an error too.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool) {
	var due, exp pgtype.Int8
	if err := s.queryRowPlanned(ctx, s.q.nextDue).Scan(&due, &exp); err != nil {
		return time.Time{}, false
	}
	switch {
	case due.Valid && (!exp.Valid || due.Int64 <= exp.Int64):
		return sqltime.FromNanos(due.Int64), true
	case exp.Valid:
		return sqltime.FromNanos(exp.Int64), true
	}
	return time.Time{}, false
}
