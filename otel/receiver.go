package hookkitotel

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/statuswriter"
	"github.com/hookkit/hookkit/receiver"
)

// ReceiverMiddleware returns a middleware that makes a server span of every request, to
// wrap around the receiver middleware (receiver.New's), which then runs inside the span:
//
//	mux.Handle("POST /webhooks", hookkitotel.ReceiverMiddleware(cfg)(verify(router)))
//
// The span is named "POST" and the route when the request came through a
// http.ServeMux pattern ("POST /webhooks"), and carries the HTTP semantic conventions'
// server attributes (http.request.method, url.path, url.scheme, http.route,
// server.address, server.port, client.address, network.peer.address,
// network.peer.port, network.protocol.version, user_agent.original,
// http.response.status_code, and error.type with status Error for a 5xx or a panic: not
// for a 4xx, the sender's error, nor for a panic with http.ErrAbortHandler, a deliberate
// abort). No query string, header, credential, signature or body is recorded; url.path
// is the receiver's own route. ReceiverObserver's hooks, on the receiver's
// Config.Observer, add what was delivered (hookkit.event.type, hookkit.event.id,
// hookkit.receiver.outcome and reason) to the span. With Config.Propagator set, the
// span's parent is the context the request carries (the sender's attempt span, with
// SenderObserver's propagation): one trace spans sender and listener.
func ReceiverMiddleware(cfg Config) func(http.Handler) http.Handler {
	tracer, prop := cfg.tracer(), cfg.Propagator
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if prop != nil {
				ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
			}
			method, known := methodOf(r.Method)
			name := method
			if !known {
				name = "HTTP"
			}
			attrs := serverAttrs(r, method)
			if route := routeOf(r.Pattern); route != "" {
				name += " " + route
				attrs = append(attrs, semconv.HTTPRoute(route))
			}
			ctx, span := tracer.Start(ctx, name, serverKind, trace.WithAttributes(attrs...))
			defer span.End()
			sw := &statuswriter.Writer{ResponseWriter: w}
			defer func() {
				if p := recover(); p != nil {
					// net/http answers nothing and logs it; the span says the handler
					// failed, and the panic goes on. http.ErrAbortHandler is a deliberate
					// abort (net/http does not log it): not recorded as an error.
					if p != http.ErrAbortHandler {
						span.SetAttributes(semconv.ErrorTypeKey.String("panic"))
						span.SetStatus(codes.Error, "handler panicked")
					}
					panic(p)
				}
			}()
			next.ServeHTTP(sw, r.WithContext(ctx))
			status := sw.Code()
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if status >= 500 {
				span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
				span.SetStatus(codes.Error, "")
			}
		})
	}
}

// serverKind is the start option of every server span, made once.
var serverKind = trace.WithSpanKind(trace.SpanKindServer)

// methodOf is the semantic conventions' http.request.method: the method when it is a
// known one, else _OTHER (an unbounded set must not reach attributes).
func methodOf(m string) (string, bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m, true
	}
	return "_OTHER", false
}

// routeOf is the path of a ServeMux pattern ("[METHOD ][HOST]/PATH"), "" without one.
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// serverAttrs are a server span's request attributes.
func serverAttrs(r *http.Request, method string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	if method == "_OTHER" {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := "/"
	if r.URL != nil && r.URL.Path != "" {
		path = r.URL.Path
	}
	attrs = append(attrs, semconv.URLScheme(scheme), semconv.URLPath(path))
	if host, port := splitHostPort(r.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p := portOf(scheme, port); p > 0 {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	}
	if host, port := splitHostPort(r.RemoteAddr); host != "" {
		attrs = append(attrs, semconv.ClientAddress(host), semconv.NetworkPeerAddress(host))
		if p, err := strconv.Atoi(port); err == nil && p > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(p))
		}
	}
	if r.ProtoMajor > 0 {
		attrs = append(attrs, semconv.NetworkProtocolVersion(protoVersion(r.ProtoMajor, r.ProtoMinor)))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// protoVersion is network.protocol.version: "1.1", "2", "3".
func protoVersion(major, minor int) string {
	if major >= 2 {
		return strconv.Itoa(major)
	}
	return strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// splitHostPort splits "host[:port]" (brackets of an IPv6 literal removed).
func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return h, p
	}
	return strings.Trim(hp, "[]"), ""
}

// ReceiverObserver returns the observer to set as receiver.Config.Observer. It counts
// hookkit.receiver.requests by outcome (accepted with the handler's status, duplicate
// with 204, rejected with the reason and its status) and adds to the span of the request
// context (ReceiverMiddleware's, or another instrumentation's server span)
// hookkit.receiver.outcome and: for an accepted delivery the event's type and id; for a
// duplicate the delivery id; for a rejection the reason. A rejected request's event is
// not recorded: nothing unverified reaches the telemetry.
func ReceiverObserver(cfg Config) receiver.RequestObserver {
	ins := newInstruments(cfg.meter())
	return receiver.RequestObserver{
		Accepted: func(ctx context.Context, ev *event.Event, status int) {
			trace.SpanFromContext(ctx).SetAttributes(AttrReceiverOutcome.String(OutcomeAccepted),
				AttrEventType.String(ev.Type), AttrEventID.String(ev.ID))
			ins.receiverCalls.Add(ctx, 1, metric.WithAttributes(AttrReceiverOutcome.String(OutcomeAccepted),
				semconv.HTTPResponseStatusCode(status)))
		},
		Duplicate: func(ctx context.Context, id string) {
			trace.SpanFromContext(ctx).SetAttributes(AttrReceiverOutcome.String(OutcomeDuplicate), AttrDeliveryID.String(id))
			ins.receiverCalls.Add(ctx, 1, metric.WithAttributes(AttrReceiverOutcome.String(OutcomeDuplicate),
				semconv.HTTPResponseStatusCode(http.StatusNoContent)))
		},
		Rejected: func(ctx context.Context, reason receiver.Reason) {
			trace.SpanFromContext(ctx).SetAttributes(AttrReceiverOutcome.String(OutcomeRejected),
				AttrReceiverReason.String(string(reason)))
			ins.receiverCalls.Add(ctx, 1, metric.WithAttributes(AttrReceiverOutcome.String(OutcomeRejected),
				AttrReceiverReason.String(string(reason)), semconv.HTTPResponseStatusCode(reason.Status())))
		},
	}
}
