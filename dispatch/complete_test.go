package dispatch_test

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// batchStore is a memqueue.Store that records the size of every Complete call.
type batchStore struct {
	*memqueue.Store
	mu    sync.Mutex
	sizes []int
}

func (s *batchStore) Complete(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, error) {
	errs, _, err := s.CompleteEvicting(ctx, now, os...)
	return errs, err
}

func (s *batchStore) CompleteEvicting(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, []queue.Delivery, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(os))
	s.mu.Unlock()
	return s.Store.CompleteEvicting(ctx, now, os...)
}

func (s *batchStore) Sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...)
}

// batchSetup publishes n events to one endpoint whose answers are held until release is
// closed, with every attempt in flight at once.
func batchSetup(t *testing.T, nw *dspNet, n int, cfg dispatch.Config) (d *dispatch.Dispatcher, store *batchStore, release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	store = &batchStore{Store: memqueue.New(memqueue.Config{})}
	cfg.Workers, cfg.MaxInFlight = n, n
	d = newDispatcher(t, nw.sender(t), store, cfg)
	subscribeAndPublish(t, d, srv.URL, n)
	synctest.Wait()
	require.Equal(t, n, srv.Count(), "all in flight")
	return d, store, release
}

// subscribeAndPublish subscribes endpoint "ep" at url to d, starts d and publishes n
// events to it.
func subscribeAndPublish(t *testing.T, d *dispatch.Dispatcher, url string, n int) {
	t.Helper()
	require.NoError(t, d.Subscribe(dspSub(t, "ep", url, nil)))
	require.NoError(t, d.Start(bg))
	for range n {
		_, err := d.Publish(bg, newEvent(t, "order-created"))
		require.NoError(t, err)
	}
}

// TestDispatcherBatchesOutcomes: attempts that finish together are completed in one
// store call, sent when CompleteWindow has passed since the first of them.
func TestDispatcherBatchesOutcomes(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		const n, window = 8, 5 * time.Millisecond
		d, store, release := batchSetup(t, nw, n, dispatch.Config{CompleteWindow: window})
		close(release)
		synctest.Wait()
		assert.Empty(t, store.Sizes(), "the batch waits for the window")
		time.Sleep(window)
		synctest.Wait()
		assert.Equal(t, []int{n}, store.Sizes(), "one Complete call for the eight outcomes")
		p, err := listPending(d, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, p, "all acknowledged")
	})
}

// TestDispatcherBatchBound: no batch holds more than CompleteBatch outcomes.
func TestDispatcherBatchBound(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		_, store, release := batchSetup(t, nw, 8, dispatch.Config{CompleteWindow: time.Second, CompleteBatch: 3})
		close(release)
		synctest.Wait()
		assert.Equal(t, []int{3, 3}, store.Sizes(), "full batches go at once; the rest waits")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, []int{3, 3, 2}, store.Sizes())
	})
}

// TestDispatcherShutdownFlushesOutcomes: Shutdown sends the outcomes waiting for their
// window at once, instead of waiting for it or dropping them.
func TestDispatcherShutdownFlushesOutcomes(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		d, store, release := batchSetup(t, nw, 4, dispatch.Config{CompleteWindow: time.Minute, LeaseFor: time.Hour})
		close(release)
		synctest.Wait()
		require.Empty(t, store.Sizes())
		start := time.Now()
		require.NoError(t, d.Shutdown(bg))
		assert.Zero(t, time.Since(start), "Shutdown does not wait for the window")
		assert.Equal(t, []int{4}, store.Sizes())
		pending, dead := store.Len()
		assert.Zero(t, pending, "every outcome recorded")
		assert.Zero(t, dead)
	})
}

// TestWorkerGoesOnBeforeItsOutcomeIsStored: with an OutcomeBacklog, a worker is free
// once its outcome is queued for the store, so one worker makes the next attempts while
// the first outcome waits for its batch; the Delivered hook is called only once the store
// has removed each delivery.
func TestWorkerGoesOnBeforeItsOutcomeIsStored(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		const n, window = 3, time.Minute
		srv := nw.server(status(http.StatusNoContent))
		store := &batchStore{Store: memqueue.New(memqueue.Config{})}
		var mu sync.Mutex
		var delivered []string
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 1, MaxInFlight: 1,
			CompleteWindow: window, LeaseFor: time.Hour, OutcomeBacklog: n,
			Observer: dispatch.Observer{Delivered: func(_ context.Context, del queue.Delivery) {
				mu.Lock()
				defer mu.Unlock()
				delivered = append(delivered, del.ID)
				pending, _ := store.Len()
				assert.Less(t, pending, n-len(delivered)+1, "reported after the store removed it")
			}}})
		subscribeAndPublish(t, d, srv.URL, n)
		synctest.Wait()
		assert.Equal(t, n, srv.Count(), "one worker made every attempt while the first outcome waited")
		assert.Empty(t, store.Sizes(), "no outcome stored before the window")
		mu.Lock()
		assert.Empty(t, delivered, "nothing reported before it is stored")
		mu.Unlock()
		time.Sleep(window)
		synctest.Wait()
		assert.Equal(t, []int{n}, store.Sizes(), "the three outcomes in one Complete")
		mu.Lock()
		assert.Len(t, delivered, n)
		mu.Unlock()
		require.NoError(t, d.Shutdown(bg))
	})
}

// TestOutcomeBacklogBoundsWhatACrashRepeats: the attempts made and not yet stored are at
// most Workers + OutcomeBacklog (what a crash may repeat), and without a backlog at most
// Workers: a worker then waits for its outcome's batch before its next attempt.
func TestOutcomeBacklogBoundsWhatACrashRepeats(t *testing.T) {
	for _, backlog := range []int{0, 2} {
		t.Run("backlog="+strconv.Itoa(backlog), func(t *testing.T) {
			dspBubble(t, func(t *testing.T, nw *dspNet) {
				const workers, window = 2, time.Minute
				srv := nw.server(status(http.StatusNoContent))
				store := &batchStore{Store: memqueue.New(memqueue.Config{})}
				d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: workers, MaxInFlight: workers,
					CompleteWindow: window, LeaseFor: time.Hour, OutcomeBacklog: backlog})
				subscribeAndPublish(t, d, srv.URL, 10)
				synctest.Wait()
				// Each worker made one attempt per place in the backlog, then one more whose
				// outcome waits for a place.
				assert.Equal(t, workers+backlog, srv.Count(), "attempts made while no outcome is stored")
				assert.Empty(t, store.Sizes())
				time.Sleep(window)
				synctest.Wait()
				require.NoError(t, d.Drain(bg))
				assert.Equal(t, 10, srv.Count(), "all delivered once the batches go")
				require.NoError(t, d.Shutdown(bg))
			})
		})
	}
}

// TestNextDeliveryLeasedWhileTheOutcomeIsStored: without an OutcomeBacklog a worker
// waits for its outcome to be stored before its next attempt, but its next delivery is
// leased meanwhile (a store that merges calls takes the lease in the outcome's
// transaction): while the first outcome waits for its batch, the second delivery is
// leased and not attempted, and the third is not leased (MaxInFlight allows it: the
// worker's place in Workers is freed once per outcome).
func TestNextDeliveryLeasedWhileTheOutcomeIsStored(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		const window = time.Minute
		srv := nw.server(status(http.StatusNoContent))
		store := &batchStore{Store: memqueue.New(memqueue.Config{})}
		// MaxInFlight 3: only Workers bounds what is leased.
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 1, MaxInFlight: 3,
			CompleteWindow: window, LeaseFor: time.Hour})
		subscribeAndPublish(t, d, srv.URL, 3)
		synctest.Wait()
		assert.Equal(t, 1, srv.Count(), "the worker waits for its outcome")
		st, err := store.Stats(bg, time.Now())
		require.NoError(t, err)
		// The worker's place is freed once: one more delivery is leased (and waits for the
		// worker), not two.
		assert.Equal(t, 2, st.Leased, "the second delivery is leased already, the third not")
		time.Sleep(window)
		synctest.Wait()
		assert.Equal(t, 2, srv.Count(), "attempted once the first outcome is stored")
		st, err = store.Stats(bg, time.Now())
		require.NoError(t, err)
		assert.Equal(t, 2, st.Leased, "the second, its outcome waiting, and the third")
		time.Sleep(window)
		synctest.Wait()
		assert.Equal(t, 3, srv.Count())
		time.Sleep(window)
		synctest.Wait()
		require.NoError(t, d.Drain(bg))
		assert.Equal(t, []int{1, 1, 1}, store.Sizes())
		require.NoError(t, d.Shutdown(bg))
	})
}

// lostStore is a memqueue.Store that refuses, once each, the outcomes of every other
// delivery it is first given an outcome for, with queue.ErrLeaseLost (as if their leases
// had expired and another dispatcher had them), storing nothing for them.
type lostStore struct {
	*memqueue.Store
	mu      sync.Mutex
	seen    map[string]bool
	refused map[string]bool
}

func (s *lostStore) Complete(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, error) {
	errs, _, err := s.CompleteEvicting(ctx, now, os...)
	return errs, err
}

func (s *lostStore) CompleteEvicting(ctx context.Context, now time.Time, os ...queue.Outcome) ([]error, []queue.Delivery, error) {
	s.mu.Lock()
	errs := make([]error, len(os))
	var keep []queue.Outcome
	var at []int
	for i, o := range os {
		if !s.seen[o.ID] {
			s.seen[o.ID] = true
			if len(s.seen)%2 == 0 {
				s.refused[o.ID] = true
				errs[i] = queue.ErrLeaseLost
				continue
			}
		}
		keep = append(keep, o)
		at = append(at, i)
	}
	s.mu.Unlock()
	kept, evicted, err := s.Store.CompleteEvicting(ctx, now, keep...)
	if err != nil {
		return nil, nil, err
	}
	for k, i := range at {
		errs[i] = kept[k]
	}
	return errs, evicted, nil
}

func (s *lostStore) Refused() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.refused)
}

// TestRefusedOutcomesAreNotReported: outcomes the store refuses (queue.ErrLeaseLost) are
// not reported to Delivered, and their places in the OutcomeBacklog are handed back: the
// workers go on, the refused deliveries are attempted again once their leases expire,
// and Drain and Shutdown return.
func TestRefusedOutcomesAreNotReported(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		const n, leaseFor = 6, time.Minute
		var mu sync.Mutex
		delivered := map[string]int{}
		obs := dispatch.Observer{Delivered: func(_ context.Context, del queue.Delivery) {
			mu.Lock()
			delivered[del.ID]++
			mu.Unlock()
		}}
		srv := nw.server(status(http.StatusNoContent))
		store := &lostStore{Store: memqueue.New(memqueue.Config{}), seen: map[string]bool{}, refused: map[string]bool{}}
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 2, OutcomeBacklog: 1,
			LeaseFor: leaseFor, Observer: obs})
		subscribeAndPublish(t, d, srv.URL, n)
		synctest.Wait()
		refused := store.Refused()
		require.Len(t, refused, n/2)
		mu.Lock()
		assert.Len(t, delivered, n-n/2, "only the outcomes stored are reported")
		for id := range refused {
			assert.Zero(t, delivered[id], "refused %s: not reported", id)
		}
		mu.Unlock()
		assert.Equal(t, n, srv.Count())

		require.NoError(t, d.Drain(bg)) // the refused leases expire; their deliveries go again
		assert.Equal(t, n+n/2, srv.Count(), "the refused ones attempted again")
		mu.Lock()
		assert.Len(t, delivered, n)
		for id, k := range delivered {
			assert.Equal(t, 1, k, "%s reported once", id)
		}
		mu.Unlock()
		require.NoError(t, d.Shutdown(bg))
	})
}

// heldLeaseStore holds its second Lease, once the store has answered it, until release
// is closed, and says so on leased: a Publish made meanwhile stores its deliveries while
// the pump's Lease is in flight, after a first Lease that found the endpoint clear.
type heldLeaseStore struct {
	*memqueue.Store
	leases  atomic.Int32
	leased  chan struct{}
	release chan struct{}
}

func (s *heldLeaseStore) Lease(ctx context.Context, req queue.LeaseRequest) ([]queue.Delivery, error) {
	ds, err := s.Store.Lease(ctx, req)
	if s.leases.Add(1) == 2 {
		close(s.leased)
		<-s.release
	}
	return ds, err
}

// TestCatchUpBeyondTheFreePlacesIsNotLost: deliveries Publish stores for a clear endpoint
// while a Lease of the pump is in flight (it holds the one worker's place, so none is
// handed off) are
// caught up on by the next Lease, which can take only one of the three (one place); the
// other two are leased as the worker frees, without waiting for the poll. The catch-up
// Lease used to count all three as seen and leave the endpoint clear, so the next fills
// leased nothing until PollInterval had passed.
func TestCatchUpBeyondTheFreePlacesIsNotLost(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		const n = 3
		srv := nw.server(status(http.StatusNoContent))
		store := &heldLeaseStore{Store: memqueue.New(memqueue.Config{}), leased: make(chan struct{}), release: make(chan struct{})}
		d := newDispatcher(t, nw.sender(t), store, dispatch.Config{Workers: 1, MaxInFlight: 1,
			CompleteWindow: time.Minute, LeaseFor: time.Hour, OutcomeBacklog: n, PollInterval: time.Hour})
		require.NoError(t, d.Subscribe(dspSub(t, "ep", srv.URL, nil)))
		require.NoError(t, d.Start(bg))
		<-store.leased
		for range n {
			_, err := d.Publish(bg, newEvent(t, "order-created"))
			require.NoError(t, err)
		}
		close(store.release)
		synctest.Wait()
		assert.Equal(t, n, srv.Count(), "every delivery attempted before the poll")
		require.NoError(t, d.Shutdown(bg))
	})
}
