package sqlitequeue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrSyncFailed is returned, with SyncFull, by a call whose transaction was committed
// but whose fsync of the WAL failed: the disk did not confirm it, so what the call stored
// may or may not survive a power loss. From then on the store begins no transaction and
// returns it to every write (the page cache may have dropped the pages the failed fsync
// did not write, and a later fsync could succeed without them; a transaction already
// begun still commits, and its Enqueues get ErrSyncFailed too). Reads still work: stop
// the program, look at the disk, and check the file (IntegrityCheck) before trusting it.
var ErrSyncFailed = errors.New("hookkit/sqlitequeue: fsync of the WAL failed")

// With SyncFull the WAL is fsynced by the store, not by SQLite: the writer commits with
// synchronous=NORMAL, and the syncer releases the calls that stored deliveries once an
// fsync of the WAL begun after their commit has returned. Why that is as durable as
// synchronous=FULL: the package documentation, Durability.

// openWAL opens, for the store's fsyncs, the WAL of the database file SQLite has open on
// conn: the name SQLite gives it (symbolic links resolved, as SQLite names its WAL after
// the file it opened), "-wal" appended. The writer connection has read the file in WAL
// mode (Open prepared its statements), so SQLite has created the WAL; it deletes it only
// when the last connection to the file closes, and the store holds its writer connection
// until Close. The WAL's directory is fsynced once, as SQLite does after it creates a WAL,
// so that the file itself survives a power loss.
func openWAL(ctx context.Context, conn *sql.Conn) (*os.File, error) {
	var db string
	if err := conn.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&db); err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: name of the database file: %w", err)
	}
	// Read-write: Windows flushes only a handle opened for writing.
	f, err := os.OpenFile(db+"-wal", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: open the WAL to fsync it: %w", err)
	}
	if err := syncDir(filepath.Dir(f.Name())); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("hookkit/sqlitequeue: fsync the WAL's directory: %w", err)
	}
	return f, nil
}

// syncer fsyncs the WAL for the committer: each job is the Enqueues of one commit that
// stored deliveries or were refused as duplicates (of a delivery perhaps stored by a commit
// not yet fsynced), sent once the commit returned; it takes every job waiting, fsyncs
// once, and releases their calls (with ErrSyncFailed if the fsync failed). It returns
// when the committer has closed s.syncs and every job sent is released.
func (s *Store) syncer() {
	defer close(s.syncerDone)
	var jobs [][]*request
	for job := range s.syncs {
		jobs = drain(s.syncs, append(jobs[:0], job))
		err := s.syncWAL()
		for _, job := range jobs {
			for _, r := range job {
				if err != nil {
					r.err = err
				}
				close(r.done)
			}
		}
		clear(jobs)
	}
}

// drain appends to got what ch holds now, without waiting for more (a closed ch holds
// nothing), and returns the extended slice: a syncer takes every job waiting for one
// fsync.
func drain[T any](ch <-chan T, got []T) []T {
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, v)
		default:
			return got
		}
	}
}

// syncWAL fsyncs the WAL file, recording a failure (which every later write then
// returns: see ErrSyncFailed).
func (s *Store) syncWAL() error {
	if err := s.failed.Load(); err != nil {
		return *err
	}
	s.fsyncs.Add(1)
	err := s.fsync(s.wal)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%w: %w", ErrSyncFailed, err)
	s.failed.CompareAndSwap(nil, &err)
	return *s.failed.Load()
}

// failure returns the error of an earlier failed fsync, nil if there was none.
func (s *Store) failure() error {
	if err := s.failed.Load(); err != nil {
		return *err
	}
	return nil
}
