package dispatch_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
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

// RegisterMany checks every spec before it writes anything, then writes them all at
// once (one transaction with pgqueue): an import of many endpoints, all or none.
func ExampleDispatcher_RegisterMany() {
	ctx := context.Background()
	registry := memqueue.NewRegistry()
	s, _ := sender.New(sender.Config{})
	d, _ := dispatch.New(s, nil, dispatch.Config{Registry: registry}) // no secrets below: no key needed

	err := d.RegisterMany(ctx,
		dispatch.EndpointSpec{ID: "acme", URL: "https://hooks.acme.example/orders", Filter: []string{"order.*"}},
		dispatch.EndpointSpec{ID: "globex", URL: "http://hooks.globex.example/"}, // plain http: refused
	)
	var re *dispatch.RegisterError
	fmt.Println(errors.As(err, &re), re.Index, re.ID)
	page, _ := registry.ListEndpoints(ctx, "", 0)
	fmt.Println(len(page.Endpoints), "registered")

	err = d.RegisterMany(ctx,
		dispatch.EndpointSpec{ID: "acme", URL: "https://hooks.acme.example/orders", Filter: []string{"order.*"}},
		dispatch.EndpointSpec{ID: "globex", URL: "https://hooks.globex.example/"},
	)
	page, _ = registry.ListEndpoints(ctx, "", 0)
	fmt.Println(err, len(page.Endpoints), "registered")
	// Output:
	// true 1 globex
	// 0 registered
	// <nil> 2 registered
}

// A SpecCodec seals an endpoint's spec for the registry: nothing of it is readable
// without the key, and it opens only as the record of its own endpoint.
func ExampleSpecCodec() {
	key := make([]byte, dispatch.SpecKeySize) // in production: from your secret manager
	_, _ = rand.Read(key)
	codec := dispatch.SpecCodec{Key: key}
	spec := dispatch.EndpointSpec{ID: "acme", URL: "https://hooks.acme.example/orders",
		Bearer: auth.NewPassword("s3cr3t-token")}
	blob, _ := codec.Seal(spec)
	fmt.Println(bytes.Contains(blob, []byte("s3cr3t-token")), bytes.Contains(blob, []byte("acme.example")))
	opened, err := codec.Open("acme", blob)
	fmt.Println(opened.URL, opened.Bearer, err) // a Password prints redacted
	_, err = codec.Open("other", blob)
	fmt.Println(err)
	_, err = dispatch.SpecCodec{}.Seal(spec) // no key: secrets are not stored in clear
	fmt.Println(errors.Is(err, dispatch.ErrSpecSecrets))
	// Output:
	// false false
	// https://hooks.acme.example/orders [REDACTED] <nil>
	// hookkit/dispatch: endpoint spec cannot be opened with the configured registry keys
	// true
}
