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
func enqueueTogether(t *testing.T, s *Store, ctxs []context.Context, calls ...[]queue.Delivery) []error {
	t.Helper()
	g := &s.eg
	g.mu.Lock()
	g.running = enqueueRunners
	g.mu.Unlock()
	res := make([]chan error, len(calls))
	for i, ds := range calls {
		res[i] = make(chan error, 1)
		ctx := t.Context()
		if ctxs != nil {
			ctx = ctxs[i]
		}
		go func() { res[i] <- s.Enqueue(ctx, ds...) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			g.mu.Lock()
			n := len(g.pending)
			g.mu.Unlock()
			if n == i+1 {
				break
			}
			require.True(t, time.Now().Before(deadline), "call %d not queued", i)
			runtime.Gosched()
		}
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
	errs := enqueueTogether(t, s, nil, []queue.Delivery{delivery(t, "a")},
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
	errs := enqueueTogether(t, s, nil, []queue.Delivery{delivery(t, "a")},
		[]queue.Delivery{delivery(t, "b"), delivery(t, "dup")}, []queue.Delivery{delivery(t, "c")})
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], queue.ErrDuplicateDelivery)
	assert.NoError(t, errs[2])
	assert.ElementsMatch(t, []string{"dup", "a", "c"}, pendingIDs(t, s))

	// Two calls with the same new ID: the first is stored, the second refused.
	errs = enqueueTogether(t, s, nil, []queue.Delivery{delivery(t, "x")}, []queue.Delivery{delivery(t, "x")})
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], queue.ErrDuplicateDelivery)
}

// TestMergedEnqueueKeepsTheBoundPerCall: calls that fit the bound one by one, but not
// together, are stored in order until the bound refuses one.
func TestMergedEnqueueKeepsTheBoundPerCall(t *testing.T) {
	s := mergeStore(t, 3)
	require.NoError(t, s.Enqueue(t.Context(), delivery(t, "old")))
	errs := enqueueTogether(t, s, nil, []queue.Delivery{delivery(t, "a")},
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
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	cancel()
	assert.ErrorIs(t, <-res, context.Canceled)
	g.mu.Lock()
	assert.Empty(t, g.pending, "it left the queue")
	g.running = 0
	g.mu.Unlock()
	require.NoError(t, s.Enqueue(t.Context(), delivery(t, "kept")))
	assert.Equal(t, []string{"kept"}, pendingIDs(t, s))
}
