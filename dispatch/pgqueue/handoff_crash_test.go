package pgqueue_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
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

// hcEnv names the environment variable that makes TestHandoffCrashChild a child of
// TestHandoffSurvivesSIGKILL: an hcConfig in JSON.
const hcEnv = "HOOKKIT_PGQUEUE_HANDOFF_CHILD"

// The shape of TestHandoffSurvivesSIGKILL.
const (
	hcEvents   = 400
	hcKillAt   = 150 // requests received when the publishing instance is killed
	hcWorkers  = 8
	hcLeaseFor = 2 * time.Second
	hcLatency  = 20 * time.Millisecond // the receiver's, per request
	hcPace     = 10 * time.Millisecond // between two publishes: 4 times slower than the workers drain
)

// hcConfig is what a child is told: Publish says it publishes the events itself (the
// first run), else it only delivers (the run after the kill).
type hcConfig struct {
	DSN      string `json:"dsn"`
	Schema   string `json:"schema"`
	Receiver string `json:"receiver"`
	Publish  bool   `json:"publish"`
}

// TestHandoffCrashChild is one run of TestHandoffSurvivesSIGKILL, in a child process. It
// does nothing in a normal run.
func TestHandoffCrashChild(t *testing.T) {
	cfg, ok := crashtest.ChildConfig[hcConfig](hcEnv)
	if !ok {
		t.Skip("a child process of TestHandoffSurvivesSIGKILL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, cfg.DSN)
	require.NoError(t, err)
	defer pool.Close()
	s, err := pgqueue.New(ctx, pool, pgqueue.Config{Schema: cfg.Schema})
	require.NoError(t, err)
	defer s.Close()
	store := &countedLeases{Store: s}
	snd, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	require.NoError(t, err)
	d, err := dispatch.New(snd, store, dispatch.Config{Workers: hcWorkers, LeaseFor: hcLeaseFor, PollInterval: 500 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ep", URL: cfg.Receiver, Timeout: time.Second},
		MaxInFlight: hcWorkers}))
	require.NoError(t, d.Start(ctx))
	if cfg.Publish {
		tick := time.NewTicker(hcPace)
		defer tick.Stop()
		for range hcEvents {
			<-tick.C
			ev, err := event.New("order-created", map[string]string{"order": "x"})
			require.NoError(t, err)
			n, err := d.Publish(ctx, ev)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			// Only once Publish returned: the delivery is stored (leased or pending).
			fmt.Printf("published %s %d\n", ev.ID, store.viaEnqueue.Load())
		}
	}
	select {
	case <-crashtest.ParentGone():
	case <-ctx.Done():
	}
	require.NoError(t, d.Shutdown(ctx))
}

// TestHandoffSurvivesSIGKILL: an instance publishes 400 events one at a time, more slowly
// than its 8 workers deliver them to a loopback receiver (20 ms a request), so that Publish
// hands most of them off (stored leased, sent without a Lease); it is killed with SIGKILL
// after 150 requests, mid-flight. A second instance then delivers what is left, the
// killed one's leases once they expire (LeaseFor 2 s). Pass: every event whose Publish
// returned is received; at most Workers are received twice (the attempts in flight at the
// kill); the store ends empty, without dead letters; some deliveries were handed off.
func TestHandoffSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of real deliveries by two child processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dsn := services.Postgres(t)
	schema := pgtest.Schema(t)
	check, err := pgqueue.New(ctx, shared.Get(t), pgqueue.Config{Schema: schema, Notify: pgqueue.NotifyOff})
	require.NoError(t, err) // the schema exists before the children start
	t.Cleanup(check.Close)

	var mu sync.Mutex
	got := map[string]int{}
	requests := 0
	reached := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := event.Parse(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(hcLatency) // the receiver's work
		mu.Lock()
		got[ev.ID]++
		requests++
		if requests == hcKillAt {
			close(reached)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	cfg := hcConfig{DSN: dsn, Schema: schema, Receiver: srv.URL, Publish: true}
	first := crashtest.Start(t, "TestHandoffCrashChild", hcEnv, cfg)
	select {
	case <-reached:
	case <-first.Done():
		require.FailNow(t, "the publishing instance exited", "%v\n%s", first.Err(), first.Output())
	case <-ctx.Done():
		require.FailNow(t, "no 150 requests", first.Output())
	}
	require.NoError(t, first.Kill())
	first.Wait(t, 10*time.Second)

	var published []string
	handed := 0
	for line := range strings.Lines(first.Output()) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "published" {
			published = append(published, f[1])
			handed, err = strconv.Atoi(f[2])
			require.NoError(t, err)
		}
	}
	require.NotEmpty(t, published)
	require.Less(t, len(published), hcEvents, "killed while publishing")

	cfg.Publish = false
	second := crashtest.Start(t, "TestHandoffCrashChild", hcEnv, cfg)
	for {
		st, err := check.Stats(ctx, time.Now())
		require.NoError(t, err)
		if st == (queue.Stats{}) {
			break
		}
		select {
		case <-second.Done():
			require.FailNow(t, "the second instance exited", "%v\n%s", second.Err(), second.Output())
		case <-ctx.Done():
			require.FailNow(t, "the store is not empty", "%+v", st)
		case <-time.After(50 * time.Millisecond):
		}
	}
	require.NoError(t, second.Stop())
	second.Wait(t, 10*time.Second)

	mu.Lock()
	defer mu.Unlock()
	duplicates := 0
	for _, id := range published {
		assert.Positive(t, got[id], "published event %s never received", id)
	}
	for _, n := range got {
		duplicates += max(n-1, 0)
	}
	t.Logf("%d published before the kill, %d of them handed off; %d received in all, %d twice or more",
		len(published), handed, len(got), duplicates)
	assert.Positive(t, handed, "some deliveries handed off by Publish")
	assert.LessOrEqual(t, duplicates, hcWorkers, "duplicates at most the killed instance's workers")
	dead, err := check.ListDead(ctx, queue.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, dead.Deliveries, "no dead letters")
}
