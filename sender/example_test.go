package sender_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// Send signs the event with every active key, POSTs it and retries what can be retried.
func ExampleSender_Send() {
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // busy: try again
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	key, _, _ := signature.Standard().GenerateKey("2026-01") // the text form goes to the receiver
	keys, _ := signature.NewKeySet(key)

	s, err := sender.New(sender.Config{
		AllowPrivate: true, // the receiver of this example runs on loopback
		AllowHTTP:    true, // over plain http://
		Retry:        sender.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxAttempts: 5},
	})
	if err != nil {
		panic(err)
	}
	defer s.CloseIdleConnections()

	ev, _ := event.New("envelope-completed", map[string]string{"envelopeId": "e-1001"})
	res, err := s.Send(context.Background(), sender.Endpoint{ID: "acme", URL: receiver.URL, Keys: keys}, ev)
	fmt.Println("delivered:", res.Delivered, "error:", err)
	for _, a := range res.Attempts {
		fmt.Println("attempt", a.Number, a.Status, a.Class)
	}
	// Output:
	// delivered: true error: <nil>
	// attempt 1 503 retryable
	// attempt 2 204 acknowledged
}

// The error of Send says why, for errors.Is and errors.As.
func ExampleDeliveryError() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusGone)
	}))
	defer receiver.Close()
	s, _ := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	defer s.CloseIdleConnections()

	ev, _ := event.New("envelope-sent", map[string]string{"envelopeId": "e-1002"})
	_, err := s.Send(context.Background(), sender.Endpoint{ID: "old-crm", URL: receiver.URL}, ev)
	var de *sender.DeliveryError
	switch {
	case errors.Is(err, sender.ErrGone) && errors.As(err, &de):
		fmt.Printf("endpoint %s is gone (status %d after %d attempt): disable it\n", de.Endpoint, de.Status, de.Attempts)
	case errors.Is(err, sender.ErrRejected):
		fmt.Println("rejected")
	case errors.Is(err, sender.ErrExhausted):
		fmt.Println("try again later")
	}
	// Output:
	// endpoint old-crm is gone (status 410 after 1 attempt): disable it
}

// The SSRF guard refuses internal destinations by default, on the resolved address.
func ExampleSender_Send_refusedDestination() {
	s, _ := sender.New(sender.Config{AllowHTTP: true})
	ev, _ := event.New("envelope-sent", map[string]string{"envelopeId": "e-1003"})
	ev.ID = "evt-1003"
	res, err := s.Send(context.Background(), sender.Endpoint{ID: "metadata", URL: "http://169.254.169.254/latest/meta-data/"}, ev)
	fmt.Println(errors.Is(err, sender.ErrRefusedDestination), res.Attempts[0].Class)
	fmt.Println(err)
	// Output:
	// true refused
	// hookkit/sender: delivery of event evt-1003 to metadata failed after 1 attempt(s): refused destination: dial tcp 169.254.169.254:80: hookkit/safenet: refused destination 169.254.169.254: cloud metadata
}

// A DeliveryObserver is a struct of optional hooks: set the ones you need, e.g. to count
// attempts and outcomes for metrics. It sees the attempts a dispatch.Dispatcher makes
// through the Sender too; the dispatcher's own events go to dispatch.Observer.
func ExampleDeliveryObserver() {
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	var attempts, delivered atomic.Int32
	obs := sender.DeliveryObserver{
		AttemptFinished: func(_ context.Context, info sender.AttemptInfo, a sender.Attempt) {
			attempts.Add(1)
			fmt.Println("attempt", info.Number, "to", info.Endpoint+":", a.Status, a.Class)
		},
		Delivered: func(context.Context, *sender.Result) { delivered.Add(1) },
		// AttemptStarted, Failed, ...: nil, skipped.
	}
	s, _ := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true, Observer: obs,
		Retry: sender.RetryPolicy{InitialInterval: 10 * time.Millisecond}})
	defer s.CloseIdleConnections()

	ev, _ := event.New("envelope-sent", map[string]string{"envelopeId": "e-1005"})
	_, err := s.Send(context.Background(), sender.Endpoint{ID: "acme", URL: receiver.URL}, ev)
	fmt.Println(err, attempts.Load(), "attempts,", delivered.Load(), "delivered")
	// Output:
	// attempt 1 to acme: 429 retryable
	// attempt 2 to acme: 204 acknowledged
	// <nil> 2 attempts, 1 delivered
}

// Every default of the retry policy.
func ExampleDefaultRetryPolicy() {
	p := sender.DefaultRetryPolicy()
	fmt.Println(p.InitialInterval, p.MaxInterval, p.Multiplier, p.RandomizationFactor, p.MaxAttempts, p.MaxElapsedTime, p.MaxRetryAfter)
	// Output:
	// 1s 1m0s 2 0.5 8 15m0s 5m0s
}

// Instrument the transport (OpenTelemetry's otelhttp.NewTransport has this shape): the
// wrapper sees every request, the guard under it still decides where dials may go.
func ExampleConfig_wrapTransport() {
	var requests atomic.Int32
	wrap := func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return next.RoundTrip(r)
		})
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer receiver.Close()
	s, _ := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true, WrapTransport: wrap})
	ev, _ := event.New("envelope-sent", map[string]string{"envelopeId": "e-1004"})
	_, err := s.Send(context.Background(), sender.Endpoint{URL: receiver.URL}, ev)
	fmt.Println(err, requests.Load())
	// Output:
	// <nil> 1
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Prepare checks an endpoint once; Attempt makes exactly one attempt to it, and the retry
// policy says when the next one is due. This is the seam a dispatcher is built on.
func ExampleSender_Attempt() {
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	s, _ := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true}) // a loopback test receiver
	ep := sender.Endpoint{ID: "acme", URL: receiver.URL, Retry: &sender.RetryPolicy{RandomizationFactor: -1}}
	target, err := s.Prepare(ep)
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, _ := event.New("order-created", map[string]string{"orderId": "o-1"})
	enc, _ := ev.Encode()
	policy := s.RetryPolicy(ep)

	a := s.Attempt(context.Background(), target, enc, 0)
	fmt.Println(a.Number, a.Status, a.Class)
	wait, ok := policy.Next(1, a.Duration, a.RetryAfter)
	fmt.Println("retry:", ok, "in", wait)
	a = s.Attempt(context.Background(), target, enc, 1)
	fmt.Println(a.Number, a.Status, a.Class)

	_, err = s.Prepare(sender.Endpoint{URL: "ftp://hooks.example.com/"}) // no attempt could use it
	fmt.Println(errors.Is(err, sender.ErrInvalidEndpoint), err)
	// Output:
	// 1 503 retryable
	// retry: true in 1s
	// 2 204 acknowledged
	// true hookkit/sender: invalid endpoint: url scheme must be https or http
}
