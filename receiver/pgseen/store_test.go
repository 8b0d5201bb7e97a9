package pgseen_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/pgseen"
	"github.com/hookkit/hookkit/receiver/seentest"
)

// TestConformance runs the SeenStore conformance suite, each subtest in a schema of its
// own, with the amortised sweep on every reservation (so that it runs in the middle of
// every rule) and with it off.
func TestConformance(t *testing.T) {
	t.Run("sweep every reserve", func(t *testing.T) {
		seentest.Run(t, func(t *testing.T) receiver.SeenStore {
			return newStore(t, pgseen.Config{SweepEvery: 1, SweepBatch: 1})
		})
	})
	t.Run("no sweep", func(t *testing.T) {
		seentest.Run(t, func(t *testing.T) receiver.SeenStore {
			return newStore(t, pgseen.Config{SweepEvery: -1})
		})
	})
}

func TestNew(t *testing.T) {
	ctx := context.Background()
	pool := shared.Get(t)
	_, err := pgseen.New(ctx, nil, pgseen.Config{})
	require.ErrorIs(t, err, pgseen.ErrInvalidConfig)
	for _, cfg := range []pgseen.Config{
		{Schema: "Upper"}, {Schema: "pg_x"}, {Schema: "a-b"}, {Schema: "1a"},
		{TxRetention: -1}, {SweepBatch: -1},
	} {
		_, err := pgseen.New(ctx, pool, cfg)
		require.ErrorIs(t, err, pgseen.ErrInvalidConfig, "%+v", cfg)
	}

	t.Run("concurrent News on one new schema", func(t *testing.T) {
		schema := pgtest.Schema(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = pgseen.New(ctx, pgtest.Pool(t), pgseen.Config{Schema: schema}) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		var version int
		require.NoError(t, pool.QueryRow(ctx, `SELECT version FROM `+pgx.Identifier{schema, "seen_version"}.Sanitize()).Scan(&version))
		assert.Equal(t, pgseen.SchemaVersion, version)
	})

	t.Run("a newer schema is refused", func(t *testing.T) {
		s := newStore(t, pgseen.Config{})
		_, err := pool.Exec(ctx, `UPDATE `+pgx.Identifier{s.Schema(), "seen_version"}.Sanitize()+` SET version = version + 1`)
		require.NoError(t, err)
		_, err = pgseen.New(ctx, pool, pgseen.Config{Schema: s.Schema()})
		require.ErrorIs(t, err, pgseen.ErrSchemaTooNew)
	})

	t.Run("shares a schema with other tables", func(t *testing.T) {
		schema := pgtest.Schema(t)
		_, err := pool.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()+`;
CREATE TABLE `+pgx.Identifier{schema, "schema_version"}.Sanitize()+` (version integer);
INSERT INTO `+pgx.Identifier{schema, "schema_version"}.Sanitize()+` VALUES (99)`)
		require.NoError(t, err)
		s, err := pgseen.New(ctx, pool, pgseen.Config{Schema: schema})
		require.NoError(t, err, "another store's schema_version is not ours")
		res, _, err := s.Reserve(ctx, "a", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, receiver.Reserved, res)
	})
}

// rowOf returns the row of id: whether it is committed, its token, and whether it expired.
func rowOf(t testing.TB, s *pgseen.Store, id string) (committed bool, token string, expired bool, ok bool) {
	t.Helper()
	err := shared.Get(t).QueryRow(context.Background(), `SELECT committed, token, expires <= clock_timestamp() FROM `+
		pgx.Identifier{s.Schema(), "seen"}.Sanitize()+` WHERE id = $1`, id).Scan(&committed, &token, &expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, "", false, false
	}
	require.NoError(t, err)
	return committed, token, expired, true
}

// TestRunTx pins the transactional protocol down at the level of the store: RunTx takes
// over the middleware's reservation (whose token the row keeps, so that the middleware's
// Commit afterwards succeeds), rolls back with fn, refuses a seen id, and works without a
// reservation.
func TestRunTx(t *testing.T) {
	ctx := context.Background()
	pool := shared.Get(t)
	s := newStore(t, pgseen.Config{})
	createPayments(t, pool, s.Schema())
	pay := func(id string) func(context.Context, pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error { return insertPayment(ctx, tx, s.Schema(), id) }
	}

	t.Run("takes over the reservation", func(t *testing.T) {
		res, tok, err := s.Reserve(ctx, "a", time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res)
		require.NoError(t, s.RunTx(ctx, pool, "a", pay("a")))
		committed, owner, _, ok := rowOf(t, s, "a")
		require.True(t, ok)
		assert.True(t, committed)
		assert.Equal(t, tok, owner, "the seen record keeps the reservation's token")
		res, _, err = s.Reserve(ctx, "a", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, receiver.AlreadySeen, res)
		require.NoError(t, s.Commit(ctx, "a", tok, time.Minute), "the owner's commit after RunTx is no lost lease")
		require.NoError(t, s.Release(ctx, "a", tok))
		assert.ErrorIs(t, s.RunTx(ctx, pool, "a", pay("a")), pgseen.ErrAlreadySeen)
		assert.Equal(t, 1, payments(t, pool, s.Schema())["a"])
	})

	t.Run("an error rolls back and leaves the reservation to release", func(t *testing.T) {
		res, tok, err := s.Reserve(ctx, "b", time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res)
		boom := errors.New("boom")
		err = s.RunTx(ctx, pool, "b", func(ctx context.Context, tx pgx.Tx) error {
			require.NoError(t, pay("b")(ctx, tx))
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.NotErrorIs(t, err, pgseen.ErrTransaction)
		committed, owner, _, ok := rowOf(t, s, "b")
		require.True(t, ok)
		assert.False(t, committed)
		assert.Equal(t, tok, owner)
		assert.Zero(t, payments(t, pool, s.Schema())["b"])
		require.NoError(t, s.Release(ctx, "b", tok))
		res, _, err = s.Reserve(ctx, "b", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, receiver.Reserved, res, "the retry gets through")
	})

	t.Run("a panic rolls back", func(t *testing.T) {
		require.Panics(t, func() {
			_ = s.RunTx(ctx, pool, "c", func(ctx context.Context, tx pgx.Tx) error {
				require.NoError(t, pay("c")(ctx, tx))
				panic("handler bug")
			})
		})
		_, _, _, ok := rowOf(t, s, "c")
		assert.False(t, ok, "the row RunTx inserted is rolled back")
		assert.Zero(t, payments(t, pool, s.Schema())["c"])
		assert.EqualValues(t, 0, pool.Stat().AcquiredConns(), "the connection went back to the pool")
	})

	t.Run("without a reservation, concurrent runs make one change", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = s.RunTx(ctx, pool, "d", pay("d")) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, pgseen.ErrAlreadySeen)
			}
		}
		assert.Equal(t, 1, won)
		assert.Equal(t, 1, payments(t, pool, s.Schema())["d"])
		res, _, err := s.Reserve(ctx, "d", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, receiver.AlreadySeen, res)
	})

	t.Run("a seen record past its retention is taken over", func(t *testing.T) {
		res, tok, err := s.Reserve(ctx, "e", time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res)
		require.NoError(t, s.Commit(ctx, "e", tok, time.Microsecond))
		require.Eventually(t, func() bool { _, _, expired, _ := rowOf(t, s, "e"); return expired }, 5*time.Second, time.Millisecond)
		require.NoError(t, s.RunTx(ctx, pool, "e", pay("e")))
		committed, _, expired, _ := rowOf(t, s, "e")
		assert.True(t, committed)
		assert.False(t, expired, "recorded for TxRetention")
	})

	t.Run("errors of its own statements wrap ErrTransaction", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := s.RunTx(cctx, pool, "f", pay("f"))
		require.ErrorIs(t, err, pgseen.ErrTransaction)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestReserveDoesNotWaitForATransaction: while RunTx holds an id, Reserve answers InFlight
// at once — even when the reservation's lease ran out, since the running transaction
// still protects the id — and neither Reserve nor another store's Release blocks on it.
func TestReserveDoesNotWaitForATransaction(t *testing.T) {
	ctx := context.Background()
	pool := shared.Get(t)
	s := newStore(t, pgseen.Config{SweepEvery: 1})
	other, err := pgseen.New(ctx, pgtest.Pool(t), pgseen.Config{Schema: s.Schema(), SweepEvery: 1})
	require.NoError(t, err)

	res, tok, err := s.Reserve(ctx, "a", time.Microsecond) // expires at once
	require.NoError(t, err)
	require.Equal(t, receiver.Reserved, res)
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(func() { unblock(); <-done }) // on failure too: the schema is dropped after
	go func() {
		done <- s.RunTx(ctx, pool, "a", func(ctx context.Context, tx pgx.Tx) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	for range 3 {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second) // a Reserve that waited for the lock would fail here
		res, tok2, err := other.Reserve(rctx, "a", time.Minute)
		cancel()
		require.NoError(t, err)
		assert.Equal(t, receiver.InFlight, res, "an expired lease held by a running transaction")
		assert.Empty(t, tok2)
	}
	n, err := other.Sweep(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "the sweep skips the held row")
	unblock()
	require.NoError(t, <-done)
	done <- nil // for the cleanup
	require.NoError(t, s.Commit(ctx, "a", tok, time.Minute), "the owner's commit after RunTx succeeds, expired lease or not")
	res, _, err = other.Reserve(ctx, "a", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.AlreadySeen, res)
}

// TestSweep: Sweep deletes every expired row, reservations and seen records, and nothing
// else; the amortised sweep deletes at most SweepBatch rows every SweepEvery reserves.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	count := func(s *pgseen.Store) int {
		var n int
		require.NoError(t, shared.Get(t).QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.Schema(), "seen"}.Sanitize()).Scan(&n))
		return n
	}
	expire := func(s *pgseen.Store, ids ...string) {
		for i, id := range ids {
			res, tok, err := s.Reserve(ctx, id, time.Microsecond)
			require.NoError(t, err)
			require.Equal(t, receiver.Reserved, res)
			if i%2 == 0 {
				require.ErrorIs(t, s.Commit(ctx, id, tok, time.Microsecond), receiver.ErrLeaseLost)
			}
		}
		for _, id := range ids {
			require.Eventually(t, func() bool { _, _, expired, _ := rowOf(t, s, id); return expired }, 5*time.Second, time.Millisecond)
		}
	}

	t.Run("Sweep", func(t *testing.T) {
		s := newStore(t, pgseen.Config{SweepEvery: -1, SweepBatch: 3})
		expire(s, "x1", "x2", "x3", "x4", "x5", "x6", "x7")
		for _, id := range []string{"live1", "live2"} {
			_, tok, err := s.Reserve(ctx, id, time.Minute)
			require.NoError(t, err)
			if id == "live2" {
				require.NoError(t, s.Commit(ctx, id, tok, time.Minute))
			}
		}
		require.Equal(t, 9, count(s), "no amortised sweep")
		n, err := s.Sweep(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 7, n, "three statements of at most 3")
		assert.Equal(t, 2, count(s))
	})

	t.Run("amortised", func(t *testing.T) {
		s := newStore(t, pgseen.Config{SweepEvery: 4, SweepBatch: 2})
		expire(s, "x1", "x2", "x3") // reserves 1-3
		require.Equal(t, 3, count(s))
		_, _, err := s.Reserve(ctx, "live", time.Minute) // the 4th sweeps 2 rows first
		require.NoError(t, err)
		assert.Equal(t, 2, count(s))
		for range 3 {
			res, _, err := s.Reserve(ctx, "live", time.Minute) // 5-7: no sweep
			require.NoError(t, err)
			require.Equal(t, receiver.InFlight, res)
		}
		assert.Equal(t, 2, count(s))
		_, _, err = s.Reserve(ctx, "live", time.Minute) // 8: sweeps the last one
		require.NoError(t, err)
		assert.Equal(t, 1, count(s))
		_, _, _, ok := rowOf(t, s, "live")
		assert.True(t, ok)
	})
}
