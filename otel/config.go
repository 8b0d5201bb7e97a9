package hookkitotel

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracers and meters this package gets
// from the providers (the name QueueDepth's meter should have too).
const ScopeName = "github.com/hookkit/hookkit/otel"

// Config configures the observers and the middleware of this package. The zero value is
// ready to use: the global providers, no trace propagation, no endpoint IDs in metrics.
type Config struct {
	// TracerProvider makes the spans. nil: otel.GetTracerProvider() at the time the
	// observer is built.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the instruments. nil: otel.GetMeterProvider() at the time the
	// observer is built.
	MeterProvider metric.MeterProvider
	// Propagator, when set, puts the attempt span's context into every outgoing delivery
	// (SenderObserver, through sender.DeliveryObserver.InjectHeaders) and takes the
	// parent of the server span from every incoming one (ReceiverMiddleware), so one
	// trace spans sender and listener; propagation.TraceContext{} sends and reads the W3C
	// traceparent header and nothing else.
	//
	// nil: no propagation, and the global propagator (otel.GetTextMapPropagator) is not
	// used either. Webhook endpoints are usually another organisation's servers: a
	// traceparent tells them your trace IDs, and a global propagator that includes
	// baggage would hand them whatever your services put in it. A receiver's deliveries
	// come from outside too, and a parent taken from an unauthenticated request lets
	// anyone attach spans to your traces and steer their sampling. Turn it on where both
	// ends are yours, with the propagator you want on the wire.
	Propagator propagation.TextMapPropagator
	// EndpointMetrics adds hookkit.endpoint.id to the attributes of the delivery,
	// attempt, state-change and eviction metrics. false (the default): metrics carry no
	// endpoint, one series per class or outcome, which suits a multi-tenant sender with
	// thousands of endpoints; set it for tens of endpoints, to alert per endpoint. Spans
	// always carry the endpoint ID.
	EndpointMetrics bool
	// OmitURLPath ends the attempt spans' url.full at the host and port
	// ("https://hooks.example.com"), for senders whose endpoints carry a credential in
	// the path (Slack- and Discord-style webhook URLs do). false (the default): scheme,
	// host, port and path, as the semantic conventions want; the query string, which may
	// carry a token, is never recorded either way.
	OmitURLPath bool
}

func (c *Config) tracer() trace.Tracer {
	tp := c.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
}

func (c *Config) meter() metric.Meter {
	mp := c.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
}

// The attributes of hookkit's own, beside the semantic conventions' HTTP attributes.
const (
	// AttrEventType is the event's type (spans).
	AttrEventType = attribute.Key("hookkit.event.type")
	// AttrEventID is the event's id (spans only: never a metric attribute).
	AttrEventID = attribute.Key("hookkit.event.id")
	// AttrDeliveryID is the id a receiver de-duplicates by, on the server span of a
	// duplicate delivery (spans only).
	AttrDeliveryID = attribute.Key("hookkit.delivery.id")
	// AttrEndpointID is the endpoint's ID, or its URL's host when it has none (spans;
	// metrics with Config.EndpointMetrics).
	AttrEndpointID = attribute.Key("hookkit.endpoint.id")
	// AttrAttemptNumber is 1 for the first attempt of a delivery (spans).
	AttrAttemptNumber = attribute.Key("hookkit.attempt.number")
	// AttrAttemptClass is what an attempt's outcome means, sender.Class.String():
	// acknowledged, retryable, permanent, gone, refused, credentials, redirect.
	AttrAttemptClass = attribute.Key("hookkit.attempt.class")
	// AttrDeliveryOutcome is how a delivery ended: delivered, failed (Send gave up) or
	// dead_lettered (a dispatcher gave up).
	AttrDeliveryOutcome = attribute.Key("hookkit.delivery.outcome")
	// AttrQueueState is the state of stored deliveries: pending, leased or dead.
	AttrQueueState = attribute.Key("hookkit.queue.state")
	// AttrEndpointState is the state an endpoint moved to: active, failing, paused,
	// probing, disabled.
	AttrEndpointState = attribute.Key("hookkit.endpoint.state")
	// AttrEndpointPreviousState is the state an endpoint left.
	AttrEndpointPreviousState = attribute.Key("hookkit.endpoint.previous_state")
	// AttrReceiverOutcome is what a receiver did with a request: accepted, duplicate or
	// rejected.
	AttrReceiverOutcome = attribute.Key("hookkit.receiver.outcome")
	// AttrReceiverReason is why a receiver rejected a request, receiver.Reason
	// (invalid-signature, body-too-large, ...).
	AttrReceiverReason = attribute.Key("hookkit.receiver.reason")
)

// Outcome values of AttrDeliveryOutcome and AttrReceiverOutcome.
const (
	OutcomeDelivered    = "delivered"     // acknowledged by the endpoint
	OutcomeFailed       = "failed"        // Send gave up (error.type says why)
	OutcomeDeadLettered = "dead_lettered" // a dispatcher gave up: a dead letter in its store
	OutcomeAccepted     = "accepted"      // verified and handed to the handler (status: its answer)
	OutcomeDuplicate    = "duplicate"     // already handled: acknowledged without the handler
	OutcomeRejected     = "rejected"      // refused by the receiver (hookkit.receiver.reason says why)
)

// The metrics' names.
const (
	// MetricAttempts counts attempts ({attempt}) by AttrAttemptClass and
	// http.response.status_code (absent when no response came).
	MetricAttempts = "hookkit.delivery.attempts"
	// MetricAttemptDuration is the histogram of attempt latency (s) by AttrAttemptClass.
	MetricAttemptDuration = "hookkit.delivery.attempt.duration"
	// MetricDeliveries counts finished deliveries ({delivery}) by AttrDeliveryOutcome,
	// with error.type on failed ones.
	MetricDeliveries = "hookkit.deliveries"
	// MetricQueueDeliveries is the gauge of stored deliveries ({delivery}) by
	// AttrQueueState (QueueDepth).
	MetricQueueDeliveries = "hookkit.queue.deliveries"
	// MetricEndpoints is the gauge of a dispatcher's endpoints ({endpoint}) by
	// AttrEndpointState (EndpointStates).
	MetricEndpoints = "hookkit.endpoints"
	// MetricEndpointStateChanges counts endpoint state changes ({change}) by
	// AttrEndpointState and AttrEndpointPreviousState.
	MetricEndpointStateChanges = "hookkit.endpoint.state_changes"
	// MetricDeadLettersEvicted counts dead letters a bounded store dropped ({delivery}).
	MetricDeadLettersEvicted = "hookkit.dead_letters.evicted"
	// MetricReceiverRequests counts the requests a receiver answered ({request}) by
	// AttrReceiverOutcome, with AttrReceiverReason on rejected ones and
	// http.response.status_code.
	MetricReceiverRequests = "hookkit.receiver.requests"
)

// durationBuckets are the semantic conventions' boundaries for HTTP request durations
// (http.client.request.duration), in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// instruments are the metrics one observer records; a broken MeterProvider gives no-op
// instruments and its error goes to otel.Handle.
type instruments struct {
	attempts      metric.Int64Counter
	duration      metric.Float64Histogram
	deliveries    metric.Int64Counter
	stateChanges  metric.Int64Counter
	evicted       metric.Int64Counter
	receiverCalls metric.Int64Counter
}

func newInstruments(m metric.Meter) *instruments {
	var ins instruments
	var errs [6]error
	ins.attempts, errs[0] = m.Int64Counter(MetricAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Webhook delivery attempts, by class (acknowledged, retryable, permanent, ...)."))
	ins.duration, errs[1] = m.Float64Histogram(MetricAttemptDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of webhook delivery attempts, from the start of the request until the response was read."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	ins.deliveries, errs[2] = m.Int64Counter(MetricDeliveries, metric.WithUnit("{delivery}"),
		metric.WithDescription("Finished webhook deliveries, by outcome (delivered, failed, dead_lettered)."))
	ins.stateChanges, errs[3] = m.Int64Counter(MetricEndpointStateChanges, metric.WithUnit("{change}"),
		metric.WithDescription("Endpoint state changes of a dispatcher (failing, paused, probing, active, disabled)."))
	ins.evicted, errs[4] = m.Int64Counter(MetricDeadLettersEvicted, metric.WithUnit("{delivery}"),
		metric.WithDescription("Dead letters evicted by a store whose bound on dead letters was reached."))
	ins.receiverCalls, errs[5] = m.Int64Counter(MetricReceiverRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests answered by a webhook receiver, by outcome (accepted, duplicate, rejected)."))
	if err := errors.Join(errs[:]...); err != nil {
		otel.Handle(fmt.Errorf("hookkit/otel: instruments: %w", err))
	}
	return &ins
}
