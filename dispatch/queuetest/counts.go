package queuetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// RunEndpointCounts checks queue.EndpointCounter with stores made by newStore, which must
// implement it: the counts of each endpoint at the caller's now (pending, leased with a
// live lease, dead), endpoints with nothing stored absent, and the sum equal to Stats.
func RunEndpointCounts(t *testing.T, newStore func(t *testing.T) queue.Store) {
	t.Helper()
	t.Run("EndpointStatsGroupedAtTheCallersNow", func(t *testing.T) {
		s := newStore(t)
		ec, ok := s.(queue.EndpointCounter)
		require.True(t, ok, "the store implements queue.EndpointCounter")
		testEndpointStats(t, s, ec)
	})
}

func testEndpointStats(t *testing.T, s queue.Store, ec queue.EndpointCounter) {
	counts := func(now time.Time) map[string]queue.Stats {
		t.Helper()
		m, err := ec.EndpointStats(ctxBack, now)
		require.NoError(t, err)
		return m
	}
	assert.Empty(t, counts(T0), "an empty store has no endpoints")

	enqueue(t, s,
		Delivery(t, "a1", "a", T0), Delivery(t, "a2", "a", T0), Delivery(t, "a3", "a", T0.Add(time.Hour)),
		Delivery(t, "b1", "b", T0), Delivery(t, "b2", "b", T0),
		Delivery(t, "c1", "c", T0))
	assert.Equal(t, map[string]queue.Stats{"a": {Pending: 3}, "b": {Pending: 2}, "c": {Pending: 1}}, counts(T0),
		"pending whether due or not")

	// Lease a1, a2 (a) and b1 (b): earliest due first, then seq.
	got, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0, Max: 3, For: leaseFor,
		Endpoints: map[string]int{"a": 2, "b": 1}})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a1", "a2", "b1"}, ids(got))
	want := map[string]queue.Stats{"a": {Pending: 1, Leased: 2}, "b": {Pending: 1, Leased: 1}, "c": {Pending: 1}}
	assert.Equal(t, want, counts(T0))
	assert.Equal(t, want, counts(T0.Add(leaseFor-time.Nanosecond)), "live until LeaseExpires")
	assert.Equal(t, map[string]queue.Stats{"a": {Pending: 3}, "b": {Pending: 2}, "c": {Pending: 1}},
		counts(T0.Add(leaseFor)), "an expired lease counts as pending at the caller's now")

	byID := map[string]queue.Delivery{}
	for _, d := range got {
		byID[d.ID] = d
	}
	require.NoError(t, deadLetter(s, T0, "a1", byID["a1"].Lease, queue.DeadReasonExhausted))
	require.NoError(t, ack(s, "a2", byID["a2"].Lease))
	require.NoError(t, deadLetter(s, T0, "b1", byID["b1"].Lease, queue.DeadReasonRejected))
	n, err := s.DeadLetterEndpoint(ctxBack, T0, "c", queue.DeadReasonGone)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	want = map[string]queue.Stats{"a": {Pending: 1, Dead: 1}, "b": {Pending: 1, Dead: 1}, "c": {Dead: 1}}
	assert.Equal(t, want, counts(T0))

	var sum queue.Stats
	for _, st := range counts(T0) {
		sum.Pending, sum.Leased, sum.Dead = sum.Pending+st.Pending, sum.Leased+st.Leased, sum.Dead+st.Dead
	}
	total, err := s.Stats(ctxBack, T0)
	require.NoError(t, err)
	assert.Equal(t, total, sum, "the endpoints' counts add up to Stats")

	_, err = s.Requeue(ctxBack, queue.Selector{EndpointID: "c"}, T0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 1}, counts(T0)["c"], "a requeued dead letter is pending again")
	p, err := s.ListPending(ctxBack, queue.ListFilter{EndpointID: "c"})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 1)
	l, err := s.Lease(ctxBack, queue.LeaseRequest{Now: T0, Max: 1, For: leaseFor, Endpoints: map[string]int{"c": 1}})
	require.NoError(t, err)
	require.Len(t, l, 1)
	require.NoError(t, ack(s, l[0].ID, l[0].Lease))
	_, present := counts(T0)["c"]
	assert.False(t, present, "an endpoint with nothing stored is absent")
}
