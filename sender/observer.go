package sender

import "context"

// AttemptInfo identifies an attempt for DeliveryObserver.AttemptStarted and
// AttemptFinished.
type AttemptInfo struct {
	// EventID is the event's id, the same on every attempt of a delivery.
	EventID string
	// EventType is the event's type.
	EventType string
	// Endpoint is the endpoint's ID, or its URL's host when it has none.
	Endpoint string
	// Number is 1 for the first attempt of a delivery.
	Number int
}

// DeliveryObserver is told about attempts, outcomes, endpoint state changes and evicted
// dead letters, for metrics and tracing (OpenTelemetry, Prometheus, ...) without the
// library depending on them. Like net/http/httptrace.ClientTrace, it is a struct of
// optional hooks: a nil field is skipped, so the zero value observes nothing and a hook
// added in a later version breaks no one. It is passed by value in Config.Observer and
// DispatcherConfig.Observer; which component calls which hook is said there:
//
//   - a Sender (Config.Observer) calls AttemptStarted and AttemptFinished around every
//     attempt it makes, for Send and for a Dispatcher alike, and Delivered or Failed once
//     at the end of each Send;
//   - a Dispatcher (DispatcherConfig.Observer) calls EndpointStateChanged and
//     DeadLetterEvicted. Its attempts are made by its Sender, whose Config.Observer sees
//     them.
//
// A hook is never called by the other component, so one value can be given to both
// configs. Hooks are called synchronously on the delivering goroutine, possibly from many
// goroutines at once: they must be quick and safe for concurrent use.
type DeliveryObserver struct {
	// AttemptStarted is called before an attempt. The context it returns is the one the
	// attempt's request is made with, so a tracer can start a span that the HTTP
	// transport's instrumentation nests under; return ctx when there is nothing to add
	// (a nil return is taken as ctx).
	AttemptStarted func(ctx context.Context, info AttemptInfo) context.Context
	// AttemptFinished is called after the attempt, with the context AttemptStarted
	// returned (a span can be ended here) and its status, duration and class.
	AttemptFinished func(ctx context.Context, info AttemptInfo, a Attempt)
	// Delivered is called when Send delivered the event.
	Delivered func(ctx context.Context, r *Result)
	// Failed is called when Send gave up, with the error it returns.
	Failed func(ctx context.Context, r *Result, err error)
	// EndpointStateChanged is called by a Dispatcher when an endpoint becomes failing,
	// paused, probing, active again (recovered) or disabled. Calls are made one at a time
	// per dispatcher, in the order of the changes.
	EndpointStateChanged func(ctx context.Context, c EndpointStateChange)
	// DeadLetterEvicted is called by a Dispatcher once for each dead letter its store
	// evicted because its bound on dead letters was reached (see DeadEvicter,
	// MemoryStoreConfig.MaxDead), with the delivery as it was (ID, endpoint, event,
	// reason, attempts).
	DeadLetterEvicted func(ctx context.Context, d Delivery)
}
