package memqueue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// A Registry finds the endpoints an event type selects by looking up the type's candidate
// keys, and shares each endpoint's state: a disabled endpoint is selected by nothing.
func ExampleRegistry() {
	ctx := context.Background()
	r := memqueue.NewRegistry()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for id, patterns := range map[string][]string{"orders": {"order.*"}, "all": nil, "invoices": {"invoice.paid"}} {
		_, _ = r.PutEndpoint(ctx, queue.Endpoint{ID: id, Patterns: queue.PatternsOf(event.MustFilter(patterns...)), UpdatedAt: now})
	}
	ms, _ := r.MatchEndpoints(ctx, "order.created")
	fmt.Println(ms)

	es, _ := r.GetEndpoints(ctx, "all")
	_, _ = r.SetEndpointState(ctx, "all", es[0].Version, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone", UpdatedAt: now})
	ms, _ = r.MatchEndpoints(ctx, "order.created")
	fmt.Println(ms)
	// Output:
	// [{all false} {orders false}]
	// [{orders false}]
}
