package queuetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// lossy is a store that forgets some fields of the attempts it is given, as a careless
// durable store (one that persists only a number and a status, say) would.
type lossy struct {
	queue.Store
	drop func(a *queue.Attempt)
}

func (l lossy) strip(as []queue.Attempt) []queue.Attempt {
	out := make([]queue.Attempt, len(as))
	for i, a := range as {
		l.drop(&a)
		out[i] = a
	}
	return out
}

func (l lossy) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	for i := range ds {
		ds[i].Attempts = l.strip(ds[i].Attempts)
	}
	return l.Store.Enqueue(ctx, ds...)
}

func (l lossy) Complete(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, error) {
	for i := range os {
		os[i].Attempts = l.strip(os[i].Attempts)
	}
	return l.Store.Complete(ctx, now, os...)
}

// naive is a store that orders an ordered group by Seq but only skips what is leased, as
// "ORDER BY seq FOR UPDATE SKIP LOCKED" does: it keeps no head rule (its deliveries are
// stored unordered, so memqueue leases each as soon as it is due).
type naive struct{ queue.Store }

func (n naive) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	for i := range ds {
		ds[i].Ordered = false
	}
	return n.Store.Enqueue(ctx, ds...)
}

// TestOrderedHeadCatchesSkipLocked: the head-rule check fails a store that leases the
// next ordered delivery while the head is leased, and passes the in-memory store.
func TestOrderedHeadCatchesSkipLocked(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, queuetest.CheckOrderedHead(ctx, newMem(t)))
	err := queuetest.CheckOrderedHead(ctx, naive{newMem(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "while the head oh0 is leased")
}

func newMem(*testing.T) queue.Store { return memqueue.New(memqueue.Config{}) }

// TestAttemptsRoundTripCatchesLossyStores: a store that keeps only the number and the
// status of each attempt fails the check, and so does one that loses any single field.
func TestAttemptsRoundTripCatchesLossyStores(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, queuetest.CheckAttemptsRoundTrip(ctx, newMem(t)), "the in-memory store keeps everything")

	for _, tc := range []struct {
		name string
		drop func(a *queue.Attempt)
	}{
		{"number and status only", func(a *queue.Attempt) { *a = queue.Attempt{Number: a.Number, Status: a.Status} }},
		{"Number", func(a *queue.Attempt) { a.Number = 0 }},
		{"Start", func(a *queue.Attempt) { a.Start = time.Time{} }},
		{"Start to the second", func(a *queue.Attempt) { a.Start = a.Start.Truncate(time.Second) }},
		{"Start as wall clock in UTC", func(a *queue.Attempt) {
			a.Start = time.Date(a.Start.Year(), a.Start.Month(), a.Start.Day(), a.Start.Hour(), a.Start.Minute(),
				a.Start.Second(), a.Start.Nanosecond(), time.UTC)
		}},
		{"Duration", func(a *queue.Attempt) { a.Duration = 0 }},
		{"Duration to the millisecond", func(a *queue.Attempt) { a.Duration = a.Duration.Truncate(time.Millisecond) }},
		{"Status", func(a *queue.Attempt) { a.Status = 0 }},
		{"Class", func(a *queue.Attempt) { a.Class = "" }},
		{"Error", func(a *queue.Attempt) { a.Error = "" }},
		{"RetryAfter", func(a *queue.Attempt) { a.RetryAfter = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := queuetest.CheckAttemptsRoundTrip(ctx, lossy{Store: newMem(t), drop: tc.drop})
			assert.Error(t, err, "a store that loses %s fails the suite", tc.name)
		})
	}
}

// TestAttemptsRoundTripAcceptsAnotherLocation: a store may give Start back in another
// location (UTC, say), as long as it is the same instant.
func TestAttemptsRoundTripAcceptsAnotherLocation(t *testing.T) {
	s := lossy{Store: newMem(t), drop: func(a *queue.Attempt) { a.Start = a.Start.UTC() }}
	assert.NoError(t, queuetest.CheckAttemptsRoundTrip(context.Background(), s))
}

// TestRoundTripAttemptsAreNotZero: every field of every attempt the check stores is set,
// to a value of its own, and the times are not in UTC, so that a dropped field shows.
func TestRoundTripAttemptsAreNotZero(t *testing.T) {
	as := queuetest.RoundTripAttempts()
	for i, a := range as {
		assert.NotZero(t, a.Number, i)
		assert.NotZero(t, a.Start, i)
		assert.NotEqual(t, time.UTC, a.Start.Location(), i)
		assert.NotZero(t, a.Start.Nanosecond(), i)
		assert.NotZero(t, a.Duration, i)
		assert.NotZero(t, a.Duration%time.Millisecond, i)
		assert.NotZero(t, a.Status, i)
		assert.NotEmpty(t, a.Class, i)
		assert.NotEmpty(t, a.Error, i)
		assert.NotZero(t, a.RetryAfter, i)
	}
}

// TestMemoryStorePassesTheSuite runs the whole suite on the in-memory store, through a
// wrapper that keeps every field: the wrapper used above changes nothing else.
func TestMemoryStorePassesTheSuite(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Store {
		return lossy{Store: newMem(t), drop: func(*queue.Attempt) {}}
	})
}

// pretender is a store that claims queue.LeasingEnqueuer but stores every delivery
// pending and makes up the tokens, as a careless implementation might.
type pretender struct{ queue.Store }

func (p pretender) EnqueueLeased(ctx context.Context, ds []queue.Delivery, committed func()) error {
	if err := p.Enqueue(ctx, ds...); err != nil {
		return err
	}
	defer committed()
	for i := range ds {
		ds[i].Seq = uint64(i + 1)
		if !ds[i].LeaseExpires.IsZero() {
			ds[i].Lease = "made-up"
		}
	}
	return nil
}

// TestEnqueueLeasedCatchesAPretender: the check of EnqueueLeased passes the in-memory
// store and fails one that stores the "leased" deliveries pending.
func TestEnqueueLeasedCatchesAPretender(t *testing.T) {
	ctx := context.Background()
	m := memqueue.New(memqueue.Config{})
	require.NoError(t, queuetest.CheckEnqueueLeased(ctx, m, m))
	p := pretender{newMem(t)}
	err := queuetest.CheckEnqueueLeased(ctx, p, p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want 1 pending, 1 leased")
}
