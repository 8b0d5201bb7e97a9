// Package queuetest is the conformance suite for queue.Store implementations, named like
// net/http/httptest and testing/fstest. A store that passes Run (and RunBounded, if it
// bounds its pending deliveries, and RunDeadBounded, if it bounds its dead letters) keeps
// the contract documented on queue.Store, which is what the dispatch.Dispatcher relies on:
//
//	func TestMyStore(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Store { return mystore.New(testDB(t)) })
//		queuetest.RunBounded(t, func(t *testing.T, max int) queue.Store { return mystore.New(testDB(t), max) })
//	}
//
// A store that bounds its dead letters implements queue.DeadEvicter and is checked with
// RunDeadBounded too:
//
//	queuetest.RunDeadBounded(t, func(t *testing.T, maxDead int) queue.Store {
//		return mystore.New(testDB(t), mystore.MaxDead(maxDead))
//	})
//
// A store that can store deliveries already leased (queue.LeasingEnqueuer, for the
// dispatcher's publish-time handoff) is checked with RunLeasingEnqueuer, and a store that
// counts per endpoint (queue.EndpointCounter) with RunEndpointCounts.
//
// Each subtest calls the factory, with its own *testing.T (for t.Cleanup, t.TempDir), for
// a fresh, empty store. The suite uses its own clock (the times it passes in
// LeaseRequest.Now and as due times), starting at an arbitrary fixed instant, so stores
// must not compare those times with the wall clock.
//
// Every field of a stored attempt must come back as it was given (CheckAttemptsRoundTrip,
// which returns its finding as an error so that it can be run outside a test too).
//
// The package imports testing and testify; what it tests imports only the queue contract.
package queuetest
