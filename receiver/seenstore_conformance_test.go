package receiver_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
)

// seenStoreFactory returns an empty store and a function that moves the store's clock
// forward by d: a fake clock for MemorySeenStore; a real wait for a store whose clock is a
// server's.
type seenStoreFactory func(t *testing.T) (store receiver.SeenStore, advance func(d time.Duration))

// checkSeenStore is the conformance check for SeenStore implementations: the contract in
// SeenStore's documentation, step by step. It uses only the exported API of package receiver,
// so it can move to a public conformance package as it is. lease is the lease the checks
// reserve with (the retention they commit with is 10×lease); pick it so that advance(lease) is
// cheap for the store under test.
func checkSeenStore(t *testing.T, lease time.Duration, newStore seenStoreFactory) {
	t.Helper()
	ttl := 10 * lease
	reserve := func(t *testing.T, s receiver.SeenStore, id string, want receiver.ReserveResult) string {
		t.Helper()
		res, tok, err := s.Reserve(context.Background(), id, lease)
		require.NoError(t, err)
		require.Equal(t, want, res, "Reserve(%q)", id)
		if want == receiver.Reserved {
			require.NotEmpty(t, tok, "a reservation has a token")
		} else {
			assert.Empty(t, tok, "only a reservation has a token")
		}
		return tok
	}
	ctx := context.Background()

	t.Run("a new id is reserved and then in flight", func(t *testing.T) {
		s, _ := newStore(t)
		reserve(t, s, "a", receiver.Reserved)
		reserve(t, s, "a", receiver.InFlight)
		reserve(t, s, "b", receiver.Reserved) // ids are independent
	})

	t.Run("release needs the reservation's token", func(t *testing.T) {
		s, _ := newStore(t)
		tok := reserve(t, s, "a", receiver.Reserved)
		other := reserve(t, s, "b", receiver.Reserved)
		for _, wrong := range []string{"", tok + "x", other} {
			require.NoError(t, s.Release(ctx, "a", wrong))
			reserve(t, s, "a", receiver.InFlight)
		}
		require.NoError(t, s.Release(ctx, "a", tok))
		again := reserve(t, s, "a", receiver.Reserved)
		assert.NotEqual(t, tok, again, "a new reservation has a new token")
		require.NoError(t, s.Release(ctx, "a", tok), "releasing a reservation no longer held is no error")
		reserve(t, s, "a", receiver.InFlight)
	})

	t.Run("commit makes the id seen for the ttl", func(t *testing.T) {
		s, advance := newStore(t)
		tok := reserve(t, s, "a", receiver.Reserved)
		require.NoError(t, s.Commit(ctx, "a", tok, ttl))
		reserve(t, s, "a", receiver.AlreadySeen)
		require.NoError(t, s.Release(ctx, "a", tok))
		reserve(t, s, "a", receiver.AlreadySeen) // release does not undo a commit
		advance(ttl / 2)
		reserve(t, s, "a", receiver.AlreadySeen)
		advance(ttl / 2)
		reserve(t, s, "a", receiver.Reserved) // forgotten after the ttl
	})

	t.Run("an expired lease frees the id", func(t *testing.T) {
		s, advance := newStore(t)
		a := reserve(t, s, "a", receiver.Reserved)
		advance(lease)
		b := reserve(t, s, "a", receiver.Reserved)
		assert.NotEqual(t, a, b)
	})

	t.Run("a late release leaves the next holder's reservation", func(t *testing.T) {
		s, advance := newStore(t)
		a := reserve(t, s, "a", receiver.Reserved)
		advance(lease) // A outlives its lease
		b := reserve(t, s, "a", receiver.Reserved)
		require.NoError(t, s.Release(ctx, "a", a)) // A fails, late
		reserve(t, s, "a", receiver.InFlight)      // C must wait for B
		require.NoError(t, s.Release(ctx, "a", b))
		reserve(t, s, "a", receiver.Reserved)
	})

	t.Run("a late commit records the id and reports the lost lease", func(t *testing.T) {
		s, advance := newStore(t)
		a := reserve(t, s, "a", receiver.Reserved)
		advance(lease)
		b := reserve(t, s, "a", receiver.Reserved)
		assert.ErrorIs(t, s.Commit(ctx, "a", a, ttl), receiver.ErrLeaseLost)
		reserve(t, s, "a", receiver.AlreadySeen)
		require.NoError(t, s.Release(ctx, "a", b)) // B fails: A's success stands
		reserve(t, s, "a", receiver.AlreadySeen)
		assert.ErrorIs(t, s.Commit(ctx, "a", b, ttl), receiver.ErrLeaseLost, "B's reservation was replaced by A's commit")
		reserve(t, s, "a", receiver.AlreadySeen)
	})

	t.Run("a commit after the lease expired records the id", func(t *testing.T) {
		s, advance := newStore(t)
		a := reserve(t, s, "a", receiver.Reserved)
		advance(lease)
		assert.ErrorIs(t, s.Commit(ctx, "a", a, ttl), receiver.ErrLeaseLost)
		reserve(t, s, "a", receiver.AlreadySeen)
	})

	t.Run("a token belongs to one id", func(t *testing.T) {
		s, _ := newStore(t)
		a := reserve(t, s, "a", receiver.Reserved)
		reserve(t, s, "b", receiver.Reserved)
		require.NoError(t, s.Release(ctx, "b", a))
		reserve(t, s, "b", receiver.InFlight)
	})

	t.Run("tokens are unique", func(t *testing.T) {
		s, _ := newStore(t)
		seen := map[string]bool{}
		for i := range 100 {
			tok := reserve(t, s, "same", receiver.Reserved)
			require.NoError(t, s.Release(ctx, "same", tok))
			seen[tok] = true
			seen[reserve(t, s, fmt.Sprint("id-", i), receiver.Reserved)] = true
		}
		assert.Len(t, seen, 200)
	})

	t.Run("concurrent reservations have one winner", func(t *testing.T) {
		s, _ := newStore(t)
		for round := range 10 {
			id := fmt.Sprint("id-", round)
			var winners atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res, tok, err := s.Reserve(ctx, id, lease)
					if assert.NoError(t, err) && res == receiver.Reserved {
						winners.Add(1)
						assert.NoError(t, s.Commit(ctx, id, tok, ttl))
					}
				}()
			}
			close(start)
			wg.Wait()
			assert.EqualValues(t, 1, winners.Load(), "round %d", round)
		}
	})
}

func TestMemorySeenStoreConformance(t *testing.T) {
	checkSeenStore(t, time.Minute, func(t *testing.T) (receiver.SeenStore, func(time.Duration)) {
		clk := &manualClock{now: testNow}
		return newSeenStore(t, receiver.MemorySeenStoreConfig{Now: clk.Now}), clk.Add
	})
}
