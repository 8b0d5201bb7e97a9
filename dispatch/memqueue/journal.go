package memqueue

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// A ChangeKind says what a Change did to a delivery.
type ChangeKind uint8

// The kinds of Change.
const (
	// ChangeEnqueued: a delivery was stored (Change.Delivery), pending. A delivery that
	// EnqueueLeased stored leased is reported pending too: leases are not journaled.
	ChangeEnqueued ChangeKind = iota + 1
	// ChangeAcked: a pending delivery was acknowledged and deleted, with its history.
	ChangeAcked
	// ChangeRescheduled: a pending delivery is due again at Change.Due, with
	// Change.Attempts added to its history.
	ChangeRescheduled
	// ChangeBuried: a pending delivery became a dead letter (Change.Reason, Change.At),
	// with Change.Attempts added to its history.
	ChangeBuried
	// ChangeEvicted: a dead letter was deleted, with its history, to keep MaxDead.
	ChangeEvicted
	// ChangeRequeued: a dead letter is pending again, due at Change.Due, its round of
	// attempts starting at Change.RoundStart.
	ChangeRequeued
)

// String returns the kind's name: "enqueued", "acked", "rescheduled", "buried",
// "evicted" or "requeued".
func (k ChangeKind) String() string {
	switch k {
	case ChangeEnqueued:
		return "enqueued"
	case ChangeAcked:
		return "acked"
	case ChangeRescheduled:
		return "rescheduled"
	case ChangeBuried:
		return "buried"
	case ChangeEvicted:
		return "evicted"
	case ChangeRequeued:
		return "requeued"
	}
	return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
}

// A Change is one change the Store made to one delivery, as Config.Journal is told it.
// The Change is the Store's, reused for the next one: a journal copies what it keeps,
// and copies the slices too (they belong to the Store's caller).
type Change struct {
	Kind ChangeKind
	// Seq and ID name the delivery.
	Seq uint64
	ID  string
	// History is how many attempts the delivery's history held before the change.
	History int
	// Delivery is the delivery stored, for ChangeEnqueued (Seq set, no lease); nil for
	// the other kinds.
	Delivery *queue.Delivery
	// Due is the new due time (ChangeRescheduled, ChangeRequeued).
	Due time.Time
	// Attempts are added to the history (ChangeRescheduled, ChangeBuried).
	Attempts []queue.Attempt
	// Reason and At are the dead letter's DeadReason and DeadAt (ChangeBuried).
	Reason string
	At     time.Time
	// RoundStart is the delivery's new RoundStart (ChangeRequeued).
	RoundStart int
}

// ErrLoad is returned by Load for a delivery it cannot take: no Seq, or an ID or Seq
// already in the store.
var ErrLoad = errors.New("hookkit/memqueue: cannot load delivery")

// Load adds deliveries stored before, as a durable store rebuilding a Store from what
// its Journal wrote gives them back: each keeps its Seq, Created, Due, Attempts,
// RoundStart and, for a dead letter (DeadAt not zero), its DeadReason and DeadAt. Their
// leases are not kept (Lease and LeaseExpires are ignored): every delivery loaded pending
// can be leased at once. Load ignores MaxPending and MaxDead and tells the Journal
// nothing. The Seqs the store gives next are above nextSeq-1 and above every Seq loaded.
func (m *Store) Load(nextSeq uint64, ds ...queue.Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	seqs := make(map[uint64]bool, len(ds))
	ids := make(map[string]bool, len(ds))
	for i := range ds {
		d := &ds[i]
		if d.Seq == 0 || seqs[d.Seq] || ids[d.ID] || m.items[d.ID] != nil || m.dead[d.ID] != nil {
			return fmt.Errorf("%w: %q (seq %d)", ErrLoad, d.ID, d.Seq)
		}
		seqs[d.Seq], ids[d.ID] = true, true
	}
	for _, it := range m.items {
		if seqs[it.seq] {
			return fmt.Errorf("%w: seq %d already stored", ErrLoad, it.seq)
		}
	}
	for _, it := range m.dead {
		if seqs[it.seq] {
			return fmt.Errorf("%w: seq %d already stored", ErrLoad, it.seq)
		}
	}
	m.seq = max(m.seq, nextSeq-min(nextSeq, 1))
	for i := range ds {
		d := &ds[i]
		m.seq = max(m.seq, d.Seq)
		it := &memItem{id: d.ID, ev: d.Event, seq: d.Seq, due: toInstant(d.Due), idx: -1}
		if created := toInstant(d.Created); created != it.due || len(d.Attempts) > 0 || d.RoundStart != 0 || !d.DeadAt.IsZero() {
			it.more = &memMore{created: created, attempts: slices.Clone(d.Attempts), roundStart: d.RoundStart}
		}
		key := queueKey{d.EndpointID, d.Ordered}
		if d.DeadAt.IsZero() {
			m.items[d.ID] = it
			m.push(it, key)
			continue
		}
		q := m.queue(key)
		it.q = q
		it.more.deadReason, it.more.deadAt = d.DeadReason, toInstant(d.DeadAt)
		m.dead[d.ID] = it
		m.deadQ.push(it)
		m.fixQueue(q)
	}
	return nil
}

// tell gives c to the Journal, through the store's scratch Change (so that telling
// allocates nothing); mu is held.
func (m *Store) tell(c Change) {
	m.jc = c
	m.journal(&m.jc)
	m.jc, m.jd = Change{}, queue.Delivery{}
}

// history returns how many attempts its history holds.
func (it *memItem) history() int {
	if it.more == nil {
		return 0
	}
	return len(it.more.attempts)
}
