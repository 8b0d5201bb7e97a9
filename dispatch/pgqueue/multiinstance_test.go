package pgqueue_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/crashtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/sender"
)

// miEnv names the environment variable that makes TestMultiInstanceChild an instance
// of TestThreeInstancesOneDatabase: a miConfig in JSON.
const miEnv = "HOOKKIT_PGQUEUE_INSTANCE"

// The shape of TestThreeInstancesOneDatabase.
const (
	miInstances  = 3
	miUnordered  = 20
	miOrdered    = 5
	miEndpoints  = miUnordered + miOrdered
	miDeliveries = 6_250 // committed deliveries: 250 events × 25 endpoints
	miBacklog    = 800   // the publisher stays at most this many deliveries ahead of the receiver
	miWorkers    = 8     // per instance: Workers, so at most this many leases at once
	miLeaseFor   = 6 * time.Second
	miTimeout    = 5 * time.Second // each endpoint's attempt timeout, below LeaseFor
	miDeadline   = 90 * time.Second
	// The headers the children set on every request (endpoint Headers): which instance,
	// and which run of it (the killed instance runs twice).
	miInstanceHeader = "X-Test-Instance"
	miRunHeader      = "X-Test-Run"
)

// miConfig is what a child instance is told.
type miConfig struct {
	DSN      string `json:"dsn"`
	Schema   string `json:"schema"`
	Receiver string `json:"receiver"` // the endpoints are Receiver + "/" + endpoint ID
	Instance int    `json:"instance"`
	Run      int    `json:"run"`
}

// miEndpointID names endpoint i: u00..u19 unordered, o0..o4 ordered.
func miEndpointID(i int) string {
	if i < miUnordered {
		return fmt.Sprintf("u%02d", i)
	}
	return fmt.Sprintf("o%d", i-miUnordered)
}

// miSubscriptions are the 25 endpoints on the receiver at url, every request carrying
// the instance and run headers.
func miSubscriptions(url string, instance, run int) []dispatch.Subscription {
	subs := make([]dispatch.Subscription, miEndpoints)
	for i := range subs {
		id := miEndpointID(i)
		subs[i] = dispatch.Subscription{
			Endpoint: sender.Endpoint{ID: id, URL: url + "/" + id, Timeout: miTimeout, Headers: http.Header{
				miInstanceHeader: {strconv.Itoa(instance)}, miRunHeader: {strconv.Itoa(run)},
			}},
			Ordered: i >= miUnordered,
		}
	}
	return subs
}

// miDispatcher returns a dispatcher with the 25 subscriptions, not started.
func miDispatcher(t testing.TB, store queue.Store, url string, instance, run int) *dispatch.Dispatcher {
	t.Helper()
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true}) // loopback, plain http
	require.NoError(t, err)
	t.Cleanup(snd.CloseIdleConnections)
	d, err := dispatch.New(snd, store, dispatch.Config{Workers: miWorkers, LeaseFor: miLeaseFor, PollInterval: 500 * time.Millisecond})
	require.NoError(t, err)
	for _, sub := range miSubscriptions(url, instance, run) {
		require.NoError(t, d.Subscribe(sub))
	}
	return d
}

// TestMultiInstanceChild is one instance of TestThreeInstancesOneDatabase, in a child
// process: a dispatcher on a pgqueue Store of its own pool, delivering until it is
// killed or its parent stops it. It does nothing in a normal run.
func TestMultiInstanceChild(t *testing.T) {
	cfg, ok := crashtest.ChildConfig[miConfig](miEnv)
	if !ok {
		t.Skip("a child process of TestThreeInstancesOneDatabase")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, cfg.DSN)
	require.NoError(t, err)
	defer pool.Close()
	store, err := pgqueue.New(ctx, pool, pgqueue.Config{Schema: cfg.Schema})
	require.NoError(t, err)
	defer store.Close()
	d := miDispatcher(t, store, cfg.Receiver, cfg.Instance, cfg.Run)
	require.NoError(t, d.Start(ctx))
	select {
	case <-crashtest.ParentGone():
	case <-ctx.Done():
	}
	require.NoError(t, d.Shutdown(ctx))
}

// miArrival is one request the receiver got.
type miArrival struct {
	instance, run string
	retryCount    int
}

// miReceiver is the loopback receiver of the 25 endpoints: it records every request
// (endpoint, event id, instance, run, retryCount), the arrival order per ordered
// endpoint and any moment an ordered endpoint had two requests in flight; each request
// takes 2–5 ms.
type miReceiver struct {
	url      string
	distinct atomic.Int64  // endpoint-event pairs received at least once
	progress chan struct{} // a value after each first arrival, dropped when full

	mu       sync.Mutex
	got      map[string][]miArrival // "endpoint event-id" → its requests
	order    map[string][]string    // ordered endpoint → event ids in arrival order
	inflight map[string]int         // ordered endpoint → requests in flight
	overlaps []string               // "endpoint: event a while event b in flight"
	current  map[string]string      // ordered endpoint → the event in flight
}

func newMIReceiver(t *testing.T) *miReceiver {
	t.Helper()
	r := &miReceiver{progress: make(chan struct{}, 1), got: map[string][]miArrival{}, order: map[string][]string{},
		inflight: map[string]int{}, current: map[string]string{}}
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
		ep := strings.TrimPrefix(req.URL.Path, "/")
		ordered := strings.HasPrefix(ep, "o")
		key := ep + " " + ev.ID
		r.mu.Lock()
		if ordered {
			if r.inflight[ep] > 0 {
				r.overlaps = append(r.overlaps, fmt.Sprintf("%s: event %s arrived while %s was in flight", ep, ev.ID, r.current[ep]))
			}
			r.inflight[ep]++
			r.current[ep] = ev.ID
			r.order[ep] = append(r.order[ep], ev.ID)
		}
		first := len(r.got[key]) == 0
		r.got[key] = append(r.got[key], miArrival{req.Header.Get(miInstanceHeader), req.Header.Get(miRunHeader), ev.RetryCount})
		r.mu.Unlock()
		if first {
			r.distinct.Add(1)
			select {
			case r.progress <- struct{}{}:
			default:
			}
		}
		time.Sleep(2*time.Millisecond + rand.N(3*time.Millisecond)) // the receiver's work
		if ordered {
			r.mu.Lock()
			r.inflight[ep]--
			r.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// miPublished is what the publisher did: the committed events in commit order and the
// rolled-back ones.
type miPublished struct {
	mu         sync.Mutex
	committed  []string
	rolledBack map[string]bool
	txs, rbTxs int
}

func (p *miPublished) committedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.committed)
}

// miPublish publishes events through EnqueueTx in transactions of 1–10 events, every
// tenth transaction rolled back, until miDeliveries deliveries are committed, staying
// at most miBacklog deliveries ahead of what r received.
func miPublish(ctx context.Context, pool *pgxpool.Pool, s *pgqueue.Store, d *dispatch.Dispatcher, r *miReceiver, p *miPublished) error {
	n := 0
	for k := 0; p.committedCount()*miEndpoints < miDeliveries; k++ {
		for int64(p.committedCount()*miEndpoints)-r.distinct.Load() > miBacklog {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.progress:
			case <-time.After(100 * time.Millisecond): // progress values are dropped when full
			}
		}
		size := 1 + rand.N(10)
		if k%10 != 9 {
			// A committed transaction never takes the total past the target's last event.
			size = min(size, miDeliveries/miEndpoints-p.committedCount())
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		ids := make([]string, 0, size)
		for range size {
			ev, err := event.New("order-created", map[string]int{"n": n})
			if err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			n++
			ds, err := d.FanOut(ev)
			if err == nil && len(ds) != miEndpoints {
				err = fmt.Errorf("FanOut: %d deliveries", len(ds))
			}
			if err == nil {
				err = s.EnqueueTx(ctx, tx, ds...) // one call per event: several in one transaction
			}
			if err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			ids = append(ids, ev.ID)
		}
		p.mu.Lock()
		p.txs++
		p.mu.Unlock()
		if k%10 == 9 {
			if err := tx.Rollback(ctx); err != nil {
				return err
			}
			p.mu.Lock()
			p.rbTxs++
			for _, id := range ids {
				p.rolledBack[id] = true
			}
			p.mu.Unlock()
			continue
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		p.mu.Lock()
		p.committed = append(p.committed, ids...)
		p.mu.Unlock()
	}
	return nil
}

// TestThreeInstancesOneDatabase: three instances of an application (child processes,
// each a dispatcher with 8 workers on a pgqueue Store of its own pool, one schema) share
// 20 unordered and 5 ordered endpoints of a loopback receiver, while the parent publishes
// 6,250 committed deliveries (250 events × 25 endpoints) through EnqueueTx in
// transactions of 1–10 events, every tenth transaction rolled back. When 40 % of them
// were received, one instance is killed with SIGKILL and started again. Pass: every
// committed delivery received at least once, none of the rolled-back ones, duplicates
// at most the killed instance's workers, each ordered endpoint received its events in
// publish order (a repeat only of the event just received) and never two at once, and
// each instance made at least 10 % of the requests. It logs the duplicates and each
// instance's share.
//
// The shares are even by construction, not by luck: publishing starts once the three
// listen; a Lease takes at most the instance's free workers (8 of them), so the first
// instance woken by a commit never takes the backlog; the publisher stays at most 800
// deliveries ahead of the receiver, so a backlog is always there for each to take; and
// the killed instance's two runs count as one instance. Measured: 31–36 % each (5 runs
// with -race on 2 loaded CPUs).
func TestThreeInstancesOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of real deliveries by three child processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), miDeadline)
	defer cancel()
	dsn := services.Postgres(t)
	schema := pgtest.Schema(t)
	pool := shared.Get(t)
	// The schema exists before the children start: they only read its version.
	pubStore, err := pgqueue.New(ctx, pool, pgqueue.Config{Schema: schema, Notify: pgqueue.NotifySendOnly})
	require.NoError(t, err)
	t.Cleanup(pubStore.Close)
	recv := newMIReceiver(t)
	pubD := miDispatcher(t, pubStore, recv.url, 0, 0) // never started: FanOut only

	children := make([]*crashtest.Child, miInstances)
	start := func(i, run int) {
		children[i] = crashtest.Start(t, "TestMultiInstanceChild", miEnv,
			miConfig{DSN: dsn, Schema: schema, Receiver: recv.url, Instance: i + 1, Run: run})
	}
	// failIfExited fails the test when a child that should be running has exited.
	failIfExited := func() {
		t.Helper()
		for i, c := range children {
			select {
			case <-c.Done():
				require.FailNow(t, "instance exited", "instance %d: %v\n%s", i+1, c.Err(), c.Output())
			default:
			}
		}
	}
	// waitFor polls cond (bounded by the test's deadline) while the children run.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			failIfExited()
			require.NoError(t, ctx.Err(), "waiting for %s", what)
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range children {
		start(i, 1)
	}
	// Publish once all three listen, so that none starts with the work to itself.
	waitFor("three listeners", func() bool { return len(listening(t, schema)) == miInstances })

	pub := &miPublished{rolledBack: map[string]bool{}}
	pubDone := make(chan error, 1)
	go func() { pubDone <- miPublish(ctx, pool, pubStore, pubD, recv, pub) }()

	const killed = 1 // the second instance
	waitFor("40 % received", func() bool { return recv.distinct.Load() >= miDeliveries*4/10 })
	killedAt := recv.distinct.Load()
	require.NoError(t, children[killed].Kill(), "SIGKILL instance %d", killed+1)
	children[killed].Wait(t, 10*time.Second)
	t.Logf("instance %d killed after %d of %d deliveries received", killed+1, killedAt, miDeliveries)
	start(killed, 2)

	var pubErr error
	waitFor("the publisher", func() bool {
		select {
		case pubErr = <-pubDone:
			return true
		default:
			return false
		}
	})
	require.NoError(t, pubErr)
	committed := pub.committed
	require.Len(t, committed, miDeliveries/miEndpoints)
	waitFor("every committed delivery received", func() bool { return recv.distinct.Load() >= int64(miDeliveries) })
	// Then nothing left in the store: the killed instance's leases expired and what they
	// held was delivered again.
	waitFor("an empty store", func() bool {
		st, err := pubStore.Stats(ctx, time.Now())
		require.NoError(t, err)
		return st == queue.Stats{}
	})
	elapsed := time.Since(children[0].Started())
	for _, c := range children {
		require.NoError(t, c.Stop())
	}
	for i, c := range children {
		c.Wait(t, 30*time.Second)
		require.NoError(t, c.Err(), "instance %d: %s", i+1, c.Output())
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	missing, dups, repeated, unknown, rolledBackGot := 0, 0, 0, 0, 0
	perInstance := map[string]int{}
	perRun := map[string]int{}
	total := 0
	want := map[string]bool{}
	for _, id := range committed {
		for e := range miEndpoints {
			want[miEndpointID(e)+" "+id] = true
		}
	}
	for key, as := range recv.got {
		evID := key[strings.IndexByte(key, ' ')+1:]
		switch {
		case pub.rolledBack[evID]:
			rolledBackGot++
		case !want[key]:
			unknown++
		}
		dups += len(as) - 1
		byRetry := map[int]int{}
		for _, a := range as {
			perInstance[a.instance]++
			perRun[a.instance+"."+a.run]++
			total++
			byRetry[a.retryCount]++
		}
		for _, n := range byRetry {
			repeated += n - 1
		}
	}
	for key := range want {
		if len(recv.got[key]) == 0 {
			missing++
		}
	}
	shares := make([]string, 0, miInstances)
	for i := 1; i <= miInstances; i++ {
		shares = append(shares, fmt.Sprintf("instance %d %.1f %%", i, 100*float64(perInstance[strconv.Itoa(i)])/float64(total)))
	}
	var runShares []string
	for _, k := range slices.Sorted(maps.Keys(perRun)) {
		runShares = append(runShares, fmt.Sprintf("%s: %d", k, perRun[k]))
	}
	t.Logf("three instances: %d committed deliveries (%d events in %d transactions, %d rolled back with %d events), %d requests, "+
		"%d duplicates (%d with a repeated retryCount; bound %d), %.1f s; shares: %s; requests per instance.run: %s",
		len(want), len(committed), pub.txs, pub.rbTxs, len(pub.rolledBack), total, dups, repeated, miWorkers, elapsed.Seconds(),
		strings.Join(shares, ", "), strings.Join(runShares, ", "))

	assert.GreaterOrEqual(t, len(want), 6000, "at least 6,000 committed deliveries")
	assert.Positive(t, pub.rbTxs, "some transactions were rolled back")
	assert.Zero(t, missing, "every committed delivery received at least once")
	assert.Zero(t, rolledBackGot, "no rolled-back delivery received")
	assert.Zero(t, unknown, "nothing but the published deliveries received")
	assert.LessOrEqual(t, dups, miWorkers, "duplicates at most the killed instance's workers")
	assert.Empty(t, recv.overlaps, "an ordered endpoint never has two deliveries in flight")
	for o := range miOrdered {
		ep := miEndpointID(miUnordered + o)
		var distinct []string
		for _, id := range recv.order[ep] {
			// A repeat is of the event just received (its outcome was lost with the kill):
			// collapsed, the arrivals are the publish order.
			if len(distinct) == 0 || distinct[len(distinct)-1] != id {
				distinct = append(distinct, id)
			}
		}
		assert.Equal(t, committed, distinct, "%s received its events in publish order", ep)
	}
	for i := 1; i <= miInstances; i++ {
		assert.GreaterOrEqual(t, perInstance[strconv.Itoa(i)]*10, total, "instance %d did at least 10 %% of the work", i)
	}
}
