// # Asynchronous delivery: Dispatcher
//
// Send blocks its caller while retries last. A Dispatcher takes the event in
// microseconds and delivers it later, at least once:
//
//	d, err := sender.NewDispatcher(s, nil, sender.DispatcherConfig{}) // nil: MemoryStore
//	err = d.AddEndpoint(ep)                       // ep.Filter picks event types, like Connect's "events"
//	err = d.Start(ctx)
//	n, err := d.Publish(ctx, ev)                  // encoded once, one delivery per matching endpoint
//	err = d.Shutdown(ctx)                         // finish in-flight attempts, or hand them back
//
// Publish does no network I/O: it stores the deliveries and returns (ErrQueueFull when the
// store's bound is reached, ErrClosed after Shutdown). A bounded pool of workers
// (DispatcherConfig.Workers) leases due deliveries from the Store and makes one attempt
// each through the Sender, with the same signing, credentials, classification and safety
// rules as Send. A retryable failure is rescheduled in the store for the time the
// endpoint's retry policy (and Retry-After) gives; no worker ever sleeps. Each endpoint has
// a limit on attempts in flight (MaxPerEndpoint, WithMaxInFlight) and the dispatcher
// leases only what can run now, so a slow or dead endpoint cannot starve the others.
// WithOrdering delivers an endpoint's events one at a time in publish order.
//
// Circuit breaker (BreakerConfig): after Threshold consecutive failures (default 5) an
// endpoint is paused for CoolDown (default 30 s). Its deliveries are not leased meanwhile:
// they wait in the store, untried, with no attempt recorded and no store write, and the
// wait spends none of their retry policy (MaxAttempts counts real attempts; MaxElapsedTime
// counts only the waits the policy asked for). Then exactly one probe, the earliest due
// delivery, is sent: success resumes the endpoint, failure pauses it again. An outage
// dead-letters nothing that was not tried; the deliveries of an endpoint that never comes
// back stay pending (within the store's bound) until RemoveEndpoint. 410 Gone disables
// the endpoint and turns its pending deliveries into dead letters ("endpoint gone"). State
// changes (failing, paused, probing, recovered, disabled) go to
// DispatcherConfig.Observer.EndpointStateChanged.
//
// Dead letters (retries exhausted, permanent rejection, gone, refused destination, removed
// endpoint) keep every attempt. List them with DeadLetters and send them again with
// Requeue: one (Selector.ID), by endpoint or all. They are bounded too: beyond
// MemoryStoreConfig.MaxDead (DefaultMaxDead, 10,000) the oldest is evicted, and each
// eviction goes to DispatcherConfig.Observer.DeadLetterEvicted and the dispatcher's Logger
// (see DeadEvicter). The attempts themselves go to the Sender's Config.Observer.
//
// The Store interface documents what a durable implementation must do (leases that
// expire make deliveries visible again; stale holders get ErrLeaseLost; several
// dispatcher processes may share one store); package storetest is its conformance suite.
// MemoryStore is the default: bounded (DefaultMaxPending, DefaultMaxDead), O(log n) per
// operation.
package sender
