package sqlitequeue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// commitAndWait applies batch in one transaction, as the committer does, and waits for
// every request's result (with SyncFull an Enqueue's comes once the WAL is fsynced).
func commitAndWait(s *Store, batch []*request) {
	s.commit(batch)
	for _, r := range batch {
		<-r.done
	}
}

func openInternal(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// TestGroupCommitMergesConcurrentEnqueues: 16 publishers enqueueing at once, round after
// round, are committed in far fewer transactions than calls (SyncFull: each commit is an
// fsync, during which the next calls queue up), and every delivery is stored.
func TestGroupCommitMergesConcurrentEnqueues(t *testing.T) {
	s := openInternal(t, Config{})
	const publishers, rounds = 16, 20
	before := s.commits.Load()
	for r := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for p := range publishers {
			wg.Go(func() {
				<-start
				assert.NoError(t, s.Enqueue(t.Context(), queuetest.Delivery(t, fmt.Sprintf("r%d-p%d", r, p), "ep", queuetest.T0)))
			})
		}
		close(start)
		wg.Wait()
	}
	commits := s.commits.Load() - before
	t.Logf("%d Enqueue calls in %d commits", publishers*rounds, commits)
	assert.LessOrEqual(t, commits, int64(rounds*publishers/4), "concurrent calls share commits")
	st, err := s.Stats(t.Context(), queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, publishers*rounds, st.Pending, "every delivery stored")
}

// TestGroupCommitFailingRequestFailsAlone: in one group, an Enqueue of a duplicate id
// and one over the bound fail with their own errors and store nothing, while the
// other calls of the same transaction are stored.
func TestGroupCommitFailingRequestFailsAlone(t *testing.T) {
	s := openInternal(t, Config{MaxPending: 100})
	ctx := t.Context()
	require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "taken", "ep", queuetest.T0)))
	dup := []queue.Delivery{queuetest.Delivery(t, "fresh-in-dup", "ep", queuetest.T0), queuetest.Delivery(t, "taken", "ep", queuetest.T0)}
	big := make([]queue.Delivery, 99) // 1 + 99 + the good ones > 100
	for i := range big {
		big[i] = queuetest.Delivery(t, fmt.Sprint("big", i), "ep", queuetest.T0)
	}
	good := []queue.Delivery{queuetest.Delivery(t, "g1", "ep", queuetest.T0), queuetest.Delivery(t, "g2", "ep", queuetest.T0)}
	reqs := []*request{
		{ctx: ctx, ds: good[:1]},
		{ctx: ctx, ds: dup},
		{ctx: ctx, ds: good[1:]},
		{ctx: ctx, ds: big},
	}
	for _, r := range reqs {
		r.done = make(chan struct{})
		for _, d := range r.ds {
			b, err := d.Event.MarshalBinary()
			require.NoError(t, err)
			r.blobs = append(r.blobs, b)
		}
	}
	before := s.commits.Load()
	commitAndWait(s, reqs) // one group, as the committer makes it
	assert.Equal(t, int64(1), s.commits.Load()-before, "one transaction")
	assert.NoError(t, reqs[0].err)
	assert.ErrorIs(t, reqs[1].err, queue.ErrDuplicateDelivery)
	assert.NoError(t, reqs[2].err)
	assert.ErrorIs(t, reqs[3].err, queue.ErrQueueFull)
	p, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	var ids []string
	for _, d := range p.Deliveries {
		ids = append(ids, d.ID)
	}
	assert.ElementsMatch(t, []string{"taken", "g1", "g2"}, ids, "the failing calls stored nothing, the others everything")
	st, err := s.Stats(ctx, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, 3, st.Pending, "the count undone with the savepoint")
	require.Len(t, p.Deliveries, 3)
	assert.Less(t, p.Deliveries[0].Seq, p.Deliveries[1].Seq)
	assert.Less(t, p.Deliveries[1].Seq, p.Deliveries[2].Seq, "Seq increasing in enqueue order")

	// Through the committer, concurrently: the duplicate fails alone.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			id := fmt.Sprint("c", i)
			if i == 3 {
				id = "taken"
			}
			errs[i] = s.Enqueue(ctx, queuetest.Delivery(t, id, "ep", queuetest.T0))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 3 {
			assert.ErrorIs(t, err, queue.ErrDuplicateDelivery)
		} else {
			assert.NoError(t, err, "call %d", i)
		}
	}
	st, err = s.Stats(ctx, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, 3+7, st.Pending)
}

// TestGroupCommitAbandonedRequestNotApplied: a call whose context ends before its
// transaction takes it is never applied, and returns the context's error.
func TestGroupCommitAbandonedRequestNotApplied(t *testing.T) {
	s := openInternal(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	r := &request{ctx: ctx, ds: []queue.Delivery{queuetest.Delivery(t, "gone", "ep", queuetest.T0)}, done: make(chan struct{})}
	b, err := r.ds[0].Event.MarshalBinary()
	require.NoError(t, err)
	r.blobs = [][]byte{b}
	cancel()
	commitAndWait(s, []*request{r})
	assert.True(t, errors.Is(r.err, context.Canceled), "got %v", r.err)
	p, err := s.ListPending(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, p.Deliveries)

	// A caller whose context is already done never reaches the committer.
	assert.ErrorIs(t, s.Enqueue(ctx, queuetest.Delivery(t, "x", "ep", queuetest.T0)), context.Canceled)
	_, err = s.Complete(ctx, time.Now(), queue.Ack("x", "y"))
	assert.ErrorIs(t, err, context.Canceled)
}

// TestGroupCommitLeaseInOrder: Leases committed in one group with Completes are applied
// in arrival order: a Lease after the Ack of an ordered group's head leases the next one
// (the Ack is visible to it), and a second Lease of the same group takes none of what
// the first took.
func TestGroupCommitLeaseInOrder(t *testing.T) {
	s := openInternal(t, Config{})
	ctx := t.Context()
	now := queuetest.T0.Add(time.Minute)
	var ds []queue.Delivery
	for i := range 4 {
		d := queuetest.Delivery(t, fmt.Sprint("o", i), "ordered", queuetest.T0)
		d.Ordered = true
		ds = append(ds, d)
	}
	for i := range 3 {
		ds = append(ds, queuetest.Delivery(t, fmt.Sprint("u", i), "plain", queuetest.T0))
	}
	require.NoError(t, s.Enqueue(ctx, ds...))
	head, err := s.Lease(ctx, queue.LeaseRequest{Now: now, Max: 10, For: time.Minute, Endpoints: map[string]int{"ordered": 5}})
	require.NoError(t, err)
	require.Len(t, head, 1)
	require.Equal(t, "o0", head[0].ID)

	lease := func(max int, eps map[string]int) *request {
		return &request{ctx: ctx, lease: &queue.LeaseRequest{Now: now, Max: max, For: time.Minute, Endpoints: eps},
			prefix: fmt.Sprint("p", max, len(eps), "."), done: make(chan struct{})}
	}
	reqs := []*request{
		lease(10, map[string]int{"ordered": 5}), // the head is leased: nothing of the group
		{ctx: ctx, now: now, outcomes: []queue.Outcome{queue.Ack("o0", head[0].Lease)}, done: make(chan struct{})},
		lease(10, map[string]int{"ordered": 5}), // sees the Ack: the next head
		lease(2, nil),                           // two of the plain ones (o1 is leased)
		lease(10, nil),                          // the last plain one, nothing else
	}
	before := s.commits.Load()
	commitAndWait(s, reqs)
	assert.Equal(t, int64(1), s.commits.Load()-before, "one transaction")
	ids := func(r *request) []string {
		require.NoError(t, r.err)
		var out []string
		for _, d := range r.leased {
			out = append(out, d.ID)
		}
		return out
	}
	assert.Empty(t, ids(reqs[0]))
	require.NoError(t, reqs[1].err)
	assert.Equal(t, []error{nil}, reqs[1].errs)
	assert.Equal(t, []string{"o1"}, ids(reqs[2]))
	assert.ElementsMatch(t, []string{"u0", "u1"}, ids(reqs[3]))
	assert.Equal(t, []string{"u2"}, ids(reqs[4]))
	st, err := s.Stats(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 2, Leased: 4}, st, "o2, o3 wait for o1; o1, u0, u1, u2 leased")
}

// TestCompleteOutcomesKeepTheirResults: in one Complete call each outcome keeps its own
// result: a wrong token is ErrLeaseLost, the second outcome naming a delivery already
// acknowledged in the call is ErrLeaseLost, a delivery's stored attempts go with it, an
// id with quotes, a backslash and a control byte is acknowledged, and a reschedule in the
// same call is applied; the count of pending deliveries follows.
func TestCompleteOutcomesKeepTheirResults(t *testing.T) {
	s := openInternal(t, Config{})
	ctx := t.Context()
	ids := []string{"plain", "wrong-token", "twice", "with-attempts", "q\"\\\x01é", "rescheduled"}
	var ds []queue.Delivery
	for _, id := range ids {
		d := queuetest.Delivery(t, id, "ep", queuetest.T0)
		if id == "with-attempts" {
			d.Attempts = []queue.Attempt{{Number: 1, Start: queuetest.T0, Status: 500, Class: "http_5xx"}}
		}
		ds = append(ds, d)
	}
	require.NoError(t, s.Enqueue(ctx, ds...))
	leased, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 10, For: time.Minute})
	require.NoError(t, err)
	require.Len(t, leased, len(ids))
	token := map[string]string{}
	for _, d := range leased {
		token[d.ID] = d.Lease
	}
	errs, err := s.Complete(ctx, queuetest.T0,
		queue.Ack("plain", token["plain"]),
		queue.Ack("wrong-token", token["wrong-token"]+"0"), // names another seq
		queue.Ack("wrong-token", token["twice"]),           // another delivery's token: not this id
		queue.Ack("twice", token["twice"]),
		queue.Ack("twice", token["twice"]),
		queue.Ack("with-attempts", token["with-attempts"]),
		queue.Ack("q\"\\\x01é", token["q\"\\\x01é"]),
		queue.Reschedule("rescheduled", token["rescheduled"], queuetest.T0.Add(time.Hour)),
	)
	require.NoError(t, err)
	assert.Equal(t, []error{nil, queue.ErrLeaseLost, queue.ErrLeaseLost, nil, queue.ErrLeaseLost, nil, nil, nil}, errs)
	p, err := s.ListPending(ctx, queue.ListFilter{})
	require.NoError(t, err)
	var left []string
	for _, d := range p.Deliveries {
		left = append(left, d.ID)
	}
	assert.ElementsMatch(t, []string{"wrong-token", "rescheduled"}, left)
	st, err := s.Stats(ctx, queuetest.T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 1, Leased: 1}, st, "the count follows the acks")
	var n int
	require.NoError(t, s.r.QueryRowContext(ctx, `SELECT count(*) FROM attempts`).Scan(&n))
	assert.Zero(t, n, "the acknowledged delivery's attempts are deleted")
}
