package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/jackc/pgx/v5/stdlib" // services.PostgresSchema's driver

	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// countingReceiver is a loopback receiver that counts the deliveries of each event id,
// per path (one path per endpoint), with a configurable latency and answer.
type countingReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      map[string]int // "path event-id" → deliveries received
	total    atomic.Int64
	status   atomic.Int32
	minDelay time.Duration
	maxDelay time.Duration
	hits     chan struct{} // one value per request, dropped when full
}

func newCountingReceiver(t *testing.T, minDelay, maxDelay time.Duration) *countingReceiver {
	t.Helper()
	r := &countingReceiver{got: map[string]int{}, minDelay: minDelay, maxDelay: maxDelay, hits: make(chan struct{}, 1)}
	r.status.Store(http.StatusNoContent)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		ev, err := event.Parse(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.maxDelay > 0 {
			time.Sleep(r.minDelay + rand.N(r.maxDelay-r.minDelay+1)) // the receiver's latency
		}
		code := int(r.status.Load())
		if code/100 == 2 {
			r.mu.Lock()
			r.got[req.URL.Path+" "+ev.ID]++
			r.mu.Unlock()
			r.total.Add(1)
		}
		select {
		case r.hits <- struct{}{}:
		default:
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *countingReceiver) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// endpointsFile writes an endpoints file whose endpoints are paths of base.
func endpointsFile(t *testing.T, eps ...string) string {
	t.Helper()
	return writeFile(t, "endpoints.json", `{"endpoints":[`+strings.Join(eps, ",")+`]}`)
}

func endpointJSONAt(id, url, extra string) string {
	return `{"id":"` + id + `","url":"` + url + `","secrets":["` + testSecret + `"],"timeout":"2s"` + extra + `}`
}

// finishedLines parses worker's stdout.
func finishedLines(t *testing.T, out string) []finishedJSON {
	t.Helper()
	var fs []finishedJSON
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var f finishedJSON
		require.NoError(t, json.Unmarshal([]byte(line), &f), "worker line %q", line)
		fs = append(fs, f)
	}
	return fs
}

func storeStats(t *testing.T, dsn string) map[string]int {
	t.Helper()
	r := cli(t, "", "queue", "stats", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	var st map[string]int
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	return st
}

// TestE2EPublishWorkerQueue: publish stores deliveries (one event, then NDJSON from
// stdin), worker --until-empty delivers them and prints one line per finished delivery,
// queue shows the dead letter with its attempt and requeues it, and a second worker run
// delivers it.
func TestE2EPublishWorkerQueue(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { testPublishWorkerQueue(t, storeDSN(t, kind)) })
	}
}

// storeDSN returns the DSN of a new, empty store of the given kind: a SQLite file in a
// temporary directory, or a fresh schema in the test Postgres, dropped at the end.
func storeDSN(t *testing.T, kind string) string {
	t.Helper()
	if kind == "sqlite" {
		return "sqlite:" + filepath.Join(t.TempDir(), "hookkit.db")
	}
	base, schema := services.PostgresSchema(t)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "hookkit_schema=" + schema
}

func testPublishWorkerQueue(t *testing.T, dsn string) {
	recv := newCountingReceiver(t, 0, 0)
	bad := newCountingReceiver(t, 0, 0)
	bad.status.Store(http.StatusBadRequest)
	file := endpointsFile(t,
		endpointJSONAt("all", recv.srv.URL+"/all", ""),
		endpointJSONAt("orders", bad.srv.URL+"/orders", `,"filter":["order-*"],"ordered":true`))

	r := cli(t, "", "publish", "--store", dsn, "--endpoints", file, "--type", "order-created", "--data", `{"n":1}`, "--id", "evt_one")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"events":1,"deliveries":2}`, r.stdout)
	r = cli(t, "{\"type\":\"order-paid\",\"data\":{\"n\":2},\"id\":\"evt_two\"}\n\n{\"type\":\"invoice-sent\",\"id\":\"evt_three\"}\n",
		"publish", "--store", dsn, "--endpoints", file, "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"events":2,"deliveries":3}`, r.stdout, "invoice-sent matches only the endpoint without a filter")
	assert.Equal(t, map[string]int{"pending": 5, "leased": 0, "dead": 0}, storeStats(t, dsn))

	r = cli(t, "", "worker", "--store", dsn, "--endpoints", file, "--until-empty", "--allow-private", "--allow-http")
	require.Equal(t, 0, r.code, r.stderr)
	lines := finishedLines(t, r.stdout)
	require.Len(t, lines, 5, r.stdout)
	outcomes := map[string]string{}
	for _, l := range lines {
		outcomes[l.Endpoint+" "+l.Event] = l.Outcome
		assert.Equal(t, 1, l.Attempts)
		assert.NotEmpty(t, l.ID)
		if l.Outcome == "dead" {
			assert.Equal(t, "rejected permanently", l.Reason)
		}
	}
	assert.Equal(t, map[string]string{
		"all evt_one": "delivered", "all evt_two": "delivered", "all evt_three": "delivered",
		"orders evt_one": "dead", "orders evt_two": "dead",
	}, outcomes)
	assert.Equal(t, map[string]int{"/all evt_one": 1, "/all evt_two": 1, "/all evt_three": 1}, recv.counts())
	assert.Equal(t, map[string]int{"pending": 0, "leased": 0, "dead": 2}, storeStats(t, dsn))

	r = cli(t, "", "queue", "dead", "--store", dsn, "--endpoint", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	var deads []deliveryJSON
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var d deliveryJSON
		require.NoError(t, json.Unmarshal([]byte(line), &d))
		deads = append(deads, d)
	}
	require.Len(t, deads, 2)
	assert.Equal(t, "evt_one", deads[0].Event, "oldest first")
	assert.Equal(t, "rejected permanently", deads[0].DeadReason)
	require.Len(t, deads[0].Attempts, 1)
	assert.Equal(t, http.StatusBadRequest, deads[0].Attempts[0].Status)
	assert.Equal(t, "permanent", deads[0].Attempts[0].Class)

	r = cli(t, "", "queue", "pending", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout)

	bad.status.Store(http.StatusNoContent)
	r = cli(t, "", "queue", "requeue", "--store", dsn, "--id", deads[1].ID)
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"requeued":1}`, r.stdout)
	r = cli(t, "", "queue", "pending", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"event":"evt_two"`)
	r = cli(t, "", "queue", "requeue", "--store", dsn, "--endpoint", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"requeued":1}`, r.stdout)
	r = cli(t, "", "worker", "--store", dsn, "--endpoints", file, "--until-empty", "--allow-private", "--allow-http")
	require.Equal(t, 0, r.code, r.stderr)
	lines = finishedLines(t, r.stdout)
	require.Len(t, lines, 2)
	for _, l := range lines {
		assert.Equal(t, "delivered", l.Outcome)
		assert.Equal(t, 2, l.Attempts, "the history is kept across the requeue")
	}
	assert.Equal(t, map[string]int{"/orders evt_one": 1, "/orders evt_two": 1}, bad.counts())
	assert.Equal(t, map[string]int{"pending": 0, "leased": 0, "dead": 0}, storeStats(t, dsn))
}

// TestE2EDurableCommandsUsageErrors: mistakes are usage errors (exit 2) on one line that
// never echo a DSN's password or an endpoint's secret.
func TestE2EDurableCommandsUsageErrors(t *testing.T) {
	file := endpointsFile(t, endpointJSONAt("a", "http://127.0.0.1:9/tok-in-path", ""))
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "hookkit.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"publish without store", []string{"publish", "--endpoints", file, "--type", "a-b"}, "--store is required"},
		{"publish without endpoints", []string{"publish", "--store", dsn, "--type", "a-b"}, "--endpoints is required"},
		{"publish without type", []string{"publish", "--store", dsn, "--endpoints", file}, "--type is required"},
		{"publish stdin and type", []string{"publish", "--store", dsn, "--endpoints", file, "--type", "a-b", "-"}, `"-" reads the events from stdin`},
		{"postgres bad schema", []string{"queue", "stats", "--store", "postgres://u:hunter2@127.0.0.1:1/db?hookkit_schema=Bad-Name"}, "hookkit_schema="},
		{"postgres not a url", []string{"queue", "stats", "--store", "postgres://u:hunter2@[::1/db"}, "not a valid connection URL"},
		{"unknown store", []string{"queue", "stats", "--store", "hunter2@host"}, "--store wants KIND:"},
		{"unknown sqlite option", []string{"queue", "stats", "--store", dsn + "?cache=big"}, `unknown parameter "cache"`},
		{"bad sqlite exclusive", []string{"queue", "stats", "--store", dsn + "?exclusive=yes"}, "exclusive= wants true or false"},
		{"queue without action", []string{"queue", "--store", dsn}, "missing action"},
		{"queue unknown action", []string{"queue", "purge", "--store", dsn}, `unknown action "purge"`},
		{"requeue id and endpoint", []string{"queue", "requeue", "--store", dsn, "--id", "x", "--endpoint", "y"}, "not both"},
		{"worker refuses http", []string{"worker", "--store", dsn, "--endpoints", file}, `endpoint #1 ("a"): url: http://127.0.0.1:9/… is plain http://`},
		{"worker zero workers", []string{"worker", "--store", dsn, "--endpoints", file, "--workers", "0"}, "--workers must be at least 1"},
		{"worker lease shorter than timeout", []string{"worker", "--store", dsn, "--endpoints", file, "--allow-http", "--allow-private", "--lease-for", "1s"}, "not shorter than the dispatcher's lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, "", tc.args...)
			assert.Equal(t, 2, r.code, r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr, "hunter2")
			assert.NotContains(t, r.stderr, "tok-in-path")
			assert.NotContains(t, r.stderr, testSecret)
		})
	}
	r := cli(t, "", "queue", "stats", "--store", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
	assert.Equal(t, 1, r.code, "an unreachable store is a failure, not a usage error")
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "opening the store")
	assert.NotContains(t, r.stderr, "hunter2")
	r = cli(t, "{\"type\":\"a-b\"}\n{\"type\":\"a-b\",\"data\":[1]}\n", "publish", "--store", dsn, "--endpoints", file, "-")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `stdin line 2: "data" must be a JSON object`)
	assert.Equal(t, map[string]int{"pending": 0, "leased": 0, "dead": 0}, storeStats(t, dsn), "the batch with a bad line is not stored")
}

// workerProc is a running `hookkit worker`.
type workerProc struct {
	cmd     *exec.Cmd
	started time.Time
	mu      sync.Mutex
	lines   []finishedJSON
	stderr  strings.Builder
	done    chan struct{}
}

func startWorker(t *testing.T, args ...string) *workerProc {
	t.Helper()
	w := &workerProc{done: make(chan struct{})}
	w.cmd = exec.Command(hookkitBin, append([]string{"worker"}, args...)...)
	stdout, err := w.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := w.cmd.StderrPipe()
	require.NoError(t, err)
	w.started = time.Now()
	require.NoError(t, w.cmd.Start())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var f finishedJSON
			if json.Unmarshal(sc.Bytes(), &f) == nil {
				w.mu.Lock()
				w.lines = append(w.lines, f)
				w.mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		b, _ := io.ReadAll(stderr)
		w.mu.Lock()
		w.stderr.Write(b)
		w.mu.Unlock()
	}()
	go func() {
		wg.Wait()
		_ = w.cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// TestE2EWorkerKilledLosesNothing is the crash test through the CLI: 2,000 events for two
// endpoints (4,000 deliveries) published durably, then a worker delivering them to a
// receiver that answers in 20–50 ms is killed with SIGKILL at about 1, 3 and 5 s and
// restarted each time; the last run goes --until-empty. Every delivery arrives, the
// duplicates (deliveries in flight when a worker was killed) are at most kills × workers,
// each restart resumes within --lease-for + 1 s, and the store ends empty and intact.
func TestE2EWorkerKilledLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: seconds of real deliveries")
	}
	const events, workers = 2000, 8
	const leaseFor = 3 * time.Second
	recv := newCountingReceiver(t, 20*time.Millisecond, 50*time.Millisecond)
	file := endpointsFile(t, endpointJSONAt("a", recv.srv.URL+"/a", ""), endpointJSONAt("b", recv.srv.URL+"/b", ""))
	path := filepath.Join(t.TempDir(), "hookkit.db")
	dsn := "sqlite:" + path

	var in strings.Builder
	for i := range events {
		fmt.Fprintf(&in, "{\"type\":\"order-created\",\"id\":\"evt_%d\",\"data\":{\"n\":%d}}\n", i, i)
	}
	r := cli(t, in.String(), "publish", "--store", dsn, "--endpoints", file, "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, fmt.Sprintf(`{"events":%d,"deliveries":%d}`, events, 2*events), r.stdout)

	args := []string{"--store", dsn, "--endpoints", file, "--workers", fmt.Sprint(workers), "--allow-private", "--allow-http",
		"--lease-for", leaseFor.String()}
	start := time.Now()
	kills := 0
	for _, at := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second} {
		w := startWorker(t, args...)
		before := recv.total.Load()
		// The restart resumes: something arrives within LeaseFor + 1 s.
		deadline := time.After(leaseFor + time.Second)
		for recv.total.Load() == before {
			select {
			case <-recv.hits:
			case <-deadline:
				t.Fatalf("worker %d: nothing delivered within %v of its start", kills+1, leaseFor+time.Second)
			}
		}
		if wait := time.Until(start.Add(at)); wait > 0 {
			time.Sleep(wait) // the kill's moment: the test's schedule, not a wait for an event
		}
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
		<-w.done
		kills++
	}
	require.Less(t, recv.total.Load(), int64(2*events), "the kills came while deliveries were still under way")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	last := startWorker(t, append(args, "--until-empty")...)
	select {
	case <-last.done:
	case <-ctx.Done():
		t.Fatalf("the last worker did not empty the store")
	}
	require.Equal(t, 0, last.cmd.ProcessState.ExitCode(), last.stderr.String())

	counts := recv.counts()
	missing, dups := 0, 0
	for i := range events {
		for _, ep := range []string{"/a", "/b"} {
			n := counts[fmt.Sprintf("%s evt_%d", ep, i)]
			if n == 0 {
				missing++
			}
			if n > 1 {
				dups += n - 1
			}
		}
	}
	t.Logf("crash test through the CLI: %d deliveries, %d kills, %d duplicates (bound %d), %.1f s",
		2*events, kills, dups, kills*workers, time.Since(start).Seconds())
	assert.Zero(t, missing, "no published delivery is missing")
	assert.LessOrEqual(t, dups, kills*workers, "duplicates are bounded by the deliveries in flight at each kill")
	assert.Equal(t, map[string]int{"pending": 0, "leased": 0, "dead": 0}, storeStats(t, dsn))

	st, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.IntegrityCheck(ctx))
}

// TestE2EWorkerSIGTERMIsGraceful: SIGTERM lets the attempts in flight finish (each is
// acknowledged and printed), exits 0, and leaves the rest pending for the next run: no
// duplicate, nothing lost.
func TestE2EWorkerSIGTERMIsGraceful(t *testing.T) {
	recv := newCountingReceiver(t, 300*time.Millisecond, 300*time.Millisecond)
	file := endpointsFile(t, endpointJSONAt("a", recv.srv.URL+"/a", ""))
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "hookkit.db")
	var in strings.Builder
	for i := range 40 {
		fmt.Fprintf(&in, "{\"type\":\"order-created\",\"id\":\"evt_%d\"}\n", i)
	}
	r := cli(t, in.String(), "publish", "--store", dsn, "--endpoints", file, "-")
	require.Equal(t, 0, r.code, r.stderr)

	args := []string{"--store", dsn, "--endpoints", file, "--workers", "4", "--allow-private", "--allow-http"}
	w := startWorker(t, args...)
	select {
	case <-recv.hits: // an attempt is in flight or done
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
	}
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop on SIGTERM")
	}
	assert.Equal(t, 0, w.cmd.ProcessState.ExitCode(), w.stderr.String())
	w.mu.Lock()
	printed := len(w.lines)
	w.mu.Unlock()
	assert.Equal(t, int(recv.total.Load()), printed, "every attempt in flight at SIGTERM finished and was recorded")
	st := storeStats(t, dsn)
	assert.Equal(t, 40-printed, st["pending"])
	assert.Zero(t, st["leased"], "the leases of a graceful stop are handed back")

	last := startWorker(t, append(args, "--until-empty")...)
	select {
	case <-last.done:
	case <-time.After(time.Minute):
		t.Fatal("the last worker did not empty the store")
	}
	require.Equal(t, 0, last.cmd.ProcessState.ExitCode(), last.stderr.String())
	for k, n := range recv.counts() {
		assert.Equal(t, 1, n, "%s delivered once", k)
	}
	assert.Len(t, recv.counts(), 40)
}

// TestE2EWorkersShareAPostgresStore: two workers on one Postgres store (as on two
// machines) share the work: every delivery arrives, each worker did a part of it, and no
// delivery was finished by both.
func TestE2EWorkersShareAPostgresStore(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	recv := newCountingReceiver(t, 5*time.Millisecond, 15*time.Millisecond)
	file := endpointsFile(t, endpointJSONAt("a", recv.srv.URL+"/a", ""), endpointJSONAt("b", recv.srv.URL+"/b", ""))
	var in strings.Builder
	const events = 300
	for i := range events {
		fmt.Fprintf(&in, "{\"type\":\"order-created\",\"id\":\"evt_%d\"}\n", i)
	}
	r := cli(t, in.String(), "publish", "--store", dsn, "--endpoints", file, "-")
	require.Equal(t, 0, r.code, r.stderr)
	args := []string{"--store", dsn, "--endpoints", file, "--workers", "4", "--allow-private", "--allow-http", "--until-empty"}
	w1, w2 := startWorker(t, args...), startWorker(t, args...)
	for _, w := range []*workerProc{w1, w2} {
		select {
		case <-w.done:
		case <-time.After(2 * time.Minute):
			t.Fatal("a worker did not empty the store")
		}
		require.Equal(t, 0, w.cmd.ProcessState.ExitCode(), w.stderr.String())
	}
	finished := map[string]int{}
	for _, w := range []*workerProc{w1, w2} {
		assert.GreaterOrEqual(t, len(w.lines), 2*events/10, "each worker did at least 10 %% of the work")
		for _, l := range w.lines {
			finished[l.ID]++
			assert.Equal(t, "delivered", l.Outcome)
		}
	}
	assert.Len(t, finished, 2*events)
	for id, n := range finished {
		assert.Equal(t, 1, n, "%s finished once", id)
	}
	counts := recv.counts()
	assert.Len(t, counts, 2*events)
	assert.Equal(t, map[string]int{"pending": 0, "leased": 0, "dead": 0}, storeStats(t, dsn))
}
