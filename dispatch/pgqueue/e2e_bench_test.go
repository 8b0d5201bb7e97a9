package pgqueue_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/sender"
)

// e2eRounds is how many times the end-to-end benchmarks run each of their variants, in
// turn (round 1 of every variant, then round 2, ...): -count would run each variant
// its count times in a row, and on a machine shared with other work the load drifts
// between those, so ratios are taken within a round.
const e2eRounds = 3

// noHandoff runs BenchmarkDispatchEndToEnd with dispatch.Config.NoHandoff, to compare
// with the publish-time handoff (the default): go test -bench ... -args -nohandoff.
var noHandoff = flag.Bool("nohandoff", false, "BenchmarkDispatchEndToEnd with dispatch.Config.NoHandoff")

// e2eRates collects the rate of the last run of each sub-benchmark (the one with the
// largest b.N) and logs the ratios within each round.
type e2eRates struct {
	mu    sync.Mutex
	rates map[string]float64 // "round/variant" → deliveries/s
}

func (r *e2eRates) set(round int, variant string, rate float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rates == nil {
		r.rates = map[string]float64{}
	}
	r.rates[strconv.Itoa(round)+"/"+variant] = rate
}

// logRatios logs, per round, each variant's rate over base's, and their medians.
func (r *e2eRates) logRatios(b *testing.B, base string, variants ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range variants {
		var ratios []float64
		var parts []string
		for round := 1; round <= e2eRounds; round++ {
			x, okX := r.rates[strconv.Itoa(round)+"/"+v]
			y, okY := r.rates[strconv.Itoa(round)+"/"+base]
			if okX && okY && y > 0 {
				ratios = append(ratios, x/y)
				parts = append(parts, fmt.Sprintf("%.0f/%.0f = %.3f", x, y, x/y))
			}
		}
		if len(ratios) == 0 {
			continue
		}
		slices.Sort(ratios)
		b.Logf("%s / %s per round: %s; median %.3f×", v, base, strings.Join(parts, ", "), ratios[len(ratios)/2])
	}
}

// e2eReceiver starts a loopback receiver answering 204 at once, closed at the end of b.
func e2eReceiver(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// e2eSender returns a sender allowed to deliver to loopback over plain HTTP.
func e2eSender(b *testing.B) *sender.Sender {
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.CloseIdleConnections)
	return s
}

// e2eStores are the stores of BenchmarkDispatchEndToEnd: the memory store, and pgqueue
// as configured by default (NOTIFY sent by every Enqueue) and without sending
// (NotifyListenOnly: no notifying commits, which Postgres serializes; a single instance
// is woken by its own Publish anyway).
var e2eStores = []struct {
	name    string
	open    func(b *testing.B) queue.Store
	backlog int // dispatch.Config.OutcomeBacklog
}{
	{"memory", e2eMemory, 0},
	{"pgqueue", func(b *testing.B) queue.Store { return e2eStore(b, pgqueue.NotifyOn) }, 0},
	{"pgqueue-listenonly", func(b *testing.B) queue.Store { return e2eStore(b, pgqueue.NotifyListenOnly) }, 0},
	{"memory-backlog64", e2eMemory, 64},
	{"pgqueue-backlog64", func(b *testing.B) queue.Store { return e2eStore(b, pgqueue.NotifyOn) }, 64},
}

func e2eMemory(*testing.B) queue.Store { return memqueue.New(memqueue.Config{MaxPending: -1}) }

// e2ePoolConns is the size of the pool of BenchmarkDispatchEndToEnd's pgqueue Store:
// a connection for each of the 16 publishers, the dispatcher's Lease and its Complete
// (pgxpool's default, 4 on 2 CPUs, would make the calls queue for connections).
const e2ePoolConns = 20

// e2eStore returns a timed pgqueue Store on a new schema and a pool of e2ePoolConns
// connections of its own, closed at the end of b.
func e2eStore(b *testing.B, mode pgqueue.NotifyMode) *e2eTimed {
	cfg, err := pgxpool.ParseConfig(services.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = e2ePoolConns
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	s, err := pgqueue.New(b.Context(), pool, pgqueue.Config{Schema: pgtest.Schema(b), MaxPending: -1, Notify: mode})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return &e2eTimed{Store: s}
}

// The calls e2eTimed times.
const (
	e2eEnqueue = iota
	e2eLease
	e2eComplete
)

// e2eTimed is a pgqueue Store that times the calls a dispatcher makes on its way from
// Publish to acknowledgement (Enqueue, Lease, CompleteEvicting: the dispatcher
// completes through queue.DeadEvicter), as the caller sees them (waiting for a pool
// connection included), and counts what each carried.
type e2eTimed struct {
	*pgqueue.Store
	calls, nanos, items [3]atomic.Int64
}

func (s *e2eTimed) record(call int, start time.Time, items int) {
	s.calls[call].Add(1)
	s.nanos[call].Add(int64(time.Since(start)))
	s.items[call].Add(int64(items))
}

func (s *e2eTimed) Enqueue(ctx context.Context, ds ...queue.Delivery) error {
	start := time.Now()
	err := s.Store.Enqueue(ctx, ds...)
	s.record(e2eEnqueue, start, len(ds))
	return err
}

func (s *e2eTimed) EnqueueLeased(ctx context.Context, ds []queue.Delivery, committed func()) error {
	start := time.Now()
	err := s.Store.EnqueueLeased(ctx, ds, committed)
	s.record(e2eEnqueue, start, len(ds))
	return err
}

func (s *e2eTimed) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	start := time.Now()
	ds, err := s.Store.Lease(ctx, req)
	s.record(e2eLease, start, len(ds))
	return ds, err
}

func (s *e2eTimed) CompleteEvicting(ctx context.Context, now time.Time, outcomes ...queue.Outcome) ([]error, []queue.Delivery, error) {
	start := time.Now()
	errs, evicted, err := s.Store.CompleteEvicting(ctx, now, outcomes...)
	s.record(e2eComplete, start, len(outcomes))
	return errs, evicted, err
}

// report adds the mean duration of each call and what it carried to b's metrics.
func (s *e2eTimed) report(b *testing.B) {
	for call, name := range []string{"enqueue", "lease", "complete"} {
		n := s.calls[call].Load()
		if n == 0 {
			continue
		}
		b.ReportMetric(float64(s.nanos[call].Load())/float64(n)/1e3, name+"-µs")
		if call != e2eEnqueue {
			b.ReportMetric(float64(s.items[call].Load())/float64(n), "per-"+name)
		}
	}
}

// startE2E starts d and shuts it down at the end of b (before the store closes).
func startE2E(b *testing.B, d *dispatch.Dispatcher) {
	if err := d.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	})
}

// BenchmarkDispatchEndToEnd measures deliveries per second from Publish to
// acknowledgement through one dispatcher, on pgqueue against the memory store: b.N
// events published by 16 goroutines (one Enqueue each) to one endpoint, a loopback
// receiver answering 204 at once, 16 workers, up to 16 attempts in flight (and, in the
// -backlog64 variants, an OutcomeBacklog of 64 on both stores); the clock
// stops when the Delivered hook has seen all b.N. The variants run in turn, e2eRounds
// rounds, and the ratios over the memory store within each round are logged (a
// benchmark with sub-benchmarks shows its log with -v only). The pgqueue variants also
// report the mean duration of each Enqueue, Lease and Complete as the dispatcher saw
// it, and how many deliveries each Lease and Complete carried (e2eTimed); every variant
// reports when the last Publish returned, as a percentage of the run (published-%: near
// 100, publishing is the bottleneck). Run:
//
//	cd dispatch/pgqueue && HOOKKIT_TEST_POSTGRES=… go test -run '^$' -bench 'BenchmarkDispatchEndToEnd$' -benchtime 3s -v .
func BenchmarkDispatchEndToEnd(b *testing.B) {
	srv := e2eReceiver(b)
	snd := e2eSender(b)
	evs := make([]*event.Event, 64)
	for i := range evs {
		ev, err := event.New("order-created", map[string]string{"order": strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	var rates e2eRates
	for round := 1; round <= e2eRounds; round++ {
		for _, bs := range e2eStores {
			b.Run(fmt.Sprintf("round=%d/store=%s", round, bs.name), func(b *testing.B) {
				store := bs.open(b)
				var acked atomic.Int64
				all := make(chan struct{})
				d, err := dispatch.New(snd, store, dispatch.Config{Workers: 16, MaxInFlight: 16, OutcomeBacklog: bs.backlog, NoHandoff: *noHandoff,
					Observer: dispatch.Observer{Delivered: func(context.Context, queue.Delivery) {
						if acked.Add(1) == int64(b.N) {
							close(all)
						}
					}}})
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: srv.URL, Timeout: 10 * time.Second}}); err != nil {
					b.Fatal(err)
				}
				startE2E(b, d)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
							if n, err := d.Publish(b.Context(), evs[i%int64(len(evs))]); err != nil || n != 1 {
								b.Errorf("Publish: %d deliveries, %v", n, err)
								return
							}
						}
					})
				}
				wg.Wait()
				published := time.Since(start)
				timer := time.NewTimer(2 * time.Minute)
				defer timer.Stop()
				select {
				case <-all:
				case <-timer.C:
					b.Fatalf("%d of %d deliveries acknowledged after 2 minutes", acked.Load(), b.N)
				}
				b.StopTimer()
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "deliveries/s")
				b.ReportMetric(100*published.Seconds()/b.Elapsed().Seconds(), "published-%")
				if ts, ok := store.(*e2eTimed); ok {
					ts.report(b)
				}
				rates.set(round, bs.name, rate)
			})
		}
	}
	rates.logRatios(b, "memory", "pgqueue", "pgqueue-listenonly")
	rates.logRatios(b, "memory-backlog64", "pgqueue-backlog64")
}

// BenchmarkDispatchLatency measures the time from Publish to acknowledgement of one
// delivery at a time on pgqueue (ns/op): one goroutine publishes an event, waits until
// the Delivered hook has seen it, and publishes the next, so the workers are idle when
// each arrives. With the publish-time handoff (the default) the delivery is inserted
// leased and goes to a worker once its insert has committed; with Config.NoHandoff it is
// inserted pending and waits for the dispatcher's next Lease (woken by the Publish), a
// round trip and a statement more. Each with a Subscription, and with the endpoint in the
// Store's registry (Config.Registry: the Store itself). Run:
//
//	cd dispatch/pgqueue && HOOKKIT_TEST_POSTGRES=… go test -run '^$' -bench 'BenchmarkDispatchLatency$' -benchtime 2000x -count 3 .
func BenchmarkDispatchLatency(b *testing.B) {
	srv := e2eReceiver(b)
	snd := e2eSender(b)
	ev, err := event.New("order-created", map[string]string{"order": "1"})
	if err != nil {
		b.Fatal(err)
	}
	for _, registry := range []bool{false, true} {
		for _, noHandoff := range []bool{false, true} {
			name := map[bool]string{false: "endpoints=subscribed", true: "endpoints=registry"}[registry] +
				map[bool]string{false: "/handoff=on", true: "/handoff=off"}[noHandoff]
			b.Run(name, func(b *testing.B) {
				done := make(chan struct{}, 1)
				store := e2eStore(b, pgqueue.NotifyOn)
				cfg := dispatch.Config{NoHandoff: noHandoff,
					Observer: dispatch.Observer{Delivered: func(context.Context, queue.Delivery) { done <- struct{}{} }}}
				if registry {
					cfg.Registry, cfg.RegistryPlaintext = store.Store, true
				}
				d, err := dispatch.New(snd, store, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if registry {
					err = d.Register(b.Context(), dispatch.EndpointSpec{ID: "ep", URL: srv.URL, Timeout: 10 * time.Second})
				} else {
					err = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: srv.URL, Timeout: 10 * time.Second}})
				}
				if err != nil {
					b.Fatal(err)
				}
				startE2E(b, d)
				publish := func(i int) {
					if n, err := d.Publish(b.Context(), ev); err != nil || n != 1 {
						b.Fatalf("Publish: %d deliveries, %v", n, err)
					}
					select {
					case <-done:
					case <-time.After(time.Minute):
						b.Fatalf("delivery %d not acknowledged after a minute", i)
					}
				}
				publish(-1) // the registry's endpoint cached
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					publish(i)
				}
			})
		}
	}
}

// slowEndpoints is the number of endpoints of BenchmarkSlowEndpoints, each answering
// after slowLatency.
const (
	slowEndpoints = 50
	slowLatency   = 100 * time.Millisecond
)

// BenchmarkSlowEndpoints measures latency-bound work: b.N deliveries spread over 50
// endpoints that each answer after 100 ms, stored in one schema beforehand, then
// delivered by 1 or by 3 instances, each a dispatcher with the default Workers (16) and
// MaxInFlight (4) on a pgqueue Store of its own pool (its own connections, listener and
// lease cycle), all in this process. The clock runs from the dispatchers' Start until
// the last delivery is acknowledged. One instance is bound by its 16 workers × 10
// answers per second; the ratio of 3 instances over 1, within each round, is logged.
// Instances in one process are a fair stand-in for separate processes here: the bound is
// each dispatcher's workers waiting on the endpoints, not the CPU, and everything the
// instances share goes through Postgres as it would across hosts (separate pools and
// Stores, leases taken with FOR UPDATE SKIP LOCKED). The ratios are logged (shown with
// -v). Run:
//
//	cd dispatch/pgqueue && HOOKKIT_TEST_POSTGRES=… go test -run '^$' -bench 'BenchmarkSlowEndpoints$' -benchtime 1500x -v .
func BenchmarkSlowEndpoints(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(slowLatency) // the endpoint's latency
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	url := services.Postgres(b)
	snd := e2eSender(b)
	ev := queuetest.Event(b)
	var rates e2eRates
	for round := 1; round <= e2eRounds; round++ {
		for _, instances := range []int{1, 3} {
			b.Run(fmt.Sprintf("round=%d/instances=%d", round, instances), func(b *testing.B) {
				schema := pgtest.Schema(b)
				pub, err := pgqueue.New(b.Context(), shared.Get(b), pgqueue.Config{Schema: schema, MaxPending: -1, Notify: pgqueue.NotifyOff})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(pub.Close)
				now := time.Now()
				const batch = 500
				for first := 0; first < b.N; first += batch {
					ds := make([]queue.Delivery, 0, batch)
					for i := first; i < min(first+batch, b.N); i++ {
						ds = append(ds, queue.Delivery{ID: "d" + strconv.Itoa(i), EndpointID: "ep" + strconv.Itoa(i%slowEndpoints),
							Event: ev, Created: now, Due: now})
					}
					if err := pub.Enqueue(b.Context(), ds...); err != nil {
						b.Fatal(err)
					}
				}
				var acked atomic.Int64
				all := make(chan struct{})
				ds := make([]*dispatch.Dispatcher, instances)
				for k := range ds {
					pool, err := pgxpool.New(b.Context(), url)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(pool.Close)
					// New connects (it reads the schema's version), so the clock does not
					// count the pool's first connection.
					s, err := pgqueue.New(b.Context(), pool, pgqueue.Config{Schema: schema, MaxPending: -1})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(s.Close)
					ds[k], err = dispatch.New(snd, s, dispatch.Config{Observer: dispatch.Observer{Delivered: func(context.Context, queue.Delivery) {
						if acked.Add(1) == int64(b.N) {
							close(all)
						}
					}}})
					if err != nil {
						b.Fatal(err)
					}
					for e := range slowEndpoints {
						if err := ds[k].Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep" + strconv.Itoa(e), URL: srv.URL}}); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ResetTimer()
				for _, d := range ds {
					if err := d.Start(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				timer := time.NewTimer(5 * time.Minute)
				defer timer.Stop()
				select {
				case <-all:
				case <-timer.C:
					b.Fatalf("%d of %d deliveries acknowledged after 5 minutes", acked.Load(), b.N)
				}
				b.StopTimer()
				for _, d := range ds {
					if err := d.Shutdown(context.Background()); err != nil {
						b.Error(err)
					}
				}
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "deliveries/s")
				rates.set(round, "instances="+strconv.Itoa(instances), rate)
			})
		}
	}
	rates.logRatios(b, "instances=1", "instances=3")
}
