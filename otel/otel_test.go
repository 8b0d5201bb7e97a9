package hookkitotel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	hookkitotel "github.com/hookkit/hookkit/otel"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

const bearerToken = "tok-9f8e7d6c5b4a"

// telemetry is an SDK with in-memory exporters: every span ended, metrics on demand.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	cfg    hookkitotel.Config
}

func newTelemetry(t *testing.T, propagate bool) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel.cfg = hookkitotel.Config{TracerProvider: tp, MeterProvider: mp}
	if propagate {
		tel.cfg.Propagator = propagation.TraceContext{}
	}
	return tel
}

func (tel *telemetry) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	return rm
}

// find returns the metric named name, failing the test when there is none.
func find(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	require.Failf(t, "no metric", "%s", name)
	return metricdata.Metrics{}
}

// points maps each data point's attribute set ("k=v,k=v", sorted) to its value: the sum
// of a counter, the count of a histogram, the value of a gauge.
func points(t *testing.T, rm metricdata.ResourceMetrics, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	enc := attribute.DefaultEncoder()
	switch d := find(t, rm, name).Data.(type) {
	case metricdata.Sum[int64]:
		assert.True(t, d.IsMonotonic, "%s is a counter", name)
		for _, p := range d.DataPoints {
			out[p.Attributes.Encoded(enc)] += p.Value
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[p.Attributes.Encoded(enc)] += int64(p.Count)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out[p.Attributes.Encoded(enc)] = p.Value
		}
	default:
		require.Failf(t, "unexpected data", "%s: %T", name, d)
	}
	return out
}

// loopback is a hookkit receiver on 127.0.0.1 behind ReceiverMiddleware: POST /hooks
// answers with status(event type).
type loopback struct {
	*httptest.Server
	key   signature.Key
	text  string // the whsec_ secret
	keys  *signature.KeySet
	mu    sync.Mutex
	calls map[string]int // per event type
}

func newLoopback(t *testing.T, tel *telemetry, status func(typ string, n int) int) *loopback {
	t.Helper()
	return newLoopbackWrapped(t, tel, status, nil)
}

// newLoopbackWrapped is newLoopback with wrap (if not nil) around the whole server.
func newLoopbackWrapped(t *testing.T, tel *telemetry, status func(typ string, n int) int, wrap func(http.Handler) http.Handler) *loopback {
	t.Helper()
	key, text, err := signature.Standard().GenerateKey("k1")
	require.NoError(t, err)
	keys, err := signature.NewKeySet(key)
	require.NoError(t, err)
	lb := &loopback{key: key, text: text, keys: keys, calls: map[string]int{}}
	verify, err := receiver.New(receiver.Config{Keys: keys, Observer: hookkitotel.ReceiverObserver(tel.cfg)})
	require.NoError(t, err)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, ok := receiver.EventFrom(r.Context())
		require.True(t, ok)
		lb.mu.Lock()
		lb.calls[ev.Type]++
		n := lb.calls[ev.Type]
		lb.mu.Unlock()
		w.WriteHeader(status(ev.Type, n))
	})
	mux := http.NewServeMux()
	mux.Handle("POST /hooks", hookkitotel.ReceiverMiddleware(tel.cfg)(verify(handler)))
	var root http.Handler = mux
	if wrap != nil {
		root = wrap(mux)
	}
	lb.Server = httptest.NewServer(root)
	t.Cleanup(lb.Close)
	return lb
}

func newSender(t *testing.T, tel *telemetry, attempts int) *sender.Sender {
	t.Helper()
	s, err := sender.New(sender.Config{
		AllowPrivate: true, AllowHTTP: true,
		Retry:    sender.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, RandomizationFactor: -1, MaxAttempts: attempts, MaxElapsedTime: time.Minute},
		Observer: hookkitotel.SenderObserver(tel.cfg),
	})
	require.NoError(t, err)
	t.Cleanup(s.CloseIdleConnections)
	return s
}

func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// assertNoSecrets checks every span (name, attributes, status, events) and every metric
// attribute for the secrets and the body.
func assertNoSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan, rm metricdata.ResourceMetrics, secrets ...string) {
	t.Helper()
	var texts []string
	for _, s := range spans {
		texts = append(texts, s.Name(), s.Status().Description)
		for _, kv := range s.Attributes() {
			texts = append(texts, string(kv.Key), kv.Value.String())
		}
		for _, ev := range s.Events() {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			texts = append(texts, collectMetricAttrs(m)...)
		}
	}
	require.NotEmpty(t, texts)
	for _, secret := range secrets {
		require.NotEmpty(t, secret)
		for _, s := range texts {
			assert.NotContains(t, s, secret)
		}
	}
}

func collectMetricAttrs(m metricdata.Metrics) []string {
	var sets []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	}
	var out []string
	for _, s := range sets {
		out = append(out, s.Encoded(attribute.DefaultEncoder()))
	}
	return out
}

// TestOneTraceSpansSenderAndListener: with a propagator, an attempt is a client span and
// the delivery it makes a server span whose parent is that client span (through the
// traceparent header), both with exactly the semantic conventions' and hookkit's
// attributes, and no secret, token, query string or body anywhere in the telemetry.
func TestOneTraceSpansSenderAndListener(t *testing.T) {
	tel := newTelemetry(t, true)
	lb := newLoopback(t, tel, func(string, int) int { return http.StatusNoContent })
	s := newSender(t, tel, 3)
	ev, err := event.New("envelope-completed", map[string]string{"envelopeId": "env-secret-body-93be"})
	require.NoError(t, err)
	ep := sender.Endpoint{ID: "acme", URL: lb.URL + "/hooks?token=q-s3cr3t", Keys: lb.keys,
		Credentials: auth.Bearer(auth.NewPassword(bearerToken))}
	res, err := s.Send(context.Background(), ep, ev)
	require.NoError(t, err)
	require.True(t, res.Delivered)

	spans := tel.spans.Ended()
	require.Len(t, spans, 2)
	var client, server sdktrace.ReadOnlySpan
	for _, sp := range spans {
		switch sp.SpanKind() {
		case trace.SpanKindClient:
			client = sp
		case trace.SpanKindServer:
			server = sp
		}
	}
	require.NotNil(t, client)
	require.NotNil(t, server)
	assert.Equal(t, client.SpanContext().TraceID(), server.SpanContext().TraceID(), "one trace")
	assert.Equal(t, client.SpanContext().SpanID(), server.Parent().SpanID(), "the server span's parent is the attempt")
	assert.True(t, server.Parent().IsRemote())
	assert.False(t, client.Parent().IsValid(), "the attempt is a root: Send was called without a span")

	u, err := url.Parse(lb.URL)
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	assert.Equal(t, "POST", client.Name())
	assert.Equal(t, map[string]any{
		"http.request.method":       "POST",
		"server.address":            "127.0.0.1",
		"server.port":               int64(port),
		"url.full":                  lb.URL + "/hooks",
		"http.response.status_code": int64(204),
		"hookkit.event.type":        "envelope-completed",
		"hookkit.event.id":          ev.ID,
		"hookkit.endpoint.id":       "acme",
		"hookkit.attempt.number":    int64(1),
		"hookkit.attempt.class":     "acknowledged",
	}, attrMap(client.Attributes()))
	assert.Equal(t, codes.Unset, client.Status().Code)

	assert.Equal(t, "POST /hooks", server.Name())
	got := attrMap(server.Attributes())
	peerPort, ok := got["network.peer.port"].(int64)
	assert.True(t, ok && peerPort > 0, "network.peer.port %v", got["network.peer.port"])
	delete(got, "network.peer.port")
	assert.Equal(t, map[string]any{
		"http.request.method":       "POST",
		"url.scheme":                "http",
		"url.path":                  "/hooks",
		"http.route":                "/hooks",
		"server.address":            "127.0.0.1",
		"server.port":               int64(port),
		"client.address":            "127.0.0.1",
		"network.peer.address":      "127.0.0.1",
		"user_agent.original":       sender.DefaultUserAgent,
		"network.protocol.version":  "1.1",
		"http.response.status_code": int64(204),
		"hookkit.receiver.outcome":  "accepted",
		"hookkit.event.type":        "envelope-completed",
		"hookkit.event.id":          ev.ID,
	}, got)
	assert.Equal(t, codes.Unset, server.Status().Code)

	enc, err := ev.Encode()
	require.NoError(t, err)
	rm := tel.collect(t)
	assertNoSecrets(t, spans, rm, lb.text, strings.TrimPrefix(lb.text, "whsec_"), bearerToken, "q-s3cr3t",
		"env-secret-body-93be", string(enc.Body(0)))
	assert.Equal(t, map[string]int64{"hookkit.attempt.class=acknowledged,http.response.status_code=204": 1},
		points(t, rm, hookkitotel.MetricAttempts), "no endpoint attribute by default")
	assert.Equal(t, map[string]int64{"hookkit.delivery.outcome=delivered": 1}, points(t, rm, hookkitotel.MetricDeliveries))
	assert.Equal(t, map[string]int64{"hookkit.receiver.outcome=accepted,http.response.status_code=204": 1},
		points(t, rm, hookkitotel.MetricReceiverRequests))
}

// TestNoPropagationByDefault: without a Propagator no traceparent is sent and the
// server span is the root of a trace of its own, even when the request carries one.
func TestNoPropagationByDefault(t *testing.T) {
	tel := newTelemetry(t, false)
	var traceparent []string
	var mu sync.Mutex
	lb := newLoopbackWrapped(t, tel, func(string, int) int { return http.StatusNoContent }, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			traceparent = append(traceparent, r.Header.Values("Traceparent")...)
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	s := newSender(t, tel, 1)
	ev, err := event.New("envelope-sent", map[string]string{"envelopeId": "1"})
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{URL: lb.URL + "/hooks", Keys: lb.keys}, ev)
	require.NoError(t, err)
	mu.Lock()
	assert.Empty(t, traceparent)
	mu.Unlock()

	// A request that carries a traceparent anyway is not continued.
	enc, err := ev.Encode()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, lb.URL+"/hooks", strings.NewReader(string(enc.Body(0))))
	require.NoError(t, err)
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "unsigned")

	spans := tel.spans.Ended()
	require.Len(t, spans, 3)
	for _, sp := range spans {
		assert.False(t, sp.Parent().IsValid(), "%s %v is a root", sp.Name(), sp.SpanKind())
	}
	client, server := spans[1], spans[0]
	if client.SpanKind() != trace.SpanKindClient {
		client, server = server, client
	}
	assert.NotEqual(t, client.SpanContext().TraceID(), server.SpanContext().TraceID())
}

// TestRejectedAndRetriedAttempts: a delivery signed with the wrong key is refused (401):
// the client span is an error with error.type "401", the server span is not (a 4xx is
// the client's error) and says why; a 503 then 204 makes two attempt spans, the second
// with http.request.resend_count 1, and metrics by class and status.
func TestRejectedAndRetriedAttempts(t *testing.T) {
	tel := newTelemetry(t, true)
	lb := newLoopback(t, tel, func(typ string, n int) int {
		if typ == "flaky" && n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	s := newSender(t, tel, 3)
	otherKey, _, err := signature.Standard().GenerateKey("k1")
	require.NoError(t, err)
	otherKeys, err := signature.NewKeySet(otherKey)
	require.NoError(t, err)

	bad, err := event.New("bad", nil)
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{ID: "x", URL: lb.URL + "/hooks", Keys: otherKeys}, bad)
	require.ErrorIs(t, err, sender.ErrRejected)
	flaky, err := event.New("flaky", nil)
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{ID: "x", URL: lb.URL + "/hooks", Keys: lb.keys}, flaky)
	require.NoError(t, err)

	spans := tel.spans.Ended()
	require.Len(t, spans, 6) // 3 attempts, 3 requests
	var clients []sdktrace.ReadOnlySpan
	servers := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		if sp.SpanKind() == trace.SpanKindClient {
			clients = append(clients, sp)
		} else {
			servers[sp.Parent().SpanID()] = sp
		}
	}
	require.Len(t, clients, 3)
	// The rejected one.
	c := attrMap(clients[0].Attributes())
	assert.Equal(t, int64(401), c["http.response.status_code"])
	assert.Equal(t, "401", c["error.type"])
	assert.Equal(t, "permanent", c["hookkit.attempt.class"])
	assert.Equal(t, codes.Error, clients[0].Status().Code)
	assert.Empty(t, clients[0].Status().Description, "the status code says it")
	sv := servers[clients[0].SpanContext().SpanID()]
	require.NotNil(t, sv)
	sa := attrMap(sv.Attributes())
	assert.Equal(t, "rejected", sa["hookkit.receiver.outcome"])
	assert.Equal(t, "invalid-signature", sa["hookkit.receiver.reason"])
	assert.NotContains(t, sa, "hookkit.event.type", "nothing unverified is recorded")
	assert.NotContains(t, sa, "error.type")
	assert.Equal(t, codes.Unset, sv.Status().Code)
	// The retried one.
	first, second := attrMap(clients[1].Attributes()), attrMap(clients[2].Attributes())
	assert.Equal(t, int64(503), first["http.response.status_code"])
	assert.Equal(t, "503", first["error.type"])
	assert.Equal(t, "retryable", first["hookkit.attempt.class"])
	assert.NotContains(t, first, "http.request.resend_count")
	assert.Equal(t, int64(2), second["hookkit.attempt.number"])
	assert.Equal(t, int64(1), second["http.request.resend_count"])
	assert.NotContains(t, second, "error.type")
	sv = servers[clients[1].SpanContext().SpanID()]
	require.NotNil(t, sv)
	assert.Equal(t, codes.Error, sv.Status().Code, "a 5xx is the server's error")
	assert.Equal(t, "503", attrMap(sv.Attributes())["error.type"])

	rm := tel.collect(t)
	assert.Equal(t, map[string]int64{
		"hookkit.attempt.class=permanent,http.response.status_code=401":    1,
		"hookkit.attempt.class=retryable,http.response.status_code=503":    1,
		"hookkit.attempt.class=acknowledged,http.response.status_code=204": 1,
	}, points(t, rm, hookkitotel.MetricAttempts))
	assert.Equal(t, map[string]int64{
		"hookkit.attempt.class=permanent":    1,
		"hookkit.attempt.class=retryable":    1,
		"hookkit.attempt.class=acknowledged": 1,
	}, points(t, rm, hookkitotel.MetricAttemptDuration))
	assert.Equal(t, map[string]int64{
		"error.type=rejected,hookkit.delivery.outcome=failed": 1,
		"hookkit.delivery.outcome=delivered":                  1,
	}, points(t, rm, hookkitotel.MetricDeliveries))
	assert.Equal(t, map[string]int64{
		"hookkit.receiver.outcome=rejected,hookkit.receiver.reason=invalid-signature,http.response.status_code=401": 1,
		"hookkit.receiver.outcome=accepted,http.response.status_code=503":                                           1,
		"hookkit.receiver.outcome=accepted,http.response.status_code=204":                                           1,
	}, points(t, rm, hookkitotel.MetricReceiverRequests))
}

// TestDuplicateDelivery: a delivery received twice is counted and traced as a
// duplicate the second time, with its delivery id.
func TestDuplicateDelivery(t *testing.T) {
	tel := newTelemetry(t, false)
	lb := newLoopback(t, tel, func(string, int) int { return http.StatusNoContent })
	s := newSender(t, tel, 1)
	ev, err := event.New("envelope-sent", nil)
	require.NoError(t, err)
	ep := sender.Endpoint{URL: lb.URL + "/hooks", Keys: lb.keys}
	for range 2 {
		_, err = s.Send(context.Background(), ep, ev)
		require.NoError(t, err)
	}
	var dup map[string]any
	for _, sp := range tel.spans.Ended() {
		if a := attrMap(sp.Attributes()); a["hookkit.receiver.outcome"] == "duplicate" {
			dup = a
		}
	}
	require.NotNil(t, dup)
	assert.Equal(t, ev.ID, dup["hookkit.delivery.id"])
	assert.Equal(t, map[string]int64{
		"hookkit.receiver.outcome=accepted,http.response.status_code=204":  1,
		"hookkit.receiver.outcome=duplicate,http.response.status_code=204": 1,
	}, points(t, tel.collect(t), hookkitotel.MetricReceiverRequests))
}

// TestDispatcherMetrics: through a dispatch.Dispatcher on memqueue, an acknowledged, a
// retried (503, then 204) and a dead-lettered delivery (500 twice, MaxAttempts 2) are
// counted right per endpoint (EndpointMetrics), with the endpoint state changes; the
// queue-depth gauge reports the store's Stats before and after.
func TestDispatcherMetrics(t *testing.T) {
	tel := newTelemetry(t, true)
	tel.cfg.EndpointMetrics = true
	lb := newLoopback(t, tel, func(typ string, n int) int {
		switch {
		case typ == "to-flaky" && n == 1:
			return http.StatusServiceUnavailable
		case typ == "to-dead":
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	s := newSender(t, tel, 2)
	store := memqueue.New(memqueue.Config{})
	d, err := dispatch.New(s, store, dispatch.Config{Observer: hookkitotel.DispatchObserver(tel.cfg), PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	mp := tel.cfg.MeterProvider
	reg, err := hookkitotel.QueueDepth(mp.Meter(hookkitotel.ScopeName), store)
	require.NoError(t, err)
	defer func() { assert.NoError(t, reg.Unregister()) }()
	ereg, err := hookkitotel.EndpointStates(mp.Meter(hookkitotel.ScopeName), d)
	require.NoError(t, err)
	defer func() { assert.NoError(t, ereg.Unregister()) }()

	retry := &sender.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, RandomizationFactor: -1, MaxAttempts: 2, MaxElapsedTime: time.Minute}
	for _, id := range []string{"ok", "flaky", "dead"} {
		f, err := event.NewFilter("to-" + id)
		require.NoError(t, err)
		require.NoError(t, d.Subscribe(dispatch.Subscription{Filter: f,
			Endpoint: sender.Endpoint{ID: id, URL: lb.URL + "/hooks", Keys: lb.keys, Retry: retry}}))
		ev, err := event.New("to-"+id, nil)
		require.NoError(t, err)
		n, err := d.Publish(context.Background(), ev)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	assert.Equal(t, map[string]int64{
		"hookkit.queue.state=pending": 3, "hookkit.queue.state=leased": 0, "hookkit.queue.state=dead": 0,
	}, points(t, tel.collect(t), hookkitotel.MetricQueueDeliveries), "before Start")
	assert.Equal(t, map[string]int64{
		"hookkit.endpoint.state=active": 3, "hookkit.endpoint.state=failing": 0, "hookkit.endpoint.state=paused": 0,
		"hookkit.endpoint.state=probing": 0, "hookkit.endpoint.state=disabled": 0,
	}, points(t, tel.collect(t), hookkitotel.MetricEndpoints), "before Start")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, d.Start(ctx))
	require.NoError(t, d.Drain(ctx))
	require.NoError(t, d.Shutdown(ctx))

	rm := tel.collect(t)
	assert.Equal(t, map[string]int64{
		"hookkit.queue.state=pending": 0, "hookkit.queue.state=leased": 0, "hookkit.queue.state=dead": 1,
	}, points(t, rm, hookkitotel.MetricQueueDeliveries), "after Drain")
	assert.Equal(t, map[string]int64{
		"hookkit.endpoint.state=active": 2, "hookkit.endpoint.state=failing": 1, "hookkit.endpoint.state=paused": 0,
		"hookkit.endpoint.state=probing": 0, "hookkit.endpoint.state=disabled": 0,
	}, points(t, rm, hookkitotel.MetricEndpoints), "dead is failing: 2 failures, below the breaker's threshold")
	assert.Equal(t, map[string]int64{
		"hookkit.attempt.class=acknowledged,hookkit.endpoint.id=ok,http.response.status_code=204":    1,
		"hookkit.attempt.class=retryable,hookkit.endpoint.id=flaky,http.response.status_code=503":    1,
		"hookkit.attempt.class=acknowledged,hookkit.endpoint.id=flaky,http.response.status_code=204": 1,
		"hookkit.attempt.class=retryable,hookkit.endpoint.id=dead,http.response.status_code=500":     2,
	}, points(t, rm, hookkitotel.MetricAttempts))
	assert.Equal(t, map[string]int64{
		"hookkit.attempt.class=acknowledged,hookkit.endpoint.id=ok":    1,
		"hookkit.attempt.class=retryable,hookkit.endpoint.id=flaky":    1,
		"hookkit.attempt.class=acknowledged,hookkit.endpoint.id=flaky": 1,
		"hookkit.attempt.class=retryable,hookkit.endpoint.id=dead":     2,
	}, points(t, rm, hookkitotel.MetricAttemptDuration))
	assert.Equal(t, map[string]int64{
		"hookkit.delivery.outcome=delivered,hookkit.endpoint.id=ok":                            1,
		"hookkit.delivery.outcome=delivered,hookkit.endpoint.id=flaky":                         1,
		"error.type=retryable,hookkit.delivery.outcome=dead_lettered,hookkit.endpoint.id=dead": 1,
	}, points(t, rm, hookkitotel.MetricDeliveries))
	assert.Equal(t, map[string]int64{
		"hookkit.endpoint.id=flaky,hookkit.endpoint.previous_state=active,hookkit.endpoint.state=failing": 1,
		"hookkit.endpoint.id=flaky,hookkit.endpoint.previous_state=failing,hookkit.endpoint.state=active": 1,
		"hookkit.endpoint.id=dead,hookkit.endpoint.previous_state=active,hookkit.endpoint.state=failing":  1,
	}, points(t, rm, hookkitotel.MetricEndpointStateChanges))

	// Every attempt's server span continues its client span.
	spans := tel.spans.Ended()
	ids := map[trace.SpanID]bool{}
	for _, sp := range spans {
		if sp.SpanKind() == trace.SpanKindClient {
			ids[sp.SpanContext().SpanID()] = true
		}
	}
	assert.Len(t, ids, 5)
	for _, sp := range spans {
		if sp.SpanKind() == trace.SpanKindServer {
			assert.True(t, ids[sp.Parent().SpanID()], "server span's parent is an attempt")
		}
	}
}

// TestDeadLetterEvictedCounted: a store bounded to one dead letter evicts the first when
// the second arrives, and the eviction is counted.
func TestDeadLetterEvictedCounted(t *testing.T) {
	tel := newTelemetry(t, false)
	lb := newLoopback(t, tel, func(string, int) int { return http.StatusUnprocessableEntity })
	s := newSender(t, tel, 1)
	store := memqueue.New(memqueue.Config{MaxDead: 1})
	d, err := dispatch.New(s, store, dispatch.Config{Observer: hookkitotel.DispatchObserver(tel.cfg), PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "e", URL: lb.URL + "/hooks", Keys: lb.keys}}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, d.Start(ctx))
	for range 2 {
		ev, err := event.New("x", nil)
		require.NoError(t, err)
		_, err = d.Publish(ctx, ev)
		require.NoError(t, err)
		require.NoError(t, d.Drain(ctx))
	}
	require.NoError(t, d.Shutdown(ctx))
	rm := tel.collect(t)
	assert.Equal(t, map[string]int64{"": 1}, points(t, rm, hookkitotel.MetricDeadLettersEvicted))
	assert.Equal(t, map[string]int64{"error.type=permanent,hookkit.delivery.outcome=dead_lettered": 2},
		points(t, rm, hookkitotel.MetricDeliveries))
}

// failingStore is a store whose Stats fails.
type failingStore struct{ *memqueue.Store }

func (failingStore) Stats(context.Context, time.Time) (queue.Stats, error) {
	return queue.Stats{}, assert.AnError
}

// TestQueueDepthStatsErrorReportsNothing: when Stats fails, the gauge has no point
// rather than a stale or zero one.
func TestQueueDepthStatsErrorReportsNothing(t *testing.T) {
	tel := newTelemetry(t, false)
	reg, err := hookkitotel.QueueDepth(tel.cfg.MeterProvider.Meter(hookkitotel.ScopeName), failingStore{memqueue.New(memqueue.Config{})})
	require.NoError(t, err)
	defer func() { assert.NoError(t, reg.Unregister()) }()
	rm := tel.collect(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == hookkitotel.MetricQueueDeliveries {
				g, ok := m.Data.(metricdata.Gauge[int64])
				assert.True(t, ok)
				assert.Empty(t, g.DataPoints)
			}
		}
	}
}

// TestAttemptWithoutResponse: an attempt that gets no response (nothing listens) is an
// error span with error.type naming what went wrong and no status code.
func TestAttemptWithoutResponse(t *testing.T) {
	tel := newTelemetry(t, false)
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	s := newSender(t, tel, 1)
	ev, err := event.New("x", nil)
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{URL: addr + "/hooks"}, ev)
	require.ErrorIs(t, err, sender.ErrExhausted)
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	a := attrMap(spans[0].Attributes())
	assert.NotContains(t, a, "http.response.status_code")
	assert.Equal(t, "retryable", a["hookkit.attempt.class"])
	assert.NotEmpty(t, a["error.type"])
	assert.NotEqual(t, "_OTHER", a["error.type"])
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.NotEmpty(t, spans[0].Status().Description)
	assert.NotContains(t, spans[0].Status().Description, addr, "no URL in the description")
	assert.Equal(t, map[string]int64{"error.type=exhausted,hookkit.delivery.outcome=failed": 1},
		points(t, tel.collect(t), hookkitotel.MetricDeliveries))
}

// TestAttemptSpansNestUnderTheCallersSpan: a Send made inside a span of the caller's
// makes its attempt spans children of that span.
func TestAttemptSpansNestUnderTheCallersSpan(t *testing.T) {
	tel := newTelemetry(t, false)
	lb := newLoopback(t, tel, func(string, int) int { return http.StatusNoContent })
	s := newSender(t, tel, 1)
	ctx, parent := tel.cfg.TracerProvider.Tracer("test").Start(context.Background(), "publish order")
	ev, err := event.New("order-created", nil)
	require.NoError(t, err)
	_, err = s.Send(ctx, sender.Endpoint{URL: lb.URL + "/hooks", Keys: lb.keys}, ev)
	require.NoError(t, err)
	parent.End()
	var client sdktrace.ReadOnlySpan
	for _, sp := range tel.spans.Ended() {
		if sp.SpanKind() == trace.SpanKindClient {
			client = sp
		}
	}
	require.NotNil(t, client)
	assert.Equal(t, parent.SpanContext().SpanID(), client.Parent().SpanID())
	assert.Equal(t, parent.SpanContext().TraceID(), client.SpanContext().TraceID())
}

// TestAttemptTimeoutErrorType: an attempt that outlives its endpoint's timeout is an error
// span with error.type "timeout", class retryable and no status code.
func TestAttemptTimeoutErrorType(t *testing.T) {
	tel := newTelemetry(t, false)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	s := newSender(t, tel, 1)
	ev, err := event.New("x", nil)
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{URL: srv.URL, Timeout: 50 * time.Millisecond}, ev)
	require.Error(t, err)
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	a := attrMap(spans[0].Attributes())
	assert.Equal(t, "timeout", a["error.type"])
	assert.Equal(t, "retryable", a["hookkit.attempt.class"])
	assert.NotContains(t, a, "http.response.status_code")
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Contains(t, spans[0].Status().Description, "timed out")
	assert.Equal(t, map[string]int64{"hookkit.attempt.class=retryable": 1}, points(t, tel.collect(t), hookkitotel.MetricAttempts))
}

// TestOmitURLPath: with OmitURLPath the attempt span's url.full ends at the host and port,
// so a token in an endpoint's path is not recorded.
func TestOmitURLPath(t *testing.T) {
	tel := newTelemetry(t, false)
	tel.cfg.OmitURLPath = true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	s := newSender(t, tel, 1)
	ev, err := event.New("x", nil)
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{URL: srv.URL + "/services/T0/B0/path-s3cr3t?x=1"}, ev)
	require.NoError(t, err)
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, srv.URL, attrMap(spans[0].Attributes())["url.full"])
	assertNoSecrets(t, spans, tel.collect(t), "path-s3cr3t")
}

// TestServerSpanOfAPanickingHandler: a handler that panics leaves an error span behind
// (error.type panic), and the panic goes on to net/http.
func TestServerSpanOfAPanickingHandler(t *testing.T) {
	tel := newTelemetry(t, false)
	h := hookkitotel.ReceiverMiddleware(tel.cfg)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader("{}"))
	assert.PanicsWithValue(t, "boom", func() { h.ServeHTTP(httptest.NewRecorder(), req) })
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, "panic", attrMap(spans[0].Attributes())["error.type"])
	assert.Equal(t, "POST", spans[0].Name(), "no ServeMux pattern: the method alone")
}

// TestServerSpanOfAnAbortedHandler: a handler that aborts with http.ErrAbortHandler (a
// deliberate abort, which net/http does not log) leaves a span without error status or
// error.type, and the panic goes on to net/http.
func TestServerSpanOfAnAbortedHandler(t *testing.T) {
	tel := newTelemetry(t, false)
	h := hookkitotel.ReceiverMiddleware(tel.cfg)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader("{}"))
	assert.PanicsWithError(t, http.ErrAbortHandler.Error(), func() { h.ServeHTTP(httptest.NewRecorder(), req) })
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, codes.Unset, spans[0].Status().Code)
	assert.NotContains(t, attrMap(spans[0].Attributes()), "error.type")
}

// TestSendOutcomeByEndpoint: with EndpointMetrics, a Send's outcome carries its endpoint.
func TestSendOutcomeByEndpoint(t *testing.T) {
	tel := newTelemetry(t, false)
	tel.cfg.EndpointMetrics = true
	lb := newLoopback(t, tel, func(string, int) int { return http.StatusGone })
	s := newSender(t, tel, 3)
	ev, err := event.New("x", nil)
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{ID: "acme", URL: lb.URL + "/hooks", Keys: lb.keys}, ev)
	require.ErrorIs(t, err, sender.ErrGone)
	rm := tel.collect(t)
	assert.Equal(t, map[string]int64{"error.type=gone,hookkit.delivery.outcome=failed,hookkit.endpoint.id=acme": 1},
		points(t, rm, hookkitotel.MetricDeliveries))
	assert.Equal(t, map[string]int64{"hookkit.attempt.class=gone,hookkit.endpoint.id=acme,http.response.status_code=410": 1},
		points(t, rm, hookkitotel.MetricAttempts))
}
