package pgqueue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// enqueueRunners is how many Enqueue statements a Store has in flight at once. Calls
// made while they run wait and are sent together in the next one (see enqueueGroup).
const enqueueRunners = 2

// enqueueGroup merges concurrent Enqueue calls into shared statements: the deliveries of
// every call waiting when a statement slot frees up go in one insert, one transaction
// and one commit, instead of one each. A Dispatcher's publishers each Enqueue one
// event's deliveries, so under load most of a commit's cost (the round trip, the
// transaction, the WAL flush) is shared.
//
// There is no goroutine of its own: a caller that finds a slot free runs the statement
// for itself and the callers queued before it, and on finishing hands the slot to the
// first caller still queued. A merged statement that fails because of one call's
// deliveries (a duplicate ID, the MaxPending bound, a delivery that cannot be encoded, any
// error the server reports: nothing was stored) is retried call by call, so that each
// call gets the result it would have had alone. Calls with ordered deliveries do not
// come here (see Enqueue).
type enqueueGroup struct {
	mu      sync.Mutex
	pending []*enqueueReq
	running int
	merged  atomic.Int64 // statements that carried more than one call (tests)
}

// enqueueReq is one Enqueue call in an enqueueGroup.
type enqueueReq struct {
	ctx context.Context
	ds  []queue.Delivery
	// EnqueueLeased's: the token of each delivery of ds ("" for one stored pending), and
	// its callback. tokens is nil for Enqueue's.
	tokens    []string
	committed func()
	err       error
	stored    bool          // err is nil because the call's deliveries were stored
	taken     bool          // in a statement under way (guarded by the group's mu)
	done      chan struct{} // closed when err is set
	lead      chan struct{} // capacity 1: a statement slot may be free
}

// enqueue stores ds through the group: see enqueueGroup. tokens and committed are
// EnqueueLeased's (nil for Enqueue).
func (s *Store) enqueue(ctx context.Context, ds []queue.Delivery, tokens []string, committed func()) error {
	g := &s.eg
	r := &enqueueReq{ctx: ctx, ds: ds, tokens: tokens, committed: committed, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	for {
		if r.taken {
			g.mu.Unlock()
			<-r.done
			return r.err
		}
		if g.running < enqueueRunners {
			batch := g.pending
			g.pending = nil
			g.running++
			for _, q := range batch {
				q.taken = true
			}
			g.mu.Unlock()
			s.runBatch(batch)
			return r.err // r was queued, so it was in batch
		}
		g.mu.Unlock()
		select {
		case <-r.done:
			return r.err
		case <-r.lead:
		case <-ctx.Done():
		}
		g.mu.Lock()
		if !r.taken && ctx.Err() != nil {
			// Still queued: nothing was sent for it. Leave, passing on a wake-up meant for it.
			for i, q := range g.pending {
				if q == r {
					g.pending = append(g.pending[:i], g.pending[i+1:]...)
					break
				}
			}
			g.signalLocked()
			g.mu.Unlock()
			return ctx.Err()
		}
	}
}

// signalLocked wakes the first queued caller when a statement slot is free. Caller holds mu.
func (g *enqueueGroup) signalLocked() {
	if g.running < enqueueRunners && len(g.pending) > 0 {
		select {
		case g.pending[0].lead <- struct{}{}:
		default:
		}
	}
}

// runBatch runs enqueueBatch in a statement slot taken by the caller, then frees the slot
// for the first call still queued. Every call of batch gets a result, and the slot is
// freed, even if enqueueBatch panics (the panic goes on).
func (s *Store) runBatch(batch []*enqueueReq) {
	g := &s.eg
	defer func() {
		for _, r := range batch {
			if r.err == nil && !r.stored {
				r.err = errEnqueueAborted
			}
			close(r.done)
		}
		g.mu.Lock()
		g.running--
		g.signalLocked()
		g.mu.Unlock()
	}()
	s.enqueueBatch(batch)
}

// errEnqueueAborted is the result of a call whose statement neither stored it nor
// failed with an error (it panicked).
var errEnqueueAborted = errors.New("hookkit/pgqueue: enqueue aborted")

// enqueueBatch stores the deliveries of every call in batch, in one statement when it can,
// and sets each call's result (err, or stored). A call whose context ended before the
// statement was sent is left out, with its context's error: nothing of it is stored.
func (s *Store) enqueueBatch(batch []*enqueueReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
		} else {
			live = append(live, r)
		}
	}
	batch = live
	switch len(batch) {
	case 0:
		return
	case 1:
		s.enqueueAlone(batch[0])
		return
	}
	s.eg.merged.Add(1)
	n, leased := 0, false
	for _, r := range batch {
		n += len(r.ds)
		leased = leased || r.tokens != nil
	}
	all := make([]queue.Delivery, 0, n)
	var tokens []string // with an EnqueueLeased among them: every delivery's token
	if leased {
		tokens = make([]string, 0, n)
	}
	for _, r := range batch {
		all = append(all, r.ds...)
		if leased {
			if r.tokens != nil {
				tokens = append(tokens, r.tokens...)
			} else {
				tokens = append(tokens, make([]string, len(r.ds))...)
			}
		}
	}
	// The statement is everyone's: it is cancelled only once every caller's context ends.
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	var alive atomic.Int64
	alive.Store(int64(len(batch)))
	for _, r := range batch {
		stop := context.AfterFunc(r.ctx, func() {
			if alive.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	in, err := s.prepare(all, tokens, false)
	if err == nil {
		err = s.run(ctx, s.pool, in, true)
		if err == nil {
			var seqs map[string]int64 // only for an EnqueueLeased among them
			if leased {
				seqs = in.seqsByID()
			}
			for _, r := range batch {
				if r.tokens != nil {
					leasedBack(r.ds, r.tokens, seqs)
					if r.committed != nil {
						r.committed()
					}
				}
				r.stored = true
			}
			if anyPending(tokens) {
				s.wakeAfterCommit()
			}
			return
		}
		var pe *pgconn.PgError
		if !errors.Is(err, queue.ErrDuplicateDelivery) && !errors.Is(err, queue.ErrQueueFull) && !errors.As(err, &pe) {
			// The connection failed or the context ended: whether the commit happened is
			// not known, and a call retried alone could be stored twice.
			for _, r := range batch {
				r.err = err
			}
			return
		}
	}
	// The merged statement was refused (by the bound, a duplicate, or the server for one
	// call's data): nothing was stored. Each call alone, in order.
	for _, r := range batch {
		s.enqueueAlone(r)
	}
}

// enqueueAlone stores one call's deliveries in a statement of their own and sets its result.
func (s *Store) enqueueAlone(r *enqueueReq) {
	if r.err = s.enqueueOne(r.ctx, r.ds, r.tokens, r.committed); r.err == nil {
		r.stored = true
	}
}

// enqueueOne stores the deliveries of one Enqueue call in one statement; tokens and
// committed are EnqueueLeased's (nil for Enqueue).
func (s *Store) enqueueOne(ctx context.Context, ds []queue.Delivery, tokens []string, committed func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in, err := s.prepare(ds, tokens, false)
	if err != nil {
		return err
	}
	if err := s.run(ctx, s.pool, in, true); err != nil {
		return err
	}
	if tokens != nil {
		leasedBack(ds, tokens, in.seqsByID())
		if committed != nil {
			committed()
		}
	}
	if anyPending(tokens) {
		s.wakeAfterCommit()
	}
	return nil
}
