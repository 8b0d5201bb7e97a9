// Package queue is the contract between a dispatch.Dispatcher and the store that keeps its
// deliveries: the Store interface and its optional extensions (NextDuer, DeadEvicter,
// LeasingEnqueuer, Notifier, EndpointCounter, Registry), the
// Delivery and Attempt records it keeps (plain data: numbers, times, durations, strings),
// the requests and filters it answers (LeaseRequest, ListFilter, Selector), its sentinel
// errors and the dead-letter reasons.
//
// A store implementation imports this package and package event only: never the sender,
// net/http or the OAuth2 stack, so a program pays for a store's driver only when it uses
// it. Package memqueue is the in-memory implementation (the dispatcher's default);
// package queuetest is the conformance suite every implementation should pass:
//
//	func TestMyStore(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Store { return mystore.New(testDB(t)) })
//	}
//
// # What a durable store persists
//
// Every field of Delivery, as it is: ID, EndpointID, Ordered, Seq, Created, Due,
// RoundStart, Lease, LeaseExpires, DeadReason, DeadAt; the event as its binary form
// (event.Encoded.MarshalBinary: id, type and the exact body, rebuilt by UnmarshalBinary
// without parsing JSON); and every field of every Attempt (queuetest.CheckAttemptsRoundTrip).
// Times must come back as the same instant; nothing else may change.
//
// # Publishing inside the caller's transaction
//
// An application that keeps its own data in the store's database wants a webhook stored
// if and only if its business change commits (the outbox pattern). The contract keeps the
// two halves apart, so that no transaction travels in a context:
//
//   - dispatch.Dispatcher.FanOut is pure: it returns the deliveries Publish would store for
//     an event (one per matching subscription, IDs assigned, the event encoded once) and
//     does no I/O.
//   - A store that can share the application's database offers an EnqueueTx method of its
//     own, typed by its driver (an *sql.Tx, a pgx.Tx): it inserts the deliveries in the
//     caller's transaction, with every rule of Enqueue. The store, not this package, names
//     the transaction type, so the contract imports no driver.
//   - After the commit, dispatch.Dispatcher.Notify wakes the dispatchers of this process;
//     others find the deliveries at their next poll (or on a notification the store sends
//     inside the transaction).
//
// # Endpoint state shared by several dispatchers
//
// Without more, each dispatcher keeps its subscriptions and their breaker state (failures,
// paused, disabled) in its own memory, which is right for one process. With a store that
// several dispatchers share, the state of an endpoint is a fact about the endpoint, not
// about the process that noticed it: after a 410 every dispatcher must stop sending to it.
// The optional Registry extension keeps the endpoints themselves beside the deliveries:
// an opaque spec (the dispatcher's, sealed), the patterns indexed by (kind, value) so
// that an event type's candidate keys (MatchKeys) find its endpoints without a scan, and
// the state, changed only by compare-and-set on a version (SetEndpointState), so that of
// two dispatchers deciding from one version one writes and the other decides again
// (UpdateEndpointState is that loop, bounded, for every caller that changes a state).
// Dispatchers cache the endpoints they serve and follow EndpointChanges at every poll, so
// enabling an endpoint anywhere takes effect everywhere within a poll interval.
// memqueue.Registry (one process) and pgqueue.Store implement it; queuetest.RunRegistry
// checks an implementation; dispatch.Config.Registry uses it.
package queue
