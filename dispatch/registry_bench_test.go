package dispatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// BenchmarkPublishFanOut measures Publish to 10, 1,000 and 100,000 endpoints of which 3
// match the event's type: with the in-memory registry (MatchEndpoints looks the type's
// candidate keys up: the cost must not grow with the endpoints) and, for comparison,
// without a registry (Publish scans every subscription's filter; 10 and 1,000 only). The pgqueue registry
// has its own (dispatch/pgqueue). The store is replaced every 20,000 events, off the
// clock. Report the ratio 100,000/10 of one run.
func BenchmarkPublishFanOut(b *testing.B) {
	for _, mode := range []string{"registry=memory", "registry=none"} {
		for _, n := range []int{10, 1000, 100_000} {
			if mode == "registry=none" && n > 10_000 {
				continue // Subscribe rebuilds the routes each time: 100,000 of them take minutes
			}
			b.Run(fmt.Sprintf("%s/endpoints=%d", mode, n), func(b *testing.B) {
				s := dspSender(b)
				reg := memqueue.NewRegistry()
				cfg := dispatch.Config{}
				if mode == "registry=memory" {
					cfg.Registry = reg
				}
				newD := func() *dispatch.Dispatcher {
					d, err := dispatch.New(s, memqueue.New(memqueue.Config{MaxPending: -1}), cfg)
					require.NoError(b, err)
					return d
				}
				d := newD()
				ctx := context.Background()
				for i := range n {
					patterns := fanOutPatterns(i)
					if cfg.Registry != nil {
						// Straight into the registry: Register would seal and prepare each.
						_, err := reg.PutEndpoint(ctx, queue.Endpoint{ID: fmt.Sprintf("ep-%06d", i), Spec: []byte("P{}"),
							Patterns: queue.PatternsOf(event.MustFilter(patterns...)), UpdatedAt: time.Now()})
						require.NoError(b, err)
						continue
					}
					require.NoError(b, d.Subscribe(dspSub(b, fmt.Sprintf("ep-%06d", i), "http://127.0.0.1:1/", nil, patterns...)))
				}
				ev := newEvent(b, "order.created")
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if i > 0 && i%20_000 == 0 && cfg.Registry != nil {
						b.StopTimer()
						d = newD()
						b.StartTimer()
					}
					got, err := d.Publish(ctx, ev)
					if err != nil || got != 3 {
						b.Fatalf("published %d: %v", got, err)
					}
				}
			})
		}
	}
}

// fanOutPatterns are the patterns of endpoint i: the first three match "order.created"
// (exactly, by prefix, "*"), the others a type or a prefix of their own.
func fanOutPatterns(i int) []string {
	switch {
	case i == 0:
		return []string{"order.created"}
	case i == 1:
		return []string{"order.*"}
	case i == 2:
		return []string{"*"}
	case i%2 == 0:
		return []string{fmt.Sprintf("other-%d.created", i)}
	}
	return []string{fmt.Sprintf("other-%d.*", i)}
}
