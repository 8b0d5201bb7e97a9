package console_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// The console mounted under /admin/webhooks/ behind the application's own authentication.
func ExampleNew() {
	rec := console.NewRecorder(100) // the charts: every attempt the Sender makes
	s, _ := sender.New(sender.Config{Observer: rec.Observer()})
	d, _ := dispatch.New(s, nil, dispatch.Config{})
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/docusign"}})

	requireAdmin := func(h http.Handler) http.Handler { // your authentication
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user, pass, ok := r.BasicAuth(); !ok || user != "admin" || pass != "example" {
				w.Header().Set("WWW-Authenticate", `Basic realm="admin"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()

	c, err := console.New(d, console.Config{Recorder: rec})
	if err != nil {
		panic(err)
	}
	mux.Handle("/admin/webhooks/", requireAdmin(http.StripPrefix("/admin/webhooks", c)))

	for _, withAuth := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodGet, "/admin/webhooks/", nil)
		if withAuth {
			req.SetBasicAuth("admin", "example")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("Content-Security-Policy") != "")
	}
	// Output:
	// 401 false
	// 200 true
}

// A console beside the workers, in a process without a dispatcher (as "hookkit console"
// runs): the store's dead letters and the endpoints' configuration; enabling an endpoint
// answers ErrNoDispatcher, which the page explains.
func ExampleDetached() {
	store := memqueue.New(memqueue.Config{}) // in production: the workers' durable store
	subs := []dispatch.Subscription{{Endpoint: sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/docusign"}}}
	src := console.Detached(store, subs)
	c, err := console.New(src, console.Config{})
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/endpoints/acme", nil))
	fmt.Println(w.Code, errors.Is(src.EnableEndpoint("acme"), console.ErrNoDispatcher))
	// Output: 200 true
}

// A Recorder keeps each endpoint's recent attempts for the charts; Recent reads them back.
func ExampleRecorder() {
	rec := console.NewRecorder(2) // the last 2 attempts of each endpoint
	obs := rec.Observer()         // sender.Config{Observer: obs}; here called by hand
	for i, status := range []int{503, 503, 200} {
		class := sender.ClassRetryable
		if status == 200 {
			class = sender.ClassAcknowledged
		}
		obs.AttemptFinished(context.Background(), sender.AttemptInfo{Endpoint: "acme"},
			sender.Attempt{Number: i + 1, Status: status, Class: class, Duration: 40 * time.Millisecond})
	}
	samples, _ := rec.Recent("acme")
	for _, s := range samples {
		fmt.Println(s.Number, s.Status, s.Class, s.Duration)
	}
	// Output:
	// 2 503 retryable 40ms
	// 3 200 acknowledged 40ms
}

// A console beside the workers whose endpoints are in the store's shared registry (as
// "hookkit console --registry" runs): the endpoints' shared states, and an Enable that
// writes the registry, which every dispatcher on it follows within its poll interval.
func ExampleRegistered() {
	ctx := context.Background()
	store, reg := memqueue.New(memqueue.Config{}), memqueue.NewRegistry() // in production: one pgqueue.Store, both
	now := time.Now()
	rec, _ := reg.PutEndpoint(ctx, queue.Endpoint{ID: "acme", Patterns: queue.PatternsOf(event.Filter{}), UpdatedAt: now})
	_, _ = reg.SetEndpointState(ctx, "acme", rec.Version, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone", UpdatedAt: now})

	src := console.Registered(store, reg)
	c, err := console.New(src, console.Config{}) // RegistryKey: the workers' key, to show each endpoint's host
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/endpoints/acme", nil))
	fmt.Println(w.Code, strings.Contains(w.Body.String(), `<span class="state disabled">disabled</span>`))
	_ = src.EnableEndpoint("acme") // what the page's Enable form does, with the request's context
	recs, _ := reg.GetEndpoints(ctx, "acme")
	fmt.Println(recs[0].State)
	// Output:
	// 200 true
	// active
}
