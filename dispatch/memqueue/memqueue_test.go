package memqueue_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/event"
)

func TestMemoryStoreConformance(t *testing.T) {
	queuetest.Run(t, func(*testing.T) queue.Store { return memqueue.New(memqueue.Config{}) })
	queuetest.RunEndpointCounts(t, func(*testing.T) queue.Store { return memqueue.New(memqueue.Config{}) })
	queuetest.RunLeasingEnqueuer(t, func(*testing.T) queue.Store { return memqueue.New(memqueue.Config{}) })
	queuetest.RunBounded(t, func(_ *testing.T, max int) queue.Store {
		return memqueue.New(memqueue.Config{MaxPending: max})
	})
	queuetest.RunDeadBounded(t, func(_ *testing.T, maxDead int) queue.Store {
		return memqueue.New(memqueue.Config{MaxDead: maxDead})
	})
}

// TestMemoryStoreDeadLettersBoundedOldestEvicted makes 20,000 dead letters in a store that
// keeps 1,000: the 1,000 newest stay, the 19,000 others are evicted oldest first and
// reported, and the heap holds about what the 1,000 kept need, not what 20,000 would.
func TestMemoryStoreDeadLettersBoundedOldestEvicted(t *testing.T) {
	const total, maxDead, batch = 20_000, 1000, 1000
	ctx := context.Background()
	var mu sync.Mutex
	clock := queuetest.T0
	now := func() time.Time { // every dead letter gets its own DeadAt
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	m := memqueue.New(memqueue.Config{MaxDead: maxDead})
	pad := strings.Repeat("x", 1024) // each dead letter holds at least 1 KiB of its own
	heapNow := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heapNow()

	evicted, next, outOfOrder := 0, 0, 0
	for b := 0; b < total/batch; b++ {
		ds := make([]queue.Delivery, batch)
		for i := range ds {
			n := b*batch + i
			ev, err := event.New("order-created", map[string]any{"n": n, "pad": pad})
			require.NoError(t, err)
			enc, err := ev.Encode()
			require.NoError(t, err)
			ds[i] = queue.Delivery{ID: fmt.Sprint("d", n), EndpointID: "ep", Event: enc, Due: queuetest.T0}
		}
		require.NoError(t, m.Enqueue(ctx, ds...))
		leased, err := m.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: batch, For: time.Minute})
		require.NoError(t, err)
		require.Len(t, leased, batch)
		for _, d := range leased {
			errs, out, err := m.CompleteEvicting(ctx, now(), queue.DeadLetter(d.ID, d.Lease, queue.DeadReasonRejected,
				queue.Attempt{Number: 1, Status: 400, Class: queue.ClassPermanent}))
			require.NoError(t, err)
			require.NoError(t, errs[0])
			for _, e := range out {
				if e.ID != fmt.Sprint("d", next) {
					outOfOrder++
				}
				next++
			}
			evicted += len(out)
		}
	}
	after := heapNow()
	growth := int64(after) - int64(before)
	t.Logf("heap growth: %d KiB for %d dead letters kept of %d (%d B per dead letter kept)", growth>>10, maxDead, total, growth/maxDead)
	// Unbounded, the 20,000 dead letters hold more than 20,000 × 1 KiB = 20 MiB.
	assert.Less(t, growth, int64(4*maxDead*len(pad)), "heap grows with the dead letters kept, not with those made")

	pending, deadN := m.Len()
	assert.Zero(t, pending)
	assert.Equal(t, maxDead, deadN, "the bound holds")
	assert.Equal(t, total-maxDead, evicted, "every eviction is reported")
	assert.Zero(t, outOfOrder, "oldest first")
	page, err := m.ListDead(ctx, queue.ListFilter{})
	kept := page.Deliveries
	require.NoError(t, err)
	require.Equal(t, maxDead, len(kept), "dead letters kept")
	for i, d := range kept {
		if !assert.Equal(t, fmt.Sprint("d", total-maxDead+i), d.ID, "the newest are kept, oldest first") {
			break
		}
	}
	runtime.KeepAlive(m)
}

// TestMemoryStoreMaxDeadDefaultAndUnbounded checks MaxDead's zero and negative values:
// zero keeps DefaultMaxDead dead letters, negative keeps them all.
func TestMemoryStoreMaxDeadDefaultAndUnbounded(t *testing.T) {
	ctx := context.Background()
	ev := queuetest.Event(t)
	for _, tc := range []struct {
		name    string
		maxDead int
		want    int
	}{
		{"zero is the default", 0, memqueue.DefaultMaxDead},
		{"negative is no bound", -1, memqueue.DefaultMaxDead + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := memqueue.New(memqueue.Config{MaxDead: tc.maxDead})
			ds := make([]queue.Delivery, memqueue.DefaultMaxDead+1)
			for i := range ds {
				ds[i] = queue.Delivery{ID: fmt.Sprint("d", i), EndpointID: "ep", Event: ev, Due: queuetest.T0}
			}
			require.NoError(t, m.Enqueue(ctx, ds...))
			n, evicted, err := m.DeadLetterEndpointEvicting(ctx, queuetest.T0, "ep", queue.DeadReasonUnsubscribed)
			require.NoError(t, err)
			assert.Equal(t, len(ds), n)
			_, deadN := m.Len()
			assert.Equal(t, tc.want, deadN)
			assert.Len(t, evicted, len(ds)-tc.want)
			if tc.want < len(ds) {
				assert.Equal(t, "d0", evicted[0].ID, "the lowest Seq of one DeadAt goes first")
			}
		})
	}
}

func TestMemoryStoreNextDueAndLen(t *testing.T) {
	ctx := context.Background()
	m := memqueue.New(memqueue.Config{})
	_, ok := m.NextDue(ctx)
	assert.False(t, ok, "empty store")
	t0 := queuetest.T0
	require.NoError(t, m.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", t0.Add(time.Minute)), queuetest.Delivery(t, "b", "ep", t0.Add(time.Hour))))
	next, ok := m.NextDue(ctx)
	require.True(t, ok)
	assert.WithinDuration(t, t0.Add(time.Minute), next, 0, "the same instant (the location may change)")
	ds, err := m.Lease(ctx, queue.LeaseRequest{Now: t0.Add(time.Minute), Max: 1, For: time.Second})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	next, _ = m.NextDue(ctx)
	assert.WithinDuration(t, t0.Add(time.Minute+time.Second), next, 0, "a lease expiry counts")
	p, d := m.Len()
	assert.Equal(t, 2, p)
	assert.Zero(t, d)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, m.Enqueue(cctx, queuetest.Delivery(t, "c", "ep", t0)), context.Canceled)
	_, err = m.Lease(cctx, queue.LeaseRequest{Now: t0, Max: 1, For: time.Second})
	assert.ErrorIs(t, err, context.Canceled)
}

// TestMemoryStoreLeaseSkipsBlockedEndpoints checks that deliveries of an endpoint left out
// of LeaseRequest.Endpoints are skipped as a whole, not scanned one by one: leasing the
// single delivery of another endpoint stays cheap behind 100,000 blocked ones.
func TestMemoryStoreLeaseSkipsBlockedEndpoints(t *testing.T) {
	ctx := context.Background()
	m := memqueue.New(memqueue.Config{MaxPending: -1})
	t0 := queuetest.T0
	ev := queuetest.Event(t)
	batch := make([]queue.Delivery, 100_000)
	for i := range batch {
		batch[i] = queue.Delivery{ID: fmt.Sprint("blocked", i), EndpointID: "blocked", Event: ev, Due: t0}
	}
	require.NoError(t, m.Enqueue(ctx, batch...))
	allocs := testing.AllocsPerRun(100, func() {
		d := queuetest.Delivery(t, "live", "live", t0.Add(time.Second))
		d.Event = ev
		require.NoError(t, m.Enqueue(ctx, d))
		ds, err := m.Lease(ctx, queue.LeaseRequest{Now: t0.Add(time.Second), Max: 10, For: time.Minute, Endpoints: map[string]int{"live": 1}})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.Equal(t, "live", ds[0].ID)
		errs, err := m.Complete(ctx, t0.Add(time.Second), queue.Ack("live", ds[0].Lease))
		require.NoError(t, err)
		require.NoError(t, errs[0])
	})
	assert.Less(t, allocs, 40.0, "no per-delivery work for the blocked endpoint")
}
