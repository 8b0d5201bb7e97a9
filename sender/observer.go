package sender

import "context"

// AttemptInfo identifies an attempt for an Observer.
type AttemptInfo struct {
	EventID   string
	EventType string
	// Endpoint is the endpoint's ID, or its URL's host when it has none.
	Endpoint string
	// Number is 1 for the first attempt of a delivery.
	Number int
}

// Observer is told about every attempt and every outcome, for metrics and tracing
// (OpenTelemetry, Prometheus, ...) without the library depending on them. Its methods are
// called synchronously on the delivering goroutine, possibly from many goroutines at
// once: they must be quick and safe for concurrent use. Embed NopObserver to implement
// only some of them.
//
// Send calls AttemptStarted and AttemptFinished for each attempt, then Delivered or
// Failed once. A Dispatcher calls AttemptStarted and AttemptFinished for the attempts it
// makes (its outcomes go to its EndpointObserver and its Store).
type Observer interface {
	// AttemptStarted is called before an attempt. The context it returns is the one the
	// attempt's request is made with, so a tracer can start a span that the HTTP
	// transport's instrumentation nests under; return ctx when there is nothing to add.
	AttemptStarted(ctx context.Context, info AttemptInfo) context.Context
	// AttemptFinished is called after the attempt, with the context AttemptStarted
	// returned (a span can be ended here) and its status, duration and class.
	AttemptFinished(ctx context.Context, info AttemptInfo, a Attempt)
	// Delivered is called when Send delivered the event.
	Delivered(ctx context.Context, r *Result)
	// Failed is called when Send gave up, with the error it returns.
	Failed(ctx context.Context, r *Result, err error)
}

// NopObserver is an Observer that does nothing: the default, and a base to embed.
type NopObserver struct{}

// AttemptStarted returns ctx.
func (NopObserver) AttemptStarted(ctx context.Context, _ AttemptInfo) context.Context { return ctx }

// AttemptFinished does nothing.
func (NopObserver) AttemptFinished(context.Context, AttemptInfo, Attempt) {}

// Delivered does nothing.
func (NopObserver) Delivered(context.Context, *Result) {}

// Failed does nothing.
func (NopObserver) Failed(context.Context, *Result, error) {}

// DeadLetterObserver is an optional hook of a Dispatcher's observers: a store that bounds
// its dead letters (DeadEvicter, MemoryStoreConfig.MaxDead) drops the oldest one when a new
// one would exceed the bound, and the Dispatcher calls DeadLetterEvicted once for each
// dropped dead letter, with the delivery as it was (ID, endpoint, event, reason, attempts).
// The Dispatcher uses DispatcherConfig.DeadLetterObserver, else its Sender's Observer or
// its EndpointObserver when one of them implements this interface (in that order), so an
// existing Observer gains the hook by adding the method. Calls are synchronous, possibly
// from several goroutines at once: they must be quick and safe for concurrent use.
type DeadLetterObserver interface {
	DeadLetterEvicted(ctx context.Context, d Delivery)
}
