package hookkitotel

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookkit/hookkit/sender"
)

// SenderObserver returns the observer to set as sender.Config.Observer. Every attempt,
// those of Send and those a dispatch.Dispatcher makes through the Sender, becomes a client
// span named "POST" under the attempt's context, with the HTTP semantic conventions'
// attributes (http.request.method, server.address, server.port, url.full without query
// string, fragment or user information (and without the path, with
// Config.OmitURLPath), http.response.status_code, error.type,
// http.request.resend_count from the second attempt on) and hookkit's
// (hookkit.event.type, hookkit.event.id, hookkit.endpoint.id, hookkit.attempt.number,
// hookkit.attempt.class); it ends with status Error unless the attempt was acknowledged.
// No header, body, credential or signature is recorded. With Config.Propagator set, the
// span's context goes out in each request's headers (InjectHeaders).
//
// Metrics: hookkit.delivery.attempts and hookkit.delivery.attempt.duration per attempt,
// hookkit.deliveries per Send that delivered or gave up (outcome delivered or failed,
// error.type the kind of failure: gone, rejected, exhausted, ...).
func SenderObserver(cfg Config) sender.DeliveryObserver {
	o := &senderObs{tracer: cfg.tracer(), ins: newInstruments(cfg.meter()), endpoints: cfg.EndpointMetrics, omitPath: cfg.OmitURLPath}
	obs := sender.DeliveryObserver{
		AttemptStarted:  o.started,
		AttemptFinished: o.finished,
		Delivered:       o.delivered,
		Failed:          o.failed,
	}
	if p := cfg.Propagator; p != nil {
		obs.InjectHeaders = func(ctx context.Context, h http.Header) { p.Inject(ctx, propagation.HeaderCarrier(h)) }
	}
	return obs
}

type senderObs struct {
	tracer    trace.Tracer
	ins       *instruments
	endpoints bool
	omitPath  bool
	sets      sync.Map // setKey -> *attemptSets
}

// attemptKey holds the span AttemptStarted started, so that AttemptFinished ends that
// span and no other (not a caller's, when another observer's AttemptStarted ran instead).
type attemptKey struct{}

func (o *senderObs) started(ctx context.Context, info sender.AttemptInfo) context.Context {
	// The attributes the semantic conventions want at creation, for samplers; the rest
	// only on a span that records.
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, semconv.HTTPRequestMethodPost)
	if u, ok := info.URL(); ok {
		attrs = append(attrs, semconv.ServerAddress(u.Hostname()))
		if port := portOf(u.Scheme, u.Port()); port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
		if o.omitPath {
			u.Path, u.RawPath = "", ""
		}
		attrs = append(attrs, semconv.URLFull(u.String()))
	}
	if info.Number > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(info.Number-1))
	}
	ctx, span := o.tracer.Start(ctx, http.MethodPost, clientKind, trace.WithAttributes(attrs...))
	if span.IsRecording() {
		span.SetAttributes(
			AttrEventType.String(info.EventType),
			AttrEventID.String(info.EventID),
			AttrEndpointID.String(info.Endpoint),
			AttrAttemptNumber.Int(info.Number))
	}
	return context.WithValue(ctx, attemptKey{}, span)
}

// clientKind is the start option of every attempt span, made once.
var clientKind = trace.WithSpanKind(trace.SpanKindClient)

func (o *senderObs) finished(ctx context.Context, info sender.AttemptInfo, a sender.Attempt) {
	if span, ok := ctx.Value(attemptKey{}).(trace.Span); ok {
		if span.IsRecording() {
			attrs := make([]attribute.KeyValue, 0, 3)
			attrs = append(attrs, AttrAttemptClass.String(a.Class.String()))
			if a.Status > 0 {
				attrs = append(attrs, semconv.HTTPResponseStatusCode(a.Status))
			}
			if a.Class != sender.ClassAcknowledged {
				et, desc := attemptErrorType(a)
				attrs = append(attrs, semconv.ErrorTypeKey.String(et))
				span.SetStatus(codes.Error, desc)
			}
			span.SetAttributes(attrs...)
		}
		span.End()
	}
	sets := o.attemptSets(a.Class, a.Status, info.Endpoint)
	o.ins.duration.Record(ctx, a.Duration.Seconds(), sets.duration)
	o.ins.attempts.Add(ctx, 1, sets.attempts)
}

// setKey identifies the attribute sets of an attempt's metrics.
type setKey struct {
	class    sender.Class
	status   int
	endpoint string // "" unless Config.EndpointMetrics
}

// attemptSets are the measurement options (attribute sets) of
// hookkit.delivery.attempt.duration and hookkit.delivery.attempts for one class, status
// and endpoint.
type attemptSets struct {
	duration metric.RecordOption
	attempts metric.AddOption
}

// attemptSets returns the options for an attempt, built once per distinct key: every
// value is bounded (classes, status codes, and endpoints only with
// Config.EndpointMetrics), so the cache is too, and an attempt records its metrics
// without building or sorting attributes again.
func (o *senderObs) attemptSets(class sender.Class, status int, endpoint string) *attemptSets {
	if !o.endpoints {
		endpoint = ""
	}
	k := setKey{class, status, endpoint}
	if v, ok := o.sets.Load(k); ok {
		return v.(*attemptSets)
	}
	kvs := make([]attribute.KeyValue, 0, 3)
	kvs = append(kvs, AttrAttemptClass.String(class.String()))
	if o.endpoints {
		kvs = append(kvs, AttrEndpointID.String(endpoint))
	}
	sets := &attemptSets{duration: metric.WithAttributeSet(attribute.NewSet(kvs...))}
	if status > 0 {
		kvs = append(kvs, semconv.HTTPResponseStatusCode(status))
	}
	sets.attempts = metric.WithAttributeSet(attribute.NewSet(kvs...))
	v, _ := o.sets.LoadOrStore(k, sets)
	return v.(*attemptSets)
}

func (o *senderObs) delivered(ctx context.Context, r *sender.Result) {
	o.ins.deliveries.Add(ctx, 1, metric.WithAttributes(outcomeAttrs(o.endpoints, OutcomeDelivered, r.Endpoint, "")...))
}

func (o *senderObs) failed(ctx context.Context, r *sender.Result, err error) {
	o.ins.deliveries.Add(ctx, 1, metric.WithAttributes(outcomeAttrs(o.endpoints, OutcomeFailed, r.Endpoint, failureKind(err))...))
}

// outcomeAttrs is the attribute set of hookkit.deliveries.
func outcomeAttrs(endpoints bool, outcome, endpoint, errType string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, AttrDeliveryOutcome.String(outcome))
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	if endpoints {
		attrs = append(attrs, AttrEndpointID.String(endpoint))
	}
	return attrs
}

// attemptErrorType is an unacknowledged attempt's error.type and span status
// description: the status code when a response came (the semantic conventions' rule;
// the description stays empty, the code says it), else a low-cardinality name of what
// went wrong, with the attempt's error text (which never holds the URL or a secret).
func attemptErrorType(a sender.Attempt) (string, string) {
	if a.Status > 0 {
		return strconv.Itoa(a.Status), ""
	}
	desc := ""
	if a.Err != nil {
		desc = a.Err.Error()
	}
	var ne net.Error
	switch {
	case a.Class == sender.ClassRefused:
		return "refused", desc
	case a.Class == sender.ClassCredentials:
		return "credentials", desc
	case a.Class == sender.ClassPermanent:
		return "invalid_endpoint", desc
	case errors.Is(a.Err, context.DeadlineExceeded):
		return "timeout", desc
	case errors.Is(a.Err, context.Canceled):
		return "canceled", desc
	case errors.As(a.Err, &ne) && ne.Timeout():
		return "timeout", desc
	case a.Err != nil:
		return semconv.ErrorType(a.Err).Value.AsString(), desc
	}
	return semconv.ErrorTypeOther.Value.AsString(), desc
}

// failureKind names the Kind of a Send's *sender.DeliveryError for error.type.
func failureKind(err error) string {
	switch {
	case errors.Is(err, sender.ErrGone):
		return "gone"
	case errors.Is(err, sender.ErrRedirect):
		return "redirect"
	case errors.Is(err, sender.ErrRejected):
		return "rejected"
	case errors.Is(err, sender.ErrExhausted):
		return "exhausted"
	case errors.Is(err, sender.ErrRefusedDestination):
		return "refused"
	case errors.Is(err, sender.ErrCredentials):
		return "credentials"
	case errors.Is(err, sender.ErrInvalidEndpoint):
		return "invalid_endpoint"
	case errors.Is(err, sender.ErrInvalidEvent):
		return "invalid_event"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// portOf is the port of a URL: explicit, or the scheme's default; 0 when unknown.
func portOf(scheme, port string) int {
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return 0
		}
		return p
	}
	switch scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}
