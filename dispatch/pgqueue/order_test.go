package pgqueue_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// TestOrderedAcrossConcurrentPublishers: 8 publishers enqueue ordered deliveries of one
// endpoint at once, half of them through EnqueueTx in longer transactions (three calls,
// with a pause in Postgres between, so that a transaction that drew a lower seq commits
// after others), while a lessee leases and acknowledges the head again and again. Seq
// comes from a sequence, drawn when a row is inserted: without the per-endpoint lock a
// transaction holding seq 5 could commit after one holding seq 6, and the lessee would
// lease 6 first. With it, the leased seqs are strictly increasing, one at a time, and
// every delivery is leased.
func TestOrderedAcrossConcurrentPublishers(t *testing.T) {
	s := newStore(t, pgqueue.Config{})
	pool := shared.Get(t)
	const publishers, perPublisher = 8, 30
	ordered := func(id string) queue.Delivery {
		d := queuetest.Delivery(t, id, "ep", queuetest.T0)
		d.Ordered = true
		return d
	}
	var wg sync.WaitGroup
	pubErrs := make([]error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for i := 0; i < perPublisher; {
				var err error
				if p%2 == 0 {
					err = s.Enqueue(t.Context(), ordered(fmt.Sprintf("p%d-%d", p, i)))
					i++
				} else {
					err = pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
						for k := range 3 {
							if err := s.EnqueueTx(t.Context(), tx, ordered(fmt.Sprintf("p%d-%d", p, i+k))); err != nil {
								return err
							}
							// Keep the transaction open a little longer, lock held.
							if _, err := tx.Exec(t.Context(), "SELECT pg_sleep(0.002)"); err != nil {
								return err
							}
						}
						return nil
					})
					i += 3
				}
				if err != nil {
					pubErrs[p] = err
					return
				}
			}
		})
	}
	total := publishers * perPublisher
	var leased []uint64
	seen := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(leased) < total && time.Now().Before(deadline) {
		ds, err := s.Lease(t.Context(), queue.LeaseRequest{Now: queuetest.T0, Max: 10, For: time.Hour})
		require.NoError(t, err)
		require.LessOrEqual(t, len(ds), 1, "one ordered delivery of an endpoint at a time")
		if len(ds) == 0 {
			continue
		}
		d := ds[0]
		if n := len(leased); n > 0 {
			require.Greater(t, d.Seq, leased[n-1], "leased %s (seq %d) after seq %d: out of publish order", d.ID, d.Seq, leased[n-1])
		}
		leased = append(leased, d.Seq)
		assert.False(t, seen[d.ID], "%s leased twice", d.ID)
		seen[d.ID] = true
		errs, err := s.Complete(t.Context(), queuetest.T0, queue.Ack(d.ID, d.Lease))
		require.NoError(t, err)
		require.NoError(t, errs[0])
	}
	wg.Wait()
	for _, err := range pubErrs {
		require.NoError(t, err)
	}
	require.Len(t, leased, total, "every delivery leased, in seq order, none skipped")
	st, err := s.Stats(t.Context(), queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{}, st)
}
