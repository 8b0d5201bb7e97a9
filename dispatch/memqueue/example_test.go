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
