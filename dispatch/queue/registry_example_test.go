package queue_test

import (
	"fmt"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// A registry stores an endpoint's filter as patterns of two kinds, and finds the
// endpoints of an event type by looking up the type's candidate keys: the exact type and
// every prefix of it, down to "" (the "*" pattern).
func ExampleMatchKeys() {
	fmt.Println(queue.PatternsOf(event.MustFilter("order.created", "invoice.*")))
	fmt.Println(queue.PatternsOf(event.MustFilter())) // every type
	fmt.Println(queue.MatchKeys("a.b"))
	// Output:
	// [{1 order.created} {2 invoice.}]
	// [{2 }]
	// [{1 a.b} {2 a.b} {2 a.} {2 a} {2 }]
}
