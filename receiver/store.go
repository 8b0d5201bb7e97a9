package receiver

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
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

// maxMaxEntries is the largest MaxEntries: entries are numbered by int32.
const maxMaxEntries = 1 << 30

// ErrStoreFull is returned by MemorySeenStore.Reserve when MaxEntries deliveries are in
// flight at once; the receiver answers 503 so the sender retries.
var ErrStoreFull = errors.New("hookkit/receiver: seen store full of in-flight deliveries")

// MemorySeenStoreConfig configures NewMemorySeenStore. The zero value is ready to use.
type MemorySeenStoreConfig struct {
	// MaxEntries caps the number of ids remembered (seen plus in flight). 0 means
	// DefaultMaxEntries (100,000); a negative value, or one above 2^30, is refused (the
	// store is always bounded). When the cap is reached the oldest seen id is forgotten
	// first; in-flight
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
//
// Its memory holds no pointers (entries in one slice, linked by index; the id bytes in one
// byte arena; an index from a 64-bit hash of the id to an entry), so however many ids it
// remembers, the garbage collector does not scan them. Lookups compare the id bytes, so two
// ids whose hashes collide are still told apart.
type MemorySeenStore struct {
	max  int
	now  func() time.Time
	seed maphash.Seed

	mu      sync.Mutex
	based   bool             // base is set (at the first call)
	base    time.Time        // expiries are nanoseconds since base (monotonic when now is)
	index   map[uint64]int32 // hash of the id -> first entry of its chain (hnext)
	entries []memEntry       // slots; the free ones are chained from free by next
	free    int32            // first free slot, or nilEntry
	live    int              // slots in use: ids held
	head    int32            // oldest commit, or nilEntry
	tail    int32            // newest commit, or nilEntry
	seen    int              // committed entries (the length of the commit order)
	arena   []byte           // id bytes of the entries, at off:off+idLen
	garbage int              // arena bytes of removed ids, reclaimed by compact
	seq     uint64           // reservations made; the token of a reservation is its number
}

// nilEntry is the null entry index.
const nilEntry int32 = -1

const (
	entryFree uint8 = iota
	entryReserved
	entrySeen
)

// memEntry is one id held by a MemorySeenStore. It has no pointers.
type memEntry struct {
	hash    uint64 // maphash of the id under the store's seed
	expires int64  // nanoseconds since the store's base
	token   uint64 // the reservation's number while reserved; 0 otherwise
	off     int    // the id is arena[off : off+idLen]
	idLen   int32
	hnext   int32 // next entry with the same hash
	prev    int32 // commit order when seen
	next    int32 // commit order when seen; free list when free
	state   uint8
}

// NewMemorySeenStore returns an empty MemorySeenStore, or an error wrapping
// ErrInvalidConfig for a negative MaxEntries.
func NewMemorySeenStore(cfg MemorySeenStoreConfig) (*MemorySeenStore, error) {
	if cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("%w: MaxEntries is negative", ErrInvalidConfig)
	}
	if cfg.MaxEntries > maxMaxEntries {
		return nil, fmt.Errorf("%w: MaxEntries is above %d", ErrInvalidConfig, maxMaxEntries)
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
	return &MemorySeenStore{
		max: capacity, now: now, seed: maphash.MakeSeed(),
		index: make(map[uint64]int32), free: nilEntry, head: nilEntry, tail: nilEntry,
	}
}

// Len returns the number of ids currently held, seen or in flight (expired ones included
// until they are swept).
func (m *MemorySeenStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live
}

// Reserve implements SeenStore. Tokens are unique within the store (a counter): they never
// leave the process, so they need not be unguessable.
func (m *MemorySeenStore) Reserve(_ context.Context, id string, lease time.Duration) (ReserveResult, string, error) {
	t := m.now()
	h := maphash.String(m.seed, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.since(t)
	if i := m.lookup(h, id); i != nilEntry {
		e := &m.entries[i]
		if now < e.expires {
			if e.state == entrySeen {
				return AlreadySeen, "", nil
			}
			return InFlight, "", nil
		}
		m.remove(i)
	}
	m.sweep(now)
	if m.live >= m.max {
		if m.seen == 0 {
			// Everything is in flight: expire stale leases before giving up.
			for i := range m.entries {
				if e := &m.entries[i]; e.state == entryReserved && now >= e.expires {
					m.remove(int32(i))
				}
			}
			if m.live >= m.max {
				return 0, "", ErrStoreFull
			}
		} else {
			m.remove(m.head)
		}
	}
	m.seq++
	i := m.insert(h, id)
	e := &m.entries[i]
	e.state = entryReserved
	e.token = m.seq
	e.expires = addNanos(now, lease)
	return Reserved, strconv.FormatUint(m.seq, 10), nil
}

// Commit implements SeenStore.
func (m *MemorySeenStore) Commit(_ context.Context, id, token string, ttl time.Duration) error {
	t := m.now()
	h := maphash.String(m.seed, id)
	tok := parseToken(token)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.since(t)
	i := m.lookup(h, id)
	held := i != nilEntry && m.entries[i].ownedBy(tok) && now < m.entries[i].expires
	if i != nilEntry {
		if m.entries[i].state == entrySeen {
			m.unlink(i)
		}
	} else {
		if m.live >= m.max && m.seen > 0 {
			m.remove(m.head)
		}
		i = m.insert(h, id)
	}
	e := &m.entries[i]
	e.state = entrySeen
	e.token = 0
	e.expires = addNanos(now, ttl)
	m.pushBack(i)
	if !held {
		return ErrLeaseLost
	}
	return nil
}

// Release implements SeenStore.
func (m *MemorySeenStore) Release(_ context.Context, id, token string) error {
	h := maphash.String(m.seed, id)
	tok := parseToken(token)
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := m.lookup(h, id); i != nilEntry && m.entries[i].ownedBy(tok) {
		m.remove(i) // expired or not: no one else holds it, and it should not linger
	}
	return nil
}

// parseToken returns the reservation number token names, or 0 (no reservation's) when token
// is not one that Reserve returned: "", not decimal, or with a leading zero.
func parseToken(token string) uint64 {
	if token == "" || token[0] == '0' {
		return 0
	}
	n, err := strconv.ParseUint(token, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// ownedBy reports whether e is a reservation (expired or not) made with token. Once another
// delivery reserves the id, or it is committed, the entry has another token or none.
func (e *memEntry) ownedBy(token uint64) bool {
	return e.state == entryReserved && token != 0 && e.token == token
}

// since returns t as nanoseconds since the store's base, the first time it was asked for
// (by the monotonic clock when both have a reading, as time.Time comparisons are).
func (m *MemorySeenStore) since(t time.Time) int64 {
	if !m.based {
		m.base, m.based = t, true
	}
	return int64(t.Sub(m.base))
}

// addNanos returns now+d, saturated instead of overflowing.
func addNanos(now int64, d time.Duration) int64 {
	s := now + int64(d)
	if d > 0 && s < now {
		return math.MaxInt64
	}
	if d < 0 && s > now {
		return math.MinInt64
	}
	return s
}

// lookup returns the entry holding id (whose hash is h), or nilEntry.
func (m *MemorySeenStore) lookup(h uint64, id string) int32 {
	i, ok := m.index[h]
	if !ok {
		return nilEntry
	}
	for ; i != nilEntry; i = m.entries[i].hnext {
		if e := &m.entries[i]; e.hash == h && string(m.arena[e.off:e.off+int(e.idLen)]) == id {
			return i
		}
	}
	return nilEntry
}

// insert takes a slot for id (not held; hash h), indexes it and returns it; the caller sets
// its state, token and expiry.
func (m *MemorySeenStore) insert(h uint64, id string) int32 {
	if m.garbage > 4096 && m.garbage > len(m.arena)/2 {
		m.compact()
	}
	var i int32
	if m.free != nilEntry {
		i = m.free
		m.free = m.entries[i].next
	} else {
		i = int32(len(m.entries))
		m.entries = append(m.entries, memEntry{})
	}
	next, ok := m.index[h]
	if !ok {
		next = nilEntry
	}
	m.entries[i] = memEntry{hash: h, off: len(m.arena), idLen: int32(len(id)), hnext: next, prev: nilEntry, next: nilEntry}
	m.arena = append(m.arena, id...)
	m.index[h] = i
	m.live++
	return i
}

// remove forgets entry i: out of the commit order, the index and the arena, onto the free list.
func (m *MemorySeenStore) remove(i int32) {
	e := &m.entries[i]
	if e.state == entrySeen {
		m.unlink(i)
	}
	h := e.hash
	if head := m.index[h]; head == i {
		if e.hnext == nilEntry {
			delete(m.index, h)
		} else {
			m.index[h] = e.hnext
		}
	} else {
		p := head
		for m.entries[p].hnext != i {
			p = m.entries[p].hnext
		}
		m.entries[p].hnext = e.hnext
	}
	m.garbage += int(e.idLen)
	*e = memEntry{state: entryFree, hnext: nilEntry, prev: nilEntry, next: m.free}
	m.free = i
	m.live--
}

// compact rewrites the arena with only the ids of the entries in use.
func (m *MemorySeenStore) compact() {
	arena := make([]byte, 0, 2*(len(m.arena)-m.garbage))
	for i := range m.entries {
		if e := &m.entries[i]; e.state != entryFree {
			off := len(arena)
			arena = append(arena, m.arena[e.off:e.off+int(e.idLen)]...)
			e.off = off
		}
	}
	m.arena = arena
	m.garbage = 0
}

// pushBack appends entry i to the commit order.
func (m *MemorySeenStore) pushBack(i int32) {
	e := &m.entries[i]
	e.prev, e.next = m.tail, nilEntry
	if m.tail == nilEntry {
		m.head = i
	} else {
		m.entries[m.tail].next = i
	}
	m.tail = i
	m.seen++
}

// unlink takes entry i (seen) out of the commit order.
func (m *MemorySeenStore) unlink(i int32) {
	e := &m.entries[i]
	if e.prev == nilEntry {
		m.head = e.next
	} else {
		m.entries[e.prev].next = e.next
	}
	if e.next == nilEntry {
		m.tail = e.prev
	} else {
		m.entries[e.next].prev = e.prev
	}
	e.prev, e.next = nilEntry, nilEntry
	m.seen--
}

// sweep drops expired committed ids from the front of the commit order. With one TTL for
// all ids (what the receiver uses) the front is always the next to expire.
func (m *MemorySeenStore) sweep(now int64) {
	for range 64 {
		if m.head == nilEntry || now < m.entries[m.head].expires {
			return
		}
		m.remove(m.head)
	}
}
