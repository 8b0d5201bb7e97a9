package pgqueue_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// BenchmarkEnqueueLeaseComplete measures the store's throughput without HTTP: rounds
// of one Enqueue of 100 deliveries (over 20 endpoints), one Lease of up to 100 and one
// Complete acknowledging what it leased, by 4 workers at once on one store (each leases
// whatever is due, its own or another's). b.N counts deliveries acknowledged;
// deliveries/s is the figure. Each round is three commits for 100 deliveries.
func BenchmarkEnqueueLeaseComplete(b *testing.B) {
	s := newStore(b, pgqueue.Config{MaxPending: -1})
	ev := queuetest.Event(b)
	ctx := b.Context()
	var next, done atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ds := make([]queue.Delivery, 0, 100)
			outs := make([]queue.Outcome, 0, 100)
			for done.Load() < int64(b.N) {
				ds = ds[:0]
				for range 100 {
					i := next.Add(1)
					if i > int64(b.N) {
						break
					}
					ds = append(ds, queue.Delivery{ID: "d" + strconv.FormatInt(i, 10), EndpointID: "ep" + strconv.FormatInt(i%20, 10),
						Event: ev, Created: queuetest.T0, Due: queuetest.T0})
				}
				if len(ds) > 0 {
					if err := s.Enqueue(ctx, ds...); err != nil {
						b.Error(err)
						return
					}
				}
				leased, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 100, For: time.Minute})
				if err != nil {
					b.Error(err)
					return
				}
				if len(leased) == 0 {
					continue
				}
				outs = outs[:0]
				for _, d := range leased {
					outs = append(outs, queue.Ack(d.ID, d.Lease))
				}
				errs, err := s.Complete(ctx, queuetest.T0, outs...)
				if err != nil {
					b.Error(err)
					return
				}
				for _, e := range errs {
					if e != nil {
						b.Error(e)
						return
					}
				}
				done.Add(int64(len(leased)))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkEnqueueTx100 measures the transactional publish: 100 deliveries stored by
// one EnqueueTx in a transaction of the application's pool (begin, EnqueueTx, commit),
// by 8 publishers at once. b.N counts deliveries; deliveries/s is the figure.
func BenchmarkEnqueueTx100(b *testing.B) {
	s := newStore(b, pgqueue.Config{MaxPending: -1})
	pool := shared.Get(b)
	ev := queuetest.Event(b)
	ctx := b.Context()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ds := make([]queue.Delivery, 100)
			for {
				first := next.Add(100) - 100
				if first >= int64(b.N) {
					return
				}
				ds = ds[:min(100, int64(b.N)-first)]
				for k := range ds {
					ds[k] = queue.Delivery{ID: "d" + strconv.FormatInt(first+int64(k), 10), EndpointID: "ep" + strconv.Itoa(k%20),
						Event: ev, Created: queuetest.T0, Due: queuetest.T0}
				}
				tx, err := pool.Begin(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				if err := s.EnqueueTx(ctx, tx, ds...); err != nil {
					_ = tx.Rollback(ctx)
					b.Error(err)
					return
				}
				if err := tx.Commit(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
