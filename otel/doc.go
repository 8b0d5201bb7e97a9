// Package hookkitotel is OpenTelemetry tracing and metrics for hookkit's sender,
// dispatcher and receiver, on the go.opentelemetry.io/otel API alone: the program picks
// the SDK and the exporters (Prometheus, OTLP, ...). It is a module of its own, so the
// library stays free of OpenTelemetry; it only builds the observer structs the library
// already has (sender.DeliveryObserver, dispatch.Observer, receiver.RequestObserver) and
// a middleware for the server span.
//
// Wiring, with the global providers (Config's zero value) or your own:
//
//	cfg := hookkitotel.Config{Propagator: propagation.TraceContext{}} // traceparent: both ends yours
//	s, _ := sender.New(sender.Config{Observer: hookkitotel.SenderObserver(cfg)})
//	d, _ := dispatch.New(s, store, dispatch.Config{Observer: hookkitotel.DispatchObserver(cfg)})
//	_, _ = hookkitotel.QueueDepth(otel.Meter(hookkitotel.ScopeName), store)
//	_, _ = hookkitotel.EndpointStates(otel.Meter(hookkitotel.ScopeName), d)
//
//	verify, _ := receiver.New(receiver.Config{Keys: keys, Observer: hookkitotel.ReceiverObserver(cfg)})
//	mux.Handle("POST /webhooks", hookkitotel.ReceiverMiddleware(cfg)(verify(router)))
//
// # Spans
//
// Every attempt is a client span "POST" (SenderObserver) and every request a receiver
// gets is a server span "POST /route" (ReceiverMiddleware), named and attributed by the
// OpenTelemetry HTTP semantic conventions, plus hookkit.event.type, hookkit.event.id,
// hookkit.endpoint.id, hookkit.attempt.number and hookkit.attempt.class on the client
// side, hookkit.receiver.outcome and hookkit.receiver.reason on the server side. url.full
// is the endpoint's scheme, host and path: the query string, which may carry a token, is
// dropped whole rather than scrubbed by a list of known parameter names, and
// Config.OmitURLPath drops the path too, for endpoints with a credential in it. No header,
// credential, signature or body is ever recorded. With Config.Propagator set, the attempt
// span's context travels in the delivery's headers and the server span continues it (off
// by default: see Config.Propagator).
//
// # Metrics
//
//	name                               unit        attributes
//	hookkit.delivery.attempts          {attempt}   hookkit.attempt.class, http.response.status_code
//	hookkit.delivery.attempt.duration  s           hookkit.attempt.class (histogram)
//	hookkit.deliveries                 {delivery}  hookkit.delivery.outcome (delivered, failed, dead_lettered), error.type
//	hookkit.queue.deliveries           {delivery}  hookkit.queue.state (pending, leased, dead) (gauge, QueueDepth)
//	hookkit.endpoints                  {endpoint}  hookkit.endpoint.state (gauge, EndpointStates)
//	hookkit.endpoint.state_changes     {change}    hookkit.endpoint.state, hookkit.endpoint.previous_state
//	hookkit.dead_letters.evicted       {delivery}  -
//	hookkit.receiver.requests          {request}   hookkit.receiver.outcome, hookkit.receiver.reason, http.response.status_code
//
// Config.EndpointMetrics adds hookkit.endpoint.id to the sender's and the dispatcher's
// metrics. Event IDs never reach a metric: every attribute has a bounded set of values.
package hookkitotel
