// Package seentest checks implementations of receiver.SeenStore against the contract in
// SeenStore's documentation, as fstest checks an fs.FS: a store's own tests call Run with a
// function that makes an empty store.
//
//	func TestConformance(t *testing.T) {
//		seentest.Run(t, func(t *testing.T) receiver.SeenStore {
//			return newEmptyStore(t) // cleaned up by t.Cleanup
//		})
//	}
//
// The contract has no clock parameter, so the suite waits in real time: leases of
// ShortLease (200 ms) and a retention of ShortTTL (600 ms) expire while it polls the store,
// and the whole suite takes about 1.5 s. Expiry is checked both ways: an id must not be
// freed before its lease or retention has run (measured from just before the call that set
// it, so a slow machine cannot make the check fail wrongly), and must be freed within
// ExpiryGrace after it. Every check that does not test expiry uses leases and retentions of
// a minute, so that nothing it relies on expires while it runs.
//
// The suite assumes one clock per store: of two reservations made with the same lease, the
// one made first expires first. It uses the store from one goroutine at a time, except in
// the concurrency check, which reserves one id from 32 goroutines at once.
package seentest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
)

const (
	// ShortLease is the lease of the reservations the suite lets expire.
	ShortLease = 200 * time.Millisecond
	// ShortTTL is the retention of the seen records the suite lets expire: three leases, so
	// that a store that kept the reservation's expiry on commit is caught.
	ShortTTL = 3 * ShortLease
	// ExpiryGrace is how long after its lease or retention has run an id may still be held
	// before the suite reports that it never expired.
	ExpiryGrace = 2 * time.Second
	// Long is the lease and retention of everything the suite does not let expire.
	Long = time.Minute
	// Contenders is the number of goroutines that reserve one id at once in the
	// concurrency check.
	Contenders = 32

	// tolerance is how much earlier than due a store may expire an id: Redis and SQL
	// servers keep expiry times in whole milliseconds.
	tolerance = 2 * time.Millisecond
	// pollEvery is the pause between two polls of an id that is due to expire.
	pollEvery = 5 * time.Millisecond
)

// Run checks the store that newStore returns against the SeenStore contract, one subtest
// per rule. newStore is called once per subtest, with the subtest's t, and must return an
// empty store (no ids seen or in flight) that no one else uses; it should register its own
// cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) receiver.SeenStore) {
	t.Helper()
	ctx := context.Background()

	t.Run("a new id is reserved and then in flight", func(t *testing.T) {
		s := newStore(t)
		reserve(t, s, "a", Long, receiver.Reserved)
		reserve(t, s, "a", Long, receiver.InFlight)
		reserve(t, s, "b", Long, receiver.Reserved) // ids are independent
	})

	t.Run("release needs the reservation's token", func(t *testing.T) {
		s := newStore(t)
		tok := reserve(t, s, "a", Long, receiver.Reserved)
		other := reserve(t, s, "b", Long, receiver.Reserved)
		for _, wrong := range []string{"", tok + "x", other} {
			require.NoError(t, s.Release(ctx, "a", wrong))
			reserve(t, s, "a", Long, receiver.InFlight)
		}
		require.NoError(t, s.Release(ctx, "a", tok))
		again := reserve(t, s, "a", Long, receiver.Reserved)
		assert.NotEqual(t, tok, again, "a new reservation has a new token")
		require.NoError(t, s.Release(ctx, "a", tok), "releasing a reservation no longer held is no error")
		reserve(t, s, "a", Long, receiver.InFlight)
	})

	t.Run("a token belongs to one id", func(t *testing.T) {
		s := newStore(t)
		a := reserve(t, s, "a", Long, receiver.Reserved)
		reserve(t, s, "b", Long, receiver.Reserved)
		require.NoError(t, s.Release(ctx, "b", a))
		reserve(t, s, "b", Long, receiver.InFlight)
		require.ErrorIs(t, s.Commit(ctx, "b", a, Long), receiver.ErrLeaseLost, "a's token does not hold b")
		reserve(t, s, "b", Long, receiver.AlreadySeen) // recorded all the same
		require.NoError(t, s.Commit(ctx, "a", a, Long))
	})

	t.Run("commit makes the id seen and release does not undo it", func(t *testing.T) {
		s := newStore(t)
		tok := reserve(t, s, "a", Long, receiver.Reserved)
		require.NoError(t, s.Commit(ctx, "a", tok, Long))
		reserve(t, s, "a", Long, receiver.AlreadySeen)
		require.NoError(t, s.Release(ctx, "a", tok))
		reserve(t, s, "a", Long, receiver.AlreadySeen)
		require.NoError(t, s.Release(ctx, "a", ""))
		reserve(t, s, "a", Long, receiver.AlreadySeen)
		reserve(t, s, "b", Long, receiver.Reserved) // other ids are not seen
	})

	t.Run("a seen id is forgotten after its ttl, not before", func(t *testing.T) {
		s := newStore(t)
		tok := reserve(t, s, "a", Long, receiver.Reserved)
		start := time.Now()
		require.NoError(t, s.Commit(ctx, "a", tok, ShortTTL))
		again := awaitReserved(t, s, "a", start, ShortTTL, receiver.AlreadySeen)
		assert.NotEqual(t, tok, again)
	})

	t.Run("an expired lease frees the id, not before", func(t *testing.T) {
		s := newStore(t)
		start := time.Now()
		a := reserve(t, s, "a", ShortLease, receiver.Reserved)
		b := awaitReserved(t, s, "a", start, ShortLease, receiver.InFlight)
		assert.NotEqual(t, a, b)
	})

	t.Run("a late release leaves the next holder's reservation", func(t *testing.T) {
		s := newStore(t)
		start := time.Now()
		a := reserve(t, s, "a", ShortLease, receiver.Reserved)
		b := awaitReserved(t, s, "a", start, ShortLease, receiver.InFlight) // A outlived its lease
		require.NoError(t, s.Release(ctx, "a", a))                          // A fails, late
		reserve(t, s, "a", Long, receiver.InFlight)                         // C must wait for B
		require.NoError(t, s.Release(ctx, "a", b))
		reserve(t, s, "a", Long, receiver.Reserved)
	})

	t.Run("a late commit records the id and reports the lost lease", func(t *testing.T) {
		s := newStore(t)
		start := time.Now()
		a := reserve(t, s, "a", ShortLease, receiver.Reserved)
		b := awaitReserved(t, s, "a", start, ShortLease, receiver.InFlight)
		require.ErrorIs(t, s.Commit(ctx, "a", a, Long), receiver.ErrLeaseLost)
		reserve(t, s, "a", Long, receiver.AlreadySeen)
		require.NoError(t, s.Release(ctx, "a", b)) // B fails: A's success stands
		reserve(t, s, "a", Long, receiver.AlreadySeen)
		require.ErrorIs(t, s.Commit(ctx, "a", b, Long), receiver.ErrLeaseLost, "B's reservation was replaced by A's commit")
		reserve(t, s, "a", Long, receiver.AlreadySeen)
	})

	t.Run("a commit after the lease expired records the id", func(t *testing.T) {
		s := newStore(t)
		a := reserve(t, s, "a", ShortLease, receiver.Reserved)
		// A probe reserved after a, with the same lease, expires after a: once it is free,
		// so is a, and no one has reserved a since.
		start := time.Now()
		reserve(t, s, "probe", ShortLease, receiver.Reserved)
		awaitReserved(t, s, "probe", start, ShortLease, receiver.InFlight)
		require.ErrorIs(t, s.Commit(ctx, "a", a, Long), receiver.ErrLeaseLost)
		reserve(t, s, "a", Long, receiver.AlreadySeen)
		require.NoError(t, s.Release(ctx, "a", a))
		reserve(t, s, "a", Long, receiver.AlreadySeen)
	})

	t.Run("a released id can be reserved at once", func(t *testing.T) {
		s := newStore(t)
		for range 3 {
			tok := reserve(t, s, "a", Long, receiver.Reserved)
			require.NoError(t, s.Release(ctx, "a", tok))
		}
		tok := reserve(t, s, "a", Long, receiver.Reserved)
		require.NoError(t, s.Commit(ctx, "a", tok, Long))
		reserve(t, s, "a", Long, receiver.AlreadySeen)
	})

	t.Run("tokens are unique", func(t *testing.T) {
		s := newStore(t)
		seen := map[string]bool{}
		for i := range 100 {
			tok := reserve(t, s, "same", Long, receiver.Reserved)
			require.NoError(t, s.Release(ctx, "same", tok))
			seen[tok] = true
			seen[reserve(t, s, fmt.Sprint("id-", i), Long, receiver.Reserved)] = true
		}
		assert.Len(t, seen, 200)
	})

	t.Run("concurrent reservations have one winner", func(t *testing.T) {
		s := newStore(t)
		for round := range 10 {
			id := fmt.Sprint("id-", round)
			results := make([]receiver.ReserveResult, Contenders)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range Contenders {
				wg.Go(func() {
					<-start
					res, tok, err := s.Reserve(ctx, id, Long)
					if !assert.NoError(t, err) {
						return
					}
					results[i] = res
					if res == receiver.Reserved {
						assert.NotEmpty(t, tok)
						// Commit while the others may still be reserving: they see the id
						// in flight or seen, never free.
						assert.NoError(t, s.Commit(ctx, id, tok, Long))
					} else {
						assert.Empty(t, tok)
					}
				})
			}
			close(start)
			wg.Wait()
			count := map[receiver.ReserveResult]int{}
			for _, r := range results {
				count[r]++
			}
			require.Equal(t, 1, count[receiver.Reserved], "round %d: %v", round, count)
			require.Equal(t, Contenders-1, count[receiver.InFlight]+count[receiver.AlreadySeen], "round %d: %v", round, count)
			reserve(t, s, id, Long, receiver.AlreadySeen)
		}
	})
}

// reserve reserves id for lease, requires the result want, and returns the token.
func reserve(t *testing.T, s receiver.SeenStore, id string, lease time.Duration, want receiver.ReserveResult) string {
	t.Helper()
	res, tok, err := s.Reserve(context.Background(), id, lease)
	require.NoError(t, err, "Reserve(%q)", id)
	require.Equal(t, want, res, "Reserve(%q)", id)
	if want == receiver.Reserved {
		require.NotEmpty(t, tok, "a reservation has a token")
	} else {
		require.Empty(t, tok, "only a reservation has a token")
	}
	return tok
}

// awaitReserved polls Reserve(id) until it returns Reserved (with a lease of Long) and
// returns the token. The id was set to expire after d by a call made after start; until
// then every poll must answer held (InFlight or AlreadySeen), and it must not be reserved
// before d has run since start, nor still be held ExpiryGrace after.
func awaitReserved(t *testing.T, s receiver.SeenStore, id string, start time.Time, d time.Duration, held receiver.ReserveResult) string {
	t.Helper()
	for {
		res, tok, err := s.Reserve(context.Background(), id, Long)
		elapsed := time.Since(start)
		require.NoError(t, err, "Reserve(%q)", id)
		if res == receiver.Reserved {
			require.NotEmpty(t, tok, "a reservation has a token")
			require.GreaterOrEqual(t, elapsed, d-tolerance, "%q was free %v after it was set to expire after %v", id, elapsed, d)
			return tok
		}
		require.Equal(t, held, res, "Reserve(%q) before it expired", id)
		require.Empty(t, tok, "only a reservation has a token")
		require.Less(t, elapsed, d+ExpiryGrace, "%q still %v %v after it was set to expire after %v", id, res, elapsed, d)
		time.Sleep(pollEvery)
	}
}
