package sqlitequeue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// attemptsN returns n attempts, numbered from 1.
func attemptsN(n int) []queue.Attempt {
	as := make([]queue.Attempt, n)
	for i := range as {
		as[i] = queue.Attempt{Number: i + 1, Start: queuetest.T0, Status: 500, Class: queue.ClassRetryable}
	}
	return as
}

// storedAttempts counts the rows of the attempts table.
func storedAttempts(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.r.QueryRowContext(t.Context(), "SELECT count(*) FROM attempts").Scan(&n))
	return n
}

// requireOneDead checks that the one dead letter left is id, with n attempts.
func requireOneDead(t *testing.T, s *Store, id string, n int) {
	t.Helper()
	page, err := s.ListDead(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 1)
	assert.Equal(t, id, page.Deliveries[0].ID)
	assert.Len(t, page.Deliveries[0].Attempts, n)
}

// TestEvictionDeletesTheEvictedAttempts: with MaxDead 1, burying a second delivery evicts
// the first, and its attempts go with it (stEvictAttempts): only the survivor's attempts
// are left in the attempts table, whether the dead letters came from Complete (attempts
// carried by the DeadLetter outcomes) or from DeadLetterEndpoint (attempts the
// deliveries were enqueued with).
func TestEvictionDeletesTheEvictedAttempts(t *testing.T) {
	t.Run("Complete", func(t *testing.T) {
		s := openInternal(t, Config{MaxDead: 1})
		ctx := t.Context()
		require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, "a", "ep", queuetest.T0), queuetest.Delivery(t, "b", "ep", queuetest.T0)))
		leased, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 2, For: time.Minute})
		require.NoError(t, err)
		require.Len(t, leased, 2)
		lease := map[string]string{}
		for _, d := range leased {
			lease[d.ID] = d.Lease
		}

		errs, evicted, err := s.CompleteEvicting(ctx, queuetest.T0, queue.DeadLetter("a", lease["a"], queue.DeadReasonExhausted, attemptsN(2)...))
		require.NoError(t, err)
		require.NoError(t, errs[0])
		assert.Empty(t, evicted)
		require.Equal(t, 2, storedAttempts(t, s))

		later := queuetest.T0.Add(time.Second)
		errs, evicted, err = s.CompleteEvicting(ctx, later, queue.DeadLetter("b", lease["b"], queue.DeadReasonExhausted, attemptsN(3)...))
		require.NoError(t, err)
		require.NoError(t, errs[0])
		require.Len(t, evicted, 1)
		assert.Equal(t, "a", evicted[0].ID)
		assert.Len(t, evicted[0].Attempts, 2, "the evicted dead letter is reported with its attempts")

		requireOneDead(t, s, "b", 3)
		assert.Equal(t, 3, storedAttempts(t, s), "only the survivor's attempts are stored")
		require.NoError(t, s.IntegrityCheck(ctx))
	})

	t.Run("DeadLetterEndpoint", func(t *testing.T) {
		s := openInternal(t, Config{MaxDead: 1})
		ctx := t.Context()
		c := queuetest.Delivery(t, "c", "ep1", queuetest.T0)
		c.Attempts = attemptsN(2)
		d := queuetest.Delivery(t, "d", "ep2", queuetest.T0)
		d.Attempts = attemptsN(3)
		require.NoError(t, s.Enqueue(ctx, c, d))
		require.Equal(t, 5, storedAttempts(t, s))

		n, err := s.DeadLetterEndpoint(ctx, queuetest.T0, "ep1", queue.DeadReasonUnsubscribed)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = s.DeadLetterEndpoint(ctx, queuetest.T0.Add(time.Second), "ep2", queue.DeadReasonUnsubscribed)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		requireOneDead(t, s, "d", 3)
		assert.Equal(t, 3, storedAttempts(t, s), "only the survivor's attempts are stored")
		require.NoError(t, s.IntegrityCheck(ctx))
	})
}
