package queuetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// RunLeasingEnqueuer checks queue.LeasingEnqueuer with stores made by newStore, which
// must implement it and return a new empty store each time (a bound of at least 1,000
// pending deliveries).
func RunLeasingEnqueuer(t *testing.T, newStore func(t *testing.T) queue.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s queue.Store, le queue.LeasingEnqueuer)
	}{
		{"StoredLeasedAsIfLeased", reportLeasing(CheckEnqueueLeased)},
		{"ExpiredLeaseLeasedAgain", testLeasedExpires},
		{"TokensUniqueAcrossCallsAndLease", testLeasedTokensUnique},
		{"RescheduledLikeAnyLease", testLeasedReschedule},
		{"OrderedNotLeasedAtEnqueue", testLeasedOrdered},
		{"AllOrNothing", testLeasedAllOrNothing},
		{"PlainEnqueueIgnoresLeaseExpires", testPlainEnqueueNotLeased},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			le, ok := s.(queue.LeasingEnqueuer)
			require.True(t, ok, "the store implements queue.LeasingEnqueuer")
			tc.fn(t, s, le)
		})
	}
}

func reportLeasing(check func(ctx context.Context, s queue.Store, le queue.LeasingEnqueuer) error) func(*testing.T, queue.Store, queue.LeasingEnqueuer) {
	return func(t *testing.T, s queue.Store, le queue.LeasingEnqueuer) {
		t.Helper()
		if err := check(ctxBack, s, le); err != nil {
			t.Fatal(err)
		}
	}
}

// enqueueLeased calls EnqueueLeased with ds and checks that it called committed once if
// it succeeded and never if it failed.
func enqueueLeased(t *testing.T, le queue.LeasingEnqueuer, ds []queue.Delivery) error {
	t.Helper()
	calls := 0
	err := le.EnqueueLeased(ctxBack, ds, func() { calls++ })
	if err == nil {
		assert.Equal(t, 1, calls, "committed called once by a successful EnqueueLeased")
	} else {
		assert.Zero(t, calls, "committed not called by a failed EnqueueLeased: %v", err)
	}
	return err
}

// leased returns d with a lease until T0 + leaseFor asked of EnqueueLeased.
func leased(d queue.Delivery) queue.Delivery {
	d.LeaseExpires = T0.Add(leaseFor)
	return d
}

// CheckEnqueueLeased checks the heart of queue.LeasingEnqueuer on an empty store: of two
// deliveries given to one EnqueueLeased, the one with a LeaseExpires is stored leased
// under the token written back into the caller's slice (listed with it, counted as
// leased, not returned by Lease while its lease lives, acknowledged with it), the other
// pending, its token "" and both Seqs set in order. A store that stores everything
// pending and makes up tokens fails. RunLeasingEnqueuer calls it (subtest
// StoredLeasedAsIfLeased).
func CheckEnqueueLeased(ctx context.Context, s queue.Store, le queue.LeasingEnqueuer) error {
	var ds []queue.Delivery
	for _, id := range []string{"held", "free"} {
		enc, err := newEvent()
		if err != nil {
			return err
		}
		ds = append(ds, queue.Delivery{ID: id, EndpointID: "ep", Event: enc, Created: T0, Due: T0})
	}
	ds[0].LeaseExpires = T0.Add(leaseFor)
	calls, tokenThen := 0, ""
	if err := le.EnqueueLeased(ctx, ds, func() { calls, tokenThen = calls+1, ds[0].Lease }); err != nil {
		return fmt.Errorf("EnqueueLeased: %w", err)
	}
	switch {
	case calls != 1:
		return fmt.Errorf("EnqueueLeased called committed %d times: want once, before it returned", calls)
	case tokenThen != ds[0].Lease:
		return fmt.Errorf("when committed was called the token was %q, then %q: want it set before", tokenThen, ds[0].Lease)
	case ds[0].Lease == "":
		return errors.New("EnqueueLeased wrote no token for the delivery with a LeaseExpires")
	case ds[1].Lease != "":
		return fmt.Errorf("EnqueueLeased wrote the token %q for the delivery without a LeaseExpires", ds[1].Lease)
	case ds[0].Seq == 0 || ds[1].Seq <= ds[0].Seq:
		return fmt.Errorf("EnqueueLeased wrote the Seqs %d, %d: want them set, in argument order", ds[0].Seq, ds[1].Seq)
	}
	st, err := s.Stats(ctx, T0)
	if err != nil || st != (queue.Stats{Pending: 1, Leased: 1}) {
		return fmt.Errorf("the counts after EnqueueLeased: %+v, %v; want 1 pending, 1 leased", st, err)
	}
	p, err := s.ListPending(ctx, queue.ListFilter{})
	if err != nil || len(p.Deliveries) != 2 {
		return fmt.Errorf("ListPending after EnqueueLeased: %d deliveries, %v; want 2", len(p.Deliveries), err)
	}
	for _, d := range p.Deliveries {
		want := ds[0]
		if d.ID != want.ID {
			want = ds[1]
		}
		if d.Lease != want.Lease || !d.LeaseExpires.Equal(want.LeaseExpires) || d.Seq != want.Seq {
			return fmt.Errorf("the pending listing shows %s leased %q until %v, seq %d; want %q until %v, seq %d",
				d.ID, d.Lease, d.LeaseExpires, d.Seq, want.Lease, want.LeaseExpires, want.Seq)
		}
	}
	got, err := s.Lease(ctx, queue.LeaseRequest{Now: T0, Max: 10, For: leaseFor})
	if err != nil || len(got) != 1 || got[0].ID != "free" {
		return fmt.Errorf("a lease while held is leased: %v, %v; want free alone", ids(got), err)
	}
	if err := completeOne(ctx, s, T0, queue.Ack("held", ds[0].Lease)); err != nil {
		return fmt.Errorf("ack held under the token EnqueueLeased wrote: %w", err)
	}
	return nil
}

func testLeasedExpires(t *testing.T, s queue.Store, le queue.LeasingEnqueuer) {
	ds := []queue.Delivery{leased(Delivery(t, "a", "ep", T0))}
	require.NoError(t, enqueueLeased(t, le, ds))
	assert.Empty(t, lease(t, s, T0.Add(leaseFor-time.Nanosecond), 10), "not leased again while its lease lives")
	again := lease(t, s, T0.Add(leaseFor), 10)
	require.Equal(t, []string{"a"}, ids(again), "its lease expired: any Lease takes it")
	assert.NotEqual(t, ds[0].Lease, again[0].Lease)
	assert.ErrorIs(t, ack(s, "a", ds[0].Lease), queue.ErrLeaseLost, "the first holder lost it")
	require.NoError(t, ack(s, "a", again[0].Lease))
	assert.Empty(t, list(t, s))
}

func testLeasedTokensUnique(t *testing.T, s queue.Store, le queue.LeasingEnqueuer) {
	seen := map[string]string{}
	note := func(id, token string) {
		t.Helper()
		require.NotEmpty(t, token, id)
		if other, dup := seen[token]; dup {
			t.Fatalf("token %q given to %s and to %s", token, other, id)
		}
		seen[token] = id
	}
	for call := range 2 {
		var ds []queue.Delivery
		for i := range 3 {
			ds = append(ds, leased(Delivery(t, fmt.Sprint("c", call, "-", i), "ep", T0)))
		}
		require.NoError(t, enqueueLeased(t, le, ds))
		for _, d := range ds {
			note(d.ID, d.Lease)
		}
	}
	enqueue(t, s, Delivery(t, "p0", "ep", T0), Delivery(t, "p1", "ep", T0))
	for _, d := range lease(t, s, T0, 10) {
		note(d.ID, d.Lease)
	}
	// The leases expire; Lease takes all eight again, each under a new token.
	for _, d := range lease(t, s, T0.Add(leaseFor), 10) {
		note(d.ID+" again", d.Lease)
	}
	assert.Len(t, seen, 16)
}

func testLeasedReschedule(t *testing.T, s queue.Store, le queue.LeasingEnqueuer) {
	ds := []queue.Delivery{leased(Delivery(t, "a", "ep", T0))}
	require.NoError(t, enqueueLeased(t, le, ds))
	as := RoundTripAttempts()
	require.NoError(t, reschedule(s, "a", ds[0].Lease, T0.Add(time.Hour), as[0]))
	assert.Empty(t, lease(t, s, T0.Add(time.Minute), 10), "rescheduled: not due")
	got := lease(t, s, T0.Add(time.Hour), 10)
	require.Equal(t, []string{"a"}, ids(got))
	require.Len(t, got[0].Attempts, 1)
	assert.Equal(t, as[0].Number, got[0].Attempts[0].Number)
	require.NoError(t, deadLetter(s, T0.Add(time.Hour), "a", got[0].Lease, queue.DeadReasonExhausted))
	assert.Equal(t, []string{"a"}, ids(dead(t, s)))
}

func testLeasedOrdered(t *testing.T, s queue.Store, le queue.LeasingEnqueuer) {
	o := leased(Delivery(t, "o", "ep", T0))
	o.Ordered = true
	err := enqueueLeased(t, le, []queue.Delivery{leased(Delivery(t, "u", "ep", T0)), o})
	require.ErrorIs(t, err, queue.ErrInvalidDelivery, "an ordered delivery is leased only by Lease, under the head rule")
	assert.Empty(t, list(t, s), "nothing of the call stored")
	// Ordered deliveries without a LeaseExpires are stored pending, in their group.
	o.LeaseExpires = time.Time{}
	o2 := Delivery(t, "o2", "ep", T0)
	o2.Ordered = true
	ds := []queue.Delivery{leased(Delivery(t, "u", "ep", T0)), o, o2}
	require.NoError(t, enqueueLeased(t, le, ds))
	assert.Empty(t, ds[1].Lease)
	assert.Equal(t, []string{"o"}, ids(lease(t, s, T0, 10)), "the ordered group's head alone")
}

func testLeasedAllOrNothing(t *testing.T, s queue.Store, le queue.LeasingEnqueuer) {
	enqueue(t, s, Delivery(t, "dup", "ep", T0))
	err := enqueueLeased(t, le, []queue.Delivery{leased(Delivery(t, "new", "ep", T0)), leased(Delivery(t, "dup", "ep", T0))})
	require.ErrorIs(t, err, queue.ErrDuplicateDelivery)
	assert.Equal(t, []string{"dup"}, ids(list(t, s)), "nothing of the call stored")
	err = enqueueLeased(t, le, []queue.Delivery{leased(Delivery(t, "x", "", T0))})
	require.ErrorIs(t, err, queue.ErrInvalidDelivery)
	st, err := s.Stats(ctxBack, T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 1}, st)
}

func testPlainEnqueueNotLeased(t *testing.T, s queue.Store, _ queue.LeasingEnqueuer) {
	d := leased(Delivery(t, "a", "ep", T0))
	d.Lease = "forged"
	enqueue(t, s, d)
	got := lease(t, s, T0, 10)
	require.Equal(t, []string{"a"}, ids(got), "Enqueue stores every delivery pending, whatever its Lease fields")
	assert.NotEqual(t, "forged", got[0].Lease)
}
