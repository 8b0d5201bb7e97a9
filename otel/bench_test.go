package hookkitotel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hookkit/hookkit/event"
	hookkitotel "github.com/hookkit/hookkit/otel"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// ackTransport answers every request with 204 without touching the network.
type ackTransport struct{}

func (ackTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// BenchmarkSenderObserverOverhead is the cost of SenderObserver on one Send: without an
// observer ("none"), with SenderObserver on no-op providers ("noop") and on the SDK
// ("sdk": every span sampled and kept in memory, metrics aggregated, a traceparent
// injected). "memory" replaces the network with an in-memory 204 (the client-side work
// alone); "loopback" delivers to a 127.0.0.1 server. The sides run in alternating
// blocks inside one run, so they see the same machine; each reports ns/delivery and its
// ratio to "none".
func BenchmarkSenderObserverOverhead(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	b.Run("memory", func(b *testing.B) {
		benchObserverSides(b, "https://hooks.example.com/webhooks", sender.Config{HTTPClient: &http.Client{Transport: ackTransport{}}, GuardedTransport: true})
	})
	b.Run("loopback", func(b *testing.B) {
		benchObserverSides(b, srv.URL+"/webhooks", sender.Config{AllowPrivate: true, AllowHTTP: true})
	})
}

func benchObserverSides(b *testing.B, url string, base sender.Config) {
	key, _, _ := signature.Standard().GenerateKey("k1")
	keys, _ := signature.NewKeySet(key)
	ep := sender.Endpoint{ID: "bench", URL: url, Keys: keys}
	ev, _ := event.New("envelope-completed", map[string]string{"envelopeId": "93be"})
	newSender := func(obs sender.DeliveryObserver) *sender.Sender {
		cfg := base
		cfg.Observer = obs
		s, err := sender.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.CloseIdleConnections)
		return s
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())
	names := []string{"none", "noop", "sdk"}
	senders := []*sender.Sender{
		newSender(sender.DeliveryObserver{}),
		newSender(hookkitotel.SenderObserver(hookkitotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: noop.NewMeterProvider()})),
		newSender(hookkitotel.SenderObserver(hookkitotel.Config{TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}})),
	}
	const block = 100
	elapsed := make([]time.Duration, len(senders))
	done := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; done < b.N; i++ {
		for j := range senders {
			side := (i + j) % len(senders)
			start := time.Now()
			for range block {
				if _, err := senders[side].Send(context.Background(), ep, ev); err != nil {
					b.Fatal(err)
				}
			}
			elapsed[side] += time.Since(start)
		}
		done += block
		if i%500 == 499 { // keep the recorder's memory bounded; outside the timed blocks
			rec.Reset()
		}
	}
	for i, name := range names {
		b.ReportMetric(float64(elapsed[i].Nanoseconds())/float64(done), "ns/"+name)
		b.ReportMetric(float64(elapsed[i])/float64(elapsed[0]), name+"/none")
	}
}

// BenchmarkSenderObserverHooks is the cost of SenderObserver's AttemptStarted and
// AttemptFinished alone on the no-op providers (an AttemptInfo made outside a Sender has
// no URL, so url.full is not built here).
func BenchmarkSenderObserverHooks(b *testing.B) {
	obs := hookkitotel.SenderObserver(hookkitotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: noop.NewMeterProvider()})
	info := sender.AttemptInfo{EventID: "evt_1", EventType: "envelope-sent", Endpoint: "acme", Number: 1}
	a := sender.Attempt{Number: 1, Status: http.StatusNoContent, Class: sender.ClassAcknowledged, Duration: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		ctx := obs.AttemptStarted(context.Background(), info)
		obs.AttemptFinished(ctx, info, a)
	}
}
