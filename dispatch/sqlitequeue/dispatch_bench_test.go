package sqlitequeue_test

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// benchPublishers is how many goroutines publish at once in BenchmarkDispatchEndToEnd, as
// the request handlers of a server would: with SQLite, group commit merges their
// Enqueues (and the dispatcher's Completes) into shared commits.
// BenchmarkDispatchEndToEndPublishers runs more.
const benchPublishers = 16

// noHandoff runs the end-to-end benchmarks with dispatch.Config.NoHandoff, to compare
// with the publish-time handoff (the default): go test -bench ... -args -nohandoff.
var noHandoff = flag.Bool("nohandoff", false, "end-to-end benchmarks with dispatch.Config.NoHandoff")

// onlyStores, when set, names the SQLite stores BenchmarkDispatchRatio runs beside the
// memory store, comma-separated (-args -stores sqlite-normal,sqlite-normal-exclusive).
var onlyStores = flag.String("stores", "", "BenchmarkDispatchRatio: the SQLite stores to run, comma-separated (default all)")

// benchStore is a store under benchmark, opened afresh for each run of a benchmark.
type benchStore struct {
	name string
	open func(b *testing.B) queue.Store
}

// sqliteBenchStore opens an unbounded SQLite store in a new file, closed at the end of b.
func sqliteBenchStore(mode sqlitequeue.Synchronous, exclusive bool) func(b *testing.B) queue.Store {
	return func(b *testing.B) queue.Store {
		s, err := sqlitequeue.Open(b.Context(), filepath.Join(b.TempDir(), "queue.db"),
			sqlitequeue.Config{Synchronous: mode, MaxPending: -1, Exclusive: exclusive})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := s.Close(); err != nil {
				b.Error(err)
			}
		})
		return s
	}
}

var benchStores = []benchStore{
	{"memory", func(*testing.B) queue.Store { return memqueue.New(memqueue.Config{MaxPending: -1}) }},
	{"sqlite-full", sqliteBenchStore(sqlitequeue.SyncFull, false)},
	{"sqlite-normal", sqliteBenchStore(sqlitequeue.SyncNormal, false)},
	{"sqlite-full-exclusive", sqliteBenchStore(sqlitequeue.SyncFull, true)},
	{"sqlite-normal-exclusive", sqliteBenchStore(sqlitequeue.SyncNormal, true)},
}

// benchEvents returns n small events.
func benchEvents(b *testing.B, n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		ev, err := event.New("order-created", map[string]string{"order": strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}

// benchSender returns a sender allowed to deliver to loopback over plain HTTP.
func benchSender(b *testing.B) *sender.Sender {
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.CloseIdleConnections)
	return s
}

// publishAll publishes b.N events from publishers goroutines at once and fails b on an
// error or a count of deliveries other than one per event.
func publishAll(b *testing.B, d *dispatch.Dispatcher, evs []*event.Event, publishers int) {
	publishN(b, d, evs, b.N, publishers)
}

// publishN is publishAll of n events.
func publishN(b *testing.B, d *dispatch.Dispatcher, evs []*event.Event, n, publishers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				n, err := d.Publish(b.Context(), evs[i%int64(len(evs))])
				if err != nil || n != 1 {
					b.Errorf("Publish: %d deliveries, %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// publishMany publishes b.N events from one goroutine, many at a time with PublishMany,
// and fails b on an error or a count of deliveries other than one per event.
func publishMany(b *testing.B, d *dispatch.Dispatcher, evs []*event.Event, many int) {
	batch := make([]*event.Event, 0, many)
	for i := 0; i < b.N; {
		batch = batch[:0]
		for ; i < b.N && len(batch) < many; i++ {
			batch = append(batch, evs[i%len(evs)])
		}
		n, err := d.PublishMany(b.Context(), batch...)
		if err != nil || n != len(batch) {
			b.Fatalf("PublishMany: %d deliveries of %d, %v", n, len(batch), err)
		}
	}
}

// BenchmarkDispatchEndToEnd measures deliveries per second from Publish to
// acknowledgement: b.N events published by 16 goroutines to one endpoint, a loopback
// receiver answering 204 at once; the clock stops when the Delivered hook has seen all
// b.N (each one acknowledged and removed from the store). The stores are the memory store
// and SQLite with synchronous FULL and NORMAL; the dispatcher runs 16 workers (up to 16
// attempts in flight, as before), the same with an OutcomeBacklog of 64 (workers go on
// while their outcomes are committed), 64 workers, and 128 and 256 workers each with an
// OutcomeBacklog as large: with SQLite, each Lease and Complete is a transaction shared
// with the calls waiting with it, and more attempts in flight make each carry more
// deliveries; deliveries/commit reports how many deliveries the SQLite
// store's transactions carried on average (each delivery is enqueued, leased and
// acknowledged: three requests). -count runs each sub-benchmark its count times in a row,
// not in turn: take ratios from repeated runs of -count 1, each of which runs the stores
// one after the other.
func BenchmarkDispatchEndToEnd(b *testing.B) {
	endToEnd(b, benchPublishers, "", []endToEndConfig{{16, 0}, {16, 64}, {64, 0}, {128, 128}, {256, 256}})
}

// BenchmarkDispatchEndToEndPublishers is BenchmarkDispatchEndToEnd with 64 publishers
// instead of 16, as a busier server's request handlers would publish: with SyncFull,
// each Publish waits for its commit and then for an fsync begun after it, so 16
// publishers cap the SQLite store's rate at 16 such waits at a time whatever the workers
// do; 64 let group commit merge four times as many Enqueues into each commit and fsync.
func BenchmarkDispatchEndToEndPublishers(b *testing.B) {
	endToEnd(b, 64, "publishers=64/", []endToEndConfig{{16, 0}, {128, 128}, {256, 256}})
}

// endToEndConfig is a dispatcher's Workers (and MaxInFlight) and OutcomeBacklog.
type endToEndConfig struct{ workers, backlog int }

// endToEnd runs benchEndToEnd for each configuration and store, against a loopback
// receiver answering 204 at once, its sub-benchmarks named prefix
// "workers=W/backlog=B/store=S".
func endToEnd(b *testing.B, publishers int, prefix string, configs []endToEndConfig) {
	srv := ackServer(b)
	snd := benchSender(b)
	evs := benchEvents(b, 64)
	for _, c := range configs {
		for _, bs := range benchStores {
			b.Run(prefix+"workers="+strconv.Itoa(c.workers)+"/backlog="+strconv.Itoa(c.backlog)+"/store="+bs.name, func(b *testing.B) {
				benchEndToEnd(b, snd, srv.URL, evs, bs.open(b), publishers, c.workers, c.backlog)
			})
		}
	}
}

// ackServer starts a loopback receiver answering 204 at once, closed at the end of b.
func ackServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// startBenchDispatcher starts a dispatcher of cfg on store with one subscription, "ep" at
// url, and shuts it down at the end of b (before the store closes).
func startBenchDispatcher(b *testing.B, snd *sender.Sender, store queue.Store, url string, cfg dispatch.Config) *dispatch.Dispatcher {
	d, err := dispatch.New(snd, store, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: url, Timeout: 10 * time.Second}}); err != nil {
		b.Fatal(err)
	}
	if err := d.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return d
}

// awaitDelivered returns an Observer that counts the deliveries acknowledged and a wait
// that returns once n are, failing b after 2 minutes.
func awaitDelivered(b *testing.B, n int) (dispatch.Observer, func()) {
	var acked atomic.Int64
	all := make(chan struct{})
	obs := dispatch.Observer{Delivered: func(context.Context, queue.Delivery) {
		if acked.Add(1) == int64(n) {
			close(all)
		}
	}}
	return obs, func() {
		timer := time.NewTimer(2 * time.Minute)
		defer timer.Stop()
		select {
		case <-all:
		case <-timer.C:
			b.Fatalf("%d of %d deliveries acknowledged after 2 minutes", acked.Load(), n)
		}
	}
}

// benchEndToEnd runs one sub-benchmark of BenchmarkDispatchEndToEnd: publishers
// goroutines publish b.N events, one delivery each, to a dispatcher of workers workers.
func benchEndToEnd(b *testing.B, snd *sender.Sender, url string, evs []*event.Event, store queue.Store, publishers, workers, backlog int) {
	obs, wait := awaitDelivered(b, b.N)
	d := startBenchDispatcher(b, snd, store, url, dispatch.Config{Workers: workers, MaxInFlight: workers, OutcomeBacklog: backlog,
		NoHandoff: *noHandoff, Observer: obs})
	var commits0 int64
	if s, ok := store.(*sqlitequeue.Store); ok {
		commits0 = sqlitequeue.Commits(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	publishAll(b, d, evs, publishers)
	wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	if s, ok := store.(*sqlitequeue.Store); ok {
		b.ReportMetric(float64(b.N)/float64(sqlitequeue.Commits(s)-commits0), "deliveries/commit")
	}
}

// BenchmarkPublish measures Dispatcher.Publish into the SQLite store (one matching
// endpoint, so one delivery per event; no worker runs), by 1 and 16 concurrent
// publishers, and PublishMany of 100 events at a time by one, with each durability
// level, in events/s. Run it with BenchmarkFsync to
// compare with the disk's fsync rate in the same run.
func BenchmarkPublish(b *testing.B) {
	snd := benchSender(b)
	evs := benchEvents(b, 64)
	for _, sm := range syncModes {
		for _, c := range []struct {
			publishers, many int
			exclusive        bool
		}{{1, 0, false}, {16, 0, false}, {1, 100, false}, {1, 0, true}, {16, 0, true}} {
			name := "sync=" + sm.name + "/publishers=" + strconv.Itoa(c.publishers)
			if c.many > 0 {
				name += "/many=" + strconv.Itoa(c.many)
			}
			if c.exclusive {
				name += "/exclusive"
			}
			b.Run(name, func(b *testing.B) {
				store := sqliteBenchStore(sm.mode, c.exclusive)(b)
				d, err := dispatch.New(snd, store, dispatch.Config{})
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: "http://127.0.0.1:1/"}}); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				if c.many > 0 {
					publishMany(b, d, evs, c.many)
				} else {
					publishAll(b, d, evs, c.publishers)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				if err := d.Shutdown(context.Background()); err != nil {
					b.Error(err)
				}
			})
		}
	}
}

// BenchmarkDispatchLatency measures the time from Publish to acknowledgement of one
// delivery at a time (ns/op): one goroutine publishes an event, waits until the Delivered
// hook has seen it, and publishes the next, so the workers are idle when each arrives.
// With the publish-time handoff (the default) the delivery goes from the store's commit
// straight to a worker; with Config.NoHandoff it waits for the dispatcher's next Lease.
func BenchmarkDispatchLatency(b *testing.B) {
	srv := ackServer(b)
	snd := benchSender(b)
	evs := benchEvents(b, 64)
	for _, bs := range benchStores {
		for _, noHandoff := range []bool{false, true} {
			name := "store=" + bs.name + "/handoff=on"
			if noHandoff {
				name = "store=" + bs.name + "/handoff=off"
			}
			b.Run(name, func(b *testing.B) {
				done := make(chan struct{}, 1)
				d := startBenchDispatcher(b, snd, bs.open(b), srv.URL, dispatch.Config{NoHandoff: noHandoff,
					Observer: dispatch.Observer{Delivered: func(context.Context, queue.Delivery) { done <- struct{}{} }}})
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if n, err := d.Publish(b.Context(), evs[i%len(evs)]); err != nil || n != 1 {
						b.Fatalf("Publish: %d deliveries, %v", n, err)
					}
					select {
					case <-done:
					case <-time.After(time.Minute):
						b.Fatalf("delivery %d not acknowledged after a minute", i)
					}
				}
			})
		}
	}
}

// BenchmarkDispatchRatio measures issue 14's end-to-end ratios in a way this noisy VM
// cannot skew: rounds of 20,000 deliveries (64 publishers, 256 workers with an
// OutcomeBacklog of 256, as the best configuration of BenchmarkDispatchEndToEndPublishers),
// each round running the memory store, SQLite FULL and SQLite NORMAL one after the other
// (seconds apart, where the machine's speed drifts over minutes), and the medians over the
// rounds of each round's SQLite/memory ratio. Run it once: -benchtime 1x (b.N rounds of
// 7). It reports full/memory and normal/memory (the medians), and each store's median
// deliveries/s.
func BenchmarkDispatchRatio(b *testing.B) {
	const rounds, n, publishers, workers = 7, 20_000, 64, 256
	srv := ackServer(b)
	snd := benchSender(b)
	evs := benchEvents(b, 64)
	rates := make([][]float64, len(benchStores))
	ratios := make([][]float64, len(benchStores))
	for range b.N * rounds {
		var round []float64
		for i, bs := range benchStores {
			if i > 0 && *onlyStores != "" && !slices.Contains(strings.Split(*onlyStores, ","), bs.name) {
				continue
			}
			rate := endToEndRound(b, snd, srv.URL, evs, bs.open(b), n, publishers, workers)
			rates[i] = append(rates[i], rate)
			round = append(round, rate)
			ratios[i] = append(ratios[i], rate/round[0])
		}
	}
	for i, bs := range benchStores {
		if len(rates[i]) == 0 {
			continue
		}
		b.ReportMetric(median(rates[i]), bs.name+"-deliveries/s")
		if i > 0 {
			b.ReportMetric(median(ratios[i]), strings.TrimPrefix(bs.name, "sqlite-")+"/memory")
		}
	}
}

// endToEndRound publishes n events, one delivery each, from publishers goroutines to a
// new dispatcher of workers workers on store, and returns the deliveries acknowledged
// per second, from the first Publish to the last acknowledgement.
func endToEndRound(b *testing.B, snd *sender.Sender, url string, evs []*event.Event, store queue.Store, n, publishers, workers int) float64 {
	obs, wait := awaitDelivered(b, n)
	d := startBenchDispatcher(b, snd, store, url, dispatch.Config{Workers: workers, MaxInFlight: workers, OutcomeBacklog: workers,
		NoHandoff: *noHandoff, Observer: obs})
	start := time.Now()
	publishN(b, d, evs, n, publishers)
	wait()
	rate := float64(n) / time.Since(start).Seconds()
	if err := d.Shutdown(context.Background()); err != nil {
		b.Error(err)
	}
	return rate
}

// median returns the median of xs (not empty); it sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
