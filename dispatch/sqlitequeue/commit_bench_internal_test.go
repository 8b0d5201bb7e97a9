//go:build linux

package sqlitequeue

import (
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/event"
)

// threadCPU returns the CPU time (user and system) of the calling thread: with the
// goroutine locked to its thread, what it spent, not the time it waited for a CPU on a
// loaded machine.
func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is Linux's RUSAGE_THREAD.
const rusageThread = 1

// benchEvents returns 4,096 distinct events (DistinctEvents) and their binary forms.
func benchEvents(b *testing.B) ([]*event.Encoded, [][]byte) {
	evs := DistinctEvents(b, 4096)
	blobs := make([][]byte, len(evs))
	for i, ev := range evs {
		var err error
		if blobs[i], err = ev.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	return evs, blobs
}

// BenchmarkCommitCycle measures what the committer goroutine spends per delivery, the
// serial part of the store's work, without the dispatcher, HTTP or other goroutines:
// each op is one group commit of k Enqueue requests (one delivery each), one Lease of
// the k deliveries enqueued by the previous op and one Complete acknowledging the k
// leased by the op before, as the dispatcher's steady state has them; ns/op divided by k
// is the committer's time per delivery. Each delivery has an event of its own (4,096
// distinct, random ids), as Publish makes them.
func BenchmarkCommitCycle(b *testing.B) {
	for _, sync := range []Synchronous{SyncNormal, SyncFull} {
		name := "normal"
		if sync == SyncFull {
			name = "full"
		}
		for _, k := range []int{1, 4, 16} {
			b.Run("sync="+name+"/k="+strconv.Itoa(k), func(b *testing.B) {
				s, err := Open(b.Context(), filepath.Join(b.TempDir(), "queue.db"), Config{Synchronous: sync, MaxPending: -1})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				evs, blobs := benchEvents(b)
				ctx := context.Background()
				var n int
				enq := func() *request {
					n++
					ev := evs[n%len(evs)]
					d := queue.Delivery{ID: "d" + strconv.Itoa(n), EndpointID: "ep", Event: ev, Created: queuetest.T0, Due: queuetest.T0}
					return &request{ctx: ctx, ds: []queue.Delivery{d}, blobs: blobs[n%len(blobs) : n%len(blobs)+1], done: make(chan struct{})}
				}
				lease := func() *request {
					return &request{ctx: ctx, lease: &queue.LeaseRequest{Now: queuetest.T0, Max: k, For: time.Minute, Endpoints: map[string]int{"ep": k}},
						prefix: "p" + strconv.Itoa(n) + ".", done: make(chan struct{})}
				}
				var leased []queue.Delivery
				batch := make([]*request, 0, k+2)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0 := threadCPU(b)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					batch = batch[:0]
					for range k {
						batch = append(batch, enq())
					}
					if len(leased) > 0 {
						os := make([]queue.Outcome, len(leased))
						for i, d := range leased {
							os[i] = queue.Ack(d.ID, d.Lease)
						}
						batch = append(batch, &request{ctx: ctx, now: queuetest.T0, outcomes: os, done: make(chan struct{})})
					}
					l := lease()
					batch = append(batch, l)
					commitAndWait(s, batch)
					for _, r := range batch {
						if r.err != nil {
							b.Fatal(r.err)
						}
						for _, e := range r.errs {
							if e != nil {
								b.Fatal(e)
							}
						}
					}
					leased = l.leased
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*k), "µs/delivery")
				b.ReportMetric(float64((threadCPU(b)-cpu0).Microseconds())/float64(b.N*k), "cpu-µs/delivery")
			})
		}
	}
}
