package hookkitotel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/event"
	hookkitotel "github.com/hookkit/hookkit/otel"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/receivertest"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// One trace from the sender's attempt to the listener's handling of it: the sender
// injects a W3C traceparent, the receiver's middleware continues it.
func ExampleSenderObserver() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	cfg := hookkitotel.Config{TracerProvider: tp, Propagator: propagation.TraceContext{}}

	key, _, _ := signature.Standard().GenerateKey("k1")
	keys, _ := signature.NewKeySet(key)
	verify, _ := receiver.New(receiver.Config{Keys: keys, Observer: hookkitotel.ReceiverObserver(cfg)})
	mux := http.NewServeMux()
	mux.Handle("POST /hooks", hookkitotel.ReceiverMiddleware(cfg)(verify(http.HandlerFunc(
		func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s, _ := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true, Observer: hookkitotel.SenderObserver(cfg)})
	ev, _ := event.New("envelope-completed", map[string]string{"envelopeId": "93be"})
	if _, err := s.Send(context.Background(), sender.Endpoint{ID: "acme", URL: srv.URL + "/hooks", Keys: keys}, ev); err != nil {
		fmt.Println(err)
		return
	}
	var client, server sdktrace.ReadOnlySpan
	for _, sp := range spans.Ended() {
		if sp.SpanKind() == trace.SpanKindClient {
			client = sp
		} else {
			server = sp
		}
	}
	fmt.Println(client.SpanKind(), client.Name())
	fmt.Println(server.SpanKind(), server.Name())
	fmt.Println("same trace:", server.SpanContext().TraceID() == client.SpanContext().TraceID())
	fmt.Println("parent is the attempt:", server.Parent().SpanID() == client.SpanContext().SpanID())
	// Output:
	// client POST
	// server POST /hooks
	// same trace: true
	// parent is the attempt: true
}

// The receiver's requests counted by outcome: here a delivery with a signature by a key
// the receiver does not have.
func ExampleReceiverObserver() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	cfg := hookkitotel.Config{MeterProvider: mp}

	key, _, _ := signature.Standard().GenerateKey("k1")
	keys, _ := signature.NewKeySet(key)
	verify, _ := receiver.New(receiver.Config{Keys: keys, Observer: hookkitotel.ReceiverObserver(cfg)})
	h := verify(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))

	other, _, _ := signature.Standard().GenerateKey("k1")
	ev, _ := event.New("envelope-sent", nil)
	req, _ := receivertest.NewRequest(context.Background(), ev, receivertest.Options{Keys: []signature.Key{other}})
	h.ServeHTTP(httptest.NewRecorder(), req)

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == hookkitotel.MetricReceiverRequests {
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				outcome, _ := p.Attributes.Value(hookkitotel.AttrReceiverOutcome)
				reason, _ := p.Attributes.Value(hookkitotel.AttrReceiverReason)
				fmt.Println(m.Name, outcome.AsString(), reason.AsString(), p.Value)
			}
		}
	}
	// Output:
	// hookkit.receiver.requests rejected invalid-signature 1
}

// The queue depth gauge reads the store's Stats at each collection.
func ExampleQueueDepth() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	store := memqueue.New(memqueue.Config{})
	s, _ := sender.New(sender.Config{})
	d, _ := dispatch.New(s, store, dispatch.Config{}) // not started: what is published waits
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/in"}})
	for range 2 {
		ev, _ := event.New("envelope-sent", nil)
		_, _ = d.Publish(context.Background(), ev)
	}

	reg, err := hookkitotel.QueueDepth(mp.Meter(hookkitotel.ScopeName), store)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	depth := map[string]int64{}
	for _, p := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Gauge[int64]).DataPoints {
		state, _ := p.Attributes.Value(hookkitotel.AttrQueueState)
		depth[state.AsString()] = p.Value
	}
	fmt.Println(depth)
	// Output:
	// map[dead:0 leased:0 pending:2]
}

// A dispatcher's deliveries counted by outcome, per endpoint: one endpoint acknowledges,
// the other refuses for good (422), so its delivery becomes a dead letter.
func ExampleDispatchObserver() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	cfg := hookkitotel.Config{MeterProvider: mp, EndpointMetrics: true}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s, _ := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true, Observer: hookkitotel.SenderObserver(cfg)})
	d, _ := dispatch.New(s, nil, dispatch.Config{Observer: hookkitotel.DispatchObserver(cfg)})
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ok", URL: srv.URL + "/ok"}})
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "refusing", URL: srv.URL + "/refuse"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = d.Start(ctx)
	ev, _ := event.New("envelope-sent", nil)
	_, _ = d.Publish(ctx, ev)
	_ = d.Drain(ctx)
	_ = d.Shutdown(ctx)

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	counts := map[string]int64{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == hookkitotel.MetricDeliveries {
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				ep, _ := p.Attributes.Value(hookkitotel.AttrEndpointID)
				outcome, _ := p.Attributes.Value(hookkitotel.AttrDeliveryOutcome)
				counts[ep.AsString()+" "+outcome.AsString()] += p.Value
			}
		}
	}
	fmt.Println(counts)
	// Output:
	// map[ok delivered:1 refusing dead_lettered:1]
}

// The endpoints of a dispatcher by circuit-breaker state, at each collection.
func ExampleEndpointStates() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	s, _ := sender.New(sender.Config{})
	d, _ := dispatch.New(s, nil, dispatch.Config{})
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/in"}})
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "globex", URL: "https://hooks.globex.example/in"}})

	reg, err := hookkitotel.EndpointStates(mp.Meter(hookkitotel.ScopeName), d)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	states := map[string]int64{}
	for _, p := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Gauge[int64]).DataPoints {
		state, _ := p.Attributes.Value(hookkitotel.AttrEndpointState)
		states[state.AsString()] = p.Value
	}
	fmt.Println(states)
	// Output:
	// map[active:2 disabled:0 failing:0 paused:0 probing:0]
}
