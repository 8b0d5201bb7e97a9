package memqueue_test

import (
	"context"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/event"
)

// footprintDeliveries returns n pending deliveries of one shared encoded event to one
// endpoint, due at queuetest.T0, with IDs shaped as the dispatcher's (a 16-character
// prefix, a dash, a base-36 counter), numbered from first.
func footprintDeliveries(tb testing.TB, enc *event.Encoded, first, n int) []queue.Delivery {
	tb.Helper()
	ds := make([]queue.Delivery, n)
	for i := range ds {
		ds[i] = queue.Delivery{
			ID:         "ABCDEFGHIJKLMNOP-" + strconv.FormatUint(uint64(first+i), 36),
			EndpointID: "ep",
			Event:      enc,
			Created:    queuetest.T0,
			Due:        queuetest.T0,
		}
	}
	return ds
}

func footprintEvent(tb testing.TB) *event.Encoded {
	tb.Helper()
	ev, err := event.New("order-created", map[string]string{"k": "v"})
	require.NoError(tb, err)
	enc, err := ev.Encode()
	require.NoError(tb, err)
	return enc
}

// storeHeapPerPendingBound is the most heap, in bytes, that the store may hold of its own
// for one pending delivery: its record (64 B, a size class), its entry in the ID map
// (about 41 B at 10,000 entries: 24-byte slots and a control byte each, at the map's load)
// and its slot in its endpoint's heap (8 B, about 9 with the slice's spare capacity):
// 113.6 B measured (Go 1.26, amd64, with or without -race). The bound leaves 11 B of room:
// one field more in the record (the next size class, 80 B) fails it. The event and the ID
// string are the caller's and are not counted.
const storeHeapPerPendingBound = 125

// TestMemoryStoreHeapPerPendingDelivery pins the store's own share of the memory a pending
// delivery holds: 10,000 deliveries of one shared small event, enqueued one by one, the
// heap delta per delivery (after a GC) at most storeHeapPerPendingBound. The smallest of
// three measurements counts, so that another goroutine's garbage cannot fail it.
func TestMemoryStoreHeapPerPendingDelivery(t *testing.T) {
	const n = 10_000
	ctx := context.Background()
	enc := footprintEvent(t)
	best := -1.0
	for range 3 {
		ds := footprintDeliveries(t, enc, 0, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := memqueue.New(memqueue.Config{MaxPending: -1})
		for i := range ds {
			require.NoError(t, m.Enqueue(ctx, ds[i]))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		pending, _ := m.Len()
		require.Equal(t, n, pending)
		runtime.KeepAlive(m)
		runtime.KeepAlive(ds)
		per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		if best < 0 || per < best {
			best = per
		}
	}
	t.Logf("heap per pending delivery, the store's own share: %.1f B", best)
	require.Positive(t, best, "the store holds something for each delivery")
	require.LessOrEqual(t, best, float64(storeHeapPerPendingBound))
}

// BenchmarkLeaseComplete leases one delivery and acknowledges it, with 10,000 pending
// (refilled, outside the timer, whenever 1,000 have gone).
func BenchmarkLeaseComplete(b *testing.B) {
	const pending, refill = 10_000, 1_000
	ctx := context.Background()
	enc := footprintEvent(b)
	m := memqueue.New(memqueue.Config{MaxPending: -1})
	next := 0
	fill := func(n int) {
		require.NoError(b, m.Enqueue(ctx, footprintDeliveries(b, enc, next, n)...))
		next += n
	}
	fill(pending)
	req := queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%refill == 0 {
			b.StopTimer()
			fill(refill)
			b.StartTimer()
		}
		got, err := m.Lease(ctx, req)
		if err != nil || len(got) != 1 {
			b.Fatal(len(got), err)
		}
		errs, err := m.Complete(ctx, queuetest.T0, queue.Ack(got[0].ID, got[0].Lease))
		if err != nil || errs[0] != nil {
			b.Fatal(errs, err)
		}
	}
}

// TestMemoryStoreTimes pins how the store keeps times (as Unix nanoseconds): every instant
// between 1678 and 2262 comes back Equal, to the nanosecond, whether Created is Due or not,
// also after a Reschedule; the zero time stays zero; a time beyond 2262 comes back as the
// last representable instant, still after every other, so the order of Lease and
// ListPending holds.
func TestMemoryStoreTimes(t *testing.T) {
	ctx := context.Background()
	t0 := queuetest.T0.Add(123456789 * time.Nanosecond)
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Unix(0, math.MaxInt64)
	m := memqueue.New(memqueue.Config{})
	same := queuetest.Delivery(t, "same", "ep", t0)
	same.Created = t0
	older := queuetest.Delivery(t, "older", "ep", t0)
	older.Created = t0.Add(-time.Hour)
	zero := queuetest.Delivery(t, "zero", "ep", time.Time{})
	zero.Created = time.Time{}
	later := queuetest.Delivery(t, "later", "ep", far)
	latest := queuetest.Delivery(t, "latest", "ep", last)
	require.NoError(t, m.Enqueue(ctx, latest, later, same, older, zero))

	p, err := m.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	require.Equal(t, []string{"zero", "same", "older", "latest", "later"}, deliveryIDs(p.Deliveries),
		"by Due then Seq: the times beyond 2262 tie at the last instant, in Seq order")
	byID := map[string]queue.Delivery{}
	for _, d := range p.Deliveries {
		byID[d.ID] = d
	}
	assert.True(t, byID["zero"].Due.IsZero())
	assert.True(t, byID["zero"].Created.IsZero())
	assert.WithinDuration(t, t0, byID["same"].Due, 0)
	assert.WithinDuration(t, t0, byID["same"].Created, 0)
	assert.WithinDuration(t, t0, byID["older"].Due, 0)
	assert.WithinDuration(t, t0.Add(-time.Hour), byID["older"].Created, 0)
	assert.WithinDuration(t, last, byID["latest"].Due, 0)
	assert.WithinDuration(t, last, byID["later"].Due, 0, "beyond 2262: the last instant")

	got, err := m.Lease(ctx, queue.LeaseRequest{Now: t0, Max: 10, For: time.Minute})
	require.NoError(t, err)
	require.Equal(t, []string{"zero", "same", "older"}, deliveryIDs(got))
	assert.WithinDuration(t, t0.Add(time.Minute), got[1].LeaseExpires, 0)
	next := t0.Add(90 * time.Second)
	errs, err := m.Complete(ctx, t0, queue.Reschedule(got[1].ID, got[1].Lease, next))
	require.NoError(t, err)
	require.Equal(t, []error{nil}, errs)
	p, err = m.ListPending(ctx, queue.ListFilter{EndpointID: "ep", Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"zero", "older", "same"}, deliveryIDs(p.Deliveries))
	assert.WithinDuration(t, next, p.Deliveries[2].Due, 0, "rescheduled")
	assert.WithinDuration(t, t0, p.Deliveries[2].Created, 0, "Created kept when Due moves")
}

func deliveryIDs(ds []queue.Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}
