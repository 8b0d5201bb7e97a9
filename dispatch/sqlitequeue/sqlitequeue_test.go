package sqlitequeue_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
)

// open opens a store on a new file in t's temporary directory, closed at the end of t.
func open(t testing.TB, cfg sqlitequeue.Config) *sqlitequeue.Store {
	t.Helper()
	s, err := sqlitequeue.Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

var syncModes = []struct {
	name string
	mode sqlitequeue.Synchronous
}{{"full", sqlitequeue.SyncFull}, {"normal", sqlitequeue.SyncNormal}}

// TestConformance runs the queue.Store conformance suite (every clause of the contract,
// the extensions the store implements, the pending bound and the dead-letter bound) against a fresh file per subtest, for
// both durability levels.
func TestConformance(t *testing.T) {
	for _, sm := range syncModes {
		t.Run("sync="+sm.name, func(t *testing.T) {
			queuetest.Run(t, func(t *testing.T) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode})
			})
			queuetest.RunEndpointCounts(t, func(t *testing.T) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode})
			})
			queuetest.RunLeasingEnqueuer(t, func(t *testing.T) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode})
			})
			queuetest.RunBounded(t, func(t *testing.T, max int) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode, MaxPending: max})
			})
			queuetest.RunDeadBounded(t, func(t *testing.T, maxDead int) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode, MaxDead: maxDead})
			})
		})
	}
}

// enqueueSet stores n deliveries over 5 endpoints, due at T0, and returns their IDs.
func enqueueSet(t *testing.T, s queue.Store, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	ds := make([]queue.Delivery, 0, n)
	for i := range n {
		id := fmt.Sprint("d", i)
		ids = append(ids, id)
		ds = append(ds, queuetest.Delivery(t, id, fmt.Sprint("ep", i%5), queuetest.T0))
	}
	require.NoError(t, s.Enqueue(t.Context(), ds...))
	return ids
}

// leaseAll leases from s until it finds nothing three times in a row, at T0 with leases
// of an hour (none expires), acknowledging those whose ID ends in an even digit (half
// of an enqueueSet), and returns the IDs
// leased. Whatever another lessee holds is never returned to this one.
func leaseAll(ctx context.Context, s queue.Store, max int, report ...func(id string)) ([]string, error) {
	var got []string
	for empty := 0; empty < 3; {
		ds, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: max, For: time.Hour})
		if err != nil {
			return got, err
		}
		if len(ds) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, d := range ds {
			got = append(got, d.ID)
			for _, r := range report {
				r(d.ID)
			}
			if (d.ID[len(d.ID)-1]-'0')%2 == 0 {
				errs, err := s.Complete(ctx, queuetest.T0, queue.Ack(d.ID, d.Lease))
				if err != nil {
					return got, err
				}
				if errs[0] != nil {
					return got, fmt.Errorf("ack %s: %w", d.ID, errs[0])
				}
			}
		}
	}
	return got, nil
}

func ids(ds []queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// checkLeasedOnce asserts that the lessees' IDs together are want, each exactly once.
func checkLeasedOnce(t *testing.T, want []string, lessees ...[]string) {
	t.Helper()
	seen := map[string]int{}
	for _, ids := range lessees {
		for _, id := range ids {
			seen[id]++
		}
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "delivery %s leased %d times under live leases", id, n)
	}
	assert.Len(t, seen, len(want), "every delivery leased")
	for _, id := range want {
		assert.Contains(t, seen, id)
	}
}

// TestTwoStoresOneFile: two Stores on one file (two *sql.DB, as two processes would
// have), four lessees each, lease at once: no delivery is held under two live leases,
// none is lost.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	var stores [2]*sqlitequeue.Store
	for i := range stores {
		s, err := sqlitequeue.Open(t.Context(), path, sqlitequeue.Config{Synchronous: sqlitequeue.SyncNormal})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		stores[i] = s
	}
	want := enqueueSet(t, stores[0], 400)
	got := make([][]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			var err error
			got[i], err = leaseAll(t.Context(), stores[i%2], 1+i%3)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	checkLeasedOnce(t, want, got...)
	for _, s := range stores {
		st, err := s.Stats(t.Context(), queuetest.T0)
		require.NoError(t, err)
		assert.Equal(t, queue.Stats{Leased: 200}, st, "the acknowledged are gone, the others held, seen alike by both")
	}
}

const helperEnv = "HOOKKIT_SQLITEQUEUE_HELPER_DB"

// TestHelperProcess is the second process of TestTwoProcessesOneFile: it opens the file
// named by the environment, says "ready", waits for "go" on its standard input, leases
// like leaseAll and prints the IDs it leased, one a line. It does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("the helper process of TestTwoProcessesOneFile")
	}
	ctx := context.Background()
	s, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{Synchronous: sqlitequeue.SyncNormal})
	require.NoError(t, err)
	defer s.Close()
	fmt.Println("ready")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "go\n", line)
	_, err = leaseAll(ctx, s, 2, func(id string) { fmt.Println("leased", id) })
	require.NoError(t, err)
}

// TestTwoProcessesOneFile: the test binary runs itself again as a second process; both
// lease from one file at once. No delivery is leased by both (every lease is live), and
// together they lease every delivery exactly once.
func TestTwoProcessesOneFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := sqlitequeue.Open(t.Context(), path, sqlitequeue.Config{Synchronous: sqlitequeue.SyncNormal})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	want := enqueueSet(t, s, 600)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	out := bufio.NewScanner(stdout)
	require.True(t, out.Scan(), "the helper says ready")
	require.Equal(t, "ready", out.Text())
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)

	// The helper reports each delivery as it leases it. This process leases one batch,
	// then waits for the helper's first lease, so that both are leasing at once.
	var theirs []string
	first := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		for out.Scan() {
			if id, ok := strings.CutPrefix(out.Text(), "leased "); ok {
				if theirs = append(theirs, id); len(theirs) == 1 {
					close(first)
				}
			}
		}
	}()
	ds, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 3, For: time.Hour})
	require.NoError(t, err)
	mine := ids(ds)
	for _, d := range ds {
		if (d.ID[len(d.ID)-1]-'0')%2 == 0 { // as leaseAll does
			errs, err := s.Complete(ctx, queuetest.T0, queue.Ack(d.ID, d.Lease))
			require.NoError(t, err)
			require.NoError(t, errs[0])
		}
	}
	select {
	case <-first:
	case <-ctx.Done():
		t.Fatalf("the helper leased nothing: %s", stderr.String())
	}
	more, err := leaseAll(ctx, s, 3)
	require.NoError(t, err)
	mine = append(mine, more...)
	<-read
	require.NoError(t, cmd.Wait(), "helper: %s", stderr.String())
	t.Logf("this process leased %d, the other %d", len(mine), len(theirs))
	assert.NotEmpty(t, theirs, "the second process took part")
	checkLeasedOnce(t, want, mine, theirs)
	st, err := s.Stats(t.Context(), queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Leased: 300}, st, "what either process acknowledged is gone, the rest held")
}

// TestPersistence: what was enqueued, dead-lettered and attempted is all there after
// Close and Open again, every field as it was, the bodies byte for byte the ones Encode
// wrote for every retryCount.
func TestPersistence(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{})
	require.NoError(t, err)
	ev, err := event.New("order-created", map[string]any{"order": 42, "note": "ünïcode \u2028 <&>"})
	require.NoError(t, err)
	enc, err := ev.Encode()
	require.NoError(t, err)
	as := queuetest.RoundTripAttempts()
	in := []queue.Delivery{
		{ID: "a", EndpointID: "ep-a", Event: enc, Ordered: true, Created: queuetest.T0, Due: queuetest.T0.Add(time.Minute),
			Attempts: as[:2], RoundStart: 1},
		{ID: "b", EndpointID: "ep-b", Event: enc, Created: queuetest.T0, Due: queuetest.T0},
	}
	require.NoError(t, s.Enqueue(ctx, in...))
	got, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute, Endpoints: map[string]int{"ep-b": 1}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	errs, err := s.Complete(ctx, queuetest.T0.Add(time.Second), queue.DeadLetter("b", got[0].Lease, queue.DeadReasonGone, as[2]))
	require.NoError(t, err)
	require.Equal(t, []error{nil}, errs)
	before, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	beforeDead, err := s.ListDead(ctx, queue.ListFilter{})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = sqlitequeue.Open(ctx, path, sqlitequeue.Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.IntegrityCheck(ctx))
	after, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	afterDead, err := s.ListDead(ctx, queue.ListFilter{})
	require.NoError(t, err)
	assert.Equal(t, before, after, "pending deliveries survive a reopen unchanged")
	assert.Equal(t, beforeDead, afterDead, "dead letters too")
	require.Len(t, after.Deliveries, 1)
	require.Len(t, afterDead.Deliveries, 1)
	a, b := after.Deliveries[0], afterDead.Deliveries[0]
	assert.Equal(t, "ep-a", a.EndpointID)
	assert.True(t, a.Ordered)
	assert.Equal(t, 1, a.RoundStart)
	assert.True(t, a.Created.Equal(queuetest.T0))
	assert.True(t, a.Due.Equal(queuetest.T0.Add(time.Minute)))
	assert.Len(t, a.Attempts, 2)
	assert.Equal(t, queue.DeadReasonGone, b.DeadReason)
	assert.True(t, b.DeadAt.Equal(queuetest.T0.Add(time.Second)))
	require.Len(t, b.Attempts, 1)
	assert.Equal(t, as[2].Error, b.Attempts[0].Error)
	assert.True(t, as[2].Start.Equal(b.Attempts[0].Start))
	for _, d := range []queue.Delivery{a, b} {
		assert.Equal(t, enc.ID(), d.Event.ID())
		assert.Equal(t, enc.Type(), d.Event.Type())
		for rc := range 4 {
			assert.True(t, bytes.Equal(enc.Body(rc), d.Event.Body(rc)), "retryCount %d: body byte for byte", rc)
		}
	}
	got, err = s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0.Add(time.Minute), Max: 5, For: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, 1, "the reopened store leases")
	assert.True(t, bytes.Equal(enc.Body(2), got[0].Event.Body(2)))
}

// TestMigration: a new (empty) file gets the schema; a file at user_version 0 that
// exists gets it too; a file at SchemaVersion+1 is refused with ErrSchemaTooNew and left
// unchanged; two Opens of one new file at once both succeed.
func TestMigration(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	userVersion := func(path string) int {
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		defer db.Close()
		var v int
		require.NoError(t, db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v))
		return v
	}

	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	s, err := sqlitequeue.Open(ctx, empty, sqlitequeue.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0)))
	require.NoError(t, s.Close())
	assert.Equal(t, sqlitequeue.SchemaVersion, userVersion(empty))
	s, err = sqlitequeue.Open(ctx, empty, sqlitequeue.Config{})
	require.NoError(t, err, "a file at SchemaVersion opens as it is")
	p, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	assert.Len(t, p.Deliveries, 1)
	require.NoError(t, s.Close())

	newer := filepath.Join(dir, "newer.db")
	db, err := sql.Open("sqlite", newer)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE future (x); PRAGMA user_version = %d", sqlitequeue.SchemaVersion+1))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = sqlitequeue.Open(ctx, newer, sqlitequeue.Config{})
	assert.ErrorIs(t, err, sqlitequeue.ErrSchemaTooNew)
	assert.Equal(t, sqlitequeue.SchemaVersion+1, userVersion(newer), "left as it was")

	for i := range 5 {
		fresh := filepath.Join(dir, fmt.Sprint("fresh", i, ".db"))
		var wg sync.WaitGroup
		var stores [2]*sqlitequeue.Store
		var errs [2]error
		for j := range stores {
			wg.Go(func() { stores[j], errs[j] = sqlitequeue.Open(ctx, fresh, sqlitequeue.Config{}) })
		}
		wg.Wait()
		for j := range stores {
			require.NoError(t, errs[j], "both Opens of a new file succeed")
		}
		require.NoError(t, stores[0].Enqueue(ctx, queuetest.Delivery(t, "x", "ep", queuetest.T0)))
		st, err := stores[1].Stats(ctx, queuetest.T0)
		require.NoError(t, err)
		assert.Equal(t, 1, st.Pending, "one schema, shared")
		for _, s := range stores {
			require.NoError(t, s.Close())
		}
	}
}

// TestOpenRefusesBadConfig: what Open refuses, with ErrInvalidConfig.
func TestOpenRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		path string
		cfg  sqlitequeue.Config
	}{
		"empty path":       {"", sqlitequeue.Config{}},
		"memory":           {":memory:", sqlitequeue.Config{}},
		"uri":              {"file:" + filepath.Join(dir, "x.db"), sqlitequeue.Config{}},
		"query":            {filepath.Join(dir, "x.db?mode=ro"), sqlitequeue.Config{}},
		"synchronous":      {filepath.Join(dir, "x.db"), sqlitequeue.Config{Synchronous: 7}},
		"busy timeout":     {filepath.Join(dir, "x.db"), sqlitequeue.Config{BusyTimeout: -time.Second}},
		"negative batches": {filepath.Join(dir, "x.db"), sqlitequeue.Config{MaxBatch: -1}},
	} {
		_, err := sqlitequeue.Open(t.Context(), tc.path, tc.cfg)
		assert.ErrorIs(t, err, sqlitequeue.ErrInvalidConfig, name)
	}
}

// TestIntegrityCheckAndClose: a file used by every method passes IntegrityCheck; after
// Close every method fails with ErrClosed.
func TestIntegrityCheckAndClose(t *testing.T) {
	ctx := t.Context()
	s, err := sqlitequeue.Open(ctx, filepath.Join(t.TempDir(), "queue.db"), sqlitequeue.Config{MaxDead: 5})
	require.NoError(t, err)
	enqueueSet(t, s, 50)
	ds, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 30, For: time.Minute})
	require.NoError(t, err)
	var outs []queue.Outcome
	for i, d := range ds {
		a := queue.Attempt{Number: 1, Start: queuetest.T0, Status: 500}
		switch i % 3 {
		case 0:
			outs = append(outs, queue.Ack(d.ID, d.Lease))
		case 1:
			outs = append(outs, queue.Reschedule(d.ID, d.Lease, queuetest.T0.Add(time.Minute), a))
		default:
			outs = append(outs, queue.DeadLetter(d.ID, d.Lease, queue.DeadReasonExhausted, a))
		}
	}
	errs, evicted, err := s.CompleteEvicting(ctx, queuetest.T0, outs...)
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}
	assert.Len(t, evicted, 10-5)
	_, err = s.DeadLetterEndpoint(ctx, queuetest.T0, "ep1", queue.DeadReasonUnsubscribed)
	require.NoError(t, err)
	_, err = s.Requeue(ctx, queue.Selector{}, queuetest.T0)
	require.NoError(t, err)
	require.NoError(t, s.IntegrityCheck(ctx))
	next, ok := s.NextDue(ctx)
	assert.True(t, ok)
	assert.True(t, next.Equal(queuetest.T0), "the requeued are due at T0")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice is fine")

	assert.ErrorIs(t, s.Enqueue(ctx, queuetest.Delivery(t, "z", "ep", queuetest.T0)), sqlitequeue.ErrClosed)
	_, err = s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute})
	assert.ErrorIs(t, err, sqlitequeue.ErrClosed)
	_, err = s.Complete(ctx, queuetest.T0, queue.Ack("a", "b"))
	assert.ErrorIs(t, err, sqlitequeue.ErrClosed)
	_, err = s.ListPending(ctx, queue.ListFilter{})
	assert.ErrorIs(t, err, sqlitequeue.ErrClosed)
	_, err = s.Stats(ctx, queuetest.T0)
	assert.ErrorIs(t, err, sqlitequeue.ErrClosed)
	assert.ErrorIs(t, s.IntegrityCheck(ctx), sqlitequeue.ErrClosed)
}
