package sender_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

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
// endpoint whose filter matches, and Shutdown waits for what is in flight.
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
	d, err := sender.NewDispatcher(exampleSender(), nil, sender.DispatcherConfig{})
	if err != nil {
		panic(err)
	}
	orders, _ := event.NewFilter("order-*")
	if err := d.AddEndpoint(sender.Endpoint{ID: "shop", URL: listener.URL, Filter: orders}); err != nil {
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
	// publish after shutdown: hookkit/sender: dispatcher is closed
}

// Deliveries the listener rejects for good become dead letters with their attempt
// history; once the listener is fixed they can be requeued.
func ExampleDispatcher_Requeue() {
	status := make(chan int, 2)
	status <- http.StatusBadRequest
	status <- http.StatusOK
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(<-status)
	}))
	defer listener.Close()

	ctx := context.Background()
	d, _ := sender.NewDispatcher(exampleSender(), nil, sender.DispatcherConfig{PollInterval: 10 * time.Millisecond})
	_ = d.AddEndpoint(sender.Endpoint{ID: "crm", URL: listener.URL})
	_ = d.Start(ctx)
	defer func() { _ = d.Shutdown(ctx) }()

	ev, _ := event.New("contact-updated", map[string]string{"id": "7"})
	_, _ = d.Publish(ctx, ev)

	var dead []sender.Delivery
	for len(dead) == 0 {
		time.Sleep(5 * time.Millisecond)
		dead, _ = d.DeadLetters(ctx, sender.ListFilter{EndpointID: "crm"})
	}
	fmt.Println(dead[0].DeadReason, "after", len(dead[0].Attempts), "attempt with status", dead[0].Attempts[0].Status)

	n, _ := d.Requeue(ctx, sender.Selector{EndpointID: "crm"})
	fmt.Println("requeued:", n)
	for {
		pending, _ := d.Pending(ctx, sender.ListFilter{})
		dead, _ = d.DeadLetters(ctx, sender.ListFilter{})
		if len(pending) == 0 && len(dead) == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("delivered")
	// Output:
	// rejected permanently after 1 attempt with status 400
	// requeued: 1
	// delivered
}
