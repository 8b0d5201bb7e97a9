// Command prometheus exports hookkit's OpenTelemetry metrics to Prometheus and shows the
// ones to alert on.
//
// A receiver and a dispatcher run on 127.0.0.1, instrumented with hookkit/otel: the
// dispatcher delivers a few events to an endpoint that acknowledges, one that fails once
// (503) and one that always fails (500), whose circuit breaker pauses it and whose
// delivery ends as a dead letter. The metrics go through the OpenTelemetry Prometheus
// exporter to a /metrics endpoint, which the program scrapes once, printing the lines a
// user would alert on (dead letters, the attempt failure rate, queue depth, endpoints
// paused now) with the alert rules that read them.
//
// Run it with:
//
//	go run ./examples/prometheus
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/event"
	hookkitotel "github.com/hookkit/hookkit/otel"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prometheus:", err)
		os.Exit(1)
	}
}

// alerts are the rules a user would start with; each reads metrics the scrape shows.
var alerts = []struct{ name, expr string }{
	{"WebhookDeadLetters", `increase(hookkit_deliveries_total{hookkit_delivery_outcome="dead_lettered"}[15m]) > 0`},
	{"WebhookAttemptFailureRate", `sum(rate(hookkit_delivery_attempts_total{hookkit_attempt_class!="acknowledged"}[5m])) / sum(rate(hookkit_delivery_attempts_total[5m])) > 0.2`},
	{"WebhookQueueBacklog", `hookkit_queue_deliveries{hookkit_queue_state="pending"} > 1000`},
	{"WebhookEndpointPaused", `hookkit_endpoints{hookkit_endpoint_state=~"paused|disabled"} > 0`},
}

// watched are the metric families printed from the scrape.
var watched = []string{
	"hookkit_deliveries_total",
	"hookkit_delivery_attempts_total",
	"hookkit_delivery_attempt_duration_seconds_count",
	"hookkit_queue_deliveries",
	"hookkit_endpoints",
	"hookkit_endpoint_state_changes_total",
	"hookkit_receiver_requests_total",
}

// run delivers the events, scrapes /metrics once and prints what matters; it returns
// the whole scrape.
func run(ctx context.Context, w io.Writer) (string, error) {
	// The SDK: metrics to a Prometheus registry of our own, spans to nowhere (an exporter
	// such as OTLP would go here), the W3C traceparent on deliveries: both ends are ours.
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return "", err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	cfg := hookkitotel.Config{MeterProvider: mp, TracerProvider: tp, Propagator: propagation.TraceContext{},
		EndpointMetrics: true} // three endpoints: one series each is fine

	// The receiver: /hooks acknowledges, except the first delivery to /flaky (503);
	// /broken always fails (500).
	key, _, err := signature.Standard().GenerateKey("2026-12")
	if err != nil {
		return "", err
	}
	keys, err := signature.NewKeySet(key)
	if err != nil {
		return "", err
	}
	flakyOnce := make(chan struct{}, 1)
	flakyOnce <- struct{}{}
	mux := http.NewServeMux()
	traced := hookkitotel.ReceiverMiddleware(cfg)
	for pattern, handle := range map[string]http.HandlerFunc{
		"POST /hooks": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) },
		"POST /flaky": func(w http.ResponseWriter, _ *http.Request) {
			select {
			case <-flakyOnce:
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		},
		"POST /broken": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
	} {
		// One receiver per path, as three listeners would be: each de-duplicates its own
		// deliveries (a fanned-out event has one id at every endpoint).
		verify, err := receiver.New(receiver.Config{Keys: keys, Observer: hookkitotel.ReceiverObserver(cfg)})
		if err != nil {
			return "", err
		}
		mux.Handle(pattern, traced(verify(handle)))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(w, "receiver and /metrics on %s\n", base)

	// The dispatcher, its Sender and its store, all three instrumented.
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true, // everything here is on 127.0.0.1
		Observer: hookkitotel.SenderObserver(cfg)})
	if err != nil {
		return "", err
	}
	defer s.CloseIdleConnections()
	store := memqueue.New(memqueue.Config{})
	d, err := dispatch.New(s, store, dispatch.Config{
		Observer: hookkitotel.DispatchObserver(cfg),
		Breaker:  dispatch.BreakerConfig{Threshold: 3, CoolDown: 200 * time.Millisecond},
	})
	if err != nil {
		return "", err
	}
	gauge, err := hookkitotel.QueueDepth(mp.Meter(hookkitotel.ScopeName), store)
	if err != nil {
		return "", err
	}
	defer gauge.Unregister()
	states, err := hookkitotel.EndpointStates(mp.Meter(hookkitotel.ScopeName), d)
	if err != nil {
		return "", err
	}
	defer states.Unregister()
	retry := &sender.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond,
		MaxAttempts: 4, MaxElapsedTime: 10 * time.Second}
	invoices, err := event.NewFilter("invoice-*")
	if err != nil {
		return "", err
	}
	for _, sub := range []dispatch.Subscription{
		{Endpoint: sender.Endpoint{ID: "acme", URL: base + "/hooks", Keys: keys, Retry: retry}},
		{Endpoint: sender.Endpoint{ID: "flaky", URL: base + "/flaky", Keys: keys, Retry: retry}},
		{Endpoint: sender.Endpoint{ID: "broken", URL: base + "/broken", Keys: keys, Retry: retry}, Filter: invoices},
	} {
		if err := d.Subscribe(sub); err != nil {
			return "", err
		}
	}
	if err := d.Start(ctx); err != nil {
		return "", err
	}
	published := 0
	for i, typ := range []string{"envelope-sent", "envelope-completed", "invoice-paid"} {
		ev, err := event.New(typ, map[string]int{"n": i})
		if err != nil {
			return "", err
		}
		n, err := d.Publish(ctx, ev)
		if err != nil {
			return "", err
		}
		published += n
	}
	fmt.Fprintf(w, "published 3 events: %d deliveries to 3 endpoints (broken takes invoice-* only)\n", published)
	if err := d.Drain(ctx); err != nil {
		return "", fmt.Errorf("drain: %w", err)
	}
	if err := d.Shutdown(ctx); err != nil {
		return "", err
	}

	// One scrape, as Prometheus would make it.
	scrape, err := get(ctx, base+"/metrics")
	if err != nil {
		return "", err
	}
	samples := parse(scrape)
	fmt.Fprintln(w, "\nfrom /metrics:")
	for _, line := range strings.Split(scrape, "\n") {
		for _, name := range watched {
			if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
				fmt.Fprintln(w, "  "+stripScope(line))
			}
		}
	}

	dead := samples.sum("hookkit_deliveries_total", `hookkit_delivery_outcome="dead_lettered"`)
	all := samples.sum("hookkit_delivery_attempts_total", "")
	failed := all - samples.sum("hookkit_delivery_attempts_total", `hookkit_attempt_class="acknowledged"`)
	pending := samples.sum("hookkit_queue_deliveries", `hookkit_queue_state="pending"`)
	paused := samples.sum("hookkit_endpoints", `hookkit_endpoint_state="paused"`) +
		samples.sum("hookkit_endpoints", `hookkit_endpoint_state="disabled"`)
	fmt.Fprintln(w, "\nwhat to alert on (Prometheus rules; this scrape's values):")
	fmt.Fprintf(w, "  %-26s %s\n  %-26s   now: %.0f dead letter(s)\n", alerts[0].name, alerts[0].expr, "", dead)
	fmt.Fprintf(w, "  %-26s %s\n  %-26s   now: %.0f of %.0f attempts failed (%.0f%%)\n", alerts[1].name, alerts[1].expr, "", failed, all, 100*failed/max(all, 1))
	fmt.Fprintf(w, "  %-26s %s\n  %-26s   now: %.0f pending\n", alerts[2].name, alerts[2].expr, "", pending)
	fmt.Fprintf(w, "  %-26s %s\n  %-26s   now: %.0f endpoint(s) paused or disabled\n", alerts[3].name, alerts[3].expr, "", paused)
	return scrape, nil
}

// get returns the body of a GET to url.
func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", errors.New("scrape: " + resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

// stripScope drops the otel_scope_* labels the exporter adds to every sample, for
// shorter lines.
func stripScope(line string) string {
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return line
	}
	var keep []string
	for _, l := range splitLabels(line[open+1 : end]) {
		if !strings.HasPrefix(l, "otel_scope_") {
			keep = append(keep, l)
		}
	}
	sort.Strings(keep)
	return line[:open] + "{" + strings.Join(keep, ",") + "}" + line[end+1:]
}

// splitLabels splits `a="x",b="y,z"` at the commas between labels.
func splitLabels(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// samples are the lines of a scrape: name{labels} value.
type samples []struct {
	name, labels string
	value        float64
}

// parse reads the samples of a text exposition (comments skipped).
func parse(text string) samples {
	var out samples
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:sp], ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		out = append(out, struct {
			name, labels string
			value        float64
		}{name, labels, v})
	}
	return out
}

// sum adds the values of the samples named name whose labels contain label ("" for all).
func (ss samples) sum(name, label string) float64 {
	var total float64
	for _, s := range ss {
		if s.name == name && strings.Contains(s.labels, label) {
			total += s.value
		}
	}
	return total
}
