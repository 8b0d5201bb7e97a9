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

// DeliveryObserver is told about attempts and outcomes, for metrics and tracing
// (OpenTelemetry, Prometheus, ...) without the library depending on them. Like
// net/http/httptrace.ClientTrace, it is a struct of optional hooks: a nil field is
// skipped, so the zero value observes nothing and a hook added in a later version breaks
// no one. It is passed by value in Config.Observer. The Sender calls AttemptStarted and
// AttemptFinished around every attempt it makes, for Send and for Attempt alike (so a
// dispatch.Dispatcher's attempts are seen here), and Delivered or Failed once at the end
// of each Send. A dispatcher's own events (endpoint state changes, evicted dead letters)
// go to its own hooks, dispatch.Observer.
//
// Hooks are called synchronously on the delivering goroutine, possibly from many
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
}
