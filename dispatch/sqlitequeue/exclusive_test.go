package sqlitequeue_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
)

// TestExclusiveConformance runs the conformance suites against Exclusive stores, for
// both durability levels.
func TestExclusiveConformance(t *testing.T) {
	for _, sm := range syncModes {
		t.Run("sync="+sm.name, func(t *testing.T) {
			cfg := sqlitequeue.Config{Synchronous: sm.mode, Exclusive: true}
			queuetest.Run(t, func(t *testing.T) queue.Store { return open(t, cfg) })
			queuetest.RunEndpointCounts(t, func(t *testing.T) queue.Store { return open(t, cfg) })
			queuetest.RunLeasingEnqueuer(t, func(t *testing.T) queue.Store { return open(t, cfg) })
			queuetest.RunBounded(t, func(t *testing.T, max int) queue.Store {
				c := cfg
				c.MaxPending = max
				return open(t, c)
			})
			queuetest.RunDeadBounded(t, func(t *testing.T, maxDead int) queue.Store {
				c := cfg
				c.MaxDead = maxDead
				return open(t, c)
			})
		})
	}
}

// snapshot is every delivery of a store, pending then dead, as the listings give them.
func snapshot(t *testing.T, s queue.Store) (pending, dead []queue.Delivery) {
	t.Helper()
	p, err := s.ListPending(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	d, err := s.ListDead(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	return p.Deliveries, d.Deliveries
}

// canon returns ds in a form to compare across stores that give back the same instants
// in different locations (the contract asks for time.Time.Equal): every time in UTC, the
// event as its ID and first body.
func canon(ds []queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		ev := d.Event
		d.Event = nil
		d.Created, d.Due, d.LeaseExpires, d.DeadAt = d.Created.UTC(), d.Due.UTC(), d.LeaseExpires.UTC(), d.DeadAt.UTC()
		d.Attempts = slices.Clone(d.Attempts)
		for j := range d.Attempts {
			d.Attempts[j].Start = d.Attempts[j].Start.UTC()
		}
		out[i] = fmt.Sprintf("%+v event %s %s", d, ev.ID(), ev.Body(0))
	}
	return out
}

// leaseOne leases the delivery id (due at T0) for an hour.
func leaseOne(t *testing.T, s queue.Store, endpoint, id string) queue.Delivery {
	t.Helper()
	ds, err := s.Lease(t.Context(), queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Hour, Endpoints: map[string]int{endpoint: 1}})
	require.NoError(t, err)
	require.Len(t, ds, 1, "lease %s", id)
	require.Equal(t, id, ds[0].ID)
	return ds[0]
}

// complete completes one outcome and requires it applied.
func complete(t *testing.T, s queue.Store, o queue.Outcome) {
	t.Helper()
	errs, err := s.Complete(t.Context(), queuetest.T0.Add(time.Second), o)
	require.NoError(t, err)
	require.Equal(t, []error{nil}, errs)
}

// orphanAttempts counts the rows of attempts whose delivery is not in the file.
func orphanAttempts(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM attempts
		WHERE seq NOT IN (SELECT seq FROM pending UNION ALL SELECT seq FROM dead)`).Scan(&n))
	return n
}

// TestExclusiveKeepsEveryChange: every kind of change an Exclusive store makes —
// enqueue (with a history), acknowledgement (of a delivery with attempts), reschedule
// and dead letter with attempts, eviction beyond MaxDead, DeadLetterEndpoint, Requeue by
// ID, by endpoint and of all, EnqueueLeased — is in the file: an Exclusive Open after
// Close, then an Open without Exclusive, then Exclusive again, each list the same
// deliveries, field for field, the file intact and without orphan attempts.
func TestExclusiveKeepsEveryChange(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "queue.db")
	cfg := sqlitequeue.Config{Exclusive: true, MaxDead: 3}
	s, err := sqlitequeue.Open(ctx, path, cfg)
	require.NoError(t, err)
	as := queuetest.RoundTripAttempts()
	d := func(id, ep string) queue.Delivery { return queuetest.Delivery(t, id, ep, queuetest.T0) }
	withHistory := d("h", "ep-a")
	withHistory.Ordered, withHistory.Attempts, withHistory.RoundStart = true, as[:2], 1
	withHistory.Created = queuetest.T0.Add(-time.Hour)
	require.NoError(t, s.Enqueue(ctx, withHistory, d("ack", "ep-b"), d("resched", "ep-c"), d("bury", "ep-d")))
	for i := range 4 {
		require.NoError(t, s.Enqueue(ctx, d(fmt.Sprint("gone", i), "ep-gone")))
	}
	require.NoError(t, s.Enqueue(ctx, d("evicted-1", "ep-e"), d("evicted-2", "ep-e")))

	// An acknowledgement of a delivery with attempts, and a reschedule with attempts.
	complete(t, s, queue.Reschedule("ack", leaseOne(t, s, "ep-b", "ack").Lease, queuetest.T0, as[0]))
	complete(t, s, queue.Ack("ack", leaseOne(t, s, "ep-b", "ack").Lease))
	complete(t, s, queue.Reschedule("resched", leaseOne(t, s, "ep-c", "resched").Lease, queuetest.T0.Add(time.Minute), as[1:]...))
	// Two dead letters, then a whole endpoint's four: beyond MaxDead the oldest go.
	for _, id := range []string{"evicted-1", "evicted-2"} {
		complete(t, s, queue.DeadLetter(id, leaseOne(t, s, "ep-e", id).Lease, queue.DeadReasonExhausted))
	}
	n, err := s.DeadLetterEndpoint(ctx, queuetest.T0.Add(2*time.Second), "ep-gone", queue.DeadReasonUnsubscribed)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	_, dead := snapshot(t, s)
	require.Len(t, dead, 3, "MaxDead: the oldest were evicted")
	// Requeue one by ID, then an endpoint's, then all that are left.
	_, err = s.Requeue(ctx, queue.Selector{ID: "gone3"}, queuetest.T0)
	require.NoError(t, err)
	n, err = s.Requeue(ctx, queue.Selector{EndpointID: "ep-gone"}, queuetest.T0.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	complete(t, s, queue.DeadLetter("gone3", leaseOne(t, s, "ep-gone", "gone3").Lease, queue.DeadReasonGone))
	n, err = s.Requeue(ctx, queue.Selector{}, queuetest.T0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	complete(t, s, queue.DeadLetter("gone3", leaseOne(t, s, "ep-gone", "gone3").Lease, queue.DeadReasonGone))
	// A dead letter with an attempt, after the evictions.
	complete(t, s, queue.DeadLetter("bury", leaseOne(t, s, "ep-d", "bury").Lease, queue.DeadReasonGone, as[2]))
	// A delivery stored leased.
	leased := []queue.Delivery{d("leased", "ep-f")}
	leased[0].LeaseExpires = queuetest.T0.Add(time.Hour)
	require.NoError(t, s.EnqueueLeased(ctx, leased, nil))

	pending, dead := snapshot(t, s)
	require.Len(t, pending, 5, "h, resched, gone1, gone2 and leased")
	require.Len(t, dead, 2, "bury and gone3")
	// What a restart keeps of a leased delivery: no lease.
	for i := range pending {
		pending[i].Lease, pending[i].LeaseExpires = "", time.Time{}
	}
	require.NoError(t, s.Close())

	for _, exclusive := range []bool{true, false, true} {
		s, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{Exclusive: exclusive, MaxDead: 3})
		require.NoError(t, err, "exclusive=%v", exclusive)
		require.NoError(t, s.IntegrityCheck(ctx))
		gotPending, gotDead := snapshot(t, s)
		assert.Equal(t, canon(pending), canon(gotPending), "exclusive=%v: the pending deliveries, field for field", exclusive)
		assert.Equal(t, canon(dead), canon(gotDead), "exclusive=%v: the dead letters, field for field", exclusive)
		st, err := s.Stats(ctx, queuetest.T0)
		require.NoError(t, err)
		assert.Equal(t, queue.Stats{Pending: 5, Dead: 2}, st, "exclusive=%v: the counts (meta) agree", exclusive)
		require.NoError(t, s.Close())
		assert.Zero(t, orphanAttempts(t, path), "exclusive=%v: no attempts of a delivery gone", exclusive)
	}
}

// TestExclusiveRestartLeasesAtOnce: a lease does not outlive the process that holds it
// in Exclusive mode: after Close and Open (or a crash), the delivery is leasable at once,
// not at the lease's expiry. A lease taken by a shared Open is dropped by an Exclusive
// one too (no process can still hold it: the file is exclusively locked).
func TestExclusiveRestartLeasesAtOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "queue.db")
	for _, first := range []bool{true, false} {
		s, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{Exclusive: first})
		require.NoError(t, err)
		require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, fmt.Sprint("d-", first), "ep", queuetest.T0)))
		leaseOne(t, s, "ep", fmt.Sprint("d-", first))
		require.NoError(t, s.Close())

		s, err = sqlitequeue.Open(ctx, path, sqlitequeue.Config{Exclusive: true})
		require.NoError(t, err)
		st, err := s.Stats(ctx, queuetest.T0)
		require.NoError(t, err)
		assert.Equal(t, queue.Stats{Pending: 1}, st, "first exclusive=%v: not leased after the restart", first)
		d := leaseOne(t, s, "ep", fmt.Sprint("d-", first))
		complete(t, s, queue.Ack(d.ID, d.Lease))
		require.NoError(t, s.Close())
	}
}

const openHelperEnv = "HOOKKIT_SQLITEQUEUE_OPEN_HELPER"

// TestOpenHelperProcess is the other process of TestExclusiveExcludesOtherOpens: it
// opens the file named by the environment ("exclusive:PATH" or "shared:PATH") and
// prints "opened" or "in use". It does nothing in a normal run.
func TestOpenHelperProcess(t *testing.T) {
	arg := os.Getenv(openHelperEnv)
	if arg == "" {
		t.Skip("the helper process of TestExclusiveExcludesOtherOpens")
	}
	mode, path, _ := strings.Cut(arg, ":")
	s, err := sqlitequeue.Open(t.Context(), path, sqlitequeue.Config{Exclusive: mode == "exclusive", BusyTimeout: 100 * time.Millisecond})
	switch {
	case err == nil:
		fmt.Println("opened")
		require.NoError(t, s.Close())
	case errors.Is(err, sqlitequeue.ErrInUse):
		fmt.Println("in use")
	default:
		t.Fatal(err)
	}
}

// TestExclusiveExcludesOtherOpens: while a store has the file Exclusive, every other
// Open, in this process or another, fails with ErrInUse (after BusyTimeout); while a
// shared store has it, an Exclusive Open fails so, and a shared one succeeds. Once the
// holder is closed, any Open succeeds.
func TestExclusiveExcludesOtherOpens(t *testing.T) {
	ctx := t.Context()
	other := func(t *testing.T, mode, path string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestOpenHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), openHelperEnv+"="+mode+":"+path)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.SplitN(string(out), "\n", 2)[0]
	}
	for _, holder := range []bool{true, false} {
		t.Run(fmt.Sprint("holder exclusive=", holder), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "queue.db")
			s, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{Exclusive: holder})
			require.NoError(t, err)
			for _, exclusive := range []bool{true, false} {
				refused := holder || exclusive
				s2, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{Exclusive: exclusive, BusyTimeout: 50 * time.Millisecond})
				if refused {
					assert.ErrorIs(t, err, sqlitequeue.ErrInUse, "this process, exclusive=%v", exclusive)
				} else if assert.NoError(t, err) {
					require.NoError(t, s2.Close())
				}
				mode := map[bool]string{true: "exclusive", false: "shared"}[exclusive]
				want := map[bool]string{true: "in use", false: "opened"}[refused]
				if !testing.Short() {
					assert.Equal(t, want, other(t, mode, path), "another process, exclusive=%v", exclusive)
				}
			}
			require.NoError(t, s.Close())
			s, err = sqlitequeue.Open(ctx, path, sqlitequeue.Config{Exclusive: !holder})
			require.NoError(t, err, "the file is free once its holder is closed")
			require.NoError(t, s.Close())
		})
	}
}
