package pgqueue_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
)

// shared is the pool the tests of this package share (closed by TestMain).
var shared pgtest.SharedPool

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

// newStore returns a Store in a new schema of the shared pool.
func newStore(t testing.TB, cfg pgqueue.Config) *pgqueue.Store {
	t.Helper()
	cfg.Schema = pgtest.Schema(t)
	s, err := pgqueue.New(context.Background(), shared.Get(t), cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// TestConformance runs the queue.Store conformance suite (every clause of the contract,
// the pending bound and the dead-letter bound), each subtest in a schema of its own.
func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Store { return newStore(t, pgqueue.Config{}) })
	queuetest.RunEndpointCounts(t, func(t *testing.T) queue.Store { return newStore(t, pgqueue.Config{}) })
	queuetest.RunLeasingEnqueuer(t, func(t *testing.T) queue.Store { return newStore(t, pgqueue.Config{}) })
	queuetest.RunBounded(t, func(t *testing.T, max int) queue.Store {
		return newStore(t, pgqueue.Config{MaxPending: max})
	})
	queuetest.RunDeadBounded(t, func(t *testing.T, maxDead int) queue.Store {
		return newStore(t, pgqueue.Config{MaxDead: maxDead})
	})
}

func ids(ds []queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// enqueueSet stores n deliveries over 5 endpoints, due at T0, and returns their IDs.
func enqueueSet(t *testing.T, s queue.Store, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	ds := make([]queue.Delivery, 0, n)
	for i := range n {
		id := fmt.Sprint("d", i)
		out = append(out, id)
		ds = append(ds, queuetest.Delivery(t, id, fmt.Sprint("ep", i%5), queuetest.T0))
	}
	require.NoError(t, s.Enqueue(t.Context(), ds...))
	return out
}

// TestTwoStoresTwoPools: two Stores on two pools (as two instances of an application
// have), four lessees each, lease at once with leases that do not expire: no delivery is
// held under two live leases, none is lost, and each store did some of the work.
func TestTwoStoresTwoPools(t *testing.T) {
	schema := pgtest.Schema(t)
	var stores [2]*pgqueue.Store
	for i := range stores {
		var err error
		stores[i], err = pgqueue.New(t.Context(), pgtest.Pool(t), pgqueue.Config{Schema: schema})
		require.NoError(t, err)
	}
	want := enqueueSet(t, stores[0], 600)
	got := make([][]string, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			s := stores[i%2]
			for empty := 0; empty < 3; {
				ds, err := s.Lease(t.Context(), queue.LeaseRequest{Now: queuetest.T0, Max: 1 + i%5, For: time.Hour})
				if err != nil {
					errs[i] = err
					return
				}
				if len(ds) == 0 {
					empty++
					continue
				}
				empty = 0
				for _, d := range ds {
					got[i] = append(got[i], d.ID)
				}
				// Acknowledge every other batch: the rest stay leased (an hour), so a
				// second lease of them would show.
				if len(got[i])%2 == 0 {
					outs := make([]queue.Outcome, len(ds))
					for j, d := range ds {
						outs[j] = queue.Ack(d.ID, d.Lease)
					}
					res, err := s.Complete(t.Context(), queuetest.T0, outs...)
					if err != nil {
						errs[i] = err
						return
					}
					for _, e := range res {
						if e != nil {
							errs[i] = e
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	seen := map[string]int{}
	perStore := [2]int{}
	for i, l := range got {
		perStore[i%2] += len(l)
		for _, id := range l {
			seen[id]++
		}
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "delivery %s leased %d times under live leases", id, n)
	}
	assert.ElementsMatch(t, want, slices.Collect(maps.Keys(seen)), "every delivery leased")
	assert.Positive(t, perStore[0], "instance 0 leased some")
	assert.Positive(t, perStore[1], "instance 1 leased some")
}
