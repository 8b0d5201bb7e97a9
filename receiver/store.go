package receiver

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// ReserveResult is the answer of SeenStore.Reserve.
type ReserveResult int

const (
	// Reserved means the caller now holds the id: no delivery with this id completed within
	// the retention window and none is in flight. The caller must later Commit or Release it
	// with the token Reserve returned.
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
// step, even across processes, and every reservation has an owner, named by a token:
//
//   - Reserve atomically claims id for lease. It returns AlreadySeen if id was committed and
//     its retention has not expired, InFlight if another unexpired reservation exists, and
//     otherwise Reserved with a token: an opaque string, unique to this reservation, that
//     Commit and Release present. The token is "" unless the result is Reserved.
//   - Commit records id as seen for ttl; the receiver calls it only after the application
//     handler answered with a 2xx status. When token still holds the reservation, the
//     reservation becomes the seen record. When it does not — the lease expired, and another
//     delivery may have reserved or committed the id since — Commit records the id as seen
//     all the same (the handler did succeed, and a seen id only stops further runs) and
//     returns ErrLeaseLost to say that a second run may have happened.
//   - Release drops the reservation if, and only if, token still holds it (compare and
//     delete), so that after a failed handler the sender's retry gets through. A late
//     Release, from a delivery whose lease expired and whose id another delivery reserved
//     since, leaves that reservation alone; releasing an id that is committed leaves it
//     committed. Releasing a reservation that is no longer held is not an error.
//
// The lease is how long a reservation protects a running handler, so it must exceed the
// longest time the handler runs (Config.Lease; DefaultLease, 2 minutes, when zero). The
// receiver commits or releases the id as soon as the handler returns, so a lease only runs
// out when the handler outlives it or the process dies mid-delivery. A handler that outlives
// its lease is not stopped: a retry of the delivery arriving after the lease expired reserves
// the id and runs the handler again, concurrently. The tokens keep it at that: the late
// delivery's Release cannot free the retry's reservation (which would let a third copy in),
// and its Commit still records the id as seen.
//
// A Redis implementation maps to: Reserve = SET id "r:"+token NX PX lease with a random
// 128-bit token (when the SET fails, GET tells seen from in flight); Commit = a script that
// GETs id, SETs id "seen" PX ttl and reports whether the old value was "r:"+token
// (ErrLeaseLost when it was not); Release = a script that DELetes id only if its value is
// "r:"+token. Implementations must be safe for concurrent use. A Reserve error makes the
// receiver answer 503 so the sender retries; Commit and Release errors are logged, and after
// a failed Commit the receiver releases the id so the retry is handled.
type SeenStore interface {
	// Reserve claims id for lease and, when the result is Reserved, returns the token that
	// owns the reservation.
	Reserve(ctx context.Context, id string, lease time.Duration) (res ReserveResult, token string, err error)
	// Commit records id as seen for ttl, replacing the reservation token holds; if token no
	// longer holds it, the id is recorded all the same and the error is ErrLeaseLost.
	Commit(ctx context.Context, id, token string, ttl time.Duration) error
	// Release drops the reservation of id if token still holds it, and does nothing otherwise.
	Release(ctx context.Context, id, token string) error
}

// ErrLeaseLost is returned by SeenStore.Commit when the token no longer held the reservation
// (its lease had expired). The id is recorded as seen all the same: the error only reports
// that another delivery of the id may have run the handler meanwhile. The receiver logs it
// as a warning and treats the id as committed.
var ErrLeaseLost = errors.New("hookkit/receiver: seen-id reservation lost before commit")

// DefaultMaxEntries is the capacity of a MemorySeenStore whose MaxEntries is zero.
const DefaultMaxEntries = 100_000

// ErrStoreFull is returned by MemorySeenStore.Reserve when MaxEntries deliveries are in
// flight at once; the receiver answers 503 so the sender retries.
var ErrStoreFull = errors.New("hookkit/receiver: seen store full of in-flight deliveries")

// MemorySeenStoreConfig configures NewMemorySeenStore. The zero value is ready to use.
type MemorySeenStoreConfig struct {
	// MaxEntries caps the number of ids remembered (seen plus in flight). 0 means
	// DefaultMaxEntries (100,000); a negative value is refused (the store is always
	// bounded). When the cap is reached the oldest seen id is forgotten first; in-flight
	// reservations are never evicted (Reserve fails with ErrStoreFull instead).
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MemorySeenStore is the default SeenStore: a bounded in-process map of delivery ids with
// expiry, safe for concurrent use. Committed ids are kept in commit order and evicted oldest
// first when the store is full, so memory stays bounded under any load; expired entries are
// dropped as new ones arrive. It does not survive restarts and is not shared between
// processes — plug a Redis or SQL SeenStore for that.
type MemorySeenStore struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*memEntry
	order   list.List // of *memEntry that are committed, oldest commit first
	seq     uint64    // reservations made; the token of a reservation is its number
}

type memEntry struct {
	id      string
	token   string // the reservation's owner while in flight
	expires time.Time
	seen    bool          // committed; false: reserved (in flight)
	elem    *list.Element // position in order when seen
}

// NewMemorySeenStore returns an empty MemorySeenStore, or an error wrapping
// ErrInvalidConfig for a negative MaxEntries.
func NewMemorySeenStore(cfg MemorySeenStoreConfig) (*MemorySeenStore, error) {
	if cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("%w: MaxEntries is negative", ErrInvalidConfig)
	}
	capacity := cfg.MaxEntries
	if capacity == 0 {
		capacity = DefaultMaxEntries
	}
	return newMemorySeenStore(capacity, cfg.Now), nil
}

// newMemorySeenStore returns an empty store holding at most capacity (> 0) ids.
func newMemorySeenStore(capacity int, now func() time.Time) *MemorySeenStore {
	if now == nil {
		now = time.Now
	}
	return &MemorySeenStore{max: capacity, now: now, entries: make(map[string]*memEntry)}
}

// Len returns the number of ids currently held, seen or in flight (expired ones included
// until they are swept).
func (m *MemorySeenStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Reserve implements SeenStore. Tokens are unique within the store (a counter): they never
// leave the process, so they need not be unguessable.
func (m *MemorySeenStore) Reserve(_ context.Context, id string, lease time.Duration) (ReserveResult, string, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[id]; ok {
		if now.Before(e.expires) {
			if e.seen {
				return AlreadySeen, "", nil
			}
			return InFlight, "", nil
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
				return 0, "", ErrStoreFull
			}
		} else {
			m.remove(m.order.Front().Value.(*memEntry))
		}
	}
	m.seq++
	token := strconv.FormatUint(m.seq, 10)
	m.entries[id] = &memEntry{id: id, token: token, expires: now.Add(lease)}
	return Reserved, token, nil
}

// Commit implements SeenStore.
func (m *MemorySeenStore) Commit(_ context.Context, id, token string, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	held := ok && e.ownedBy(token) && now.Before(e.expires)
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
	e.token = ""
	e.expires = now.Add(ttl)
	e.elem = m.order.PushBack(e)
	if !held {
		return ErrLeaseLost
	}
	return nil
}

// Release implements SeenStore.
func (m *MemorySeenStore) Release(_ context.Context, id, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[id]; ok && e.ownedBy(token) {
		m.remove(e) // expired or not: no one else holds it, and it should not linger
	}
	return nil
}

// ownedBy reports whether e is a reservation (expired or not) made with token. Once another
// delivery reserves the id, or it is committed, the entry has another token or none.
func (e *memEntry) ownedBy(token string) bool {
	return !e.seen && token != "" && e.token == token
}

// sweep drops expired committed ids from the front of the commit order. With one TTL for
// all ids (what the receiver uses) the front is always the next to expire.
func (m *MemorySeenStore) sweep(now time.Time) {
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

func (m *MemorySeenStore) remove(e *memEntry) {
	if e.seen {
		m.order.Remove(e.elem)
	}
	delete(m.entries, e.id)
}
