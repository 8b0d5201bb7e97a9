package sqlitequeue

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// TestExclusiveSyncFullWaitsForTheFsync: in Exclusive mode with SyncFull, an Enqueue is
// committed and then waits for an fsync of the WAL begun after its commit, during which
// a Lease takes the delivery and a Complete is committed and returns; Requeue and
// DeadLetterEndpoint fsync before they return; a Complete alone is not fsynced.
func TestExclusiveSyncFullWaitsForTheFsync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(t.Context(), path, Config{Exclusive: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := t.Context()
	commits := make(chan int64, 16)
	release := make(chan struct{})
	s.fsync = func(f *os.File) error {
		commits <- s.commits.Load()
		<-release
		return datasync(f)
	}

	enqueued := make(chan error, 1)
	go func() { enqueued <- s.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0)) }()
	assert.Equal(t, int64(1), <-commits, "the Enqueue's commit is made before the fsync begins")
	fi, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	assert.Positive(t, fi.Size(), "the WAL holds the commit")
	ds, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	errs, err := s.Complete(ctx, queuetest.T0, queue.Reschedule(ds[0].ID, ds[0].Lease, queuetest.T0))
	require.NoError(t, err, "a Complete returns once committed, while the fsync runs")
	require.Equal(t, []error{nil}, errs)
	select {
	case err := <-enqueued:
		t.Fatalf("Enqueue returned (%v) before the WAL was fsynced", err)
	default:
	}
	close(release)
	require.NoError(t, <-enqueued)

	n := s.fsyncs.Load()
	ds, err = s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	errs, err = s.Complete(ctx, queuetest.T0, queue.Reschedule(ds[0].ID, ds[0].Lease, queuetest.T0))
	require.NoError(t, err)
	require.Equal(t, []error{nil}, errs)
	assert.Equal(t, n, s.fsyncs.Load(), "a Complete alone is not fsynced")

	n = s.fsyncs.Load()
	d, err := s.DeadLetterEndpoint(ctx, queuetest.T0, "ep", queue.DeadReasonGone)
	require.NoError(t, err)
	require.Equal(t, 1, d)
	assert.Greater(t, s.fsyncs.Load(), n, "DeadLetterEndpoint returns once fsynced")
	n = s.fsyncs.Load()
	d, err = s.Requeue(ctx, queue.Selector{}, queuetest.T0)
	require.NoError(t, err)
	require.Equal(t, 1, d)
	assert.Greater(t, s.fsyncs.Load(), n, "Requeue returns once fsynced")
}

// TestExclusiveEndAfterItsBatchIsWritten: a call whose changes the committer took and
// wrote before the call looked for their batch (nothing being filled or written when it
// does) still calls its committed hook and, with SyncFull, waits for the fsync of the
// last batch written: EnqueueLeased's committed starts the dispatcher's attempt, so a
// call that skipped it left the delivery leased until its lease expired.
func TestExclusiveEndAfterItsBatchIsWritten(t *testing.T) {
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		path := filepath.Join(t.TempDir(), "queue.db")
		s, err := Open(t.Context(), path, Config{Exclusive: true, Synchronous: sync})
		require.NoError(t, err)
		x := s.ex
		release := make(chan struct{})
		s.fsync = func(f *os.File) error {
			<-release
			return datasync(f)
		}
		require.NoError(t, x.begin())
		ds := []queue.Delivery{queuetest.Delivery(t, "a", "ep", queuetest.T0)}
		ds[0].LeaseExpires = queuetest.T0.Add(time.Minute)
		require.NoError(t, x.m.EnqueueLeased(t.Context(), ds, nil))
		// The committer takes and writes the batch before the call's end.
		x.kick <- struct{}{}
		require.Eventually(t, func() bool {
			x.jmu.Lock()
			defer x.jmu.Unlock()
			return x.last != nil && x.inflight == nil && len(x.cur.recs) == 0
		}, 10*time.Second, time.Millisecond)
		called := make(chan struct{})
		ended := make(chan error, 1)
		go func() { ended <- x.end(true, true, func() { close(called) }) }()
		<-called
		if sync == SyncFull {
			select {
			case err := <-ended:
				t.Fatalf("returned (%v) before the fsync", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		close(release)
		require.NoError(t, <-ended)
		require.NoError(t, s.Close())
	}
}
