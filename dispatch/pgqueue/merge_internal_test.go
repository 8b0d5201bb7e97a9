package pgqueue

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// mergeStore returns a Store on a fresh schema, with the bound maxPending (0: the
// default), on a pool of 4 connections.
func mergeStore(t *testing.T, maxPending int) *Store {
	t.Helper()
	s, _ := connsStore(t, 4, maxPending)
	return s
}

// enqueueTogether makes one Enqueue call per element of calls while every statement slot
// is taken, waits until all are queued, then frees the slots: the calls go in one
// statement. It returns each call's result, in order.
func enqueueTogether(t *testing.T, s *Store, calls ...[]queue.Delivery) []error {
	t.Helper()
	fns := make([]func() error, len(calls))
	for i, ds := range calls {
		fns[i] = func() error { return s.Enqueue(t.Context(), ds...) }
	}
	return callTogether(t, s, fns...)
}

// callTogether is enqueueTogether of calls that each enqueue (Enqueue or EnqueueLeased)
// through the group once.
func callTogether(t *testing.T, s *Store, calls ...func() error) []error {
	t.Helper()
	g := &s.eg
	g.mu.Lock()
	g.running = enqueueRunners
	g.mu.Unlock()
	res := make([]chan error, len(calls))
	for i, call := range calls {
		res[i] = make(chan error, 1)
		go func() { res[i] <- call() }()
		waitQueued(t, s, i+1)
	}
	g.mu.Lock()
	g.running = 0
	g.signalLocked()
	g.mu.Unlock()
	errs := make([]error, len(calls))
	for i := range res {
		errs[i] = <-res[i]
	}
	return errs
}

// pendingIDs returns the IDs of the pending deliveries.
func pendingIDs(t *testing.T, s *Store) []string {
	t.Helper()
	p, err := s.ListPending(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	var ids []string
	for _, d := range p.Deliveries {
		ids = append(ids, d.ID)
	}
	return ids
}

func delivery(t *testing.T, id string) queue.Delivery {
	return queuetest.Delivery(t, id, "ep", queuetest.T0)
}

// TestConcurrentEnqueuesShareAStatement: calls queued while the statement slots are busy
// are stored by one statement, each with its own nil result.
func TestConcurrentEnqueuesShareAStatement(t *testing.T) {
	s := mergeStore(t, 0)
	before := s.eg.merged.Load()
	errs := enqueueTogether(t, s, []queue.Delivery{delivery(t, "a")},
		[]queue.Delivery{delivery(t, "b1"), delivery(t, "b2")}, []queue.Delivery{delivery(t, "c")})
	assert.Equal(t, []error{nil, nil, nil}, errs)
	assert.Equal(t, before+1, s.eg.merged.Load(), "one merged statement")
	assert.ElementsMatch(t, []string{"a", "b1", "b2", "c"}, pendingIDs(t, s))
}

// TestMergedEnqueueRefusesOnlyTheCallAtFault: a duplicate in one call fails that call
// alone, all or none (its other delivery is not stored); the calls beside it are stored.
func TestMergedEnqueueRefusesOnlyTheCallAtFault(t *testing.T) {
	s := mergeStore(t, 0)
	require.NoError(t, s.Enqueue(t.Context(), delivery(t, "dup")))
	errs := enqueueTogether(t, s, []queue.Delivery{delivery(t, "a")},
		[]queue.Delivery{delivery(t, "b"), delivery(t, "dup")}, []queue.Delivery{delivery(t, "c")})
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], queue.ErrDuplicateDelivery)
	assert.NoError(t, errs[2])
	assert.ElementsMatch(t, []string{"dup", "a", "c"}, pendingIDs(t, s))

	// Two calls with the same new ID: the first is stored, the second refused.
	errs = enqueueTogether(t, s, []queue.Delivery{delivery(t, "x")}, []queue.Delivery{delivery(t, "x")})
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], queue.ErrDuplicateDelivery)
}

// TestMergedEnqueueLeased: EnqueueLeased calls merged with an Enqueue into one statement
// each get their own Seqs and tokens, in order, and one call of committed; the Enqueue's
// slice is left as it was; the leased deliveries are held, the others leasable.
func TestMergedEnqueueLeased(t *testing.T) {
	s := mergeStore(t, 0)
	before := s.eg.merged.Load()
	plain := []queue.Delivery{delivery(t, "a")}
	held := func(id string) queue.Delivery {
		d := delivery(t, id)
		d.LeaseExpires = queuetest.T0.Add(time.Hour)
		return d
	}
	first := []queue.Delivery{held("l1"), delivery(t, "l2")}
	second := []queue.Delivery{held("l3")}
	var commits [2]int
	errs := callTogether(t, s,
		func() error { return s.Enqueue(t.Context(), plain...) },
		func() error { return s.EnqueueLeased(t.Context(), first, func() { commits[0]++ }) },
		func() error { return s.EnqueueLeased(t.Context(), second, func() { commits[1]++ }) })
	assert.Equal(t, []error{nil, nil, nil}, errs)
	assert.Equal(t, before+1, s.eg.merged.Load(), "one merged statement")
	assert.Equal(t, [2]int{1, 1}, commits, "committed called once for each EnqueueLeased")
	assert.Zero(t, plain[0].Seq, "Enqueue writes nothing into its caller's slice")
	assert.NotEmpty(t, first[0].Lease)
	assert.Empty(t, first[1].Lease, "stored pending: no token")
	assert.NotEmpty(t, second[0].Lease)
	assert.NotEqual(t, first[0].Lease, second[0].Lease)
	assert.NotZero(t, first[0].Seq)
	assert.Greater(t, first[1].Seq, first[0].Seq, "Seqs in argument order")
	assert.Greater(t, second[0].Seq, first[1].Seq, "the calls in the order they were queued")

	st, err := s.Stats(t.Context(), queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 2, Leased: 2}, st)
	got, err := s.Lease(t.Context(), queue.LeaseRequest{Now: queuetest.T0, Max: 10, For: time.Minute})
	require.NoError(t, err)
	var leasable []string
	for _, d := range got {
		leasable = append(leasable, d.ID)
	}
	assert.ElementsMatch(t, []string{"a", "l2"}, leasable, "the held deliveries are not leased again")
	res, err := s.Complete(t.Context(), queuetest.T0, queue.Ack("l1", first[0].Lease), queue.Ack("l3", second[0].Lease))
	require.NoError(t, err)
	assert.Equal(t, []error{nil, nil}, res, "acknowledged under the tokens written back")
}

// TestMergedEnqueueLeasedRefusesOnlyTheCallAtFault: an EnqueueLeased with a duplicate,
// merged with another, fails alone, without a call of committed; the other is stored
// leased, its token and Seq written back.
func TestMergedEnqueueLeasedRefusesOnlyTheCallAtFault(t *testing.T) {
	s := mergeStore(t, 0)
	require.NoError(t, s.Enqueue(t.Context(), delivery(t, "dup")))
	bad, good := []queue.Delivery{delivery(t, "new"), delivery(t, "dup")}, []queue.Delivery{delivery(t, "ok")}
	for i := range bad {
		bad[i].LeaseExpires = queuetest.T0.Add(time.Hour)
	}
	good[0].LeaseExpires = queuetest.T0.Add(time.Hour)
	var commits [2]int
	errs := callTogether(t, s,
		func() error { return s.EnqueueLeased(t.Context(), bad, func() { commits[0]++ }) },
		func() error { return s.EnqueueLeased(t.Context(), good, func() { commits[1]++ }) })
	assert.ErrorIs(t, errs[0], queue.ErrDuplicateDelivery)
	assert.NoError(t, errs[1])
	assert.Equal(t, [2]int{0, 1}, commits)
	assert.Empty(t, bad[0].Lease, "nothing written back into a refused call's slice")
	assert.NotEmpty(t, good[0].Lease)
	assert.NotZero(t, good[0].Seq)
	assert.ElementsMatch(t, []string{"dup", "ok"}, pendingIDs(t, s))
}

// TestMergedEnqueueKeepsTheBoundPerCall: calls that fit the bound one by one, but not
// together, are stored in order until the bound refuses one.
func TestMergedEnqueueKeepsTheBoundPerCall(t *testing.T) {
	s := mergeStore(t, 3)
	require.NoError(t, s.Enqueue(t.Context(), delivery(t, "old")))
	errs := enqueueTogether(t, s, []queue.Delivery{delivery(t, "a")},
		[]queue.Delivery{delivery(t, "b1"), delivery(t, "b2")}, []queue.Delivery{delivery(t, "c")})
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], queue.ErrQueueFull)
	assert.NoError(t, errs[2])
	assert.ElementsMatch(t, []string{"old", "a", "c"}, pendingIDs(t, s))
}

// TestQueuedEnqueueLeavesWhenItsContextEnds: a call whose context ends while it waits for
// a statement slot returns the context's error and stores nothing; the others go on.
func TestQueuedEnqueueLeavesWhenItsContextEnds(t *testing.T) {
	s := mergeStore(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	g := &s.eg
	g.mu.Lock()
	g.running = enqueueRunners
	g.mu.Unlock()
	res := make(chan error, 1)
	go func() { res <- s.Enqueue(ctx, delivery(t, "gone")) }()
	waitQueued(t, s, 1)
	cancel()
	assert.ErrorIs(t, <-res, context.Canceled)
	g.mu.Lock()
	assert.Empty(t, g.pending, "it left the queue")
	g.running = 0
	g.mu.Unlock()
	require.NoError(t, s.Enqueue(t.Context(), delivery(t, "kept")))
	assert.Equal(t, []string{"kept"}, pendingIDs(t, s))
}

// TestMergedEnqueueRetriesAServerRefusalCallByCall: an error the server reports for one
// call's data (an ID with a NUL byte, which text cannot hold) fails that call alone.
func TestMergedEnqueueRetriesAServerRefusalCallByCall(t *testing.T) {
	s := mergeStore(t, 0)
	errs := enqueueTogether(t, s, []queue.Delivery{delivery(t, "a")},
		[]queue.Delivery{delivery(t, "b\x00")}, []queue.Delivery{delivery(t, "c")})
	assert.NoError(t, errs[0])
	assert.Error(t, errs[1])
	assert.NoError(t, errs[2])
	assert.ElementsMatch(t, []string{"a", "c"}, pendingIDs(t, s))
}

// TestOrderedEnqueueDoesNotHoldTheSharedStatements: an Enqueue of ordered deliveries
// waiting for its endpoint's lock (held by an application's open EnqueueTx) has a
// statement of its own: two of them waiting do not stop an unordered Enqueue.
func TestOrderedEnqueueDoesNotHoldTheSharedStatements(t *testing.T) {
	ctx := t.Context()
	s := mergeStore(t, 0)
	ordered := func(id string) queue.Delivery {
		d := delivery(t, id)
		d.Ordered = true
		return d
	}
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	require.NoError(t, s.EnqueueTx(ctx, tx, ordered("held")))
	waiting := make(chan error, 2)
	for _, id := range []string{"o1", "o2"} {
		go func() { waiting <- s.Enqueue(ctx, ordered(id)) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for { // both wait for the endpoint's lock
		var n int
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n))
		if n == 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the ordered calls do not wait for the lock")
		time.Sleep(10 * time.Millisecond) // Postgres's lock table: no event to wait on
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, s.Enqueue(short, delivery(t, "free")), "an unordered Enqueue goes on")
	require.NoError(t, tx.Commit(ctx))
	for range 2 {
		require.NoError(t, <-waiting)
	}
	assert.ElementsMatch(t, []string{"held", "o1", "o2", "free"}, pendingIDs(t, s))
}

// TestQueuedEnqueuePassesOnItsWakeUp: a queued call woken to take a free statement slot
// whose context has ended leaves and wakes the next queued call, which then runs.
func TestQueuedEnqueuePassesOnItsWakeUp(t *testing.T) {
	s := mergeStore(t, 0)
	g := &s.eg
	cancelA, resA, resB := queueTwo(t, s)
	g.mu.Lock()
	g.running = 0
	g.signalLocked() // the wake-up goes to a
	cancelA()
	g.mu.Unlock()
	assert.ErrorIs(t, <-resA, context.Canceled)
	select {
	case err := <-resB:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("b was never woken")
	}
	assert.Equal(t, []string{"b"}, pendingIDs(t, s))
}

// TestEnqueueCancelledBeforeItsStatementStoresNothing: a call whose context ends after it
// was queued, whichever way it leaves (alone, or dropped from the statement that takes
// it), returns its context's error and stores nothing; the call beside it is stored.
func TestEnqueueCancelledBeforeItsStatementStoresNothing(t *testing.T) {
	s := mergeStore(t, 0)
	g := &s.eg
	cancelA, resA, resB := queueTwo(t, s)
	g.mu.Lock()
	cancelA()
	g.running = 0
	g.pending[1].lead <- struct{}{} // b may take the slot, and a with it, before a leaves
	g.mu.Unlock()
	assert.ErrorIs(t, <-resA, context.Canceled)
	assert.NoError(t, <-resB)
	assert.Equal(t, []string{"b"}, pendingIDs(t, s))
}

// queueTwo takes every statement slot of s and queues two calls, a (whose context cancelA
// ends) then b, delivering "a" and "b"; their results come on resA and resB.
func queueTwo(t *testing.T, s *Store) (cancelA context.CancelFunc, resA, resB chan error) {
	t.Helper()
	s.eg.mu.Lock()
	s.eg.running = enqueueRunners
	s.eg.mu.Unlock()
	ctxA, cancelA := context.WithCancel(t.Context())
	resA, resB = make(chan error, 1), make(chan error, 1)
	go func() { resA <- s.Enqueue(ctxA, delivery(t, "a")) }()
	waitQueued(t, s, 1)
	go func() { resB <- s.Enqueue(t.Context(), delivery(t, "b")) }()
	waitQueued(t, s, 2)
	return cancelA, resA, resB
}

// waitQueued waits until n calls are queued in s's enqueue group.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.eg.mu.Lock()
		k := len(s.eg.pending)
		s.eg.mu.Unlock()
		if k == n {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d calls not queued", n)
		runtime.Gosched()
	}
}
