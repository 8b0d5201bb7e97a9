package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

// txAPI is one kind of caller's transaction: pgx.Tx (EnqueueTx) or *sql.Tx (EnqueueSQLTx).
type txAPI struct {
	name  string
	begin func(t *testing.T, s *pgqueue.Store) callerTx
}

// callerTx is a caller's transaction: enqueue in it, run a statement of the
// application's own, commit or roll back.
type callerTx struct {
	enqueue  func(ds ...queue.Delivery) error
	exec     func(sql string) error
	commit   func() error
	rollback func() error
}

var txAPIs = []txAPI{
	{"pgx.Tx", func(t *testing.T, s *pgqueue.Store) callerTx {
		ctx := t.Context()
		tx, err := shared.Get(t).Begin(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
		return callerTx{
			enqueue:  func(ds ...queue.Delivery) error { return s.EnqueueTx(ctx, tx, ds...) },
			exec:     func(q string) error { _, err := tx.Exec(ctx, q); return err },
			commit:   func() error { return tx.Commit(ctx) },
			rollback: func() error { return tx.Rollback(ctx) },
		}
	}},
	{"sql.Tx", func(t *testing.T, s *pgqueue.Store) callerTx {
		ctx := t.Context()
		db := stdlib.OpenDBFromPool(shared.Get(t))
		t.Cleanup(func() { _ = db.Close() })
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback() })
		return callerTx{
			enqueue:  func(ds ...queue.Delivery) error { return s.EnqueueSQLTx(ctx, tx, ds...) },
			exec:     func(q string) error { _, err := tx.ExecContext(ctx, q); return err },
			commit:   tx.Commit,
			rollback: tx.Rollback,
		}
	}},
}

func leaseAt(t *testing.T, s queue.Store, now time.Time) []queue.Delivery {
	t.Helper()
	ds, err := s.Lease(t.Context(), queue.LeaseRequest{Now: now, Max: 100, For: time.Minute})
	require.NoError(t, err)
	return ds
}

func stats(t *testing.T, s queue.Store) queue.Stats {
	t.Helper()
	st, err := s.Stats(t.Context(), queuetest.T0)
	require.NoError(t, err)
	return st
}

// TestEnqueueInCallersTransaction: through EnqueueTx (pgx) and EnqueueSQLTx
// (database/sql), deliveries are stored if and only if the caller's transaction commits:
// invisible to Lease and Stats before the commit, leasable after it, gone with a
// rollback; a duplicate ID (within the transaction, or already stored) is
// queue.ErrDuplicateDelivery; an invalid delivery and a full queue are refused and leave
// the transaction usable.
func TestEnqueueInCallersTransaction(t *testing.T) {
	for _, api := range txAPIs {
		t.Run(api.name, func(t *testing.T) {
			s := newStore(t, pgqueue.Config{MaxPending: 5})
			ordered := queuetest.Delivery(t, "o", "ep-o", queuetest.T0)
			ordered.Ordered = true

			t.Run("Committed", func(t *testing.T) {
				tx := api.begin(t, s)
				require.NoError(t, tx.enqueue(queuetest.Delivery(t, "a", "ep", queuetest.T0), ordered))
				require.NoError(t, tx.enqueue(queuetest.Delivery(t, "b", "ep", queuetest.T0)))
				assert.Empty(t, leaseAt(t, s, queuetest.T0), "nothing is visible before the commit")
				assert.Equal(t, queue.Stats{}, stats(t, s))
				require.NoError(t, tx.commit())
				assert.Equal(t, queue.Stats{Pending: 3}, stats(t, s))
				got := leaseAt(t, s, queuetest.T0)
				assert.ElementsMatch(t, []string{"a", "b", "o"}, ids(got), "leasable once committed")
			})
			t.Run("RolledBack", func(t *testing.T) {
				tx := api.begin(t, s)
				require.NoError(t, tx.enqueue(queuetest.Delivery(t, "c", "ep", queuetest.T0)))
				require.NoError(t, tx.rollback())
				assert.Empty(t, leaseAt(t, s, queuetest.T0), "a rollback leaves nothing (a, b, o are still leased)")
				p, err := s.ListPending(t.Context(), queue.ListFilter{})
				require.NoError(t, err)
				assert.ElementsMatch(t, []string{"a", "b", "o"}, ids(p.Deliveries))
				assert.Equal(t, queue.Stats{Leased: 3}, stats(t, s))
			})
			t.Run("Duplicate", func(t *testing.T) {
				tx := api.begin(t, s)
				require.NoError(t, tx.enqueue(queuetest.Delivery(t, "d", "ep", queuetest.T0)))
				assert.ErrorIs(t, tx.enqueue(queuetest.Delivery(t, "d", "ep", queuetest.T0)), queue.ErrDuplicateDelivery,
					"a duplicate of a delivery enqueued earlier in the transaction")
				require.NoError(t, tx.rollback())
				tx = api.begin(t, s)
				assert.ErrorIs(t, tx.enqueue(queuetest.Delivery(t, "a", "ep", queuetest.T0)), queue.ErrDuplicateDelivery,
					"a duplicate of a committed delivery")
				require.NoError(t, tx.rollback())
				p, err := s.ListPending(t.Context(), queue.ListFilter{})
				require.NoError(t, err)
				assert.ElementsMatch(t, []string{"a", "b", "o"}, ids(p.Deliveries), "nothing of d")
			})
			t.Run("RefusedLeavesTransactionUsable", func(t *testing.T) {
				tx := api.begin(t, s)
				noEvent := queuetest.Delivery(t, "x", "ep", queuetest.T0)
				noEvent.Event = nil
				assert.ErrorIs(t, tx.enqueue(noEvent), queue.ErrInvalidDelivery)
				assert.ErrorIs(t, tx.enqueue(queuetest.Delivery(t, "e1", "ep", queuetest.T0), queuetest.Delivery(t, "e2", "ep", queuetest.T0),
					queuetest.Delivery(t, "e3", "ep", queuetest.T0)), queue.ErrQueueFull, "3 pending, 3 more exceed 5")
				require.NoError(t, tx.exec("SELECT 1"), "the transaction goes on")
				require.NoError(t, tx.enqueue(queuetest.Delivery(t, "e1", "ep", queuetest.T0), queuetest.Delivery(t, "e2", "ep", queuetest.T0)))
				require.NoError(t, tx.commit())
				assert.Equal(t, 5, stats(t, s).Pending+stats(t, s).Leased)
			})
		})
	}
}
