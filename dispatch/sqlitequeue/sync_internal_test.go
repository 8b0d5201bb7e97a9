package sqlitequeue

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// fsyncCall is one fsync of the WAL seen by a test's hook.
type fsyncCall struct {
	f       *os.File
	pending int // pending deliveries a reader saw when the fsync began
}

// TestSyncFullReleasesEnqueueOnceTheWALIsFsynced: with SyncFull, an Enqueue is committed
// and then waits for an fsync of the file's WAL (the same file after a checkpoint
// truncates it) that began after its commit; while that fsync runs, the write lock is
// free: a Lease takes the delivery and returns without waiting for it. Requeue and
// DeadLetterEndpoint fsync before they return, also with the write lock free; a Lease or
// a Complete alone does not.
func TestSyncFullReleasesEnqueueOnceTheWALIsFsynced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(t.Context(), path, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := t.Context()
	calls := make(chan fsyncCall)
	release := make(chan struct{})
	s.fsync = func(f *os.File) error {
		st, err := s.Stats(ctx, queuetest.T0)
		if err != nil {
			return err
		}
		calls <- fsyncCall{f: f, pending: st.Pending}
		<-release
		return datasync(f)
	}

	// A checkpoint that truncates the WAL leaves the store fsyncing the same file.
	s.wmu.Lock()
	_, err = s.wc.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	s.wmu.Unlock()
	require.NoError(t, err)

	enqueued := make(chan error, 1)
	go func() { enqueued <- s.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0)) }()
	c := <-calls
	assert.Equal(t, 1, c.pending, "the Enqueue's commit is made before the fsync begins")
	walInfo, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	fdInfo, err := c.f.Stat()
	require.NoError(t, err)
	assert.True(t, os.SameFile(walInfo, fdInfo), "the fsync is of the file's WAL")
	assert.Positive(t, walInfo.Size(), "the WAL holds the commit")
	select {
	case err := <-enqueued:
		t.Fatalf("Enqueue returned (%v) before the WAL was fsynced", err)
	default:
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ds, err := s.Lease(lctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
	require.NoError(t, err, "a Lease runs while the fsync does")
	require.Len(t, ds, 1)
	select {
	case err := <-enqueued:
		t.Fatalf("Enqueue returned (%v) before the WAL was fsynced", err)
	default:
	}
	release <- struct{}{}
	require.NoError(t, <-enqueued)

	// Lease and Complete alone: no fsync (calls would block them).
	n := s.fsyncs.Load()
	_, err = s.Complete(ctx, queuetest.T0, queue.DeadLetter(ds[0].ID, ds[0].Lease, queue.DeadReasonGone))
	require.NoError(t, err)
	ds, err = s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
	require.NoError(t, err)
	assert.Empty(t, ds)
	assert.Equal(t, n, s.fsyncs.Load(), "Lease and Complete alone are not fsynced")

	// Requeue and DeadLetterEndpoint fsync before they return.
	for _, op := range []func() error{
		func() error { _, err := s.Requeue(ctx, queue.Selector{}, queuetest.T0); return err },
		func() error {
			_, err := s.DeadLetterEndpoint(ctx, queuetest.T0.Add(time.Hour), "ep", queue.DeadReasonGone)
			return err
		},
	} {
		done := make(chan error, 1)
		go func() { done <- op() }()
		<-calls
		select {
		case err := <-done:
			t.Fatalf("returned (%v) before the WAL was fsynced", err)
		default:
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := s.Lease(lctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
		cancel()
		require.NoError(t, err, "a Lease runs while their fsync does: it is made outside the write lock")
		release <- struct{}{}
		require.NoError(t, <-done)
	}
}

// TestSyncNormalNeverFsyncs: with SyncNormal the store opens no WAL of its own and
// fsyncs nothing (SQLite fsyncs at checkpoints).
func TestSyncNormalNeverFsyncs(t *testing.T) {
	s := openInternal(t, Config{Synchronous: SyncNormal})
	ctx := t.Context()
	assert.Nil(t, s.wal)
	require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0)))
	_, err := s.Requeue(ctx, queue.Selector{}, queuetest.T0)
	require.NoError(t, err)
	assert.Zero(t, s.fsyncs.Load())
}

// TestSyncFailureRefusesEveryLaterWrite: when the fsync of the WAL fails, the Enqueue
// waiting for it returns ErrSyncFailed wrapping the disk's error, and from then on every
// write (Enqueue, Lease, Complete, Requeue) returns ErrSyncFailed while reads still work.
func TestSyncFailureRefusesEveryLaterWrite(t *testing.T) {
	s := openInternal(t, Config{})
	ctx := t.Context()
	require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0)))
	ds, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	s.fsync = func(*os.File) error { return syscall.EIO }

	err = s.Enqueue(ctx, queuetest.Delivery(t, "b", "ep", queuetest.T0))
	require.ErrorIs(t, err, ErrSyncFailed)
	require.ErrorIs(t, err, syscall.EIO)
	s.fsync = datasync // the disk answers again: the store still refuses
	require.ErrorIs(t, s.Enqueue(ctx, queuetest.Delivery(t, "c", "ep", queuetest.T0)), ErrSyncFailed)
	_, err = s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
	require.ErrorIs(t, err, ErrSyncFailed)
	_, err = s.Complete(ctx, queuetest.T0, queue.Ack(ds[0].ID, ds[0].Lease))
	require.ErrorIs(t, err, ErrSyncFailed)
	_, err = s.Requeue(ctx, queue.Selector{}, queuetest.T0)
	require.ErrorIs(t, err, ErrSyncFailed)
	st, err := s.Stats(ctx, queuetest.T0)
	require.NoError(t, err, "reads still work")
	assert.Equal(t, queue.Stats{Pending: 1, Leased: 1}, st, "a leased, and b: committed, its fsync unconfirmed")
}

// TestSyncFullFsyncsTheWALSQLiteWrites: opened through a symbolic link, the store
// fsyncs the WAL SQLite writes (named after the link's target), not a file of the
// link's name beside it, even when one is there.
func TestSyncFullFsyncsTheWALSQLiteWrites(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "real"), 0o755))
	link := filepath.Join(dir, "queue.db")
	require.NoError(t, os.Symlink(filepath.Join(dir, "real", "queue.db"), link))
	require.NoError(t, os.WriteFile(link+"-wal", nil, 0o644)) // a leftover of the link's name
	s, err := Open(t.Context(), link, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	var synced []string
	s.fsync = func(f *os.File) error {
		synced = append(synced, f.Name())
		return datasync(f)
	}
	require.NoError(t, s.Enqueue(t.Context(), queuetest.Delivery(t, "a", "ep", queuetest.T0)))
	require.NotEmpty(t, synced)
	real, err := os.Stat(filepath.Join(dir, "real", "queue.db-wal"))
	require.NoError(t, err)
	got, err := os.Stat(synced[0])
	require.NoError(t, err)
	assert.True(t, os.SameFile(real, got), "fsynced %s, SQLite writes %s", synced[0], filepath.Join(dir, "real", "queue.db-wal"))
	assert.Positive(t, real.Size())
}

// TestSyncFullDuplicateWaitsForTheFsync: an Enqueue refused as a duplicate of a
// delivery whose commit is not yet fsynced returns ErrDuplicateDelivery ("already
// stored") only once an fsync begun after its own commit has returned.
func TestSyncFullDuplicateWaitsForTheFsync(t *testing.T) {
	s := openInternal(t, Config{})
	ctx := t.Context()
	calls := make(chan struct{})
	release := make(chan struct{})
	s.fsync = func(f *os.File) error {
		calls <- struct{}{}
		<-release
		return datasync(f)
	}
	first := make(chan error, 1)
	go func() { first <- s.Enqueue(ctx, queuetest.Delivery(t, "x", "ep", queuetest.T0)) }()
	<-calls // the first commit's fsync has begun
	enc, err := queuetest.Event(t).MarshalBinary()
	require.NoError(t, err)
	dup := &request{ctx: ctx, ds: []queue.Delivery{queuetest.Delivery(t, "x", "ep", queuetest.T0)}, blobs: [][]byte{enc}, done: make(chan struct{})}
	s.commit([]*request{dup}) // as the committer would: refused, nothing to commit
	select {
	case <-dup.done:
		t.Fatalf("the duplicate returned (%v) before any fsync after the first commit ended", dup.err)
	default:
	}
	release <- struct{}{}
	require.NoError(t, <-first)
	<-calls // an fsync begun after the duplicate's transaction
	select {
	case <-dup.done:
		t.Fatalf("the duplicate returned (%v) before the fsync after its transaction", dup.err)
	default:
	}
	release <- struct{}{}
	<-dup.done
	require.ErrorIs(t, dup.err, queue.ErrDuplicateDelivery)
}
