// Package queue is the contract between a dispatch.Dispatcher and the store that keeps its
// deliveries: the Store interface and its optional extensions (NextDuer, DeadEvicter), the
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
package queue
