package sqlitequeue

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// writerSync returns the writer connection's PRAGMA synchronous (1 NORMAL, 2 FULL): the
// setting the last transaction committed with.
func writerSync(t *testing.T, s *Store) int {
	t.Helper()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var n int
	require.NoError(t, s.wc.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&n))
	return n
}

// TestSyncFullFsyncsWhatStoresDeliveries: with SyncFull, a transaction with an Enqueue
// commits with synchronous=FULL (fsynced before Enqueue returns), one of Leases and
// Completes alone with NORMAL, Requeue and DeadLetterEndpoint with FULL; with SyncNormal
// every transaction commits with NORMAL.
func TestSyncFullFsyncsWhatStoresDeliveries(t *testing.T) {
	const normal, full = 1, 2
	for _, tc := range []struct {
		sync   Synchronous
		stores int // synchronous of a transaction that stores deliveries
	}{{SyncFull, full}, {SyncNormal, normal}} {
		s := openInternal(t, Config{Synchronous: tc.sync})
		ctx := t.Context()
		assert.Equal(t, tc.stores, writerSync(t, s), "as opened")
		require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0), queuetest.Delivery(t, "b", "ep", queuetest.T0)))
		assert.Equal(t, tc.stores, writerSync(t, s), "Enqueue")
		ds, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 2, For: time.Minute})
		require.NoError(t, err)
		require.Len(t, ds, 2)
		assert.Equal(t, normal, writerSync(t, s), "Lease alone")
		_, err = s.Complete(ctx, queuetest.T0, queue.Ack(ds[0].ID, ds[0].Lease), queue.DeadLetter(ds[1].ID, ds[1].Lease, queue.DeadReasonGone))
		require.NoError(t, err)
		assert.Equal(t, normal, writerSync(t, s), "Complete alone")
		_, err = s.Requeue(ctx, queue.Selector{}, queuetest.T0)
		require.NoError(t, err)
		assert.Equal(t, tc.stores, writerSync(t, s), "Requeue")
		ds, err = s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 2, For: time.Minute})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, normal, writerSync(t, s))
		_, err = s.DeadLetterEndpoint(ctx, queuetest.T0.Add(time.Hour), "ep", queue.DeadReasonGone)
		require.NoError(t, err)
		assert.Equal(t, tc.stores, writerSync(t, s), "DeadLetterEndpoint")
		// A group with an Enqueue among Leases commits as the Enqueue needs.
		r1 := &request{ctx: context.Background(), lease: &queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute}, prefix: "x.", done: make(chan struct{})}
		enc, err := queuetest.Event(t).MarshalBinary()
		require.NoError(t, err)
		r2 := &request{ctx: context.Background(), ds: []queue.Delivery{queuetest.Delivery(t, "c", "ep", queuetest.T0)}, blobs: [][]byte{enc}, done: make(chan struct{})}
		s.commit([]*request{r1, r2})
		require.NoError(t, r1.err)
		require.NoError(t, r2.err)
		assert.Equal(t, tc.stores, writerSync(t, s), "a group with an Enqueue")
	}
}
