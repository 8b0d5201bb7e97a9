package sqlitequeue_test

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
)

// BenchmarkEnqueue measures Enqueue of one delivery (a small event) per call, by 1 and
// by 16 concurrent publishers, with each durability level, in deliveries/s. With 16
// publishers group commit merges the calls waiting while a commit fsyncs: compare with
// BenchmarkFsync, the disk's limit for one commit at a time.
func BenchmarkEnqueue(b *testing.B) {
	for _, sm := range syncModes {
		for _, publishers := range []int{1, 16} {
			b.Run("sync="+sm.name+"/publishers="+strconv.Itoa(publishers), func(b *testing.B) {
				s, err := sqlitequeue.Open(b.Context(), filepath.Join(b.TempDir(), "queue.db"),
					sqlitequeue.Config{Synchronous: sm.mode, MaxPending: -1})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ev := queuetest.Event(b)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				for range publishers {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							d := queue.Delivery{ID: "d" + strconv.FormatInt(i, 10), EndpointID: "ep", Event: ev, Created: queuetest.T0, Due: queuetest.T0}
							if err := s.Enqueue(b.Context(), d); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// BenchmarkFsync measures the fsync rate of the disk the stores of BenchmarkEnqueue use:
// 4 KiB written and fsynced per operation, in fsyncs/s.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fsyncs/s")
}

// BenchmarkListPendingByEvent measures one page (the default limit) of ListPending by
// event id alone among 100,000 pending deliveries of 10,000 events, 10 each: with no
// index of the pending deliveries by event, the page reads the pending table.
func BenchmarkListPendingByEvent(b *testing.B) {
	s, err := sqlitequeue.Open(b.Context(), filepath.Join(b.TempDir(), "queue.db"),
		sqlitequeue.Config{Synchronous: sqlitequeue.SyncNormal, MaxPending: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const events, perEvent = 10_000, 10
	evs := sqlitequeue.DistinctEvents(b, events)
	ds := make([]queue.Delivery, 0, 1000)
	for i := range events * perEvent {
		ds = append(ds, queue.Delivery{ID: "d" + strconv.Itoa(i), EndpointID: "ep", Event: evs[i%events], Due: queuetest.T0})
		if len(ds) == cap(ds) {
			if err := s.Enqueue(b.Context(), ds...); err != nil {
				b.Fatal(err)
			}
			ds = ds[:0]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p, err := s.ListPending(b.Context(), queue.ListFilter{EventID: evs[i%events].ID()})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Deliveries) != perEvent {
			b.Fatalf("%d deliveries of the event, want %d", len(p.Deliveries), perEvent)
		}
	}
}

// BenchmarkOpenLoads measures what Open costs with 100,000 pending deliveries in the
// file (distinct events, as Publish makes them): a shared Open, which reads nothing of
// them, and an Exclusive one, which loads them all into memory. The file is opened
// Exclusive once before timing, so that every timed Open finds it as it leaves it (an
// Exclusive Open drops the shared mode's indexes, a shared one makes them again).
func BenchmarkOpenLoads(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "queue.db")
	s, err := sqlitequeue.Open(b.Context(), path, sqlitequeue.Config{Synchronous: sqlitequeue.SyncNormal, MaxPending: -1})
	if err != nil {
		b.Fatal(err)
	}
	evs := sqlitequeue.DistinctEvents(b, 4096)
	ds := make([]queue.Delivery, 0, 1000)
	for i := 0; i < n; i += cap(ds) {
		ds = ds[:0]
		for j := range cap(ds) {
			ds = append(ds, queue.Delivery{ID: "d" + strconv.Itoa(i+j), EndpointID: "ep" + strconv.Itoa(j%8), Event: evs[(i+j)%len(evs)],
				Created: queuetest.T0, Due: queuetest.T0})
		}
		if err := s.Enqueue(b.Context(), ds...); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, exclusive := range []bool{false, true} {
		b.Run("exclusive="+strconv.FormatBool(exclusive), func(b *testing.B) {
			cfg := sqlitequeue.Config{Synchronous: sqlitequeue.SyncNormal, MaxPending: -1, Exclusive: exclusive}
			warm, err := sqlitequeue.Open(b.Context(), path, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := warm.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				s, err := sqlitequeue.Open(b.Context(), path, cfg)
				if err != nil {
					b.Fatal(err)
				}
				st, err := s.Stats(b.Context(), queuetest.T0)
				if err != nil || st.Pending != n {
					b.Fatalf("stats %+v, %v", st, err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
		})
	}
}
