// # Asynchronous delivery: Dispatcher
//
// Send blocks its caller while retries last. A Dispatcher takes the event in
// microseconds and delivers it later, at least once:
//
//	d, err := sender.NewDispatcher(s, nil, sender.DispatcherConfig{}) // nil: MemoryStore
//	envelopes, _ := event.NewFilter("envelope-*")
//	err = d.Subscribe(sender.Subscription{Endpoint: ep, Filter: envelopes}) // like Connect's "events"
//	err = d.Start(ctx)
//	n, err := d.Publish(ctx, ev)                  // encoded once, one delivery per matching subscription
//	err = d.Shutdown(ctx)                         // finish in-flight attempts, or hand them back
//
// A Subscription says what one endpoint gets: the Endpoint (URL, keys, credentials,
// timeout, retry policy), the event types (Filter, all by default), whether they go in
// publish order (Ordered) and how many at once (MaxInFlight). Subscribe parses and checks
// the endpoint once and refuses one that no attempt could use (ErrInvalidEndpoint);
// Unsubscribe removes it.
//
// Publish does no network I/O: it stores the deliveries and returns (ErrQueueFull when the
// store's bound is reached, ErrClosed after Shutdown). A bounded pool of workers
// (DispatcherConfig.Workers) leases due deliveries from the Store and makes one attempt
// each through the Sender, with the same signing, credentials, classification and safety
// rules as Send. A retryable failure is rescheduled in the store for the time the
// endpoint's retry policy (and Retry-After) gives; no worker ever sleeps. Each
// subscription has a limit on attempts in flight (DispatcherConfig.MaxInFlight, overridden
// by Subscription.MaxInFlight) and the dispatcher leases only what can run now, so a slow
// or dead endpoint cannot starve the others. Subscription.Ordered delivers an endpoint's
// events one at a time in publish order.
//
// Circuit breaker (BreakerConfig): after Threshold consecutive failures (default 5) an
// endpoint is paused for CoolDown (default 30 s). Its deliveries are not leased meanwhile:
// they wait in the store, untried, with no attempt recorded and no store write, and the
// wait spends none of their retry policy (MaxAttempts counts real attempts; MaxElapsedTime
// counts only the waits the policy asked for). Then exactly one probe, the earliest due
// delivery, is sent: success resumes the endpoint, failure pauses it again. An outage
// dead-letters nothing that was not tried; the deliveries of an endpoint that never comes
// back stay pending (within the store's bound) until Unsubscribe. 410 Gone disables
// the endpoint and turns its pending deliveries into dead letters ("endpoint gone"). State
// changes (failing, paused, probing, recovered, disabled) go to
// DispatcherConfig.Observer.EndpointStateChanged.
//
// Dead letters (retries exhausted, permanent rejection, gone, refused destination,
// unsubscribed endpoint) keep every attempt. List them with ListDead (and what is still
// on its way with ListPending; a ListFilter selects by endpoint, event and number) and send
// them again with Requeue: one (Selector.ID), by endpoint or all. They are bounded too:
// beyond MemoryStoreConfig.MaxDead (DefaultMaxDead, 10,000) the oldest is evicted, and
// each eviction goes to DispatcherConfig.Observer.DeadLetterEvicted and the dispatcher's
// Logger (see DeadEvicter). The attempts themselves go to the Sender's Config.Observer.
//
// Every number in DispatcherConfig, BreakerConfig, MemoryStoreConfig, RetryPolicy,
// Subscription and Endpoint follows one rule: 0 means the documented default; a negative
// value means "none" (no bound, no jitter, never) only where the field's documentation
// says so, and is refused otherwise (ErrInvalidConfig from NewDispatcher, ErrInvalidPolicy,
// ErrInvalidEndpoint), never silently taken as the default.
//
// The Store interface documents what a durable implementation must do (leases that
// expire make deliveries visible again; stale holders get ErrLeaseLost; several
// dispatcher processes may share one store); package storetest is its conformance suite.
// MemoryStore is the default: bounded (DefaultMaxPending, DefaultMaxDead), O(log n) per
// operation.
package sender
