package sqlitequeue

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

func openExclusiveT(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(t.Context(), path, Config{Exclusive: true, Synchronous: SyncNormal})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// TestExclusiveBatchReusesAnAcknowledgedID: one transaction that stores a delivery,
// acknowledges it and stores another delivery under the same ID (the acknowledgements
// of a transaction are written together at its end, see acks) leaves the second one
// stored: the first's row is deleted before the second's insert meets its ID.
func TestExclusiveBatchReusesAnAcknowledgedID(t *testing.T) {
	s, path := openExclusiveT(t)
	d := queuetest.Delivery(t, "same", "ep", queuetest.T0)
	first, second := d, d
	first.Seq, second.Seq = 1, 2
	recs := []jrec{
		{kind: memqueue.ChangeEnqueued, seq: 1, d: first},
		{kind: memqueue.ChangeAcked, seq: 1, id: "same"},
		{kind: memqueue.ChangeEnqueued, seq: 2, d: second},
		{kind: memqueue.ChangeAcked, seq: 2, id: "same"},
		{kind: memqueue.ChangeEnqueued, seq: 3, d: d},
	}
	recs[4].d.ID, recs[4].d.Seq = "other", 3
	require.NoError(t, s.ex.write(recs))
	require.NoError(t, s.Close())

	s, err := Open(t.Context(), path, Config{})
	require.NoError(t, err)
	defer s.Close()
	p, err := s.ListPending(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 1)
	assert.Equal(t, "other", p.Deliveries[0].ID)
	st, err := s.Stats(t.Context(), queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 1}, st, "the counts follow the rows")
}

// TestExclusiveWriteFailureStopsTheStore: when a transaction of changes fails (here a
// statement the committer needs is gone), the call waiting for it gets ErrWriteFailed,
// and so does every later call, reads included, since memory no longer matches the file;
// the file keeps what was committed before, and a new Open serves it.
func TestExclusiveWriteFailureStopsTheStore(t *testing.T) {
	s, path := openExclusiveT(t)
	ctx := t.Context()
	require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "kept", "ep", queuetest.T0)))
	require.NoError(t, s.ex.st[exInsert].Close())
	err := s.Enqueue(ctx, queuetest.Delivery(t, "lost", "ep", queuetest.T0))
	require.ErrorIs(t, err, ErrWriteFailed)
	assert.NotContains(t, err.Error(), "kept")
	_, err = s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 5, For: time.Minute})
	assert.ErrorIs(t, err, ErrWriteFailed, "Lease after the failure")
	_, err = s.Stats(ctx, queuetest.T0)
	assert.ErrorIs(t, err, ErrWriteFailed, "Stats after the failure")
	assert.ErrorIs(t, s.Enqueue(ctx, queuetest.Delivery(t, "later", "ep", queuetest.T0)), ErrWriteFailed, "Enqueue after the failure")
	require.NoError(t, s.Close())

	s, err = Open(ctx, path, Config{Exclusive: true})
	require.NoError(t, err)
	defer s.Close()
	p, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 1)
	assert.Equal(t, "kept", p.Deliveries[0].ID)
}
