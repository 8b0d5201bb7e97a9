package sqlitequeue_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/testenv/crashtest"
	"github.com/hookkit/hookkit/sender"
)

// crashEnv names the environment variable that turns TestCrashChild on: a crashRun in
// JSON.
const crashEnv = "HOOKKIT_SQLITEQUEUE_CRASH"

// The dispatcher of the crash test's children.
const (
	crashWorkers  = 8
	crashLeaseFor = 3 * time.Second
	crashTimeout  = time.Second // each endpoint's attempt timeout
)

// crashRunHeader carries the number of the child that made a request.
const crashRunHeader = "X-Crash-Run"

// crashRun is what a child of TestDispatcherKilledLosesNothing is told to do.
type crashRun struct {
	DB    string `json:"db"`    // the store's file
	URL   string `json:"url"`   // the receiver; the endpoints are URL/a and URL/b
	Run   int    `json:"run"`   // the child's number, sent in crashRunHeader
	Drain bool   `json:"drain"` // Drain, then Shutdown and exit; false: run until killed
	// Exclusive opens the store with Config.Exclusive.
	Exclusive bool `json:"exclusive"`
}

// crashSubscriptions are the two endpoints of the crash test, "a" and "b", on two paths
// of the receiver at url; run goes in every request's crashRunHeader.
func crashSubscriptions(url string, run int) []dispatch.Subscription {
	retry := &sender.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxAttempts: 50, MaxElapsedTime: time.Minute}
	var subs []dispatch.Subscription
	for _, id := range []string{"a", "b"} {
		subs = append(subs, dispatch.Subscription{Endpoint: sender.Endpoint{
			ID: id, URL: url + "/" + id, Timeout: crashTimeout, Retry: retry,
			Headers: http.Header{crashRunHeader: {strconv.Itoa(run)}},
		}})
	}
	return subs
}

// crashDispatcher returns a dispatcher of the crash test on store, not started.
func crashDispatcher(t *testing.T, store queue.Store, url string, run int) *dispatch.Dispatcher {
	t.Helper()
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	require.NoError(t, err)
	d, err := dispatch.New(snd, store, dispatch.Config{Workers: crashWorkers, LeaseFor: crashLeaseFor})
	require.NoError(t, err)
	for _, sub := range crashSubscriptions(url, run) {
		require.NoError(t, d.Subscribe(sub))
	}
	return d
}

// TestCrashChild is a child process of TestDispatcherKilledLosesNothing: it runs a
// dispatcher on the store file named by the environment (crashEnv) until it is killed,
// or until its standard input closes (the parent is gone); with Drain it runs until the
// store is empty, shuts down and exits. It does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	run, ok := crashtest.ChildConfig[crashRun](crashEnv)
	if !ok {
		t.Skip("a child process of TestDispatcherKilledLosesNothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store, err := sqlitequeue.Open(ctx, run.DB, sqlitequeue.Config{Exclusive: run.Exclusive})
	require.NoError(t, err)
	defer func() { require.NoError(t, store.Close()) }()
	d := crashDispatcher(t, store, run.URL, run.Run)
	require.NoError(t, d.Start(ctx))
	if run.Drain {
		require.NoError(t, d.Drain(ctx))
	} else {
		// Until SIGKILL, normally; the parent's end closes stdin.
		select {
		case <-crashtest.ParentGone():
		case <-ctx.Done():
		}
	}
	require.NoError(t, d.Shutdown(ctx))
}

// crashReceiver is the loopback receiver of the crash test: it answers 204 after 20–50
// ms, counts the deliveries per "path event-id" and, within those, per retryCount (the
// attempt's number less one), and tells when each child's first delivery arrived.
type crashReceiver struct {
	url   string
	total atomic.Int64
	mu    sync.Mutex
	got   map[string]map[int]int // "path event-id" → retryCount → deliveries received
	first map[int]chan struct{}  // per child: closed at its first delivery
}

func newCrashReceiver(t *testing.T, runs int) *crashReceiver {
	t.Helper()
	r := &crashReceiver{got: map[string]map[int]int{}, first: map[int]chan struct{}{}}
	for run := 1; run <= runs; run++ {
		r.first[run] = make(chan struct{})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		ev, err := event.Parse(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(20*time.Millisecond + rand.N(31*time.Millisecond)) // the receiver's latency
		run, _ := strconv.Atoi(req.Header.Get(crashRunHeader))
		r.mu.Lock()
		key := req.URL.Path + " " + ev.ID
		if r.got[key] == nil {
			r.got[key] = map[int]int{}
		}
		r.got[key][ev.RetryCount]++
		if ch, ok := r.first[run]; ok {
			close(ch)
			delete(r.first, run)
		}
		r.mu.Unlock()
		r.total.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// firstOf returns the channel closed at child run's first delivery.
func (r *crashReceiver) firstOf(run int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.first[run]; ok {
		return ch
	}
	done := make(chan struct{})
	close(done)
	return done
}

// crashCount is what the receiver got of one delivery.
type crashCount struct {
	received int // requests, every attempt included
	repeated int // requests of an attempt number already received: outcomes lost
	retries  int // attempt numbers beyond the first one received: retries after a recorded failure
}

func (r *crashReceiver) counts() map[string]crashCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]crashCount, len(r.got))
	for k, byRetry := range r.got {
		var c crashCount
		for _, n := range byRetry {
			c.received += n
			c.repeated += n - 1
		}
		c.retries = len(byRetry) - 1
		out[k] = c
	}
	return out
}

// crashPublish stores events events for the two endpoints in the file at path, through a
// dispatcher that is not started, and returns their IDs.
func crashPublish(t *testing.T, path, url string, events int, exclusive bool) []string {
	t.Helper()
	store, err := sqlitequeue.Open(t.Context(), path, sqlitequeue.Config{Exclusive: exclusive})
	require.NoError(t, err)
	defer func() { require.NoError(t, store.Close()) }()
	d := crashDispatcher(t, store, url, 0)
	evs := make([]*event.Event, events)
	ids := make([]string, events)
	for i := range evs {
		ev, err := event.New("order-created", map[string]int{"n": i})
		require.NoError(t, err)
		evs[i], ids[i] = ev, ev.ID
	}
	// 16 publishers at once, so that group commit shares the fsyncs.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(events); i = next.Add(1) - 1 {
				n, err := d.Publish(t.Context(), evs[i])
				if !assert.NoError(t, err) || !assert.Equal(t, 2, n) {
					return
				}
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed(), "every event published")
	require.NoError(t, d.Shutdown(t.Context()))
	st, err := store.Stats(t.Context(), time.Now())
	require.NoError(t, err)
	require.Equal(t, queue.Stats{Pending: 2 * events}, st)
	return ids
}

// TestDispatcherKilledLosesNothing is the crash test of a Dispatcher on the SQLite store,
// shared and Exclusive (where a lease dies with its process, and the acknowledgements
// recorded in memory but not yet committed at a kill are the other outcomes lost, within
// the same bound: each worker waits for its outcome's commit):
// 2,000 events for two endpoints (4,000 deliveries) are published into a file, then a
// child process (this test binary again) delivers them with 8 workers to a receiver
// that answers in 20–50 ms, and is killed with SIGKILL at about 1, 3 and 5 s and
// restarted each time; the last child drains the store. No delivery is missing, the
// duplicates the kills cause (attempts in flight at each kill, made again) are at most
// kills × workers, every child delivers within LeaseFor + 1 s of its start, and the
// store ends empty and intact.
func TestDispatcherKilledLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: seconds of real deliveries in child processes")
	}
	for _, exclusive := range []bool{false, true} {
		t.Run(fmt.Sprint("exclusive=", exclusive), func(t *testing.T) { testKilledLosesNothing(t, exclusive) })
	}
}

func testKilledLosesNothing(t *testing.T, exclusive bool) {
	const events = 2000
	killAt := []time.Duration{time.Second, 3 * time.Second, 5 * time.Second}
	recv := newCrashReceiver(t, len(killAt)+1)
	path := filepath.Join(t.TempDir(), "queue.db")
	ids := crashPublish(t, path, recv.url, events, exclusive)

	// Each child must deliver within LeaseFor + 1 s of its start: the killed child's
	// leases hold only the deliveries it had in flight, the others are due.
	resumed := func(run int, c *crashtest.Child) {
		t.Helper()
		timer := time.NewTimer(time.Until(c.Started().Add(crashLeaseFor + time.Second)))
		defer timer.Stop()
		select {
		case <-recv.firstOf(run):
			t.Logf("child %d: first delivery %v after its start", run, time.Since(c.Started()).Round(time.Millisecond))
		case <-timer.C:
			t.Fatalf("child %d: nothing delivered within %v of its start", run, crashLeaseFor+time.Second)
		case <-c.Done():
			t.Fatalf("child %d exited before delivering: %v\n%s", run, c.Err(), c.Output())
		}
	}

	var start time.Time
	kills := 0
	for i, at := range killAt {
		run := i + 1
		c := crashtest.Start(t, "TestCrashChild", crashEnv, crashRun{DB: path, URL: recv.url, Run: run, Exclusive: exclusive})
		if i == 0 {
			start = c.Started()
		}
		resumed(run, c)
		if wait := time.Until(start.Add(at)); wait > 0 {
			time.Sleep(wait) // the kill's moment: the test's schedule, not a wait for an event
		}
		require.NoError(t, c.Kill(), "SIGKILL child %d", run)
		c.Wait(t, 10*time.Second)
		kills++
	}
	before := recv.total.Load()
	t.Logf("%d of %d deliveries received before the last child", before, 2*events)
	require.Less(t, before, int64(2*events), "the kills came while deliveries were still under way")

	run := len(killAt) + 1
	last := crashtest.Start(t, "TestCrashChild", crashEnv, crashRun{DB: path, URL: recv.url, Run: run, Drain: true, Exclusive: exclusive})
	resumed(run, last)
	last.Wait(t, 3*time.Minute)
	require.NoError(t, last.Err(), "the last child: %s", last.Output())
	elapsed := time.Since(start)

	// A duplicate is a delivery received more than once. Those the kills cause are
	// attempts repeated with the same number (retryCount): the killed child made the
	// attempt but its outcome was never stored, so the next child makes it again. A
	// delivery retried after an attempt the dispatcher recorded as failed (a 1 s
	// timeout, when the machine stalls) comes back with the next number: that is the
	// retry policy at work, counted apart.
	counts := recv.counts()
	missing, dups, repeated, retries := 0, 0, 0, 0
	for _, id := range ids {
		for _, ep := range []string{"/a", "/b"} {
			c := counts[ep+" "+id]
			if c.received == 0 {
				missing++
				continue
			}
			dups += c.received - 1
			repeated += c.repeated
			retries += c.retries
		}
	}
	t.Logf("crash test: %d deliveries, %d kills, %d duplicates: %d repeated attempts (bound %d) and %d retries after a failed attempt; %.1f s",
		2*events, kills, dups, repeated, kills*crashWorkers, retries, elapsed.Seconds())
	assert.Zero(t, missing, "no published delivery is missing")
	assert.Len(t, counts, 2*events, "nothing but the published deliveries was received")
	assert.LessOrEqual(t, repeated, kills*crashWorkers, "attempts repeated are bounded by the attempts in flight at each kill")

	store, err := sqlitequeue.Open(t.Context(), path, sqlitequeue.Config{Exclusive: exclusive})
	require.NoError(t, err)
	defer func() { require.NoError(t, store.Close()) }()
	st, err := store.Stats(t.Context(), time.Now())
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{}, st, "nothing pending, leased or dead")
	require.NoError(t, store.IntegrityCheck(t.Context()))
}
