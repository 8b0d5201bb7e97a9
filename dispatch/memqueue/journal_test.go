package memqueue_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// journalModel is what a durable store keeps of a Store: its deliveries by Seq, changed
// as the Journal tells.
type journalModel struct {
	t  *testing.T
	ds map[uint64]queue.Delivery
}

func (m *journalModel) apply(c *memqueue.Change) {
	d, ok := m.ds[c.Seq]
	if c.Kind == memqueue.ChangeEnqueued {
		assert.False(m.t, ok, "seq %d enqueued twice", c.Seq)
		d = *c.Delivery
		d.Attempts = slices.Clone(d.Attempts)
		assert.Equal(m.t, c.Seq, d.Seq)
		assert.Empty(m.t, d.Lease, "no lease is journaled")
		m.ds[c.Seq] = d
		return
	}
	if !assert.True(m.t, ok, "change %d of seq %d, not stored", c.Kind, c.Seq) {
		return
	}
	assert.Equal(m.t, d.ID, c.ID)
	assert.Len(m.t, d.Attempts, c.History, "History is the attempts before the change")
	switch c.Kind {
	case memqueue.ChangeAcked, memqueue.ChangeEvicted:
		assert.Equal(m.t, c.Kind == memqueue.ChangeEvicted, !d.DeadAt.IsZero(), "acknowledged pending, evicted dead")
		delete(m.ds, c.Seq)
		return
	case memqueue.ChangeRescheduled:
		d.Due = c.Due
		d.Attempts = append(d.Attempts, c.Attempts...)
	case memqueue.ChangeBuried:
		d.Attempts = append(d.Attempts, c.Attempts...)
		d.DeadReason, d.DeadAt = c.Reason, c.At
	case memqueue.ChangeRequeued:
		d.DeadReason, d.DeadAt, d.Due, d.RoundStart = "", time.Time{}, c.Due, c.RoundStart
	}
	m.ds[c.Seq] = d
}

// noLeases returns ds without their leases, as a Store rebuilt by Load has them.
func noLeases(ds []queue.Delivery) []queue.Delivery {
	for i := range ds {
		ds[i].Lease, ds[i].LeaseExpires = "", time.Time{}
	}
	return ds
}

// TestJournalRebuildsTheStore: a random run of every call that changes a Store —
// Enqueue (with histories, ordered or not), EnqueueLeased, Lease, every outcome with
// attempts, DeadLetterEndpoint, Requeue, evictions beyond MaxDead — told to a Journal
// and applied to a model; a new Store given the model by Load lists the same pending
// deliveries and dead letters, field for field (without leases), and goes on giving Seqs
// above every one used.
func TestJournalRebuildsTheStore(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			ctx := t.Context()
			model := &journalModel{t: t, ds: map[uint64]queue.Delivery{}}
			s := memqueue.New(memqueue.Config{MaxDead: 20, Journal: model.apply})
			rng := rand.New(rand.NewPCG(seed, 1))
			as := queuetest.RoundTripAttempts()
			now := queuetest.T0
			var maxSeq uint64
			var held []queue.Delivery
			for i := range 600 {
				switch op := rng.IntN(10); {
				case op < 4:
					d := queuetest.Delivery(t, fmt.Sprint("d", i), fmt.Sprint("ep", rng.IntN(4)), now)
					d.Ordered = rng.IntN(3) == 0
					if rng.IntN(4) == 0 {
						d.Attempts, d.RoundStart = as[:1+rng.IntN(2)], 1
					}
					if rng.IntN(5) == 0 {
						ds := []queue.Delivery{d}
						ds[0].Ordered, ds[0].LeaseExpires = false, now.Add(time.Hour) // an ordered one is never stored leased
						require.NoError(t, s.EnqueueLeased(ctx, ds, nil))
						held = append(held, ds[0])
						maxSeq = max(maxSeq, ds[0].Seq)
					} else {
						require.NoError(t, s.Enqueue(ctx, d))
					}
				case op < 6:
					ds, err := s.Lease(ctx, queue.LeaseRequest{Now: now, Max: 1 + rng.IntN(4), For: time.Hour})
					require.NoError(t, err)
					held = append(held, ds...)
				case op < 9 && len(held) > 0:
					k := rng.IntN(len(held))
					d := held[k]
					held = slices.Delete(held, k, k+1)
					var o queue.Outcome
					switch rng.IntN(3) {
					case 0:
						o = queue.Ack(d.ID, d.Lease)
					case 1:
						o = queue.Reschedule(d.ID, d.Lease, now, as[rng.IntN(len(as))])
					default:
						o = queue.DeadLetter(d.ID, d.Lease, queue.DeadReasonExhausted, as[rng.IntN(len(as))])
					}
					errs, err := s.Complete(ctx, now, o)
					require.NoError(t, err)
					require.NoError(t, errs[0])
				case op == 9 && rng.IntN(2) == 0:
					_, err := s.DeadLetterEndpoint(ctx, now, fmt.Sprint("ep", rng.IntN(4)), queue.DeadReasonGone)
					require.NoError(t, err)
				case op == 9:
					sel := queue.Selector{EndpointID: fmt.Sprint("ep", rng.IntN(4))}
					_, err := s.Requeue(ctx, sel, now)
					require.NoError(t, err)
				}
				now = now.Add(time.Second)
			}
			pending, err := s.ListPending(ctx, queue.ListFilter{})
			require.NoError(t, err)
			dead, err := s.ListDead(ctx, queue.ListFilter{})
			require.NoError(t, err)
			require.NotEmpty(t, pending.Deliveries)
			require.NotEmpty(t, dead.Deliveries)
			for _, d := range append(slices.Clone(pending.Deliveries), dead.Deliveries...) {
				maxSeq = max(maxSeq, d.Seq)
			}

			r := memqueue.New(memqueue.Config{MaxDead: 20})
			require.NoError(t, r.Load(maxSeq+1, slices.Collect(maps.Values(model.ds))...))
			gotPending, err := r.ListPending(ctx, queue.ListFilter{})
			require.NoError(t, err)
			gotDead, err := r.ListDead(ctx, queue.ListFilter{})
			require.NoError(t, err)
			assert.Equal(t, noLeases(pending.Deliveries), gotPending.Deliveries, "the pending deliveries")
			assert.Equal(t, dead.Deliveries, gotDead.Deliveries, "the dead letters")

			next := []queue.Delivery{queuetest.Delivery(t, "next", "ep0", now)}
			require.NoError(t, r.EnqueueLeased(ctx, next, nil))
			assert.Greater(t, next[0].Seq, maxSeq, "Seqs go on above those loaded")
		})
	}
}

// TestLoadRefuses: Load takes nothing of a call with a delivery without Seq, two
// deliveries of one Seq or ID, or an ID or Seq already stored, and says ErrLoad.
func TestLoadRefuses(t *testing.T) {
	d := func(id string, seq uint64) queue.Delivery {
		x := queuetest.Delivery(t, id, "ep", queuetest.T0)
		x.Seq = seq
		return x
	}
	s := memqueue.New(memqueue.Config{})
	require.NoError(t, s.Load(0, d("a", 1)))
	for name, ds := range map[string][]queue.Delivery{
		"no seq":         {d("b", 0)},
		"seq twice":      {d("b", 2), d("c", 2)},
		"id twice":       {d("b", 2), d("b", 3)},
		"id stored":      {d("a", 5)},
		"seq stored":     {d("b", 1)},
		"one bad of two": {d("b", 7), d("c", 0)},
	} {
		assert.ErrorIs(t, s.Load(0, ds...), memqueue.ErrLoad, name)
	}
	pending, dead := s.Len()
	assert.Equal(t, [2]int{1, 0}, [2]int{pending, dead}, "nothing of the refused calls was loaded")
}
