package memqueue

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// DefaultMaxPending is the bound on pending deliveries of a Store when
// Config.MaxPending is zero.
const DefaultMaxPending = 100_000

// DefaultMaxDead is the bound on dead letters of a Store when
// Config.MaxDead is zero.
const DefaultMaxDead = 10_000

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// MaxPending bounds the pending (including leased) deliveries; Enqueue and Requeue
	// return queue.ErrQueueFull beyond it. 0 means DefaultMaxPending; negative means no bound.
	MaxPending int
	// MaxDead bounds the dead letters: when a new one would exceed it, the oldest (earliest
	// DeadAt, then lowest Seq) is evicted — deleted and forgotten — to make room, and
	// reported through queue.DeadEvicter. 0 means DefaultMaxDead; negative means no bound.
	MaxDead int
	// Journal, when not nil, is told every change the Store makes to its deliveries
	// (enqueued, acknowledged, rescheduled, buried, evicted, requeued), in the order it
	// makes them, while the Store's lock is held, so that it must be quick and must not
	// call the Store. Leases are not changes: a durable store that writes the changes out
	// and rebuilds a Store with Load after a restart has every pending delivery leasable
	// at once. sqlitequeue's Exclusive mode is built so.
	Journal func(*Change)
}

// Store is the in-memory queue.Store: the dispatch.Dispatcher's default. Deliveries live only as
// long as the process; use a durable queue.Store to survive restarts. Lease and each outcome of
// Complete take O(log n) time: each endpoint keeps a heap of its deliveries by due time
// and the store keeps a heap of endpoints by their earliest due delivery, so leasing skips
// endpoints that cannot run (queue.LeaseRequest.Endpoints) without scanning their deliveries.
// Dead letters do not count against MaxPending; they are kept until requeued or, beyond
// MaxDead, evicted oldest first (queue.DeadEvicter reports which).
//
// A pending delivery costs the store about 115 bytes of heap of its own (a 64-byte record,
// its share of the ID map and of its endpoint's heap), besides its ID and its event (which
// the deliveries of one Publish share). Like a durable store, it keeps times as Unix
// nanoseconds: it gives back the same instant (time.Time.Equal) in time.Local, without a
// monotonic reading; the zero time stays zero, and a time before 1678 or after 2262 (beyond
// time.Time.UnixNano) is kept as the nearest instant within those years.
type Store struct {
	mu       sync.Mutex
	max      int
	maxDead  int
	items    map[string]*memItem // pending and leased
	dead     map[string]*memItem
	deadQ    indexedHeap[*memItem] // dead letters, oldest first
	queues   map[queueKey]*memQueue
	ready    indexedHeap[*memQueue]  // queues whose head can be leased, by head due time
	leases   indexedHeap[leaseEntry] // live and expired leases, by expiry
	seq      uint64
	leaseSeq uint64
	taken    map[string]int // scratch for Lease
	skipped  []*memQueue    // scratch for Lease
	journal  func(*Change)
	jc       Change         // scratch for journal, reused under mu
	jd       queue.Delivery // scratch for jc.Delivery
}

var (
	_ queue.Store       = (*Store)(nil)
	_ queue.NextDuer    = (*Store)(nil)
	_ queue.DeadEvicter = (*Store)(nil)

	_ queue.LeasingEnqueuer = (*Store)(nil)
)

type queueKey struct {
	endpoint string
	ordered  bool
}

// memItem is a delivery in the store, kept small: a pending delivery without attempts that
// was due when created is these 64 bytes and nothing more. What few deliveries have is in
// more; a lease is in the lease heap (leaseEntry).
type memItem struct {
	id   string
	ev   *event.Encoded
	q    *memQueue // the queue of its endpoint and ordering; for a dead letter, its last one
	seq  uint64
	due  instant
	more *memMore // nil while Created is Due, there are no attempts and RoundStart is 0
	idx  int      // index in the lease heap while leased, in the dead heap while dead; else -1
}

// memMore holds the fields of a delivery that few have. created is authoritative once more
// exists (before, Created is Due); the dead fields are set while the delivery is dead.
type memMore struct {
	created    instant
	attempts   []queue.Attempt
	roundStart int
	deadReason string
	deadAt     instant
}

// leaseEntry is a lease: its item, its expiry and its token, the base-36 digits of lease.
type leaseEntry struct {
	it      *memItem
	expires instant
	lease   uint64
}

// token returns e's lease token.
func (e *leaseEntry) token() string { return strconv.FormatUint(e.lease, 36) }

// is reports whether token is e's lease token.
func (e *leaseEntry) is(token string) bool {
	var buf [13]byte // the base-36 digits of any uint64
	return string(strconv.AppendUint(buf[:0], e.lease, 36)) == token
}

// memQueue holds the pending, not leased deliveries of one endpoint (ordered or not) in a
// heap: by (due, seq) for unordered queues, by seq for ordered ones.
type memQueue struct {
	key    queueKey
	items  indexedHeap[*memItem]
	leased int
	hidx   int // index in the ready heap, -1 when not there
}

// instant is a time as the store keeps it: Unix nanoseconds (see Store).
type instant int64

// noTime is the instant of the zero time.Time.
const noTime = instant(sqltime.Zero)

// toInstant returns t as the store keeps it: sqltime.Nanos, clamped the same way.
func toInstant(t time.Time) instant { return instant(sqltime.Nanos(t)) }

// time returns i as a time.Time in time.Local (not sqltime.FromNanos, which is in UTC):
// the zero time for noTime.
func (i instant) time() time.Time {
	if i == noTime {
		return time.Time{}
	}
	return time.Unix(0, int64(i))
}

func (it *memItem) created() instant {
	if it.more != nil {
		return it.more.created
	}
	return it.due
}

// extra returns it.more, made first if need be.
func (it *memItem) extra() *memMore {
	if it.more == nil {
		it.more = &memMore{created: it.due}
	}
	return it.more
}

// setDue is the one way to change the due time of an item once enqueued: it keeps Created.
func (it *memItem) setDue(due instant) {
	if it.more == nil && due == it.due {
		return
	}
	it.extra()
	it.due = due
}

func (it *memItem) addAttempts(as []queue.Attempt) {
	if len(as) > 0 {
		x := it.extra()
		x.attempts = append(x.attempts, as...)
	}
}

// The orders of the heaps.
func byDue(a, b *memItem) bool { return a.due < b.due || a.due == b.due && a.seq < b.seq }
func bySeq(a, b *memItem) bool { return a.seq < b.seq }
func byHead(a, b *memQueue) bool {
	return byDue(a.items.s[0], b.items.s[0])
}
func byDeadAt(a, b *memItem) bool {
	x, y := a.more.deadAt, b.more.deadAt
	return x < y || x == y && a.seq < b.seq
}
func byExpiry(a, b leaseEntry) bool { return a.expires < b.expires }

// New returns an empty Store.
func New(cfg Config) *Store {
	max := cfg.MaxPending
	if max == 0 {
		max = DefaultMaxPending
	}
	maxDead := cfg.MaxDead
	if maxDead == 0 {
		maxDead = DefaultMaxDead
	}
	return &Store{
		max:     max,
		maxDead: maxDead,
		journal: cfg.Journal,
		items:   make(map[string]*memItem),
		dead:    make(map[string]*memItem),
		deadQ:   indexedHeap[*memItem]{less: byDeadAt, moved: func(it *memItem, i int) { it.idx = i }},
		queues:  make(map[queueKey]*memQueue),
		ready:   indexedHeap[*memQueue]{less: byHead, moved: func(q *memQueue, i int) { q.hidx = i }},
		leases:  indexedHeap[leaseEntry]{less: byExpiry, moved: func(e leaseEntry, i int) { e.it.idx = i }},
	}
}

// Len returns the number of pending (including leased) deliveries and of dead letters.
func (m *Store) Len() (pending, dead int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items), len(m.dead)
}

// Stats implements queue.Store.
func (m *Store) Stats(_ context.Context, now time.Time) (queue.Stats, error) {
	at := toInstant(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	live := 0
	for _, e := range m.leases.s {
		if e.expires > at {
			live++
		}
	}
	return queue.Stats{Pending: len(m.items) - live, Leased: live, Dead: len(m.dead)}, nil
}

// NextDue implements queue.NextDuer.
func (m *Store) NextDue(context.Context) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var t time.Time
	if len(m.ready.s) > 0 {
		t = m.ready.s[0].items.s[0].due.time()
	}
	if len(m.leases.s) > 0 {
		if exp := m.leases.s[0].expires.time(); t.IsZero() || exp.Before(t) {
			t = exp
		}
	}
	return t, !t.IsZero()
}

// Enqueue implements queue.Store.
func (m *Store) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	return m.enqueue(ctx, ds, false)
}

// EnqueueLeased implements queue.LeasingEnqueuer. committed runs in the caller's
// goroutine, after the store's lock is released.
func (m *Store) EnqueueLeased(ctx context.Context, ds []queue.Delivery, committed func()) error {
	if err := m.enqueue(ctx, ds, true); err != nil {
		return err
	}
	if committed != nil {
		committed()
	}
	return nil
}

// enqueue is Enqueue, and with leasing EnqueueLeased.
func (m *Store) enqueue(ctx context.Context, ds []queue.Delivery, leasing bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	if err := queue.CheckDeliveries(ds, leasing); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.max > 0 && len(m.items)+len(ds) > m.max {
		return queue.ErrQueueFull
	}
	for i := range ds {
		if m.items[ds[i].ID] != nil || m.dead[ds[i].ID] != nil {
			return queue.ErrDuplicateDelivery
		}
	}
	for i := range ds {
		d := &ds[i]
		m.seq++
		it := &memItem{id: d.ID, ev: d.Event, seq: m.seq, due: toInstant(d.Due), idx: -1}
		if created := toInstant(d.Created); created != it.due || len(d.Attempts) > 0 || d.RoundStart != 0 {
			it.more = &memMore{created: created, attempts: slices.Clone(d.Attempts), roundStart: d.RoundStart}
		}
		m.items[d.ID] = it
		if m.journal != nil {
			m.jd = *d
			m.jd.Seq, m.jd.Lease, m.jd.LeaseExpires = it.seq, "", time.Time{}
			m.tell(Change{Kind: ChangeEnqueued, Seq: it.seq, ID: it.id, Delivery: &m.jd})
		}
		if !leasing {
			m.push(it, queueKey{d.EndpointID, d.Ordered})
			continue
		}
		d.Seq, d.Lease = it.seq, ""
		if d.LeaseExpires.IsZero() {
			m.push(it, queueKey{d.EndpointID, d.Ordered})
			continue
		}
		q := m.queue(queueKey{d.EndpointID, false})
		it.q = q
		q.leased++
		m.leaseSeq++
		e := leaseEntry{it: it, expires: toInstant(d.LeaseExpires), lease: m.leaseSeq}
		m.leases.push(e)
		d.Lease = e.token()
	}
	return nil
}

// Lease implements queue.Store.
func (m *Store) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.Max <= 0 || req.For <= 0 {
		return nil, nil
	}
	now, expires := toInstant(req.Now), toInstant(req.Now.Add(req.For))
	m.mu.Lock()
	defer m.mu.Unlock()
	// Expired leases make their deliveries visible again.
	for len(m.leases.s) > 0 && m.leases.s[0].expires <= now {
		it := m.leases.pop().it
		it.q.leased--
		m.push(it, it.q.key)
	}
	var out []queue.Delivery
	clear(m.taken)
	m.skipped = m.skipped[:0]
	for len(out) < req.Max && len(m.ready.s) > 0 {
		q := m.ready.s[0]
		if q.items.s[0].due > now {
			break
		}
		ep := q.key.endpoint
		if req.Endpoints != nil {
			if req.Endpoints[ep]-m.taken[ep] <= 0 {
				m.ready.pop()
				m.skipped = append(m.skipped, q)
				continue
			}
			if m.taken == nil {
				m.taken = make(map[string]int)
			}
			m.taken[ep]++
		}
		// One at a time, so that the result is earliest due first across endpoints.
		it := q.items.pop()
		m.leaseSeq++
		q.leased++
		m.leases.push(leaseEntry{it: it, expires: expires, lease: m.leaseSeq})
		m.fixQueue(q)
		if out == nil {
			out = make([]queue.Delivery, 0, min(req.Max, 64))
		}
		out = append(out, m.delivery(it, false))
	}
	for _, q := range m.skipped {
		m.fixQueue(q)
	}
	clear(m.skipped)
	m.skipped = m.skipped[:0]
	return out, nil
}

// leased returns the item held under lease, its lease ended, or queue.ErrLeaseLost.
func (m *Store) leased(id, lease string) (*memItem, error) {
	it := m.items[id]
	if it == nil || it.idx < 0 || !m.leases.s[it.idx].is(lease) {
		return nil, queue.ErrLeaseLost
	}
	m.leases.remove(it.idx)
	it.q.leased--
	return it, nil
}

// Complete implements queue.Store. The outcomes are applied in order, under one lock.
func (m *Store) Complete(ctx context.Context, now time.Time, outcomes ...queue.Outcome) ([]error, error) {
	errs, _, err := m.complete(ctx, now, outcomes, nil)
	return errs, err
}

// CompleteEvicting implements queue.DeadEvicter.
func (m *Store) CompleteEvicting(ctx context.Context, now time.Time, outcomes ...queue.Outcome) ([]error, []queue.Delivery, error) {
	var evicted []queue.Delivery
	return m.complete(ctx, now, outcomes, &evicted)
}

func (m *Store) complete(ctx context.Context, now time.Time, outcomes []queue.Outcome, evicted *[]queue.Delivery) ([]error, []queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if len(outcomes) == 0 {
		return nil, nil, nil
	}
	errs := make([]error, len(outcomes))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range outcomes {
		o := &outcomes[i]
		switch o.Kind {
		case queue.OutcomeAck, queue.OutcomeReschedule, queue.OutcomeDeadLetter:
		default:
			errs[i] = queue.ErrInvalidOutcome
			continue
		}
		it, err := m.leased(o.ID, o.Lease)
		if err != nil {
			errs[i] = err
			continue
		}
		history := it.history()
		switch o.Kind {
		case queue.OutcomeAck:
			delete(m.items, o.ID)
			m.fixQueue(it.q)
			if m.journal != nil {
				m.tell(Change{Kind: ChangeAcked, Seq: it.seq, ID: it.id, History: history})
			}
		case queue.OutcomeReschedule:
			it.setDue(toInstant(o.Due))
			it.addAttempts(o.Attempts)
			m.push(it, it.q.key)
			if m.journal != nil {
				m.tell(Change{Kind: ChangeRescheduled, Seq: it.seq, ID: it.id, History: history, Due: it.due.time(), Attempts: o.Attempts})
			}
		case queue.OutcomeDeadLetter:
			it.addAttempts(o.Attempts)
			m.bury(it, o.Reason, toInstant(now))
			m.fixQueue(it.q)
			if m.journal != nil {
				m.tell(Change{Kind: ChangeBuried, Seq: it.seq, ID: it.id, History: history, Attempts: o.Attempts,
					Reason: o.Reason, At: it.more.deadAt.time()})
			}
		}
	}
	m.evict(evicted)
	if evicted != nil {
		return errs, *evicted, nil
	}
	return errs, nil, nil
}

// DeadLetterEndpoint implements queue.Store.
func (m *Store) DeadLetterEndpoint(_ context.Context, now time.Time, endpointID, reason string) (int, error) {
	return m.deadLetterEndpoint(now, endpointID, reason, nil)
}

// DeadLetterEndpointEvicting implements queue.DeadEvicter.
func (m *Store) DeadLetterEndpointEvicting(_ context.Context, now time.Time, endpointID, reason string) (int, []queue.Delivery, error) {
	var evicted []queue.Delivery
	n, err := m.deadLetterEndpoint(now, endpointID, reason, &evicted)
	return n, evicted, err
}

func (m *Store) deadLetterEndpoint(now time.Time, endpointID, reason string, evicted *[]queue.Delivery) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var buried []*memItem
	for _, ordered := range []bool{false, true} {
		q := m.queues[queueKey{endpointID, ordered}]
		if q == nil {
			continue
		}
		buried = append(buried, q.items.s...)
		clear(q.items.s)
		q.items.s = q.items.s[:0]
		m.fixQueue(q)
	}
	// One DeadAt for all, in Seq order: the oldest of them (as ListDead orders them) is
	// the first enqueued, and is evicted first.
	slices.SortFunc(buried, func(a, b *memItem) int { return cmp.Compare(a.seq, b.seq) })
	at := toInstant(now)
	for _, it := range buried {
		m.bury(it, reason, at)
		if m.journal != nil {
			m.tell(Change{Kind: ChangeBuried, Seq: it.seq, ID: it.id, History: it.history(), Reason: reason, At: at.time()})
		}
	}
	m.evict(evicted)
	return len(buried), nil
}

// bury makes a pending item, already out of its queue and lease, a dead letter.
func (m *Store) bury(it *memItem, reason string, now instant) {
	delete(m.items, it.id)
	x := it.extra()
	x.deadReason, x.deadAt = reason, now
	m.dead[it.id] = it
	m.deadQ.push(it)
}

// evict deletes the oldest dead letters beyond the bound, appending them to evicted when
// it is not nil.
func (m *Store) evict(evicted *[]queue.Delivery) {
	if m.maxDead < 0 {
		return
	}
	for len(m.deadQ.s) > m.maxDead {
		it := m.deadQ.pop()
		delete(m.dead, it.id)
		if m.journal != nil {
			m.tell(Change{Kind: ChangeEvicted, Seq: it.seq, ID: it.id, History: it.history()})
		}
		if evicted != nil {
			*evicted = append(*evicted, m.delivery(it, true))
		}
	}
}

// delivery returns a new queue.Delivery of a pending or leased item, or of a dead one.
func (m *Store) delivery(it *memItem, dead bool) queue.Delivery {
	d := queue.Delivery{
		ID:         it.id,
		EndpointID: it.q.key.endpoint,
		Event:      it.ev,
		Ordered:    it.q.key.ordered,
		Seq:        it.seq,
		Created:    it.created().time(),
		Due:        it.due.time(),
	}
	if x := it.more; x != nil {
		d.Attempts = slices.Clone(x.attempts)
		d.RoundStart = x.roundStart
		if dead {
			d.DeadReason, d.DeadAt = x.deadReason, x.deadAt.time()
		}
	}
	if !dead && it.idx >= 0 {
		e := &m.leases.s[it.idx]
		d.Lease, d.LeaseExpires = e.token(), e.expires.time()
	}
	return d
}

// ListPending implements queue.Store.
func (m *Store) ListPending(_ context.Context, f queue.ListFilter) (queue.Page, error) {
	return m.list(m.items, f, false)
}

// ListDead implements queue.Store.
func (m *Store) ListDead(_ context.Context, f queue.ListFilter) (queue.Page, error) {
	return m.list(m.dead, f, true)
}

// list returns the page of items that f selects, ordered by (at, seq): at is the due time
// of pending items, the time of death of dead ones.
func (m *Store) list(items map[string]*memItem, f queue.ListFilter, dead bool) (queue.Page, error) {
	at := func(it *memItem) instant { return it.due }
	if dead {
		at = func(it *memItem) instant { return it.more.deadAt }
	}
	var afterAt instant
	var afterSeq uint64
	if f.After != "" {
		t, seq, err := queue.ParseCursor(f.After)
		if err != nil {
			return queue.Page{}, err
		}
		afterAt, afterSeq = toInstant(t), seq
	}
	m.mu.Lock()
	var sel []*memItem
	for _, it := range items {
		if (f.EndpointID == "" || it.q.key.endpoint == f.EndpointID) &&
			(f.EventID == "" || it.ev.ID() == f.EventID) &&
			(f.After == "" || at(it) > afterAt || at(it) == afterAt && it.seq > afterSeq) {
			sel = append(sel, it)
		}
	}
	slices.SortFunc(sel, func(a, b *memItem) int {
		if c := cmp.Compare(at(a), at(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	more := f.Limit > 0 && len(sel) > f.Limit
	if more {
		sel = sel[:f.Limit]
	}
	var p queue.Page
	if len(sel) > 0 {
		p.Deliveries = make([]queue.Delivery, len(sel))
		for i, it := range sel {
			p.Deliveries[i] = m.delivery(it, dead)
		}
	}
	if more {
		last := sel[len(sel)-1]
		p.Next = queue.Cursor(at(last).time(), last.seq)
	}
	m.mu.Unlock()
	return p, nil
}

// Requeue implements queue.Store.
func (m *Store) Requeue(_ context.Context, sel queue.Selector, due time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var picked []*memItem
	switch {
	case sel.ID != "":
		it := m.dead[sel.ID]
		if it == nil {
			return 0, queue.ErrNotFound
		}
		picked = append(picked, it)
	default:
		for _, it := range m.dead {
			if sel.EndpointID == "" || it.q.key.endpoint == sel.EndpointID {
				picked = append(picked, it)
			}
		}
	}
	if m.max > 0 && len(m.items)+len(picked) > m.max {
		return 0, queue.ErrQueueFull
	}
	// Keep publish order among the requeued deliveries.
	slices.SortFunc(picked, func(a, b *memItem) int { return cmp.Compare(a.seq, b.seq) })
	for _, it := range picked {
		delete(m.dead, it.id)
		m.deadQ.remove(it.idx)
		x := it.more // a dead letter has one
		x.deadReason, x.deadAt = "", 0
		x.roundStart = len(x.attempts)
		it.setDue(toInstant(due))
		m.items[it.id] = it
		m.push(it, it.q.key)
		if m.journal != nil {
			m.tell(Change{Kind: ChangeRequeued, Seq: it.seq, ID: it.id, History: it.history(), Due: it.due.time(), RoundStart: x.roundStart})
		}
	}
	return len(picked), nil
}

// push puts a pending, not leased item into the queue of key.
func (m *Store) push(it *memItem, key queueKey) {
	q := m.queue(key)
	it.q = q
	q.items.push(it)
	m.fixQueue(q)
}

// queue returns the queue of key, made if there is none.
func (m *Store) queue(key queueKey) *memQueue {
	q := m.queues[key]
	if q == nil {
		q = &memQueue{key: key, hidx: -1, items: indexedHeap[*memItem]{less: byDue}}
		if key.ordered {
			q.items.less = bySeq
		}
		m.queues[key] = q
	}
	return q
}

// fixQueue puts q in the ready heap, moves it, or takes it out, after its head or lease
// count changed; empty idle queues are forgotten (a dead letter may still name its last
// queue: its storage is released).
func (m *Store) fixQueue(q *memQueue) {
	readyNow := len(q.items.s) > 0 && !(q.key.ordered && q.leased > 0)
	switch {
	case readyNow && q.hidx < 0:
		m.ready.push(q)
	case readyNow:
		m.ready.fix(q.hidx)
	case q.hidx >= 0:
		m.ready.remove(q.hidx)
	}
	if len(q.items.s) == 0 && q.leased == 0 && m.queues[q.key] == q {
		delete(m.queues, q.key)
		q.items.s = nil
	}
}

// indexedHeap is a binary min-heap of Ts ordered by less. moved, when not nil, is told the
// new index of every element that moves, and -1 for one that leaves, so that an element
// can be fixed or removed where it is.
type indexedHeap[T any] struct {
	s     []T
	less  func(a, b T) bool
	moved func(x T, i int)
}

func (h *indexedHeap[T]) push(x T) {
	h.s = append(h.s, x)
	i := len(h.s) - 1
	if h.moved != nil {
		h.moved(x, i)
	}
	h.up(i)
}

func (h *indexedHeap[T]) pop() T { return h.remove(0) }

// remove takes out and returns the element at index i.
func (h *indexedHeap[T]) remove(i int) T {
	n := len(h.s) - 1
	if i != n {
		h.swap(i, n)
	}
	x := h.s[n]
	var zero T
	h.s[n] = zero
	h.s = h.s[:n]
	if i != n {
		h.fix(i)
	}
	if h.moved != nil {
		h.moved(x, -1)
	}
	return x
}

// fix restores the heap order after the element at index i changed.
func (h *indexedHeap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *indexedHeap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(h.s[j], h.s[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

// down moves the element at index i0 down and reports whether it moved.
func (h *indexedHeap[T]) down(i0 int) bool {
	i, n := i0, len(h.s)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if r := j + 1; r < n && h.less(h.s[r], h.s[j]) {
			j = r
		}
		if !h.less(h.s[j], h.s[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

func (h *indexedHeap[T]) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	if h.moved != nil {
		h.moved(h.s[i], i)
		h.moved(h.s[j], j)
	}
}
