package memqueue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// A Store keeps deliveries for a dispatcher: enqueued, leased when due, rescheduled with
// the attempts made, and finally acknowledged or dead-lettered.
func ExampleNew() {
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	store := memqueue.New(memqueue.Config{MaxPending: 1000})

	ev, _ := event.New("order-created", map[string]string{"orderId": "o-1"})
	enc, _ := ev.Encode()
	_ = store.Enqueue(ctx, queue.Delivery{ID: "d-1", EndpointID: "acme", Event: enc, Created: now, Due: now})

	ds, _ := store.Lease(ctx, queue.LeaseRequest{Now: now, Max: 10, For: time.Minute})
	fmt.Println(len(ds), ds[0].ID)
	_, _ = store.Complete(ctx, now, queue.Reschedule(ds[0].ID, ds[0].Lease, now.Add(time.Second),
		queue.Attempt{Number: 1, Start: now, Status: 503, Class: queue.ClassRetryable, Error: "status 503 Service Unavailable"}))
	next, _ := store.NextDue(ctx)
	fmt.Println("next due in", next.Sub(now))

	ds, _ = store.Lease(ctx, queue.LeaseRequest{Now: now.Add(time.Second), Max: 10, For: time.Minute})
	fmt.Println(len(ds[0].Attempts), ds[0].Attempts[0].Class)
	_, _ = store.Complete(ctx, now.Add(time.Second), queue.DeadLetter(ds[0].ID, ds[0].Lease, queue.DeadReasonRejected,
		queue.Attempt{Number: 2, Start: now.Add(time.Second), Status: 400, Class: queue.ClassPermanent}))
	pending, dead := store.Len()
	fmt.Println(pending, dead)
	// Output:
	// 1 d-1
	// next due in 1s
	// 1 retryable
	// 0 1
}

// A Journal is told every change a Store makes, so that a durable store built on it
// (sqlitequeue's Exclusive mode) can write the changes out and, after a restart, give
// the deliveries back with Load. Leases are not changes: the delivery loaded is
// leasable at once.
func ExampleConfig_journal() {
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	kept := map[uint64]queue.Delivery{} // what a durable store would hold
	store := memqueue.New(memqueue.Config{Journal: func(c *memqueue.Change) {
		switch c.Kind {
		case memqueue.ChangeEnqueued:
			kept[c.Seq] = *c.Delivery
		case memqueue.ChangeAcked:
			delete(kept, c.Seq)
		}
		fmt.Println("change", c.Kind, c.ID)
	}})

	ev, _ := event.New("order-created", map[string]string{"orderId": "o-1"})
	enc, _ := ev.Encode()
	_ = store.Enqueue(ctx, queue.Delivery{ID: "d-1", EndpointID: "acme", Event: enc, Created: now, Due: now},
		queue.Delivery{ID: "d-2", EndpointID: "acme", Event: enc, Created: now, Due: now})
	ds, _ := store.Lease(ctx, queue.LeaseRequest{Now: now, Max: 2, For: time.Hour})
	_, _ = store.Complete(ctx, now, queue.Ack(ds[0].ID, ds[0].Lease))

	// A restart: d-2 is still leased in the old store, leasable at once in the new one.
	restarted := memqueue.New(memqueue.Config{})
	for _, d := range kept {
		_ = restarted.Load(0, d)
	}
	ds, _ = restarted.Lease(ctx, queue.LeaseRequest{Now: now, Max: 2, For: time.Hour})
	fmt.Println(len(ds), ds[0].ID, ds[0].Seq)
	// Output:
	// change enqueued d-1
	// change enqueued d-2
	// change acked d-1
	// 1 d-2 2
}
