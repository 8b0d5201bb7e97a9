// Package dispatch delivers webhooks asynchronously, at least once. sender.Sender.Send
// blocks its caller while retries last; a Dispatcher takes the event in microseconds and
// delivers it later through a Sender:
//
//	s, err := sender.New(sender.Config{})
//	d, err := dispatch.New(s, nil, dispatch.Config{}) // nil: a memqueue.Store
//	envelopes, _ := event.NewFilter("envelope-*")
//	err = d.Subscribe(dispatch.Subscription{Endpoint: ep, Filter: envelopes}) // like Connect's "events"
//	err = d.Start(ctx)
//	n, err := d.Publish(ctx, ev)                  // encoded once, one delivery per matching subscription
//	err = d.Shutdown(ctx)                         // finish in-flight attempts, or hand them back
//
// A Subscription says what one endpoint gets: the sender.Endpoint (URL, keys,
// credentials, timeout, retry policy), the event types (Filter, all by default), whether
// they go in publish order (Ordered) and how many at once (MaxInFlight). Subscribe
// prepares the endpoint once (sender.Sender.Prepare) and refuses one that no attempt could
// use (sender.ErrInvalidEndpoint); Unsubscribe removes it.
//
// Publish does no network I/O: it stores the deliveries and returns (queue.ErrQueueFull
// when the store's bound is reached, ErrClosed after Shutdown); PublishMany stores those
// of many events in one call to the store (one commit with a durable store). A bounded pool of workers
// (Config.Workers) leases due deliveries from the queue.Store and makes one attempt each
// through the Sender (sender.Sender.Attempt), with the same signing, credentials,
// classification and safety rules as Send. A retryable failure is rescheduled in the store
// for the time the endpoint's retry policy (sender.RetryPolicy.Next, and Retry-After)
// gives; no worker ever sleeps. The outcomes of the attempts finished meanwhile go to the
// store together, in one queue.Store.Complete (Config.CompleteBatch, CompleteWindow);
// with Config.OutcomeBacklog the workers make their next attempts while it commits. Each
// subscription has a limit on attempts in flight (Config.MaxInFlight, overridden by
// Subscription.MaxInFlight) and the dispatcher leases only what can run now, so a slow or
// dead endpoint cannot starve the others.
// Subscription.Ordered delivers an endpoint's events one at a time in publish order.
//
// Publish-time handoff: when a worker is idle, the endpoint has a place free within its
// MaxInFlight and nothing of it waits in the store, Publish stores the delivery already
// leased (queue.LeasingEnqueuer, which memqueue, sqlitequeue and pgqueue implement) and
// gives it to that worker as soon as the store has committed it, instead of leaving it
// for the next Lease: one commit less between Publish and the attempt, and for SQLite and
// Postgres a query and an update less per delivery (BenchmarkDispatchLatency in BENCHMARKS.md). Deliveries
// that wait (a backlog, a retry, another process's) keep their turn: while the
// dispatcher knows of any, Publish stores pending and the dispatcher leases earliest due
// first. Config.NoHandoff turns it off.
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
// Config.Observer.EndpointStateChanged.
//
// Dead letters (retries exhausted, permanent rejection, gone, refused destination,
// unsubscribed endpoint) keep every attempt, as plain data (queue.Attempt: the class by
// its stable name, the error as text). List them with ListDead (and what is still on its
// way with ListPending; a queue.ListFilter selects by endpoint, event and number, and pages
// on from a queue.Page.Next cursor) and
// send them again with Requeue: one (queue.Selector.ID), by endpoint or all. They are
// bounded too: beyond memqueue.Config.MaxDead (memqueue.DefaultMaxDead, 10,000) the oldest
// is evicted, and each eviction goes to Config.Observer.DeadLetterEvicted and the
// dispatcher's Logger (see queue.DeadEvicter). The attempts themselves go to the Sender's
// Config.Observer.
//
// Every number in Config, BreakerConfig, memqueue.Config, sender.RetryPolicy,
// Subscription and sender.Endpoint follows one rule: 0 means the documented default; a
// negative value means "none" (no bound, no jitter, never) only where the field's
// documentation says so, and is refused otherwise (ErrInvalidConfig from New,
// sender.ErrInvalidPolicy, sender.ErrInvalidEndpoint), never silently taken as the
// default.
//
// # Many instances, one registry
//
// With Config.Registry, the endpoints and their circuit-breaker state live in the
// registry (queue.Registry: pgqueue.Store implements it beside its queue), shared by
// every dispatcher on it:
//
//   - Register writes an endpoint (its EndpointSpec sealed by a SpecCodec under
//     Config.RegistryKey, its patterns, ordering and bound); Unsubscribe deletes it.
//     Subscribe is refused (ErrNotEncodable): a Subscription's keys and credentials
//     cannot be read back to be stored. To rotate the key, give every instance the new
//     RegistryKey with the old one in Config.RegistryOldKeys (it still opens specs sealed
//     under it; every write seals with RegistryKey), re-seal the stored specs
//     (SpecCodec.Reseal; the CLI's "hookkit endpoint rekey"), then drop the old key.
//   - Publish (FanOutContext) asks the registry which endpoints the event type selects:
//     one indexed lookup (MatchEndpoints), whatever the number of endpoints.
//   - Workers lease without a per-endpoint limit map (no 100,000-entry map per lease)
//     and resolve each delivery's endpoint through a bounded LRU cache
//     (Config.RegistryCache), reading the misses of a lease in one GetEndpoints. A
//     delivery that cannot run now is handed back untried, its due time moved to when it
//     may: the end of the cool-down of a paused endpoint, the next poll for an endpoint
//     at its MaxInFlight or probing. No attempt is recorded, so no retry budget is spent.
//     The price of an unrestricted lease: a backlog of a paused endpoint, or of one at its
//     bound, is leased and handed back once per cool-down or poll (a lease and a write
//     per delivery), and may fill a lease batch meanwhile; a store-side exclusion of
//     paused endpoints in the lease query would avoid it. A delivery of an endpoint the
//     registry does not have becomes a dead letter (queue.DeadReasonUnsubscribed), as
//     after Unsubscribe; of a disabled one, "endpoint gone" — decided on a fresh read
//     of the endpoint, never on the cache, since a dead letter is not undone.
//   - Breaker transitions (failures, paused, probing, recovered, disabled after 410) are
//     written with SetEndpointState, compare-and-set on the record's version: of two
//     instances deciding from one version, one writes and the other decides again from
//     what it wrote — a success seen by one never re-enables an endpoint another has
//     just disabled. The probe after a cool-down is claimed the same way, so one instance
//     probes (the claim lasts Config.LeaseFor; if the prober dies, another probes after).
//     Observer.EndpointStateChanged is called by the dispatcher that made the change.
//   - Every Config.PollInterval each dispatcher reads the registry's changes since its
//     cursor (EndpointChanges, one indexed query) and refreshes the endpoints it caches;
//     an endpoint disabled, paused or enabled anywhere (Dispatcher.DisableEndpoint and
//     EnableEndpoint, or the CLI) is seen everywhere within a poll interval (Publish at
//     once: MatchEndpoints skips disabled endpoints). More changes than the cache holds
//     drop the idle endpoints from the cache and read the busy ones again.
//   - The publish-time handoff works with a registry too, on what the dispatcher knows
//     locally: while its last Lease took fewer than it asked for (nothing more was due in
//     the store) and it has stored nothing pending since, Publish hands a delivery for a
//     cached, active endpoint with a place free to an idle worker. Deliveries other
//     instances stored meanwhile wait for this dispatcher's next Lease (a notification
//     or the poll) or for their own instance's.
//
// Per-endpoint bounds compose per instance: MaxInFlight is enforced by each dispatcher
// over its own attempts, so N dispatchers may have N × MaxInFlight attempts in flight to
// one endpoint (an ordered endpoint stays at one: the store's head rule is global).
// Enforcing the bound globally belongs in the store's lease query (a count of an
// endpoint's live leases against its registry row); pgqueue's does not do it yet.
//
// Every dispatcher on a store must use the registry, or none: a dispatcher with a
// registry dead-letters the deliveries of endpoints the registry does not know.
// SQLite (sqlitequeue) has no registry yet: a registry is for several hosts, which is
// pgqueue's job.
//
// # Packages
//
// The store is behind a contract that imports nothing of the sender:
//
//	dispatch/queue      the Store contract, Delivery, Attempt, errors    → event
//	dispatch/memqueue   the in-memory Store (the default)                → queue, event
//	dispatch/queuetest  the conformance suite for any Store              → queue, event
//	dispatch            this package                                     → sender, queue, memqueue, event
//
// The queue.Store interface documents what a durable implementation must do (leases that
// expire make deliveries visible again; stale holders get queue.ErrLeaseLost; several
// dispatcher processes may share one store); queuetest checks it. The sender never
// imports this package.
package dispatch
