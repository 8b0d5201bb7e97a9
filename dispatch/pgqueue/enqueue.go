package pgqueue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// insert is one Enqueue prepared: the statements and their arguments.
type insert struct {
	n      int
	locks  []string // the ordered endpoints, sorted, deduplicated
	sql    string
	args   []any
	hasAtt bool
	leased bool // EnqueueLeased's statement (insertLeased): it returns the IDs and Seqs

	// What the leased statement returned: the IDs and Seqs of the deliveries stored.
	ids  []string
	seqs []int64
}

// prepare checks ds as Enqueue does (ErrInvalidDelivery, ErrDuplicateDelivery within
// ds, ErrQueueFull for a batch larger than the bound) and builds the insert.
// tx says the insert runs in the caller's transaction (insertTx: notifying in it).
// tokens, when not nil, makes it EnqueueLeased's insert: tokens[i] is the lease token of
// ds[i], stored leased until its LeaseExpires, or "" for one stored pending.
func (s *Store) prepare(ds []queue.Delivery, tokens []string, tx bool) (*insert, error) {
	if s.maxPending >= 0 && len(ds) > s.maxPending {
		return nil, queue.ErrQueueFull
	}
	if err := queue.CheckDeliveries(ds, false); err != nil {
		return nil, err
	}
	n := len(ds)
	var (
		ids, eps, evIDs = make([]string, n), make([]string, n), make([]string, n)
		events          = make([][]byte, n)
		ordered         = make([]bool, n)
		created, due    = make([]int64, n), make([]int64, n)
		roundStart, nAt = make([]int32, n), make([]int32, n)
		att             attemptCols
		locks           []string
	)
	for i := range ds {
		d := &ds[i]
		b, err := d.Event.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("hookkit/pgqueue: encode event of %s: %w", d.ID, err)
		}
		ids[i], eps[i], evIDs[i], events[i] = d.ID, d.EndpointID, d.Event.ID(), b
		ordered[i], created[i], due[i] = d.Ordered, sqltime.Nanos(d.Created), sqltime.Nanos(d.Due)
		roundStart[i], nAt[i] = int32(d.RoundStart), int32(len(d.Attempts))
		if d.Ordered {
			locks = append(locks, d.EndpointID)
		}
		att.add(d.ID, d.Attempts)
	}
	if len(locks) > 1 {
		slices.Sort(locks)
		locks = slices.Compact(locks)
	}
	in := &insert{n: n, locks: locks, hasAtt: att.id != nil, leased: tokens != nil}
	in.args = []any{ids, eps, evIDs, events, ordered, created, due, roundStart, nAt}
	if in.leased {
		exps := make([]int64, n)
		for i := range ds {
			if tokens[i] != "" {
				exps[i] = sqltime.Nanos(ds[i].LeaseExpires)
			}
		}
		in.args = append(in.args, tokens, exps)
	}
	bounded, withAtt := 0, 0
	if s.maxPending >= 0 {
		bounded = 1
		in.args = append(in.args, s.maxPending)
	}
	if in.hasAtt {
		withAtt = 1
		in.args = append(in.args, att.args()...)
	}
	switch {
	case in.leased:
		in.sql = s.q.insertLeased[bounded][withAtt]
	case tx:
		in.sql = s.q.insertTx[bounded][withAtt]
	default:
		in.sql = s.q.insert[bounded][withAtt]
	}
	return in, nil
}

// result maps what the insert returned: how many rows it stored (none when the bound
// would be exceeded), or its error (a unique violation of the primary key: a duplicate).
func (s *Store) result(in *insert, stored int, err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == "deliveries":
		return queue.ErrDuplicateDelivery
	case err != nil:
		return fmt.Errorf("hookkit/pgqueue: enqueue: %w", err)
	case stored == 0:
		return queue.ErrQueueFull
	case stored != in.n:
		return fmt.Errorf("hookkit/pgqueue: enqueue: %d of %d deliveries stored", stored, in.n)
	}
	return nil
}

// batcher is what sends a pgx.Batch: the pool (one implicit transaction) or a pgx.Tx.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// run sends in through q in one round trip: the locks on its ordered endpoints, then
// the insert (and, from the pool, a compaction of the counts log when one is due).
func (s *Store) run(ctx context.Context, q batcher, in *insert, compact bool) error {
	b := &pgx.Batch{}
	if compact {
		b.Queue(planSettings) // the Store's own transaction (never the caller's)
	}
	if in.locks != nil {
		b.Queue(s.q.lockEndpoints, s.endpointKey(), in.locks)
	}
	b.Queue(in.sql, in.args...)
	if compact {
		s.queueCompaction(b, 1)
	} else if s.wrote(1) {
		s.owed.Store(true)
	}
	br := q.SendBatch(ctx, b)
	defer br.Close()
	if compact {
		if _, err := br.Exec(); err != nil {
			return s.result(in, 0, err)
		}
	}
	if in.locks != nil {
		if _, err := br.Exec(); err != nil {
			return s.result(in, 0, err)
		}
	}
	var stored int
	dest := []any{&stored}
	if in.leased {
		dest = append(dest, &in.ids, &in.seqs)
	}
	if err := br.QueryRow().Scan(dest...); err != nil {
		return s.result(in, 0, err)
	}
	return s.result(in, stored, br.Close())
}

// Enqueue implements queue.Store in one round trip, in one implicit transaction: all the
// deliveries or none. Concurrent calls share statements: the deliveries of calls made
// while the Store's earlier Enqueue statements run are inserted together, in one
// transaction, each call still all or none and with its own result (a call refused on its
// own — a duplicate, the bound — does not fail the others); a call with ordered
// deliveries has a statement of its own (it may wait for its endpoints' locks, held by an
// open EnqueueTx). A call whose context ends while it waits for its turn returns at once,
// having stored nothing; once its statement is under way it waits for the statement's
// result, which its context cancels only together with every other caller's.
//
// Unless Config.Notify turns sending off, the listeners are woken after the commit, by a
// notification the Store sends on its own and shares between the Enqueues committed
// meanwhile (see the package documentation, Wake-ups).
func (s *Store) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	for i := range ds {
		if ds[i].Ordered {
			// Its endpoint's lock may be held by an application's open EnqueueTx: waiting for
			// it must not hold one of the shared statements (and every call merged into it).
			return s.enqueueOne(ctx, ds, nil, nil)
		}
	}
	return s.enqueue(ctx, ds, nil, nil)
}

// EnqueueLeased implements queue.LeasingEnqueuer: Enqueue, in the same shared statements,
// with each delivery that has a LeaseExpires inserted leased until then under a token of
// its own (a random prefix drawn for the call, as Lease draws one, then its position in
// ds), so that no Lease has to find and update it. The deliveries are visible to other
// calls once durable (Postgres commits them synchronously): committed is called after
// the commit, right before EnqueueLeased returns. Listeners are woken (Config.Notify)
// only when some delivery was stored pending: one stored leased is this caller's until
// its lease expires.
func (s *Store) EnqueueLeased(ctx context.Context, ds []queue.Delivery, committed func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	if err := queue.CheckDeliveries(ds, true); err != nil {
		return err // an ordered delivery with a LeaseExpires among them: only Lease applies the head rule
	}
	var prefix string
	tokens := make([]string, len(ds))
	ordered := false
	for i := range ds {
		d := &ds[i]
		ordered = ordered || d.Ordered
		if d.LeaseExpires.IsZero() {
			continue
		}
		if prefix == "" {
			prefix = leasePrefix() + "e"
		}
		tokens[i] = prefix + strconv.Itoa(i)
	}
	if ordered {
		return s.enqueueOne(ctx, ds, tokens, committed) // as Enqueue: see there
	}
	return s.enqueue(ctx, ds, tokens, committed)
}

// leasePrefix returns a new random prefix for the lease tokens of one call: 16 bytes
// from crypto/rand, base64, then ".".
func leasePrefix() string {
	var random [16]byte
	_, _ = rand.Read(random[:]) // never fails (crypto/rand.Read's documentation)
	return base64.RawURLEncoding.EncodeToString(random[:]) + "."
}

// seqsByID returns the Seq of each delivery the leased statement stored, by ID.
func (in *insert) seqsByID() map[string]int64 {
	m := make(map[string]int64, len(in.ids))
	for i, id := range in.ids {
		m[id] = in.seqs[i]
	}
	return m
}

// leasedBack writes into ds, once stored, each delivery's Seq and its lease token
// ("" for one stored pending), as queue.LeasingEnqueuer asks.
func leasedBack(ds []queue.Delivery, tokens []string, seqs map[string]int64) {
	for i := range ds {
		ds[i].Seq = uint64(seqs[ds[i].ID])
		ds[i].Lease = tokens[i]
	}
}

// anyPending reports whether an insert of deliveries with these tokens (nil: Enqueue's,
// all pending) stores one pending, which the listeners are woken for.
func anyPending(tokens []string) bool {
	return tokens == nil || slices.Contains(tokens, "")
}

// EnqueueTx stores ds in the caller's transaction tx, with every rule of Enqueue
// (queue.ErrInvalidDelivery, queue.ErrDuplicateDelivery, queue.ErrQueueFull): they are
// stored if and only if tx commits, and no Lease sees them before. tx must be a
// transaction on the store's database (the application's pool, or any connection to it).
//
// It takes one round trip. ErrInvalidDelivery, and ErrQueueFull (the bound is checked
// against the committed count, before inserting), leave tx as it was. Any other error,
// ErrDuplicateDelivery included (Postgres reports a unique violation, which aborts the
// transaction), leaves tx aborted, as a failed statement does: roll it back, or call
// EnqueueTx inside a savepoint (tx.Begin) to go on without the deliveries.
//
// Ordered deliveries take a transaction-scoped advisory lock per endpoint, held until tx
// ends: another transaction enqueueing ordered deliveries of the same endpoint waits for
// it (see the package documentation, Ordering across publishers).
//
// Unless Config.Notify turns sending off, the statement also sends the schema's
// notification in tx, delivered by Postgres when tx commits (see the package
// documentation, Wake-ups): call the dispatcher's Notify after the commit for this
// process, the others are woken by it.
func (s *Store) EnqueueTx(ctx context.Context, tx pgx.Tx, ds ...queue.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	in, err := s.prepare(ds, nil, true)
	if err != nil {
		return err
	}
	return s.run(ctx, tx, in, false)
}

// EnqueueSQLTx is EnqueueTx for a database/sql transaction of the pgx driver
// (github.com/jackc/pgx/v5/stdlib, driver name "pgx"). It takes one round trip, two when
// ds has ordered deliveries (the locks first).
func (s *Store) EnqueueSQLTx(ctx context.Context, tx *sql.Tx, ds ...queue.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	if tx == nil {
		return fmt.Errorf("hookkit/pgqueue: EnqueueSQLTx: nil transaction")
	}
	in, err := s.prepare(ds, nil, true)
	if err != nil {
		return err
	}
	if s.wrote(1) {
		s.owed.Store(true)
	}
	if in.locks != nil {
		if _, err := tx.ExecContext(ctx, s.q.lockEndpoints, s.endpointKey(), in.locks); err != nil {
			return s.result(in, 0, err)
		}
	}
	var stored int
	err = tx.QueryRowContext(ctx, in.sql, in.args...).Scan(&stored)
	return s.result(in, stored, err)
}
