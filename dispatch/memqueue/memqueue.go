package memqueue

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
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
}

// Store is the in-memory queue.Store: the dispatch.Dispatcher's default. Deliveries live only as
// long as the process; use a durable queue.Store to survive restarts. Lease and each outcome of
// Complete take O(log n) time: each endpoint keeps a heap of its deliveries by due time
// and the store keeps a heap of endpoints by their earliest due delivery, so leasing skips
// endpoints that cannot run (queue.LeaseRequest.Endpoints) without scanning their deliveries.
// Dead letters do not count against MaxPending; they are kept until requeued or, beyond
// MaxDead, evicted oldest first (queue.DeadEvicter reports which).
type Store struct {
	mu       sync.Mutex
	max      int
	maxDead  int
	items    map[string]*memItem // pending and leased
	dead     map[string]*memItem
	deadQ    deadHeap // dead letters, oldest first
	queues   map[queueKey]*memQueue
	ready    readyHeap // queues whose head can be leased, by head due time
	leases   leaseHeap // leased items by expiry
	seq      uint64
	leaseSeq uint64
	taken    map[string]int // scratch for Lease
	skipped  []*memQueue    // scratch for Lease
}

var (
	_ queue.Store       = (*Store)(nil)
	_ queue.NextDuer    = (*Store)(nil)
	_ queue.DeadEvicter = (*Store)(nil)
)

type queueKey struct {
	endpoint string
	ordered  bool
}

type memItem struct {
	d    queue.Delivery
	q    *memQueue
	qidx int // index in q.items, -1 when not there (leased or dead)
	lidx int // index in the lease heap, -1 when not leased
	didx int // index in the dead heap, -1 when not dead
}

// memQueue holds the pending, not leased deliveries of one endpoint (ordered or not) in a
// heap: by (Due, Seq) for unordered queues, by Seq for ordered ones.
type memQueue struct {
	key    queueKey
	items  []*memItem
	leased int
	hidx   int // index in the ready heap, -1 when not there
}

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
		items:   make(map[string]*memItem),
		dead:    make(map[string]*memItem),
		queues:  make(map[queueKey]*memQueue),
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
	m.mu.Lock()
	defer m.mu.Unlock()
	live := 0
	for _, it := range m.leases {
		if it.d.LeaseExpires.After(now) {
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
	if len(m.ready) > 0 {
		t = m.ready[0].items[0].d.Due
	}
	if len(m.leases) > 0 && (t.IsZero() || m.leases[0].d.LeaseExpires.Before(t)) {
		t = m.leases[0].d.LeaseExpires
	}
	return t, !t.IsZero()
}

// Enqueue implements queue.Store.
func (m *Store) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.max > 0 && len(m.items)+len(ds) > m.max {
		return queue.ErrQueueFull
	}
	var batch map[string]struct{} // duplicate check within large batches
	if len(ds) > 16 {
		batch = make(map[string]struct{}, len(ds))
	}
	for i := range ds {
		d := &ds[i]
		if d.ID == "" || d.EndpointID == "" || d.Event == nil {
			return queue.ErrInvalidDelivery
		}
		if m.items[d.ID] != nil || m.dead[d.ID] != nil {
			return queue.ErrDuplicateDelivery
		}
		if batch != nil {
			if _, dup := batch[d.ID]; dup {
				return queue.ErrDuplicateDelivery
			}
			batch[d.ID] = struct{}{}
			continue
		}
		for j := range i {
			if ds[j].ID == d.ID {
				return queue.ErrDuplicateDelivery
			}
		}
	}
	for i := range ds {
		m.seq++
		it := &memItem{d: ds[i], qidx: -1, lidx: -1, didx: -1}
		it.d.Seq = m.seq
		it.d.Attempts = slices.Clone(it.d.Attempts)
		it.d.Lease, it.d.LeaseExpires = "", time.Time{}
		it.d.DeadReason, it.d.DeadAt = "", time.Time{}
		m.items[it.d.ID] = it
		m.push(it)
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
	m.mu.Lock()
	defer m.mu.Unlock()
	now := req.Now
	// Expired leases make their deliveries visible again.
	for len(m.leases) > 0 && !m.leases[0].d.LeaseExpires.After(now) {
		it := heap.Pop(&m.leases).(*memItem)
		it.d.Lease, it.d.LeaseExpires = "", time.Time{}
		it.q.leased--
		m.push(it)
	}
	var out []queue.Delivery
	clear(m.taken)
	m.skipped = m.skipped[:0]
	for len(out) < req.Max && len(m.ready) > 0 {
		q := m.ready[0]
		if q.items[0].d.Due.After(now) {
			break
		}
		ep := q.key.endpoint
		if req.Endpoints != nil {
			if req.Endpoints[ep]-m.taken[ep] <= 0 {
				heap.Pop(&m.ready)
				m.skipped = append(m.skipped, q)
				continue
			}
			if m.taken == nil {
				m.taken = make(map[string]int)
			}
			m.taken[ep]++
		}
		// One at a time, so that the result is earliest due first across endpoints.
		it := heap.Pop(q).(*memItem)
		m.leaseSeq++
		it.d.Lease = strconv.FormatUint(m.leaseSeq, 36)
		it.d.LeaseExpires = now.Add(req.For)
		q.leased++
		heap.Push(&m.leases, it)
		m.fixQueue(q)
		if out == nil {
			out = make([]queue.Delivery, 0, min(req.Max, 64))
		}
		out = append(out, clone(it.d))
	}
	for _, q := range m.skipped {
		m.fixQueue(q)
	}
	clear(m.skipped)
	m.skipped = m.skipped[:0]
	return out, nil
}

// leased returns the item held under lease, or queue.ErrLeaseLost.
func (m *Store) leased(id, lease string) (*memItem, error) {
	it := m.items[id]
	if it == nil || lease == "" || it.d.Lease != lease {
		return nil, queue.ErrLeaseLost
	}
	heap.Remove(&m.leases, it.lidx)
	it.q.leased--
	it.d.Lease, it.d.LeaseExpires = "", time.Time{}
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
		switch o.Kind {
		case queue.OutcomeAck:
			delete(m.items, o.ID)
			m.fixQueue(it.q)
		case queue.OutcomeReschedule:
			it.d.Due = o.Due
			it.d.Attempts = append(it.d.Attempts, o.Attempts...)
			m.push(it)
		case queue.OutcomeDeadLetter:
			it.d.Attempts = append(it.d.Attempts, o.Attempts...)
			q := it.q
			m.bury(it, o.Reason, now)
			m.fixQueue(q)
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
		buried = append(buried, q.items...)
		for _, it := range q.items {
			it.qidx = -1
		}
		clear(q.items)
		q.items = q.items[:0]
		m.fixQueue(q)
	}
	// One DeadAt for all, in Seq order: the oldest of them (as ListDead orders them) is
	// the first enqueued, and is evicted first.
	slices.SortFunc(buried, func(a, b *memItem) int { return cmp.Compare(a.d.Seq, b.d.Seq) })
	for _, it := range buried {
		m.bury(it, reason, now)
	}
	m.evict(evicted)
	return len(buried), nil
}

// bury makes a pending item, already out of its queue, a dead letter.
func (m *Store) bury(it *memItem, reason string, now time.Time) {
	delete(m.items, it.d.ID)
	it.d.DeadReason = reason
	it.d.DeadAt = now
	it.q = nil
	m.dead[it.d.ID] = it
	heap.Push(&m.deadQ, it)
}

// evict deletes the oldest dead letters beyond the bound, appending them to evicted when
// it is not nil.
func (m *Store) evict(evicted *[]queue.Delivery) {
	if m.maxDead < 0 {
		return
	}
	for len(m.deadQ) > m.maxDead {
		it := heap.Pop(&m.deadQ).(*memItem)
		delete(m.dead, it.d.ID)
		if evicted != nil {
			*evicted = append(*evicted, it.d)
		}
	}
}

// ListPending implements queue.Store.
func (m *Store) ListPending(_ context.Context, f queue.ListFilter) (queue.Page, error) {
	return m.list(m.items, f, func(d *queue.Delivery) time.Time { return d.Due })
}

// ListDead implements queue.Store.
func (m *Store) ListDead(_ context.Context, f queue.ListFilter) (queue.Page, error) {
	return m.list(m.dead, f, func(d *queue.Delivery) time.Time { return d.DeadAt })
}

// list returns the page of items that f selects, ordered by (at, Seq).
func (m *Store) list(items map[string]*memItem, f queue.ListFilter, at func(*queue.Delivery) time.Time) (queue.Page, error) {
	var afterAt time.Time
	var afterSeq uint64
	if f.After != "" {
		var err error
		if afterAt, afterSeq, err = queue.ParseCursor(f.After); err != nil {
			return queue.Page{}, err
		}
	}
	m.mu.Lock()
	var sel []*memItem
	for _, it := range items {
		d := &it.d
		if (f.EndpointID == "" || d.EndpointID == f.EndpointID) &&
			(f.EventID == "" || d.Event.ID() == f.EventID) &&
			(f.After == "" || after(at(d), d.Seq, afterAt, afterSeq)) {
			sel = append(sel, it)
		}
	}
	slices.SortFunc(sel, func(a, b *memItem) int {
		if c := at(&a.d).Compare(at(&b.d)); c != 0 {
			return c
		}
		return cmp.Compare(a.d.Seq, b.d.Seq)
	})
	more := f.Limit > 0 && len(sel) > f.Limit
	if more {
		sel = sel[:f.Limit]
	}
	var p queue.Page
	if len(sel) > 0 {
		p.Deliveries = make([]queue.Delivery, len(sel))
		for i, it := range sel {
			p.Deliveries[i] = clone(it.d)
		}
	}
	m.mu.Unlock()
	if more {
		last := &p.Deliveries[len(p.Deliveries)-1]
		p.Next = queue.Cursor(at(last), last.Seq)
	}
	return p, nil
}

// after reports whether (t, seq) comes after (at, atSeq) in a listing's order.
func after(t time.Time, seq uint64, at time.Time, atSeq uint64) bool {
	if c := t.Compare(at); c != 0 {
		return c > 0
	}
	return seq > atSeq
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
			if sel.EndpointID == "" || it.d.EndpointID == sel.EndpointID {
				picked = append(picked, it)
			}
		}
	}
	if m.max > 0 && len(m.items)+len(picked) > m.max {
		return 0, queue.ErrQueueFull
	}
	// Keep publish order among the requeued deliveries.
	slices.SortFunc(picked, func(a, b *memItem) int { return cmp.Compare(a.d.Seq, b.d.Seq) })
	for _, it := range picked {
		delete(m.dead, it.d.ID)
		heap.Remove(&m.deadQ, it.didx)
		it.d.DeadReason, it.d.DeadAt = "", time.Time{}
		it.d.RoundStart = len(it.d.Attempts)
		it.d.Due = due
		m.items[it.d.ID] = it
		m.push(it)
	}
	return len(picked), nil
}

// push puts a pending, not leased item into its queue.
func (m *Store) push(it *memItem) {
	key := queueKey{it.d.EndpointID, it.d.Ordered}
	q := m.queues[key]
	if q == nil {
		q = &memQueue{key: key, hidx: -1}
		m.queues[key] = q
	}
	it.q = q
	heap.Push(q, it)
	m.fixQueue(q)
}

// fixQueue puts q in the ready heap, moves it, or takes it out, after its head or lease
// count changed; empty idle queues are forgotten.
func (m *Store) fixQueue(q *memQueue) {
	readyNow := len(q.items) > 0 && !(q.key.ordered && q.leased > 0)
	switch {
	case readyNow && q.hidx < 0:
		heap.Push(&m.ready, q)
	case readyNow:
		heap.Fix(&m.ready, q.hidx)
	case q.hidx >= 0:
		heap.Remove(&m.ready, q.hidx)
	}
	if len(q.items) == 0 && q.leased == 0 && m.queues[q.key] == q {
		delete(m.queues, q.key)
	}
}

// clone copies d with its own Attempts slice.
func clone(d queue.Delivery) queue.Delivery {
	d.Attempts = slices.Clone(d.Attempts)
	return d
}

// heap.Interface for the items of one queue.
func (q *memQueue) Len() int { return len(q.items) }
func (q *memQueue) Less(i, j int) bool {
	a, b := &q.items[i].d, &q.items[j].d
	if !q.key.ordered {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c < 0
		}
	}
	return a.Seq < b.Seq
}
func (q *memQueue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.items[i].qidx, q.items[j].qidx = i, j
}
func (q *memQueue) Push(x any) {
	it := x.(*memItem)
	it.qidx = len(q.items)
	q.items = append(q.items, it)
}
func (q *memQueue) Pop() any {
	n := len(q.items) - 1
	it := q.items[n]
	q.items[n] = nil
	q.items = q.items[:n]
	it.qidx = -1
	return it
}

// readyHeap orders queues by the due time of their head.
type readyHeap []*memQueue

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	a, b := &h[i].items[0].d, &h[j].items[0].d
	if c := a.Due.Compare(b.Due); c != 0 {
		return c < 0
	}
	return a.Seq < b.Seq
}
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *readyHeap) Push(x any) {
	q := x.(*memQueue)
	q.hidx = len(*h)
	*h = append(*h, q)
}
func (h *readyHeap) Pop() any {
	old := *h
	n := len(old) - 1
	q := old[n]
	old[n] = nil
	*h = old[:n]
	q.hidx = -1
	return q
}

// deadHeap orders dead letters as ListDead does: by DeadAt, then Seq.
type deadHeap []*memItem

func (h deadHeap) Len() int { return len(h) }
func (h deadHeap) Less(i, j int) bool {
	a, b := &h[i].d, &h[j].d
	if c := a.DeadAt.Compare(b.DeadAt); c != 0 {
		return c < 0
	}
	return a.Seq < b.Seq
}
func (h deadHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].didx, h[j].didx = i, j
}
func (h *deadHeap) Push(x any) {
	it := x.(*memItem)
	it.didx = len(*h)
	*h = append(*h, it)
}
func (h *deadHeap) Pop() any {
	old := *h
	n := len(old) - 1
	it := old[n]
	old[n] = nil
	*h = old[:n]
	it.didx = -1
	return it
}

// leaseHeap orders leased items by lease expiry.
type leaseHeap []*memItem

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].d.LeaseExpires.Before(h[j].d.LeaseExpires) }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].lidx, h[j].lidx = i, j
}
func (h *leaseHeap) Push(x any) {
	it := x.(*memItem)
	it.lidx = len(*h)
	*h = append(*h, it)
}
func (h *leaseHeap) Pop() any {
	old := *h
	n := len(old) - 1
	it := old[n]
	old[n] = nil
	*h = old[:n]
	it.lidx = -1
	return it
}
