package receiver

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// ReserveResult is the answer of SeenStore.Reserve.
type ReserveResult int

const (
	// Reserved means the caller now holds the id: no delivery with this id completed within
	// the retention window and none is in flight. The caller must later Commit or Release it.
	Reserved ReserveResult = iota + 1
	// AlreadySeen means a delivery with this id completed successfully within the retention
	// window: the receiver acknowledges the duplicate without calling the handler.
	AlreadySeen
	// InFlight means another delivery holds the id right now (its lease has not expired).
	InFlight
)

// String returns "reserved", "already-seen" or "in-flight".
func (r ReserveResult) String() string {
	switch r {
	case Reserved:
		return "reserved"
	case AlreadySeen:
		return "already-seen"
	case InFlight:
		return "in-flight"
	}
	return "invalid"
}

// SeenStore remembers the ids of delivered events so that a retried or replayed delivery
// reaches the application handler at most once per retention window. It is a
// reserve/commit/release protocol so that "is it new?" and "I am handling it" are one atomic
// step, even across processes:
//
//   - Reserve atomically claims id for lease (the longest time a handler may run). It returns
//     AlreadySeen if id was committed and its retention has not expired, InFlight if another
//     unexpired reservation exists, and Reserved otherwise.
//   - Commit records id as seen for ttl, replacing the reservation. The receiver calls it only
//     after the application handler answered with a 2xx status.
//   - Release drops a reservation that was not committed (the handler failed), so the
//     sender's retry gets through. Releasing an id that is committed must leave it committed.
//
// A Redis implementation maps to SET id "inflight" NX PX lease (else GET to tell seen from
// in-flight), SET id "seen" PX ttl, and a compare-and-delete of "inflight". Implementations
// must be safe for concurrent use. Errors make the receiver answer 503 so the sender retries.
type SeenStore interface {
	Reserve(ctx context.Context, id string, lease time.Duration) (ReserveResult, error)
	Commit(ctx context.Context, id string, ttl time.Duration) error
	Release(ctx context.Context, id string) error
}

// DefaultMaxEntries is the capacity of a MemoryStore whose MaxEntries is zero.
const DefaultMaxEntries = 100_000

// ErrStoreFull is returned by MemoryStore.Reserve when MaxEntries deliveries are in flight at
// once; the receiver answers 503 so the sender retries.
var ErrStoreFull = errors.New("hookkit/receiver: seen store full of in-flight deliveries")

// MemoryStoreConfig configures NewMemoryStore. The zero value is ready to use.
type MemoryStoreConfig struct {
	// MaxEntries caps the number of ids remembered (seen plus in flight). 0 means
	// DefaultMaxEntries. When the cap is reached the oldest seen id is forgotten first;
	// in-flight reservations are never evicted (Reserve fails with ErrStoreFull instead).
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MemoryStore is the default SeenStore: a bounded in-process map with expiry, safe for
// concurrent use. Committed ids are kept in commit order and evicted oldest first when the
// store is full, so memory stays bounded under any load; expired entries are dropped as new
// ones arrive. It does not survive restarts and is not shared between processes — plug a
// Redis or SQL SeenStore for that.
type MemoryStore struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*memEntry
	order   list.List // of *memEntry that are committed, oldest commit first
}

type memEntry struct {
	id      string
	expires time.Time
	seen    bool          // committed; false: reserved (in flight)
	elem    *list.Element // position in order when seen
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryStoreConfig) *MemoryStore {
	m := &MemoryStore{max: cfg.MaxEntries, now: cfg.Now, entries: make(map[string]*memEntry)}
	if m.max <= 0 {
		m.max = DefaultMaxEntries
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Len returns the number of ids currently held, seen or in flight (expired ones included
// until they are swept).
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Reserve implements SeenStore.
func (m *MemoryStore) Reserve(_ context.Context, id string, lease time.Duration) (ReserveResult, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[id]; ok {
		if now.Before(e.expires) {
			if e.seen {
				return AlreadySeen, nil
			}
			return InFlight, nil
		}
		m.remove(e)
	}
	m.sweep(now)
	if len(m.entries) >= m.max {
		if m.order.Len() == 0 {
			// Everything is in flight: expire stale leases before giving up.
			for _, e := range m.entries {
				if !now.Before(e.expires) {
					m.remove(e)
				}
			}
			if len(m.entries) >= m.max {
				return 0, ErrStoreFull
			}
		} else {
			m.remove(m.order.Front().Value.(*memEntry))
		}
	}
	m.entries[id] = &memEntry{id: id, expires: now.Add(lease)}
	return Reserved, nil
}

// Commit implements SeenStore.
func (m *MemoryStore) Commit(_ context.Context, id string, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	if ok {
		if e.seen {
			m.order.Remove(e.elem)
		}
	} else {
		if len(m.entries) >= m.max && m.order.Len() > 0 {
			m.remove(m.order.Front().Value.(*memEntry))
		}
		e = &memEntry{id: id}
		m.entries[id] = e
	}
	e.seen = true
	e.expires = now.Add(ttl)
	e.elem = m.order.PushBack(e)
	return nil
}

// Release implements SeenStore.
func (m *MemoryStore) Release(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[id]; ok && !e.seen {
		m.remove(e)
	}
	return nil
}

// sweep drops expired committed ids from the front of the commit order. With one TTL for
// all ids (what the receiver uses) the front is always the next to expire.
func (m *MemoryStore) sweep(now time.Time) {
	for i := 0; i < 64; i++ {
		f := m.order.Front()
		if f == nil {
			return
		}
		e := f.Value.(*memEntry)
		if now.Before(e.expires) {
			return
		}
		m.remove(e)
	}
}

func (m *MemoryStore) remove(e *memEntry) {
	if e.seen {
		m.order.Remove(e.elem)
	}
	delete(m.entries, e.id)
}
