package queuetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// T0 is the suite's "now" at the start of every subtest.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const leaseFor = time.Minute

// Run runs every clause of the Store contract against stores made by newStore, which must
// return a new empty store each time, with a bound of at least 1,000 pending deliveries.
func Run(t *testing.T, newStore func(t *testing.T) queue.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s queue.Store)
	}{
		{"EnqueueAndList", testEnqueueAndList},
		{"EnqueueInvalidStoresNothing", testEnqueueInvalid},
		{"EnqueueDuplicateStoresNothing", testEnqueueDuplicate},
		{"LeaseOnlyDue", testLeaseOnlyDue},
		{"LeaseEarliestDueFirstAndMax", testLeaseOrderAndMax},
		{"LeasedNotLeasedAgain", testLeasedNotLeasedAgain},
		{"ExpiredLeaseReappears", testExpiredLeaseReappears},
		{"AckRemoves", testAck},
		{"StaleHolderLosesLease", testStaleHolder},
		{"RescheduleAppendsHistory", testReschedule},
		{"DeadLetter", testDeadLetter},
		{"DeadLetterEndpoint", testDeadLetterEndpoint},
		{"LeaseEndpointLimits", testLeaseEndpointLimits},
		{"OrderedOneAtATimeInSeqOrder", testOrdered},
		{"RequeueOne", testRequeueOne},
		{"RequeueByEndpointAndAll", testRequeueByEndpointAndAll},
		{"ListFilters", testListFilters},
		{"CopyOnReturn", testCopyOnReturn},
		{"ConcurrentDispatchersNoDoubleLease", testConcurrentLease},
		{"ConcurrentExpiryAtLeastOnce", testConcurrentExpiry},
		{"AttemptsRoundTrip", reportErr(CheckAttemptsRoundTrip)},
		{"OneClockTheCallers", testOneClock},
		{"OrderedHeadRule", reportErr(CheckOrderedHead)},
		{"PagePendingEachOnceInOrder", testPagePending},
		{"PageDeadEachOnceInOrder", testPageDead},
		{"PageKeysetSurvivesChanges", testPageChanges},
		{"CompleteMixedBatchOneLeaseLost", testCompleteBatch},
		{"StatsCountAtTheCallersNow", testStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// RunBounded checks the bound on pending deliveries with stores made by newStore(max).
func RunBounded(t *testing.T, newStore func(t *testing.T, max int) queue.Store) {
	t.Helper()
	t.Run("QueueFull", func(t *testing.T) { testQueueFull(t, newStore(t, 3)) })
	t.Run("RequeueWhenFull", func(t *testing.T) { testRequeueFull(t, newStore(t, 2)) })
}

// RunDeadBounded checks the bound on dead letters with stores made by newStore(maxDead),
// which must implement queue.DeadEvicter: beyond the bound the oldest dead letters (in
// ListDead's order) are evicted, returned by the DeadEvicter methods, and forgotten.
func RunDeadBounded(t *testing.T, newStore func(t *testing.T, maxDead int) queue.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s queue.Store, de queue.DeadEvicter)
	}{
		{"DeadLetterEvictsOldest", testDeadEvictsOldest},
		{"DeadLetterEndpointEvictsOldest", testDeadEndpointEvicts},
		{"PlainDeadLetterEvictsToo", testPlainDeadLetterEvicts},
		{"EvictedAreForgotten", testEvictedForgotten},
		{"RequeueMakesRoom", testRequeueMakesRoom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, 3)
			de, ok := s.(queue.DeadEvicter)
			require.True(t, ok, "a store with a bound on dead letters implements queue.DeadEvicter")
			tc.fn(t, s, de)
		})
	}
}

// bury leases the pending deliveries ids (in that order) and dead-letters each through
// de, returning the IDs evicted, in the order reported.
func bury(t *testing.T, s queue.Store, de queue.DeadEvicter, ids ...string) []string {
	t.Helper()
	var evicted []string
	for _, id := range ids {
		got, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0, Max: 1, For: leaseFor, Endpoints: map[string]int{"ep-" + id: 1}})
		require.NoError(t, err)
		require.Len(t, got, 1, "lease %s", id)
		errs, ev, err := de.CompleteEvicting(ctxBack, T0, queue.DeadLetter(id, got[0].Lease, "retries exhausted", queue.Attempt{Number: 1, Status: 500}))
		require.NoError(t, err)
		require.Equal(t, []error{nil}, errs)
		for _, e := range ev {
			assert.NotEmpty(t, e.DeadReason, "an evicted dead letter is reported as it was")
			assert.Len(t, e.Attempts, 1, "with its history")
			evicted = append(evicted, e.ID)
		}
	}
	return evicted
}

// own enqueues deliveries, each to an endpoint of its own ("ep-"+id), so that bury can
// lease exactly the one it names.
func own(t *testing.T, s queue.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		enqueue(t, s, Delivery(t, id, "ep-"+id, T0))
	}
}

func testDeadEvictsOldest(t *testing.T, s queue.Store, de queue.DeadEvicter) {
	own(t, s, "a", "b", "c", "d", "e")
	assert.Empty(t, bury(t, s, de, "a", "b", "c"), "up to the bound nothing is evicted")
	assert.Equal(t, []string{"a", "b", "c"}, ids(dead(t, s)))
	assert.Equal(t, []string{"a"}, bury(t, s, de, "d"), "the oldest dead letter makes room")
	assert.Equal(t, []string{"b"}, bury(t, s, de, "e"))
	assert.Equal(t, []string{"c", "d", "e"}, ids(dead(t, s)), "the newest are kept")
}

func testDeadEndpointEvicts(t *testing.T, s queue.Store, de queue.DeadEvicter) {
	own(t, s, "old")
	require.Empty(t, bury(t, s, de, "old"))
	for i := range 4 {
		enqueue(t, s, Delivery(t, fmt.Sprint("x", i), "x", T0.Add(time.Duration(i)*time.Second)))
	}
	n, evicted, err := de.DeadLetterEndpointEvicting(ctxBack, T0, "x", queue.DeadReasonUnsubscribed)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	require.Len(t, evicted, 2, "five dead letters, three kept")
	assert.Equal(t, "old", evicted[0].ID, "the oldest dead letter goes first")
	kept := dead(t, s)
	require.Len(t, kept, 3)
	older := func(a, b queue.Delivery) bool {
		return a.DeadAt.Before(b.DeadAt) || (a.DeadAt.Equal(b.DeadAt) && a.Seq < b.Seq)
	}
	for _, e := range evicted {
		for _, k := range kept {
			assert.True(t, older(e, k), "evicted %s is older than kept %s", e.ID, k.ID)
		}
	}
	assert.Empty(t, list(t, s))
}

func testPlainDeadLetterEvicts(t *testing.T, s queue.Store, _ queue.DeadEvicter) {
	for _, id := range []string{"a", "b", "c", "d"} {
		enqueue(t, s, Delivery(t, id, "ep", T0))
		got := lease(t, s, T0, 1)
		require.Len(t, got, 1)
		require.NoError(t, deadLetter(s, T0, id, got[0].Lease, "rejected permanently"))
	}
	assert.Equal(t, []string{"b", "c", "d"}, ids(dead(t, s)), "Store.DeadLetter keeps the bound too")
	enqueue(t, s, Delivery(t, "e", "ep", T0), Delivery(t, "f", "ep", T0))
	n, err := s.DeadLetterEndpoint(ctxBack, T0, "ep", queue.DeadReasonUnsubscribed)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	got := dead(t, s)
	require.Len(t, got, 3, "Store.DeadLetterEndpoint keeps the bound too")
	assert.Equal(t, "d", got[0].ID)
}

func testEvictedForgotten(t *testing.T, s queue.Store, de queue.DeadEvicter) {
	own(t, s, "a", "b", "c", "d")
	require.Equal(t, []string{"a"}, bury(t, s, de, "a", "b", "c", "d"))
	_, err := s.Requeue(ctxBack, queue.Selector{ID: "a"}, T0)
	assert.ErrorIs(t, err, queue.ErrNotFound, "an evicted dead letter cannot be requeued")
	n, err := s.Requeue(ctxBack, queue.Selector{EndpointID: "ep-a"}, T0)
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, s.Enqueue(ctxBack, Delivery(t, "a", "ep-a", T0)), "its id is free again")
	assert.Equal(t, []string{"a"}, ids(list(t, s)))
}

func testRequeueMakesRoom(t *testing.T, s queue.Store, de queue.DeadEvicter) {
	own(t, s, "a", "b", "c")
	require.Empty(t, bury(t, s, de, "a", "b", "c"))
	n, err := s.Requeue(ctxBack, queue.Selector{ID: "b"}, T0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	own(t, s, "d")
	assert.Empty(t, bury(t, s, de, "d"), "a requeued dead letter frees its place")
	assert.Equal(t, []string{"a"}, bury(t, s, de, "b"), "dead again: the oldest goes")
	assert.ElementsMatch(t, []string{"b", "c", "d"}, ids(dead(t, s)))
}

var (
	encMu   sync.Mutex
	encSeq  int
	ctxBack = context.Background()
)

// Event returns a new encoded test event.
func Event(t testing.TB) *event.Encoded {
	t.Helper()
	enc, err := newEvent()
	require.NoError(t, err)
	return enc
}

// newEvent returns a new encoded test event, each with its own data.
func newEvent() (*event.Encoded, error) {
	encMu.Lock()
	encSeq++
	n := encSeq
	encMu.Unlock()
	ev, err := event.New("order-created", map[string]int{"n": n})
	if err != nil {
		return nil, err
	}
	return ev.Encode()
}

// Delivery returns a pending delivery for endpoint, due at due.
func Delivery(t testing.TB, id, endpoint string, due time.Time) queue.Delivery {
	t.Helper()
	return queue.Delivery{ID: id, EndpointID: endpoint, Event: Event(t), Created: T0, Due: due}
}

func enqueue(t *testing.T, s queue.Store, ds ...queue.Delivery) {
	t.Helper()
	require.NoError(t, s.Enqueue(ctxBack, ds...))
}

func lease(t *testing.T, s queue.Store, now time.Time, max int) []queue.Delivery {
	t.Helper()
	ds, err := s.Lease(ctxBack, queue.LeaseRequest{Now: now, Max: max, For: leaseFor})
	require.NoError(t, err)
	return ds
}

func ids(ds []queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// completeOne completes one outcome and returns its error.
func completeOne(ctx context.Context, s queue.Store, now time.Time, o queue.Outcome) error {
	errs, err := s.Complete(ctx, now, o)
	if err != nil {
		return err
	}
	if len(errs) != 1 {
		return fmt.Errorf("complete: %d results for 1 outcome", len(errs))
	}
	return errs[0]
}

func ack(s queue.Store, id, lease string) error {
	return completeOne(ctxBack, s, T0, queue.Ack(id, lease))
}

func reschedule(s queue.Store, id, lease string, due time.Time, as ...queue.Attempt) error {
	return completeOne(ctxBack, s, T0, queue.Reschedule(id, lease, due, as...))
}

func deadLetter(s queue.Store, now time.Time, id, lease, reason string, as ...queue.Attempt) error {
	return completeOne(ctxBack, s, now, queue.DeadLetter(id, lease, reason, as...))
}

func list(t *testing.T, s queue.Store) []queue.Delivery {
	t.Helper()
	p, err := s.ListPending(ctxBack, queue.ListFilter{})
	require.NoError(t, err)
	require.Empty(t, p.Next, "a listing without a limit is one page")
	return p.Deliveries
}

func dead(t *testing.T, s queue.Store) []queue.Delivery {
	t.Helper()
	p, err := s.ListDead(ctxBack, queue.ListFilter{})
	require.NoError(t, err)
	require.Empty(t, p.Next, "a listing without a limit is one page")
	return p.Deliveries
}

func testEnqueueAndList(t *testing.T, s queue.Store) {
	a, b, c := Delivery(t, "a", "ep1", T0.Add(2*time.Second)), Delivery(t, "b", "ep1", T0), Delivery(t, "c", "ep2", T0.Add(time.Second))
	enqueue(t, s, a, b)
	enqueue(t, s, c)
	got := list(t, s)
	require.Equal(t, []string{"b", "c", "a"}, ids(got), "ListPending is earliest due first")
	byID := map[string]queue.Delivery{}
	for _, d := range got {
		byID[d.ID] = d
		assert.Empty(t, d.Lease)
		assert.Empty(t, d.DeadReason)
	}
	assert.Less(t, byID["a"].Seq, byID["b"].Seq, "Seq follows enqueue order")
	assert.Less(t, byID["b"].Seq, byID["c"].Seq, "Seq increases across calls")
	assert.Equal(t, a.Event.ID(), byID["a"].Event.ID())
	assert.Equal(t, a.Event.Body(0), byID["a"].Event.Body(0))
	assert.True(t, byID["a"].Due.Equal(a.Due))
	assert.True(t, byID["a"].Created.Equal(T0))
	assert.Equal(t, "ep2", byID["c"].EndpointID)
	require.NoError(t, s.Enqueue(ctxBack), "empty enqueue is a no-op")
	assert.Len(t, list(t, s), 3)
}

func testEnqueueInvalid(t *testing.T, s queue.Store) {
	good := Delivery(t, "ok", "ep", T0)
	noID := Delivery(t, "", "ep", T0)
	noEP := Delivery(t, "x", "", T0)
	noEv := Delivery(t, "y", "ep", T0)
	noEv.Event = nil
	for _, bad := range []queue.Delivery{noID, noEP, noEv} {
		err := s.Enqueue(ctxBack, good, bad)
		assert.ErrorIs(t, err, queue.ErrInvalidDelivery)
	}
	assert.Empty(t, list(t, s), "a batch with an invalid delivery stores nothing")
}

func testEnqueueDuplicate(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0))
	assert.ErrorIs(t, s.Enqueue(ctxBack, Delivery(t, "b", "ep", T0), Delivery(t, "a", "ep", T0)), queue.ErrDuplicateDelivery)
	assert.ErrorIs(t, s.Enqueue(ctxBack, Delivery(t, "c", "ep", T0), Delivery(t, "c", "ep", T0)), queue.ErrDuplicateDelivery)
	big := make([]queue.Delivery, 0, 40)
	for i := range 39 {
		big = append(big, Delivery(t, fmt.Sprint("big", i), "ep", T0))
	}
	big = append(big, Delivery(t, "big7", "ep", T0))
	assert.ErrorIs(t, s.Enqueue(ctxBack, big...), queue.ErrDuplicateDelivery, "duplicate inside a large batch")
	assert.Equal(t, []string{"a"}, ids(list(t, s)), "nothing of a refused batch is stored")
	// A dead letter's id is still taken.
	got := lease(t, s, T0, 1)
	require.Len(t, got, 1)
	require.NoError(t, deadLetter(s, T0, "a", got[0].Lease, "test"))
	assert.ErrorIs(t, s.Enqueue(ctxBack, Delivery(t, "a", "ep", T0)), queue.ErrDuplicateDelivery)
}

func testLeaseOnlyDue(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "now", "ep", T0), Delivery(t, "later", "ep", T0.Add(time.Minute)))
	got := lease(t, s, T0, 10)
	require.Equal(t, []string{"now"}, ids(got))
	assert.NotEmpty(t, got[0].Lease)
	assert.True(t, got[0].LeaseExpires.Equal(T0.Add(leaseFor)), "LeaseExpires = Now + For")
	require.NoError(t, ack(s, "now", got[0].Lease))
	assert.Empty(t, lease(t, s, T0.Add(59*time.Second), 10), "not due yet")
	got = lease(t, s, T0.Add(time.Minute), 10)
	assert.Equal(t, []string{"later"}, ids(got), "due exactly at Due")
}

func testLeaseOrderAndMax(t *testing.T, s queue.Store) {
	for i := range 5 {
		enqueue(t, s, Delivery(t, fmt.Sprint("d", i), fmt.Sprint("ep", i%2), T0.Add(time.Duration(5-i)*time.Second)))
	}
	now := T0.Add(10 * time.Second)
	got := lease(t, s, now, 2)
	assert.Equal(t, []string{"d4", "d3"}, ids(got), "earliest due first, at most Max")
	got2 := lease(t, s, now, 10)
	assert.Equal(t, []string{"d2", "d1", "d0"}, ids(got2))
	seen := map[string]bool{}
	for _, d := range append(got, got2...) {
		assert.False(t, seen[d.Lease], "lease tokens are unique")
		seen[d.Lease] = true
	}
	assert.Empty(t, lease(t, s, now, 10))
}

func testLeasedNotLeasedAgain(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0))
	require.Len(t, lease(t, s, T0, 1), 1)
	assert.Empty(t, lease(t, s, T0.Add(leaseFor-time.Nanosecond), 1), "a live lease hides the delivery")
	all := list(t, s)
	require.Len(t, all, 1, "ListPending shows leased deliveries")
	assert.NotEmpty(t, all[0].Lease)
}

func testStats(t *testing.T, s queue.Store) {
	stats := func(now time.Time) queue.Stats {
		t.Helper()
		st, err := s.Stats(ctxBack, now)
		require.NoError(t, err)
		return st
	}
	assert.Equal(t, queue.Stats{}, stats(T0), "an empty store")
	enqueue(t, s, Delivery(t, "a", "ep", T0), Delivery(t, "b", "ep", T0), Delivery(t, "c", "ep", T0.Add(time.Hour)))
	assert.Equal(t, queue.Stats{Pending: 3}, stats(T0), "pending whether due or not")
	got := lease(t, s, T0, 2)
	require.Len(t, got, 2)
	assert.Equal(t, queue.Stats{Pending: 1, Leased: 2}, stats(T0))
	assert.Equal(t, queue.Stats{Pending: 1, Leased: 2}, stats(T0.Add(leaseFor-time.Nanosecond)), "live until LeaseExpires")
	assert.Equal(t, queue.Stats{Pending: 3}, stats(T0.Add(leaseFor)), "an expired lease counts as pending at the caller's now, before any Lease")
	require.NoError(t, deadLetter(s, T0, got[0].ID, got[0].Lease, "retries exhausted"))
	require.NoError(t, ack(s, got[1].ID, got[1].Lease))
	assert.Equal(t, queue.Stats{Pending: 1, Dead: 1}, stats(T0))
}

func testExpiredLeaseReappears(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0))
	first := lease(t, s, T0, 1)
	require.Len(t, first, 1)
	second := lease(t, s, T0.Add(leaseFor), 1)
	require.Equal(t, []string{"a"}, ids(second), "an expired lease makes the delivery visible again")
	assert.NotEqual(t, first[0].Lease, second[0].Lease)
	assert.True(t, second[0].LeaseExpires.Equal(T0.Add(2*leaseFor)))
	require.NoError(t, ack(s, "a", second[0].Lease))
	assert.Empty(t, list(t, s))
}

func testAck(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0), Delivery(t, "b", "ep", T0))
	got := lease(t, s, T0, 2)
	require.Len(t, got, 2)
	assert.ErrorIs(t, ack(s, "a", "not-a-lease"), queue.ErrLeaseLost, "wrong token")
	assert.ErrorIs(t, ack(s, "a", ""), queue.ErrLeaseLost, "empty token")
	assert.ErrorIs(t, ack(s, "zzz", got[0].Lease), queue.ErrLeaseLost, "unknown id")
	require.NoError(t, ack(s, got[0].ID, got[0].Lease))
	assert.ErrorIs(t, ack(s, got[0].ID, got[0].Lease), queue.ErrLeaseLost, "acknowledged twice")
	assert.Equal(t, []string{got[1].ID}, ids(list(t, s)))
	assert.Equal(t, []string{got[1].ID}, ids(lease(t, s, T0.Add(2*leaseFor), 2)),
		"an acknowledged delivery never comes back; the other one's lease expired")
	assert.Empty(t, dead(t, s))
}

func testStaleHolder(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0))
	stale := lease(t, s, T0, 1)[0]
	fresh := lease(t, s, T0.Add(leaseFor+time.Second), 1)
	require.Len(t, fresh, 1)
	assert.ErrorIs(t, ack(s, "a", stale.Lease), queue.ErrLeaseLost)
	assert.ErrorIs(t, reschedule(s, "a", stale.Lease, T0), queue.ErrLeaseLost)
	assert.ErrorIs(t, deadLetter(s, T0, "a", stale.Lease, "x"), queue.ErrLeaseLost)
	all := list(t, s)
	require.Len(t, all, 1, "the stale holder changed nothing")
	assert.Equal(t, fresh[0].Lease, all[0].Lease)
	assert.Empty(t, dead(t, s))
	require.NoError(t, reschedule(s, "a", fresh[0].Lease, T0))
	assert.ErrorIs(t, ack(s, "a", fresh[0].Lease), queue.ErrLeaseLost, "a rescheduled delivery is no longer leased")
}

func testReschedule(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0))
	d := lease(t, s, T0, 1)[0]
	require.NoError(t, reschedule(s, "a", d.Lease, T0.Add(time.Minute), queue.Attempt{Number: 1, Status: 503}))
	assert.Empty(t, lease(t, s, T0.Add(59*time.Second), 1), "not before the new due time")
	d = lease(t, s, T0.Add(time.Minute), 1)[0]
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, 503, d.Attempts[0].Status)
	require.NoError(t, reschedule(s, "a", d.Lease, T0.Add(2*time.Minute),
		queue.Attempt{Number: 2, Status: 500}, queue.Attempt{Number: 3, Status: 502}))
	all := list(t, s)
	require.Len(t, all, 1)
	assert.Empty(t, all[0].Lease)
	assert.True(t, all[0].Due.Equal(T0.Add(2*time.Minute)))
	require.Len(t, all[0].Attempts, 3, "attempts are appended, oldest first")
	assert.Equal(t, []int{1, 2, 3}, []int{all[0].Attempts[0].Number, all[0].Attempts[1].Number, all[0].Attempts[2].Number})
	// Rescheduling without attempts hands the delivery back unchanged.
	d = lease(t, s, T0.Add(2*time.Minute), 1)[0]
	require.NoError(t, reschedule(s, "a", d.Lease, T0.Add(2*time.Minute)))
	d = lease(t, s, T0.Add(2*time.Minute), 1)[0]
	assert.Len(t, d.Attempts, 3)
}

func testDeadLetter(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0), Delivery(t, "b", "ep", T0))
	got := lease(t, s, T0, 2)
	require.Len(t, got, 2)
	require.NoError(t, reschedule(s, "a", got[0].Lease, T0, queue.Attempt{Number: 1, Status: 500}))
	d := lease(t, s, T0, 1)[0]
	require.NoError(t, deadLetter(s, T0, "a", d.Lease, "retries exhausted", queue.Attempt{Number: 2, Status: 500}))
	require.NoError(t, deadLetter(s, T0, "b", got[1].Lease, "endpoint gone"))
	ds := dead(t, s)
	require.Equal(t, []string{"a", "b"}, ids(ds), "oldest dead letter first")
	assert.Equal(t, "retries exhausted", ds[0].DeadReason)
	assert.Equal(t, "endpoint gone", ds[1].DeadReason)
	assert.False(t, ds[0].DeadAt.IsZero())
	assert.Empty(t, ds[0].Lease)
	require.Len(t, ds[0].Attempts, 2, "the full attempt history is kept")
	assert.Equal(t, 2, ds[0].Attempts[1].Number)
	assert.Empty(t, list(t, s), "dead letters are not pending")
	assert.Empty(t, lease(t, s, T0.Add(time.Hour), 10), "dead letters are never leased")
	assert.ErrorIs(t, ack(s, "a", d.Lease), queue.ErrLeaseLost)
	assert.ErrorIs(t, deadLetter(s, T0, "a", d.Lease, "again"), queue.ErrLeaseLost)
}

func testDeadLetterEndpoint(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a1", "a", T0), Delivery(t, "a2", "a", T0.Add(time.Hour)),
		Delivery(t, "a3", "a", T0), Delivery(t, "b1", "b", T0))
	o := Delivery(t, "a4", "a", T0)
	o.Ordered = true
	enqueue(t, s, o)
	held, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0, Max: 1, For: leaseFor, Endpoints: map[string]int{"a": 1}})
	require.NoError(t, err)
	require.Len(t, held, 1)
	n, err := s.DeadLetterEndpoint(ctxBack, T0, "a", "endpoint gone")
	require.NoError(t, err)
	assert.Equal(t, 3, n, "every pending, not leased delivery of the endpoint")
	ds := dead(t, s)
	assert.Len(t, ds, 3)
	for _, d := range ds {
		assert.Equal(t, "a", d.EndpointID)
		assert.Equal(t, "endpoint gone", d.DeadReason)
		assert.NotEqual(t, held[0].ID, d.ID)
	}
	pending := list(t, s)
	assert.ElementsMatch(t, []string{held[0].ID, "b1"}, ids(pending), "leased ones and other endpoints stay")
	require.NoError(t, ack(s, held[0].ID, held[0].Lease), "the holder keeps its lease")
	n, err = s.DeadLetterEndpoint(ctxBack, T0, "nobody", "x")
	require.NoError(t, err)
	assert.Zero(t, n)
}

// testOneClock checks that the store keeps the caller's time and reads no clock of its
// own: DeadAt is exactly the now given to DeadLetter and DeadLetterEndpoint (times far
// from the wall clock, both in the past and in the future, in a zone other than UTC), and
// leasing at a caller time before Due returns nothing, at Due the delivery.
func testOneClock(t *testing.T, s queue.Store) {
	past := time.Date(1999, 12, 31, 23, 59, 59, 123456789, zone)
	future := time.Date(2099, 6, 1, 12, 0, 0, 987654321, zone)
	enqueue(t, s, Delivery(t, "a", "ep-a", past), Delivery(t, "b", "ep-b", future))
	assert.Empty(t, lease(t, s, past.Add(-time.Nanosecond), 10), "before Due at the caller's time: nothing, whatever the wall clock says")
	got := lease(t, s, past, 10)
	require.Equal(t, []string{"a"}, ids(got), "at Due at the caller's time: leased; a later delivery is not due")
	assert.True(t, got[0].LeaseExpires.Equal(past.Add(leaseFor)), "LeaseExpires = the caller's Now + For")
	require.NoError(t, deadLetter(s, past.Add(time.Second), "a", got[0].Lease, queue.DeadReasonRejected))
	assert.Empty(t, lease(t, s, future.Add(-time.Nanosecond), 10), "b is not due a nanosecond before its Due")
	n, err := s.DeadLetterEndpoint(ctxBack, future.Add(time.Hour), "ep-b", queue.DeadReasonUnsubscribed)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ds := dead(t, s)
	require.Equal(t, []string{"a", "b"}, ids(ds))
	assert.True(t, ds[0].DeadAt.Equal(past.Add(time.Second)), "DeadLetter: DeadAt %v is the caller's now", ds[0].DeadAt)
	assert.True(t, ds[1].DeadAt.Equal(future.Add(time.Hour)), "DeadLetterEndpoint: DeadAt %v is the caller's now", ds[1].DeadAt)
}

// testCompleteBatch completes a batch of every kind of outcome, one of them under a lost
// lease and one of them invalid: the others are applied, each reports its own error.
func testCompleteBatch(t *testing.T, s queue.Store) {
	own(t, s, "a", "b", "c", "d", "e")
	held := map[string]queue.Delivery{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		leaseFor := leaseFor
		if id == "d" {
			leaseFor = time.Second // to expire first
		}
		got, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0, Max: 1, For: leaseFor, Endpoints: map[string]int{"ep-" + id: 1}})
		require.NoError(t, err)
		require.Len(t, got, 1)
		held[id] = got[0]
	}
	// d's lease expires and another dispatcher leases it: the first holder's token is stale.
	fresh, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0.Add(time.Second), Max: 1, For: leaseFor, Endpoints: map[string]int{"ep-d": 1}})
	require.NoError(t, err)
	require.Len(t, fresh, 1)
	now := T0.Add(2 * time.Second)
	errs, err := s.Complete(ctxBack, now,
		queue.Ack("a", held["a"].Lease),
		queue.Reschedule("b", held["b"].Lease, T0.Add(time.Hour), queue.Attempt{Number: 1, Status: 503}),
		queue.DeadLetter("c", held["c"].Lease, queue.DeadReasonRejected, queue.Attempt{Number: 1, Status: 400}),
		queue.Ack("d", held["d"].Lease),
		queue.Outcome{ID: "e", Lease: held["e"].Lease},
		queue.Ack("a", held["a"].Lease),
	)
	require.NoError(t, err)
	require.Len(t, errs, 6, "one result per outcome")
	assert.NoError(t, errs[0], "ack")
	assert.NoError(t, errs[1], "reschedule")
	assert.NoError(t, errs[2], "dead letter")
	assert.ErrorIs(t, errs[3], queue.ErrLeaseLost, "the stale holder's outcome")
	assert.ErrorIs(t, errs[4], queue.ErrInvalidOutcome, "no kind")
	assert.ErrorIs(t, errs[5], queue.ErrLeaseLost, "a second outcome for one lease finds it ended")
	pending := map[string]queue.Delivery{}
	for _, d := range list(t, s) {
		pending[d.ID] = d
	}
	assert.NotContains(t, pending, "a", "acknowledged")
	require.Contains(t, pending, "b")
	assert.Empty(t, pending["b"].Lease, "rescheduled: pending again")
	assert.True(t, pending["b"].Due.Equal(T0.Add(time.Hour)))
	assert.Len(t, pending["b"].Attempts, 1)
	require.Contains(t, pending, "d")
	assert.Equal(t, fresh[0].Lease, pending["d"].Lease, "the lost lease's delivery stays with its new holder")
	require.Contains(t, pending, "e")
	assert.Equal(t, held["e"].Lease, pending["e"].Lease, "an invalid outcome changes nothing")
	ds := dead(t, s)
	require.Equal(t, []string{"c"}, ids(ds))
	assert.True(t, ds[0].DeadAt.Equal(now), "DeadAt is Complete's now")
	assert.Equal(t, queue.DeadReasonRejected, ds[0].DeadReason)
	errs, err = s.Complete(ctxBack, now)
	require.NoError(t, err)
	assert.Empty(t, errs, "an empty batch")
}

func testLeaseEndpointLimits(t *testing.T, s queue.Store) {
	for i := range 4 {
		enqueue(t, s, Delivery(t, fmt.Sprint("a", i), "a", T0), Delivery(t, fmt.Sprint("b", i), "b", T0),
			Delivery(t, fmt.Sprint("c", i), "c", T0))
	}
	req := queue.LeaseRequest{Now: T0, Max: 100, For: leaseFor, Endpoints: map[string]int{"a": 2, "b": 0, "x": 5}}
	got, err := s.Lease(ctxBack, req)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a0", "a1"}, ids(got), "only listed endpoints, at most their limit; 0 skips")
	got, err = s.Lease(ctxBack, queue.LeaseRequest{Now: T0, Max: 3, For: leaseFor, Endpoints: map[string]int{"b": 10, "c": 10}})
	require.NoError(t, err)
	assert.Len(t, got, 3, "Max bounds the total")
	for _, d := range got {
		assert.Contains(t, []string{"b", "c"}, d.EndpointID)
	}
	got = lease(t, s, T0, 100)
	assert.Len(t, got, 12-2-3, "a nil map leases every endpoint")
}

func testOrdered(t *testing.T, s queue.Store) {
	mk := func(id string, due time.Time) queue.Delivery {
		d := Delivery(t, id, "ep", due)
		d.Ordered = true
		return d
	}
	// o2 is due before o1 but was enqueued after it.
	enqueue(t, s, mk("o1", T0.Add(time.Second)), mk("o2", T0), mk("o3", T0))
	enqueue(t, s, Delivery(t, "u1", "ep", T0), Delivery(t, "u2", "ep", T0))
	got := lease(t, s, T0, 10)
	assert.ElementsMatch(t, []string{"u1", "u2"}, ids(got), "the ordered head (o1) is not due; o2 and o3 wait behind it")
	for _, d := range got {
		require.NoError(t, ack(s, d.ID, d.Lease))
	}
	got = lease(t, s, T0.Add(time.Second), 10)
	require.Equal(t, []string{"o1"}, ids(got), "one ordered delivery at a time")
	assert.Empty(t, lease(t, s, T0.Add(time.Second), 10), "nothing else while o1 is leased")
	require.NoError(t, reschedule(s, "o1", got[0].Lease, T0.Add(time.Minute), queue.Attempt{Number: 1, Status: 500}))
	assert.Empty(t, lease(t, s, T0.Add(30*time.Second), 10), "a rescheduled head still blocks its successors")
	got = lease(t, s, T0.Add(time.Minute), 10)
	require.Equal(t, []string{"o1"}, ids(got))
	require.NoError(t, ack(s, "o1", got[0].Lease))
	got = lease(t, s, T0.Add(time.Minute), 10)
	require.Equal(t, []string{"o2"}, ids(got), "then the next in Seq order")
	require.NoError(t, deadLetter(s, T0, "o2", got[0].Lease, "rejected permanently"))
	got = lease(t, s, T0.Add(time.Minute), 10)
	require.Equal(t, []string{"o3"}, ids(got), "a dead letter leaves the group")
	// An expired lease on the head gives it back, still first.
	enqueue(t, s, mk("o4", T0))
	assert.Empty(t, lease(t, s, T0.Add(time.Minute), 10))
	got = lease(t, s, T0.Add(time.Minute+leaseFor), 10)
	assert.Equal(t, []string{"o3"}, ids(got), "expired head comes back before o4")
}

func testRequeueOne(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0), Delivery(t, "b", "ep", T0))
	for _, d := range lease(t, s, T0, 2) {
		require.NoError(t, deadLetter(s, T0, d.ID, d.Lease, "retries exhausted",
			queue.Attempt{Number: 1, Status: 500}, queue.Attempt{Number: 2, Status: 500}))
	}
	_, err := s.Requeue(ctxBack, queue.Selector{ID: "nope"}, T0)
	assert.ErrorIs(t, err, queue.ErrNotFound)
	n, err := s.Requeue(ctxBack, queue.Selector{ID: "a"}, T0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"b"}, ids(dead(t, s)))
	p := list(t, s)
	require.Equal(t, []string{"a"}, ids(p))
	assert.Empty(t, p[0].DeadReason)
	assert.True(t, p[0].DeadAt.IsZero())
	assert.True(t, p[0].Due.Equal(T0.Add(time.Minute)))
	assert.Len(t, p[0].Attempts, 2, "history kept")
	assert.Equal(t, 2, p[0].RoundStart, "RoundStart marks the new round")
	assert.Empty(t, lease(t, s, T0, 5), "due at the requeue time")
	got := lease(t, s, T0.Add(time.Minute), 5)
	require.Equal(t, []string{"a"}, ids(got))
	require.NoError(t, ack(s, "a", got[0].Lease))
	_, err = s.Requeue(ctxBack, queue.Selector{ID: "a"}, T0)
	assert.ErrorIs(t, err, queue.ErrNotFound, "only dead letters are requeued")
}

func testRequeueByEndpointAndAll(t *testing.T, s queue.Store) {
	for _, ep := range []string{"x", "y", "z"} {
		enqueue(t, s, Delivery(t, ep+"1", ep, T0), Delivery(t, ep+"2", ep, T0))
	}
	for _, d := range lease(t, s, T0, 10) {
		require.NoError(t, deadLetter(s, T0, d.ID, d.Lease, "retries exhausted"))
	}
	n, err := s.Requeue(ctxBack, queue.Selector{EndpointID: "y"}, T0)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.ElementsMatch(t, []string{"y1", "y2"}, ids(list(t, s)))
	n, err = s.Requeue(ctxBack, queue.Selector{EndpointID: "nobody"}, T0)
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = s.Requeue(ctxBack, queue.Selector{}, T0)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Len(t, list(t, s), 6)
	assert.Empty(t, dead(t, s))
	assert.Len(t, lease(t, s, T0, 10), 6)
}

func testListFilters(t *testing.T, s queue.Store) {
	a := Delivery(t, "a", "ep1", T0)
	b := Delivery(t, "b", "ep2", T0.Add(time.Second))
	c := Delivery(t, "c", "ep1", T0.Add(2*time.Second))
	c.Event = a.Event // the same event to two... deliveries
	enqueue(t, s, a, b, c)
	got, err := s.ListPending(ctxBack, queue.ListFilter{EndpointID: "ep1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, ids(got.Deliveries))
	got, err = s.ListPending(ctxBack, queue.ListFilter{EventID: a.Event.ID()})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, ids(got.Deliveries))
	got, err = s.ListPending(ctxBack, queue.ListFilter{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, ids(got.Deliveries))
	assert.NotEmpty(t, got.Next, "a page that leaves deliveries out has a cursor")
	for _, d := range lease(t, s, T0.Add(time.Minute), 10) {
		require.NoError(t, deadLetter(s, T0, d.ID, d.Lease, "r"))
	}
	got, err = s.ListDead(ctxBack, queue.ListFilter{EndpointID: "ep2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, ids(got.Deliveries))
	got, err = s.ListDead(ctxBack, queue.ListFilter{EventID: a.Event.ID(), Limit: 1})
	require.NoError(t, err)
	assert.Len(t, got.Deliveries, 1)
}

// pages lists everything the listing selects, limit at a time, and returns the IDs of
// each page; before each page but the first it calls between.
func pages(t *testing.T, listing func(context.Context, queue.ListFilter) (queue.Page, error), f queue.ListFilter, between func(page int)) [][]string {
	t.Helper()
	var out [][]string
	for n := 0; ; n++ {
		require.Less(t, n, 100, "a listing that never ends")
		if n > 0 && between != nil {
			between(n)
		}
		p, err := listing(ctxBack, f)
		require.NoError(t, err)
		if f.Limit > 0 {
			require.LessOrEqual(t, len(p.Deliveries), f.Limit, "at most Limit")
		}
		out = append(out, ids(p.Deliveries))
		if p.Next == "" {
			return out
		}
		require.NotEqual(t, f.After, p.Next, "a cursor moves on")
		f.After = p.Next
	}
}

// pagingSet enqueues 25 deliveries, each to an endpoint of its own ("ep-"+id), with Due
// times that repeat (so that Seq breaks ties), and returns their IDs in ListPending's order.
func pagingSet(t *testing.T, s queue.Store) []string {
	t.Helper()
	var ds []queue.Delivery
	var want []string
	for i := range 25 {
		// Due cycles through 5 times, in reverse: the listing's order is not enqueue order.
		due := T0.Add(time.Duration(4-i%5) * time.Second)
		ds = append(ds, Delivery(t, fmt.Sprintf("p%02d", i), fmt.Sprintf("ep-p%02d", i), due))
	}
	enqueue(t, s, ds...)
	for k := range 5 {
		for i := 4 - k; i < 25; i += 5 {
			want = append(want, fmt.Sprintf("p%02d", i))
		}
	}
	return want
}

func testPagePending(t *testing.T, s queue.Store) {
	want := pagingSet(t, s)
	got := pages(t, s.ListPending, queue.ListFilter{Limit: 10}, nil)
	require.Len(t, got, 3, "25 deliveries, 10 a page")
	assert.Len(t, got[0], 10)
	assert.Len(t, got[1], 10)
	assert.Equal(t, want, slices.Concat(got...), "each exactly once, earliest Due then Seq")
	_, err := s.ListPending(ctxBack, queue.ListFilter{After: "not a cursor"})
	assert.ErrorIs(t, err, queue.ErrInvalidCursor)
}

func testPageDead(t *testing.T, s queue.Store) {
	want := pagingSet(t, s)
	// Dead-letter them in the listing's reverse order, two of each DeadAt, so that
	// ListDead's order (DeadAt, then Seq) is neither enqueue nor burial order.
	rev := slices.Clone(want)
	slices.Reverse(rev)
	for i, id := range rev {
		got, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0.Add(time.Hour), Max: 1, For: leaseFor, Endpoints: map[string]int{"ep-" + id: 1}})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.NoError(t, deadLetter(s, T0.Add(time.Duration(i/2)*time.Second), id, got[0].Lease, queue.DeadReasonRejected))
	}
	// Each pair shares a DeadAt: the lower Seq (enqueue order, the order of the IDs) first.
	var wantDead []string
	for k := 0; k < len(rev); k += 2 {
		pair := slices.Clone(rev[k:min(k+2, len(rev))])
		slices.Sort(pair)
		wantDead = append(wantDead, pair...)
	}
	assert.Equal(t, wantDead, ids(dead(t, s)), "ListDead is oldest DeadAt first, then Seq")
	got := pages(t, s.ListDead, queue.ListFilter{Limit: 10}, nil)
	require.Len(t, got, 3)
	assert.Equal(t, wantDead, slices.Concat(got...), "each exactly once, in order")
	_, err := s.ListDead(ctxBack, queue.ListFilter{After: "1.2"})
	assert.ErrorIs(t, err, queue.ErrInvalidCursor)
}

// testPageChanges adds and removes deliveries between pages: a keyset cursor neither
// repeats nor skips the others (an offset would).
func testPageChanges(t *testing.T, s queue.Store) {
	want := pagingSet(t, s)
	remove := func(id string) {
		got, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0.Add(time.Hour), Max: 1, For: leaseFor, Endpoints: map[string]int{"ep-" + id: 1}})
		require.NoError(t, err)
		require.Len(t, got, 1, "lease %s", id)
		require.NoError(t, ack(s, id, got[0].Lease))
	}
	got := pages(t, s.ListPending, queue.ListFilter{Limit: 10}, func(page int) {
		if page != 1 {
			return
		}
		// Before the cursor: an earlier delivery (an offset would repeat one) and the
		// removal of two already listed, the cursor's own delivery among them (an offset
		// would skip two).
		enqueue(t, s, Delivery(t, "early", "ep-early", T0.Add(-time.Hour)))
		remove(want[9])
		remove(want[0])
		// After it: a removal and an addition, which the next pages reflect.
		remove(want[15])
		enqueue(t, s, Delivery(t, "late", "ep-late", T0.Add(time.Hour)))
	})
	require.NotEmpty(t, got)
	assert.Equal(t, want[:10], got[0])
	rest := slices.Concat(got[1:]...)
	wantRest := append(slices.Concat(want[10:15], want[16:]), "late")
	assert.Equal(t, wantRest, rest, "the others exactly once, in order; the added one after the cursor too")
}

func testCopyOnReturn(t *testing.T, s queue.Store) {
	in := Delivery(t, "a", "ep", T0)
	in.Attempts = []queue.Attempt{{Number: 1, Status: 500}}
	enqueue(t, s, in)
	in.Attempts[0].Status = 999 // the caller's slice is not the stored one
	got := lease(t, s, T0, 1)[0]
	require.Len(t, got.Attempts, 1)
	assert.Equal(t, 500, got.Attempts[0].Status)
	got.Attempts[0].Status = 777
	got.EndpointID = "changed"
	got.Due = T0.Add(time.Hour)
	l := list(t, s)
	require.Len(t, l, 1)
	assert.Equal(t, 500, l[0].Attempts[0].Status, "returned values are copies")
	assert.Equal(t, "ep", l[0].EndpointID)
	l[0].Attempts[0].Status = 1
	require.NoError(t, deadLetter(s, T0, "a", got.Lease, "r"))
	d := dead(t, s)
	require.Len(t, d, 1)
	assert.Equal(t, 500, d[0].Attempts[0].Status)
	d[0].Attempts[0].Status = 2
	assert.Equal(t, 500, dead(t, s)[0].Attempts[0].Status)
}

// testConcurrentLease runs several "dispatchers" leasing and acknowledging the same
// store at once: every delivery must be leased exactly once (no lease expires).
func testConcurrentLease(t *testing.T, s queue.Store) {
	const n, workers = 600, 8
	batch := make([]queue.Delivery, 0, n)
	for i := range n {
		batch = append(batch, Delivery(t, fmt.Sprint("d", i), fmt.Sprint("ep", i%5), T0.Add(time.Duration(i%7)*time.Millisecond)))
	}
	enqueue(t, s, batch...)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			empty := 0
			for empty < 3 {
				ds, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0.Add(time.Second), Max: 1 + w%4, For: time.Hour})
				if !assert.NoError(t, err) {
					return
				}
				if len(ds) == 0 {
					empty++
					continue
				}
				for _, d := range ds {
					mu.Lock()
					seen[d.ID]++
					mu.Unlock()
					assert.NoError(t, ack(s, d.ID, d.Lease))
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, seen, n, "every delivery leased")
	for id, c := range seen {
		assert.Equal(t, 1, c, "delivery %s leased %d times", id, c)
	}
	assert.Empty(t, list(t, s))
}

// testConcurrentExpiry lets half the holders "crash" (never acknowledge): their
// deliveries must come back after the lease and be acknowledged by others.
func testConcurrentExpiry(t *testing.T, s queue.Store) {
	const n = 200
	for i := range n {
		enqueue(t, s, Delivery(t, fmt.Sprint("d", i), "ep", T0))
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := T0
			for round := 0; round < 50; round++ {
				ds, err := s.Lease(ctxBack, queue.LeaseRequest{Now: now, Max: 7, For: leaseFor})
				if !assert.NoError(t, err) {
					return
				}
				for i, d := range ds {
					if (i+w+round)%2 == 0 {
						continue // crashed holder: the lease will expire
					}
					if err := ack(s, d.ID, d.Lease); err == nil {
						mu.Lock()
						acked[d.ID] = true
						mu.Unlock()
					} else {
						assert.ErrorIs(t, err, queue.ErrLeaseLost)
					}
				}
				now = now.Add(leaseFor) // later calls see earlier leases expired
			}
		}()
	}
	wg.Wait()
	// Drain what is left: nothing may be lost.
	now := T0.Add(1000 * leaseFor)
	for {
		ds := lease(t, s, now, 50)
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			require.NoError(t, ack(s, d.ID, d.Lease))
			acked[d.ID] = true
		}
	}
	assert.Len(t, acked, n, "at-least-once: every delivery is acknowledged in the end")
}

func testQueueFull(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0), Delivery(t, "b", "ep", T0))
	assert.ErrorIs(t, s.Enqueue(ctxBack, Delivery(t, "c", "ep", T0), Delivery(t, "d", "ep", T0)), queue.ErrQueueFull)
	assert.Len(t, list(t, s), 2, "all or nothing")
	enqueue(t, s, Delivery(t, "c", "ep", T0))
	assert.ErrorIs(t, s.Enqueue(ctxBack, Delivery(t, "d", "ep", T0)), queue.ErrQueueFull)
	got := lease(t, s, T0, 2)
	require.Len(t, got, 2)
	assert.ErrorIs(t, s.Enqueue(ctxBack, Delivery(t, "d", "ep", T0)), queue.ErrQueueFull, "leased deliveries are pending")
	require.NoError(t, ack(s, got[0].ID, got[0].Lease))
	require.NoError(t, deadLetter(s, T0, got[1].ID, got[1].Lease, "r"))
	enqueue(t, s, Delivery(t, "d", "ep", T0), Delivery(t, "e", "ep", T0))
	assert.Len(t, list(t, s), 3, "acknowledged deliveries and dead letters free their place")
}

func testRequeueFull(t *testing.T, s queue.Store) {
	enqueue(t, s, Delivery(t, "a", "ep", T0), Delivery(t, "b", "ep", T0))
	for _, d := range lease(t, s, T0, 2) {
		require.NoError(t, deadLetter(s, T0, d.ID, d.Lease, "r"))
	}
	enqueue(t, s, Delivery(t, "c", "ep", T0))
	_, err := s.Requeue(ctxBack, queue.Selector{}, T0)
	assert.ErrorIs(t, err, queue.ErrQueueFull)
	assert.Len(t, dead(t, s), 2, "all or nothing")
	n, err := s.Requeue(ctxBack, queue.Selector{ID: "a"}, T0)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Requeue(ctxBack, queue.Selector{ID: "b"}, T0)
	assert.ErrorIs(t, err, queue.ErrQueueFull)
}

// reportErr turns a check that returns an error into a subtest that fails with it.
func reportErr(check func(ctx context.Context, s queue.Store) error) func(t *testing.T, s queue.Store) {
	return func(t *testing.T, s queue.Store) {
		t.Helper()
		if err := check(t.Context(), s); err != nil {
			t.Error(err)
		}
	}
}

// zone is a location other than UTC and Local, with a fractional offset, for the times
// of the attempts CheckAttemptsRoundTrip stores.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// RoundTripAttempts are the attempts CheckAttemptsRoundTrip stores: every field set to a
// value of its own (none zero), their Start times in a zone that is not UTC, to the
// nanosecond.
func RoundTripAttempts() [3]queue.Attempt {
	return [3]queue.Attempt{
		{Number: 1, Start: time.Date(2030, 1, 2, 8, 34, 5, 123456789, zone), Duration: 1500*time.Millisecond + 7,
			Status: 503, Class: queue.ClassRetryable, Error: "status 503 Service Unavailable", RetryAfter: 42 * time.Second},
		{Number: 2, Start: time.Date(2030, 1, 2, 8, 35, 6, 987654321, zone), Duration: 30*time.Second + 11,
			Status: 429, Class: queue.ClassRetryable, Error: "status 429 Too Many Requests", RetryAfter: 3 * time.Minute},
		{Number: 3, Start: time.Date(2030, 1, 2, 8, 40, 7, 1, zone), Duration: 25*time.Millisecond + 3,
			Status: 400, Class: queue.ClassPermanent, Error: "status 400 Bad Request", RetryAfter: time.Nanosecond},
	}
}

// CheckAttemptsRoundTrip checks that a store gives back every field of every attempt it
// was given, unchanged: through Enqueue, Reschedule (then ListPending and Lease) and
// DeadLetter (then ListDead). Start must be the same instant (time.Time.Equal; the
// location may differ); Number, Duration, Status, Class, Error and RetryAfter must be
// equal. The dispatcher's retry policy reads them back, so a store that keeps only some
// (say the number and the status) fails. It returns the first difference found, or nil.
// Run calls it (subtest AttemptsRoundTrip) on a fresh store; it needs an empty one.
func CheckAttemptsRoundTrip(ctx context.Context, s queue.Store) error {
	as := RoundTripAttempts()
	enc, err := newEvent()
	if err != nil {
		return err
	}
	// Enqueue with a history (what a migration from another store does).
	pre := queue.Delivery{ID: "rt-pre", EndpointID: "ep-rt-pre", Event: enc, Created: T0, Due: T0.Add(time.Hour),
		Attempts: []queue.Attempt{as[0]}}
	d := queue.Delivery{ID: "rt", EndpointID: "ep-rt", Event: enc, Created: T0, Due: T0}
	if err := s.Enqueue(ctx, pre, d); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	got, err := s.ListPending(ctx, queue.ListFilter{EndpointID: "ep-rt-pre"})
	if err != nil {
		return fmt.Errorf("list pending: %w", err)
	}
	if err := sameAttempts("Enqueue then ListPending", as[:1], got.Deliveries); err != nil {
		return err
	}
	leased, err := s.Lease(ctx, queue.LeaseRequest{Now: T0, Max: 1, For: leaseFor, Endpoints: map[string]int{"ep-rt": 1}})
	if err != nil || len(leased) != 1 {
		return fmt.Errorf("lease: %d deliveries, %v", len(leased), err)
	}
	if err := completeOne(ctx, s, T0, queue.Reschedule("rt", leased[0].Lease, T0, as[0], as[1])); err != nil {
		return fmt.Errorf("reschedule: %w", err)
	}
	got, err = s.ListPending(ctx, queue.ListFilter{EndpointID: "ep-rt"})
	if err != nil {
		return fmt.Errorf("list pending: %w", err)
	}
	if err := sameAttempts("Reschedule then ListPending", as[:2], got.Deliveries); err != nil {
		return err
	}
	leased, err = s.Lease(ctx, queue.LeaseRequest{Now: T0, Max: 1, For: leaseFor, Endpoints: map[string]int{"ep-rt": 1}})
	if err != nil || len(leased) != 1 {
		return fmt.Errorf("lease again: %d deliveries, %v", len(leased), err)
	}
	if err := sameAttempts("Reschedule then Lease", as[:2], leased); err != nil {
		return err
	}
	if err := completeOne(ctx, s, T0, queue.DeadLetter("rt", leased[0].Lease, queue.DeadReasonRejected, as[2])); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	got, err = s.ListDead(ctx, queue.ListFilter{EndpointID: "ep-rt"})
	if err != nil {
		return fmt.Errorf("list dead: %w", err)
	}
	return sameAttempts("DeadLetter then ListDead", as[:], got.Deliveries)
}

// CheckOrderedHead checks the head rule of Delivery.Ordered as a store shared by several
// dispatchers meets it: while the head of an endpoint's ordered group is leased, two
// concurrent Lease calls (two dispatchers) return nothing of the group, nor does a Lease
// once the head's successor alone is due; when the head is acknowledged, the next is
// leased. A store that merely skips leased deliveries in Seq order (SQL's SKIP LOCKED)
// fails. Run calls it (subtest OrderedHeadRule) on a fresh store; it needs an empty one.
func CheckOrderedHead(ctx context.Context, s queue.Store) error {
	var ds []queue.Delivery
	for i := range 3 {
		enc, err := newEvent()
		if err != nil {
			return err
		}
		ds = append(ds, queue.Delivery{ID: fmt.Sprint("oh", i), EndpointID: "ep-oh", Event: enc, Ordered: true, Created: T0, Due: T0})
	}
	if err := s.Enqueue(ctx, ds...); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	head, err := s.Lease(ctx, queue.LeaseRequest{Now: T0, Max: 1, For: leaseFor})
	if err != nil || len(head) != 1 || head[0].ID != "oh0" {
		return fmt.Errorf("lease the head: %v, %v; want oh0", ids(head), err)
	}
	var wg sync.WaitGroup
	got := make([][]queue.Delivery, 2)
	errs := make([]error, 2)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.Lease(ctx, queue.LeaseRequest{Now: T0.Add(time.Second), Max: 10, For: leaseFor})
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			return fmt.Errorf("lease while the head is leased: %w", errs[i])
		}
		if len(got[i]) > 0 {
			return fmt.Errorf("while the head oh0 is leased, a second dispatcher leased %v: only the lowest Seq of an ordered group may be leased", ids(got[i]))
		}
	}
	if err := completeOne(ctx, s, T0, queue.Ack("oh0", head[0].Lease)); err != nil {
		return fmt.Errorf("ack the head: %w", err)
	}
	next, err := s.Lease(ctx, queue.LeaseRequest{Now: T0.Add(time.Second), Max: 10, For: leaseFor})
	if err != nil || len(next) != 1 || next[0].ID != "oh1" {
		return fmt.Errorf("after the head is acknowledged: %v, %v; want oh1 alone", ids(next), err)
	}
	// The new head is handed back, not due for an hour: its successor, due, still waits.
	if err := completeOne(ctx, s, T0, queue.Reschedule("oh1", next[0].Lease, T0.Add(time.Hour))); err != nil {
		return fmt.Errorf("reschedule the head: %w", err)
	}
	if later, err := s.Lease(ctx, queue.LeaseRequest{Now: T0.Add(time.Minute), Max: 10, For: leaseFor}); err != nil || len(later) != 0 {
		return fmt.Errorf("while the head oh1 is not due: leased %v, %v; want nothing", ids(later), err)
	}
	return nil
}

// sameAttempts reports the first difference between want and the attempts of the one
// delivery in got.
func sameAttempts(step string, want []queue.Attempt, got []queue.Delivery) error {
	if len(got) != 1 {
		return fmt.Errorf("%s: %d deliveries listed, want 1", step, len(got))
	}
	have := got[0].Attempts
	if len(have) != len(want) {
		return fmt.Errorf("%s: %d attempts kept, want %d", step, len(have), len(want))
	}
	for i, w := range want {
		h := have[i]
		var diff []string
		if h.Number != w.Number {
			diff = append(diff, fmt.Sprintf("Number %d, want %d", h.Number, w.Number))
		}
		if !h.Start.Equal(w.Start) {
			diff = append(diff, fmt.Sprintf("Start %v, want %v", h.Start, w.Start))
		}
		if h.Duration != w.Duration {
			diff = append(diff, fmt.Sprintf("Duration %v, want %v", h.Duration, w.Duration))
		}
		if h.Status != w.Status {
			diff = append(diff, fmt.Sprintf("Status %d, want %d", h.Status, w.Status))
		}
		if h.Class != w.Class {
			diff = append(diff, fmt.Sprintf("Class %q, want %q", h.Class, w.Class))
		}
		if h.Error != w.Error {
			diff = append(diff, fmt.Sprintf("Error %q, want %q", h.Error, w.Error))
		}
		if h.RetryAfter != w.RetryAfter {
			diff = append(diff, fmt.Sprintf("RetryAfter %v, want %v", h.RetryAfter, w.RetryAfter))
		}
		if len(diff) > 0 {
			return fmt.Errorf("%s: attempt %d not kept as given: %v", step, i+1, diff)
		}
	}
	return nil
}
