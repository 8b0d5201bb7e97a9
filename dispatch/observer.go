package dispatch

import (
	"context"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// Observer is told about a Dispatcher's own events: deliveries finished, endpoint state
// changes and dead letters evicted by its store. Like sender.DeliveryObserver (and
// net/http/httptrace.ClientTrace), it is a struct of optional hooks: a nil field is
// skipped, so the zero value observes nothing and a hook added in a later version breaks
// no one. It is passed by value in Config.Observer.
//
// The attempts themselves are not here: the Dispatcher makes them through its Sender,
// whose Config.Observer (a sender.DeliveryObserver) sees each one (AttemptStarted,
// AttemptFinished). The split follows the packages: the sender knows attempts, the
// dispatcher knows endpoints and stores.
//
// Hooks are called synchronously, possibly from many goroutines at once (each hook's
// documentation says when): they must be quick and safe for concurrent use. They run on
// the dispatcher's own goroutines (Delivered and DeadLettered on its completer, which
// stores every outcome), which Drain and Shutdown wait for: a hook must not call either.
type Observer struct {
	// Delivered is called when a delivery was acknowledged by its endpoint and the store
	// has removed it, with the delivery as it was leased and its last attempt appended.
	// It is called by the dispatcher's completer once the store has the outcome, one
	// outcome at a time (a slow hook delays the next batch of outcomes).
	Delivered func(ctx context.Context, d queue.Delivery)
	// DeadLettered is called when a delivery became a dead letter in the store, with
	// DeadReason set and every attempt (the last one included; none was made for the
	// deliveries of an unsubscribed or disabled endpoint swept in one go, which are not
	// reported here: see Unsubscribe). It is called as Delivered is, once the store made
	// the delivery a dead letter.
	//
	// Neither hook is called when the store refused the outcome (queue.ErrLeaseLost: the
	// lease expired and another dispatcher has the delivery), so each finished delivery is
	// reported once per dispatcher that finished it; at-least-once delivery means a
	// delivery whose lease expired mid-attempt may be reported by two.
	DeadLettered func(ctx context.Context, d queue.Delivery)
	// EndpointStateChanged is called when an endpoint becomes failing, paused, probing,
	// active again (recovered) or disabled. Calls are made one at a time per dispatcher,
	// in the order of the changes.
	EndpointStateChanged func(ctx context.Context, c EndpointStateChange)
	// DeadLetterEvicted is called once for each dead letter the store evicted because its
	// bound on dead letters was reached (see queue.DeadEvicter, memqueue.Config.MaxDead),
	// with the delivery as it was (ID, endpoint, event, reason, attempts).
	DeadLetterEvicted func(ctx context.Context, d queue.Delivery)
}
