// Package memqueue is the in-memory queue.Store, the dispatch.Dispatcher's default when it
// is given no store: bounded (DefaultMaxPending pending deliveries, DefaultMaxDead dead
// letters, the oldest evicted first), O(log n) per operation, and gone when the process
// ends. It implements queue.NextDuer, queue.DeadEvicter and queue.LeasingEnqueuer, and
// passes the queuetest conformance suite.
//
//	store := memqueue.New(memqueue.Config{MaxPending: 10_000}) // MaxDead, Now: defaults
//	d, err := dispatch.New(s, store, dispatch.Config{})
//
// Like every store, it imports the queue contract and package event only.
package memqueue
