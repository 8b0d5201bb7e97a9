package sender

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

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

	dest *url.URL // the target's parsed URL, shared: URL returns a redacted copy
}

// URL returns the URL the attempt is sent to without its query string, fragment and user
// information, which may carry secrets (a token in a query parameter): scheme, host (with
// its port, if the endpoint's URL has one) and path only, for a span's url.full,
// server.address and server.port. ok is false only for an AttemptInfo that no Sender
// made (a Sender calls no hook with an unparsable URL). The copy is the caller's to
// modify.
func (i AttemptInfo) URL() (u url.URL, ok bool) {
	if i.dest == nil {
		return url.URL{}, false
	}
	d := i.dest
	return url.URL{Scheme: d.Scheme, Host: d.Host, Path: d.Path, RawPath: d.RawPath}, true
}

// DeliveryObserver is told about attempts and outcomes, for metrics and tracing
// (OpenTelemetry, Prometheus, ...) without the library depending on them. Like
// net/http/httptrace.ClientTrace, it is a struct of optional hooks: a nil field is
// skipped, so the zero value observes nothing and a hook added in a later version breaks
// no one. It is passed by value in Config.Observer. The Sender calls AttemptStarted and
// AttemptFinished around every attempt it makes, for Send and for Attempt alike (so a
// dispatch.Dispatcher's attempts are seen here), and Delivered or Failed once at the end
// of each Send. A dispatcher's own events (endpoint state changes, evicted dead letters)
// go to its own hooks, dispatch.Observer. Package github.com/hookkit/hookkit/otel builds
// one for OpenTelemetry.
//
// Hooks are called synchronously on the delivering goroutine, possibly from many
// goroutines at once: they must be quick and safe for concurrent use.
type DeliveryObserver struct {
	// AttemptStarted is called before an attempt. The context it returns is the one the
	// attempt's request is made with, so a tracer can start a span that the HTTP
	// transport's instrumentation nests under; return ctx when there is nothing to add
	// (a nil return is taken as ctx).
	AttemptStarted func(ctx context.Context, info AttemptInfo) context.Context
	// InjectHeaders is called once per attempt that is about to be sent, with the context
	// AttemptStarted returned (bounded by the attempt's timeout), to add request headers
	// such as a W3C traceparent (propagation.TextMapPropagator.Inject with a
	// propagation.HeaderCarrier(h) does it). h is empty and the hook's own: the sender
	// copies its headers into the request afterwards, and only those that add something.
	// A hook can add headers; it can never replace or remove one, so the request's
	// signature, credentials and content headers are always the sender's:
	//   - a header the request already has, under any case (the endpoint's Headers, the
	//     signature scheme's, Content-Type, User-Agent, the Authorization the endpoint's
	//     Credentials set), keeps the sender's value;
	//   - Authorization, Proxy-Authorization, Cookie, Host, Content-Type, Content-Length,
	//     Content-Encoding, Transfer-Encoding, Trailer, TE, Connection, Keep-Alive,
	//     Proxy-Connection, Upgrade, Expect, Accept-Encoding (the transport's) and
	//     User-Agent are never taken from a hook, even when the request has none;
	//   - a name that is not a valid header token or a value with a control character
	//     (CR, LF, NUL, ...) is dropped rather than failing the attempt.
	// Attempts that fail before anything is sent (a refused destination, credentials that
	// could not be obtained) do not call it. nil: no headers are added, at no cost.
	InjectHeaders func(ctx context.Context, h http.Header)
	// AttemptFinished is called after the attempt, with the context AttemptStarted
	// returned (a span can be ended here) and its status, duration and class.
	AttemptFinished func(ctx context.Context, info AttemptInfo, a Attempt)
	// Delivered is called when Send delivered the event.
	Delivered func(ctx context.Context, r *Result)
	// Failed is called when Send gave up, with the error it returns.
	Failed func(ctx context.Context, r *Result, err error)
}

// reservedHeaders are the headers DeliveryObserver.InjectHeaders can never set:
// credentials, the framing and connection headers the transport owns, and the content
// headers the sender sets.
var reservedHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Host": true,
	"Content-Type": true, "Content-Length": true, "Content-Encoding": true,
	"Transfer-Encoding": true, "Trailer": true, "Te": true, "Connection": true,
	"Keep-Alive": true, "Proxy-Connection": true, "Upgrade": true, "Expect": true,
	"Accept-Encoding": true, "User-Agent": true,
}

// injectHeaders calls the observer's InjectHeaders hook and adds to h the headers it set
// that h lacks (see DeliveryObserver.InjectHeaders for the rules).
func (s *Sender) injectHeaders(ctx context.Context, h http.Header) {
	extra := make(http.Header, 2)
	s.observer.InjectHeaders(ctx, extra)
	for k, vs := range extra {
		if len(vs) == 0 || !validHeaderName(k) {
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		if reservedHeaders[ck] || hasHeaderFold(h, ck) {
			continue
		}
		var keep []string
		for _, v := range vs {
			if validHeaderValue(v) {
				keep = append(keep, v)
			}
		}
		if len(keep) > 0 {
			h[ck] = keep
		}
	}
}

// hasHeaderFold reports whether h has a header named name under any case: signature
// schemes set theirs under non-canonical keys ("webhook-signature").
func hasHeaderFold(h http.Header, name string) bool {
	if _, ok := h[name]; ok {
		return true
	}
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v has no control character other than a tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
