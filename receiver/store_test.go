package receiver_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
)

// manualClock is a clock tests move by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newSeenStore returns a MemorySeenStore for cfg, which must be valid.
func newSeenStore(t testing.TB, cfg receiver.MemorySeenStoreConfig) *receiver.MemorySeenStore {
	t.Helper()
	s, err := receiver.NewMemorySeenStore(cfg)
	require.NoError(t, err)
	return s
}

func TestMemorySeenStoreProtocol(t *testing.T) {
	ctx := context.Background()
	clk := &manualClock{now: testNow}
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{Now: clk.Now})
	var tok string // the token of the latest reservation
	reserve := func() (receiver.ReserveResult, error) {
		res, tk, err := s.Reserve(ctx, "a", time.Minute)
		if res == receiver.Reserved {
			tok = tk
		}
		return res, err
	}

	steps := []struct {
		name string
		do   func() (receiver.ReserveResult, error)
		want receiver.ReserveResult
	}{
		{"first reserve holds the id", reserve, receiver.Reserved},
		{"second reserve sees it in flight", reserve, receiver.InFlight},
		{"release then reserve again", func() (receiver.ReserveResult, error) {
			require.NoError(t, s.Release(ctx, "a", tok))
			return reserve()
		}, receiver.Reserved},
		{"commit makes it seen", func() (receiver.ReserveResult, error) {
			require.NoError(t, s.Commit(ctx, "a", tok, 10*time.Minute))
			return reserve()
		}, receiver.AlreadySeen},
		{"release does not undo a commit", func() (receiver.ReserveResult, error) {
			require.NoError(t, s.Release(ctx, "a", tok))
			return reserve()
		}, receiver.AlreadySeen},
		{"still seen just before the ttl", func() (receiver.ReserveResult, error) {
			clk.Add(10*time.Minute - time.Nanosecond)
			return reserve()
		}, receiver.AlreadySeen},
		{"forgotten at the ttl", func() (receiver.ReserveResult, error) {
			clk.Add(time.Nanosecond)
			return reserve()
		}, receiver.Reserved},
		{"an expired lease frees the id", func() (receiver.ReserveResult, error) {
			clk.Add(time.Minute)
			return reserve()
		}, receiver.Reserved},
	}
	for _, st := range steps {
		got, err := st.do()
		require.NoError(t, err, st.name)
		assert.Equal(t, st.want, got, st.name)
	}
	assert.Equal(t, "reserved", receiver.Reserved.String())
	assert.Equal(t, "already-seen", receiver.AlreadySeen.String())
	assert.Equal(t, "in-flight", receiver.InFlight.String())
	assert.Equal(t, "invalid", receiver.ReserveResult(0).String())
}

func TestMemorySeenStoreIsBounded(t *testing.T) {
	ctx := context.Background()
	clk := &manualClock{now: testNow}
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{MaxEntries: 3, Now: clk.Now})
	for i := range 10 {
		id := fmt.Sprint("id-", i)
		res, tok, err := s.Reserve(ctx, id, time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res)
		require.NoError(t, s.Commit(ctx, id, tok, time.Hour))
		assert.LessOrEqual(t, s.Len(), 3)
	}
	// The newest ids are still known, the oldest were evicted first.
	res, _, err := s.Reserve(ctx, "id-9", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.AlreadySeen, res)
	res, _, err = s.Reserve(ctx, "id-0", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.Reserved, res, "oldest id evicted")
}

func TestMemorySeenStoreNeverEvictsInFlightIDs(t *testing.T) {
	ctx := context.Background()
	clk := &manualClock{now: testNow}
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{MaxEntries: 2, Now: clk.Now})
	for _, id := range []string{"a", "b"} {
		res, _, err := s.Reserve(ctx, id, time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res)
	}
	_, _, err := s.Reserve(ctx, "c", time.Minute)
	assert.ErrorIs(t, err, receiver.ErrStoreFull)
	res, _, err := s.Reserve(ctx, "a", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.InFlight, res, "in-flight ids survive a full store")

	clk.Add(time.Minute) // leases expire
	res, _, err = s.Reserve(ctx, "c", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.Reserved, res)
}

func TestMemorySeenStoreSweepsExpiredIDs(t *testing.T) {
	ctx := context.Background()
	clk := &manualClock{now: testNow}
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{Now: clk.Now})
	for i := range 50 {
		id := fmt.Sprint("id-", i)
		_, tok, err := s.Reserve(ctx, id, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.Commit(ctx, id, tok, time.Minute))
	}
	require.Equal(t, 50, s.Len())
	clk.Add(2 * time.Minute)
	_, _, err := s.Reserve(ctx, "new", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Len(), "expired ids are dropped as new ones arrive")
}

// A Commit that holds no reservation records the id all the same and says so.
func TestMemorySeenStoreCommitWithoutReserve(t *testing.T) {
	ctx := context.Background()
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{MaxEntries: 1})
	assert.ErrorIs(t, s.Commit(ctx, "x", "", time.Hour), receiver.ErrLeaseLost)
	assert.ErrorIs(t, s.Commit(ctx, "x", "", time.Hour), receiver.ErrLeaseLost) // idempotent
	assert.ErrorIs(t, s.Commit(ctx, "y", "", time.Hour), receiver.ErrLeaseLost) // evicts x
	assert.Equal(t, 1, s.Len())
	res, _, err := s.Reserve(ctx, "y", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.AlreadySeen, res)
}

func TestMemorySeenStoreConcurrentReserveHasOneWinner(t *testing.T) {
	ctx := context.Background()
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{MaxEntries: 1000})
	for round := range 20 {
		id := fmt.Sprint("id-", round)
		var winners atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, tok, err := s.Reserve(ctx, id, time.Minute)
				if err == nil && res == receiver.Reserved {
					winners.Add(1)
					_ = s.Commit(ctx, id, tok, time.Hour)
				}
			}()
		}
		wg.Wait()
		assert.EqualValues(t, 1, winners.Load())
	}
}

// An expired reservation that nobody took over is dropped by its owner's late Release, so it
// does not linger and push seen ids out of a full store.
func TestMemorySeenStoreLateReleaseOfAnUntakenReservationDropsIt(t *testing.T) {
	ctx := context.Background()
	clk := &manualClock{now: testNow}
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{Now: clk.Now})
	_, tok, err := s.Reserve(ctx, "a", time.Minute)
	require.NoError(t, err)
	clk.Add(2 * time.Minute)
	require.NoError(t, s.Release(ctx, "a", tok))
	assert.Zero(t, s.Len())
}

// A negative MaxEntries has no meaning (the store is always bounded): it is refused, not
// taken as the default.
func TestNewMemorySeenStoreRefusesNegativeMaxEntries(t *testing.T) {
	s, err := receiver.NewMemorySeenStore(receiver.MemorySeenStoreConfig{MaxEntries: -1})
	assert.ErrorIs(t, err, receiver.ErrInvalidConfig)
	assert.Nil(t, s)
}

// MaxEntries 0 means DefaultMaxEntries: the store holds that many ids and no more.
func TestMemorySeenStoreZeroMaxEntriesIsTheDefault(t *testing.T) {
	ctx := context.Background()
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{})
	for i := range receiver.DefaultMaxEntries {
		res, _, err := s.Reserve(ctx, strconv.Itoa(i), time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res)
	}
	_, _, err := s.Reserve(ctx, "one too many", time.Minute)
	assert.ErrorIs(t, err, receiver.ErrStoreFull)
	assert.Equal(t, receiver.DefaultMaxEntries, s.Len())
}

// fillSeenStore commits n distinct ids of the form "msg-<i>" into s.
func fillSeenStore(t testing.TB, s *receiver.MemorySeenStore, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := "msg-" + strconv.Itoa(i)
		res, tok, err := s.Reserve(ctx, id, time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res)
		require.NoError(t, s.Commit(ctx, id, tok, time.Hour))
	}
}

// scannableHeap returns the bytes of heap the collector must scan, as of a fresh full GC.
func scannableHeap() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// A full store (DefaultMaxEntries ids) adds (almost) nothing to the heap the collector scans:
// its entries, id bytes and index hold no pointers, so a busy receiver does not pay a GC scan
// of every remembered id each cycle. (A map of strings to entry pointers plus a linked list
// made the same store about 15 MB of scannable heap.)
func TestMemorySeenStoreHeapIsNoscan(t *testing.T) {
	before := scannableHeap()
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{})
	fillSeenStore(t, s, receiver.DefaultMaxEntries)
	after := scannableHeap()
	require.Equal(t, receiver.DefaultMaxEntries, s.Len())
	var grown uint64
	if after > before {
		grown = after - before
	}
	assert.Less(t, grown, uint64(1<<20), "scannable heap grew by %d bytes for %d ids", grown, s.Len())
	// The ids are still all there after the collections.
	res, _, err := s.Reserve(context.Background(), "msg-0", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.AlreadySeen, res)
	runtime.KeepAlive(s)
}

// BenchmarkMemorySeenStoreGC is one full collection with a full MemorySeenStore
// (DefaultMaxEntries ids) live: with a pointer-free store it costs about what an empty heap
// does.
func BenchmarkMemorySeenStoreGC(b *testing.B) {
	s := newSeenStore(b, receiver.MemorySeenStoreConfig{})
	fillSeenStore(b, s, receiver.DefaultMaxEntries)
	scan := scannableHeap()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	b.ReportMetric(float64(scan), "scan-heap-bytes")
	runtime.KeepAlive(s)
}

// Only the exact token Reserve returned owns the reservation: the same number spelt another
// way, or garbage, releases nothing and commits as a lost lease.
func TestMemorySeenStoreTokenMustMatchExactly(t *testing.T) {
	ctx := context.Background()
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{})
	_, tok, err := s.Reserve(ctx, "a", time.Minute)
	require.NoError(t, err)
	for _, bad := range []string{"0" + tok, "+" + tok, tok + " ", "x", "0", "18446744073709551616"} {
		require.NoError(t, s.Release(ctx, "a", bad))
		res, _, err := s.Reserve(ctx, "a", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, receiver.InFlight, res, "token %q released it", bad)
	}
	assert.ErrorIs(t, s.Commit(ctx, "a", "0"+tok, time.Hour), receiver.ErrLeaseLost)
}

// Under churn far beyond the capacity, with ids of many lengths, the store keeps exactly the
// newest ids (the id bytes are reclaimed and moved as old ids go, and must stay intact).
func TestMemorySeenStoreChurnKeepsTheNewestIDs(t *testing.T) {
	ctx := context.Background()
	const capacity, total = 500, 20_000
	s := newSeenStore(t, receiver.MemorySeenStoreConfig{MaxEntries: capacity})
	id := func(i int) string { return fmt.Sprintf("%d-%s", i, strings.Repeat("x", i%97)) }
	for i := range total {
		res, tok, err := s.Reserve(ctx, id(i), time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.Reserved, res, id(i))
		if i%3 == 0 { // some released, then reserved and committed again
			require.NoError(t, s.Release(ctx, id(i), tok))
			_, tok, err = s.Reserve(ctx, id(i), time.Minute)
			require.NoError(t, err)
		}
		require.NoError(t, s.Commit(ctx, id(i), tok, time.Hour))
		require.LessOrEqual(t, s.Len(), capacity)
	}
	for i := total - capacity; i < total; i++ {
		res, _, err := s.Reserve(ctx, id(i), time.Minute)
		require.NoError(t, err)
		require.Equal(t, receiver.AlreadySeen, res, id(i))
	}
	res, _, err := s.Reserve(ctx, id(total-capacity-1), time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.Reserved, res, "the newest evicted id is forgotten")
}

// Entries are numbered by int32, so a MaxEntries above 2^30 is refused rather than wrapped.
func TestNewMemorySeenStoreRefusesHugeMaxEntries(t *testing.T) {
	s, err := receiver.NewMemorySeenStore(receiver.MemorySeenStoreConfig{MaxEntries: 1<<30 + 1})
	assert.ErrorIs(t, err, receiver.ErrInvalidConfig)
	assert.Nil(t, s)
	_, err = receiver.NewMemorySeenStore(receiver.MemorySeenStoreConfig{MaxEntries: 1 << 30})
	assert.NoError(t, err)
}
