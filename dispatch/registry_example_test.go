package dispatch_test

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// Endpoints registered in a shared registry (pgqueue.Store on Postgres; here the
// in-memory one) are served by every dispatcher on it, their secrets sealed under the
// registry key that every instance is given.
func ExampleDispatcher_Register() {
	ctx := context.Background()
	key := make([]byte, dispatch.SpecKeySize) // in production: from your secret manager
	_, _ = rand.Read(key)
	store, registry := memqueue.New(memqueue.Config{}), memqueue.NewRegistry()
	s, _ := sender.New(sender.Config{})
	cfg := dispatch.Config{Registry: registry, RegistryKey: key}
	one, _ := dispatch.New(s, store, cfg)
	two, _ := dispatch.New(s, store, cfg) // another instance

	err := one.Register(ctx, dispatch.EndpointSpec{
		ID:      "acme",
		URL:     "https://hooks.acme.example/orders",
		Secrets: []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
		Filter:  []string{"order.*"},
	})
	fmt.Println(err)
	ev, _ := event.New("order.created", map[string]int{"order": 1001})
	n, err := two.Publish(ctx, ev) // the other instance finds acme in the registry
	fmt.Println(n, err)

	_ = two.DisableEndpoint(ctx, "acme") // for every instance
	n, err = one.Publish(ctx, ev)
	fmt.Println(n, err)
	// Output:
	// <nil>
	// 1 <nil>
	// 0 <nil>
}
