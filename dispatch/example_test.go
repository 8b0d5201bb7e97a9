package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// exampleSender returns a Sender for the examples, whose listeners run on loopback
// (refused by default: AllowPrivate admits them, AllowHTTP plain http://).
func exampleSender() *sender.Sender {
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	if err != nil {
		panic(err)
	}
	return s
}

// Publish hands an event over in microseconds; the dispatcher delivers it to every
// subscription whose Filter matches, and Shutdown waits for what is in flight.
func ExampleDispatcher() {
	got := make(chan string, 1)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := event.Parse(body)
		if err == nil {
			got <- ev.Type
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer listener.Close()

	ctx := context.Background()
	d, err := dispatch.New(exampleSender(), nil, dispatch.Config{})
	if err != nil {
		panic(err)
	}
	orders, _ := event.NewFilter("order-*")
	if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "shop", URL: listener.URL}, Filter: orders}); err != nil {
		panic(err)
	}
	if err := d.Start(ctx); err != nil {
		panic(err)
	}

	ev, _ := event.New("order-created", map[string]string{"order": "42"})
	n, err := d.Publish(ctx, ev)
	fmt.Println("stored deliveries:", n, err)
	fmt.Println("listener got:", <-got)

	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fmt.Println("shutdown:", d.Shutdown(shutdownCtx))
	_, err = d.Publish(ctx, ev)
	fmt.Println("publish after shutdown:", err)
	// Output:
	// stored deliveries: 1 <nil>
	// listener got: order-created
	// shutdown: <nil>
	// publish after shutdown: hookkit/dispatch: dispatcher is closed
}

// Deliveries the listener rejects for good become dead letters with their attempt
// history; once the listener is fixed they can be requeued. Dead letters live in the
// store: here a second dispatcher over the same store (as after a restart, with a durable
// store) requeues and delivers them. Shutdown returns once the attempts in flight are
// recorded, so what it leaves in the store can be read right after.
func ExampleDispatcher_Requeue() {
	status := make(chan int, 2)
	status <- http.StatusBadRequest
	status <- http.StatusOK
	answered := make(chan struct{}, 2)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(<-status)
		answered <- struct{}{}
	}))
	defer listener.Close()

	ctx := context.Background()
	crm := dispatch.Subscription{Endpoint: sender.Endpoint{ID: "crm", URL: listener.URL}}
	d, _ := dispatch.New(exampleSender(), nil, dispatch.Config{})
	_ = d.Subscribe(crm)
	_ = d.Start(ctx)
	ev, _ := event.New("contact-updated", map[string]string{"id": "7"})
	_, _ = d.Publish(ctx, ev)
	<-answered
	_ = d.Shutdown(ctx)

	page, _ := d.ListDead(ctx, queue.ListFilter{EndpointID: "crm"})
	dead := page.Deliveries
	fmt.Println(dead[0].DeadReason, "after", len(dead[0].Attempts), "attempt with status", dead[0].Attempts[0].Status)

	d2, _ := dispatch.New(exampleSender(), d.Store(), dispatch.Config{})
	_ = d2.Subscribe(crm)
	n, _ := d2.Requeue(ctx, queue.Selector{EndpointID: "crm"})
	fmt.Println("requeued:", n)
	_ = d2.Start(ctx)
	<-answered
	_ = d2.Shutdown(ctx)
	pending, _ := d2.ListPending(ctx, queue.ListFilter{})
	page, _ = d2.ListDead(ctx, queue.ListFilter{})
	fmt.Println("pending:", len(pending.Deliveries), "dead:", len(page.Deliveries))
	// Output:
	// rejected permanently after 1 attempt with status 400
	// requeued: 1
	// pending: 0 dead: 0
}

// Subscribe says what one endpoint gets (event types, order, concurrency) and checks the
// endpoint once: what no attempt could use is refused at once, not dead-lettered later.
func ExampleDispatcher_Subscribe() {
	ctx := context.Background()
	s, _ := sender.New(sender.Config{}) // public https:// endpoints only
	d, _ := dispatch.New(s, nil, dispatch.Config{})
	defer func() { _ = d.Shutdown(ctx) }()

	invoices, _ := event.NewFilter("invoice-*")
	err := d.Subscribe(dispatch.Subscription{
		Endpoint: sender.Endpoint{ID: "billing", URL: "https://billing.example.com/hooks"},
		Filter:   invoices,
		Ordered:  true, // one at a time, in publish order
	})
	fmt.Println("billing:", err)
	err = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "legacy", URL: "http://legacy.example.com/hooks"}})
	fmt.Println("legacy:", errors.Is(err, sender.ErrInvalidEndpoint), errors.Is(err, sender.ErrPlainHTTP))

	st, _ := d.Endpoint("billing")
	fmt.Println(st.State, "ordered:", st.Subscription.Ordered, "max in flight:", st.Subscription.MaxInFlight)
	for _, typ := range []string{"invoice-paid", "order-created"} {
		ev, _ := event.New(typ, map[string]string{"id": "42"})
		n, _ := d.Publish(ctx, ev) // stored, not sent: the dispatcher was not started
		fmt.Println(typ, "deliveries:", n)
	}
	// Output:
	// billing: <nil>
	// legacy: true true
	// active ordered: true max in flight: 4
	// invoice-paid deliveries: 1
	// order-created deliveries: 0
}

// PublishMany stores the deliveries of many events in one call to the store (one commit
// with a durable store): a backfill from one goroutine is not held to a commit per event.
// The dispatcher is never started here, so the listing shows all of them waiting, in order.
func ExampleDispatcher_PublishMany() {
	ctx := context.Background()
	d, err := dispatch.New(exampleSender(), nil, dispatch.Config{})
	if err != nil {
		panic(err)
	}
	if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "shop", URL: "http://127.0.0.1:1/"}}); err != nil {
		panic(err)
	}
	var evs []*event.Event
	for _, order := range []string{"41", "42", "43"} {
		ev, _ := event.New("order-created", map[string]string{"order": order})
		evs = append(evs, ev)
	}
	n, err := d.PublishMany(ctx, evs...)
	fmt.Println("stored deliveries:", n, err)
	p, _ := d.ListPending(ctx, queue.ListFilter{})
	for i, dl := range p.Deliveries {
		fmt.Println(dl.EndpointID, "event", i, "in order:", dl.Event.ID() == evs[i].ID)
	}
	fmt.Println("shutdown:", d.Shutdown(ctx))
	// Output:
	// stored deliveries: 3 <nil>
	// shop event 0 in order: true
	// shop event 1 in order: true
	// shop event 2 in order: true
	// shutdown: <nil>
}
