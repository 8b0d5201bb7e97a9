package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// BenchmarkPublish measures Publish alone (encode once, one delivery per matching
// endpoint, store): no worker runs. The store is replaced every 50,000 events, off the
// clock, so it never fills.
func BenchmarkPublish(b *testing.B) {
	for _, eps := range []int{1, 8} {
		b.Run(fmt.Sprintf("endpoints=%d", eps), func(b *testing.B) {
			s := dspSender(b)
			ev := newEvent(b, "order-created")
			newD := func() *dispatch.Dispatcher {
				d, err := dispatch.New(s, memqueue.New(memqueue.Config{MaxPending: -1}), dispatch.Config{})
				require.NoError(b, err)
				for i := range eps {
					require.NoError(b, d.Subscribe(dspSub(b, fmt.Sprint("ep", i), "http://127.0.0.1:1/", nil)))
				}
				return d
			}
			d := newD()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i > 0 && i%50_000 == 0 {
					b.StopTimer()
					d = newD()
					runtime.GC()
					b.StartTimer()
				}
				if _, err := d.Publish(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDispatchEndToEnd measures events per second from Publish to acknowledgement by
// loopback receivers (204), with 1 and 8 endpoints (each event goes to every endpoint).
func BenchmarkDispatchEndToEnd(b *testing.B) {
	for _, eps := range []int{1, 8} {
		b.Run(fmt.Sprintf("endpoints=%d", eps), func(b *testing.B) {
			var acked atomic.Int64
			s := dspSender(b)
			d, err := dispatch.New(s, nil, dispatch.Config{Workers: 32, MaxInFlight: 32, PollInterval: 10 * time.Millisecond})
			require.NoError(b, err)
			for i := range eps {
				srv := newDspServer(b, func(w http.ResponseWriter, _ dspHit, _ int) {
					acked.Add(1)
					w.WriteHeader(http.StatusNoContent)
				})
				require.NoError(b, d.Subscribe(dspSub(b, fmt.Sprint("ep", i), srv.URL, nil)))
			}
			ctx := context.Background()
			require.NoError(b, d.Start(ctx))
			defer func() { _ = d.Shutdown(ctx) }()
			evs := make([]*event.Event, 64)
			for i := range evs {
				evs[i] = newEvent(b, "order-created")
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				for {
					_, err := d.Publish(ctx, evs[i%len(evs)])
					if !errors.Is(err, queue.ErrQueueFull) {
						require.NoError(b, err)
						break
					}
					time.Sleep(time.Millisecond) // backpressure: wait for the workers
				}
			}
			want := int64(b.N * eps)
			for acked.Load() < want {
				time.Sleep(100 * time.Microsecond)
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
			b.ReportMetric(float64(want)/el.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkDispatchPendingMemory reports the heap held per pending delivery in the
// memory store (bytes/delivery), the encoded event included (one small event per
// delivery, one endpoint).
func BenchmarkDispatchPendingMemory(b *testing.B) {
	const batch = 10_000
	s := dspSender(b)
	ctx := context.Background()
	var total uint64
	for range b.N {
		b.StopTimer()
		store := memqueue.New(memqueue.Config{MaxPending: -1})
		d, err := dispatch.New(s, store, dispatch.Config{})
		require.NoError(b, err)
		require.NoError(b, d.Subscribe(dspSub(b, "ep", "http://127.0.0.1:1/", nil)))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		// Each event is made, published and dropped, as a program does: what stays on the
		// heap is what the store keeps for it.
		for range batch {
			if _, err := d.Publish(ctx, newEvent(b, "order-created")); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if p, _ := store.Len(); p != batch {
			b.Fatalf("pending %d", p)
		}
		runtime.KeepAlive(d)
		if after.HeapAlloc > before.HeapAlloc {
			total += after.HeapAlloc - before.HeapAlloc
		}
	}
	b.ReportMetric(float64(total)/float64(b.N*batch), "bytes/delivery")
}
