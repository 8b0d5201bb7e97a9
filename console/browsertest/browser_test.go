package browsertest

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // services.PostgresSchema's driver

	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/sender"
)

// chromiumPath is Debian's chromium (internal/testenv/chromium/install.sh installs it).
const chromiumPath = "/usr/bin/chromium"

var updateScreenshot = flag.Bool("update-screenshot", false, "also copy the memqueue run's screenshot to docs/console.png (the README's)")

// Receiver modes.
const (
	modeAccept  = iota // 200 at once
	modeFail           // 503 to an event's first attempt, then 422 with a problem document: a dead letter
	modeBlocked        // hold each request until released, then 200
)

// receiver is a plain loopback webhook receiver whose answers the test switches.
type receiver struct {
	mode      atomic.Int32
	release   chan struct{}
	mu        sync.Mutex
	delivered map[string]int // event id: acknowledged attempts
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var ev struct {
		ID         string `json:"id"`
		RetryCount int    `json:"retryCount"`
	}
	if err != nil || json.Unmarshal(body, &ev) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	switch rc.mode.Load() {
	case modeFail:
		if ev.RetryCount == 0 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"type":"https://acme.example/problems/unknown-order","title":"Unknown order","detail":"order 93be does not exist yet"}`)
		return
	case modeBlocked:
		select {
		case <-rc.release:
		case <-r.Context().Done():
			return
		}
	}
	rc.mu.Lock()
	rc.delivered[ev.ID]++
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// serve serves h on a new loopback listener until the end of the test; it returns the URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// browser starts headless Chromium for the test; it skips when there is none (fails in CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (internal/testenv/chromium/install.sh installs it)", chromiumPath)
		}
		t.Skipf("%s is missing: run internal/testenv/chromium/install.sh", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first Do starts the browser, which lives as long as bctx: no timeout on it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run runs a chromedp action and returns its value, failing the test on an error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// do runs chromedp actions in order, failing the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// newPgStore returns a pgqueue.Store in a schema of its own on the test server
// (services.Postgres: skipped without one, failed when CI=true), dropped at the end.
func newPgStore(t *testing.T) queue.Store {
	t.Helper()
	dsn, schema := services.PostgresSchema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := pgqueue.New(t.Context(), pool, pgqueue.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestConsoleInBrowser: a dispatcher delivers to a loopback receiver that first fails
// (two dead letters, each with a 503 then a 422 problem) and then accepts; in Chromium,
// the console's endpoint page lists the dead letters with their last error and renders
// the chart; clicking Requeue moves one to pending (shown there while the receiver holds
// the request) and the worker delivers it (the receiver counts it). Screenshots of the
// pages are written under the test's artifact directory (go test -artifacts keeps them).
// It runs on memqueue, sqlitequeue and pgqueue (with a PostgreSQL: HOOKKIT_TEST_POSTGRES).
func TestConsoleInBrowser(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) queue.Store
	}{
		{"memqueue", func(*testing.T) queue.Store { return memqueue.New(memqueue.Config{}) }},
		{"sqlitequeue", newSqliteStore},
		{"pgqueue", func(t *testing.T) queue.Store { return newPgStore(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { runConsoleInBrowser(t, tc.store(t), tc.name == "memqueue" && *updateScreenshot) })
	}
}

func runConsoleInBrowser(t *testing.T, store queue.Store, copyScreenshot bool) {
	ctx := t.Context()
	rc := &receiver{release: make(chan struct{}), delivered: map[string]int{}}
	hookURL := serve(t, rc)

	rec := console.NewRecorder(100)
	s, err := sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true, Observer: rec.Observer()})
	if err != nil {
		t.Fatal(err)
	}
	dead := make(chan string, 10)
	delivered := make(chan string, 100)
	d, err := dispatch.New(s, store, dispatch.Config{PollInterval: 50 * time.Millisecond, Observer: dispatch.Observer{
		DeadLettered: func(_ context.Context, del queue.Delivery) { dead <- del.ID },
		Delivered:    func(_ context.Context, del queue.Delivery) { delivered <- del.ID },
	}})
	if err != nil {
		t.Fatal(err)
	}
	retry := &sender.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxAttempts: 5}
	for _, id := range []string{"acme", "globex"} {
		if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: id, URL: hookURL + "/hooks/" + id, Retry: retry}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(sctx)
	})
	publish := func(typ string) string {
		t.Helper()
		ev, err := event.New(typ, map[string]string{"orderId": "93be"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	wait := func(ch chan string, n int, what string) []string {
		t.Helper()
		var got []string
		timeout := time.After(20 * time.Second)
		for len(got) < n {
			select {
			case id := <-ch:
				got = append(got, id)
			case <-timeout:
				t.Fatalf("%s: %d of %d after 20 s", what, len(got), n)
			}
		}
		return got
	}

	// Delivered first, so that the chart has acknowledged attempts too.
	for range 6 {
		publish("order-created")
	}
	wait(delivered, 12, "delivered")
	// Then the receiver fails acme's (and globex's) next events: dead letters.
	rc.mode.Store(modeFail)
	publish("order-paid")
	publish("order-shipped")
	deadIDs := wait(dead, 4, "dead letters")
	rc.mode.Store(modeBlocked)

	c, err := console.New(d, console.Config{Recorder: rec, Title: "Acme webhooks"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/webhooks/", http.StripPrefix("/admin/webhooks", c))
	consoleURL := serve(t, mux) + "/admin/webhooks"

	bctx := browser(t)
	do(t, bctx, chromedp.Navigate(consoleURL+"/endpoints/acme"), chromedp.WaitVisible(chromedp.CSS("table.dead-letters")))
	deadText := run(t, bctx, chromedp.Text(chromedp.CSS("table.dead-letters tbody")))
	bars := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart rect.bar").length`))
	okBars := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart rect.bar.ok").length`))
	failBars := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart rect.bar.fail").length`))
	png := run(t, bctx, chromedp.FullScreenshot(100))
	for _, want := range []string{"rejected permanently", "422", "status 422 Unprocessable Entity: Unknown order: order 93be does not exist yet", "order-paid", "order-shipped"} {
		if !strings.Contains(deadText, want) {
			t.Errorf("the dead letters table lacks %q:\n%s", want, deadText)
		}
	}
	// acme: 6 acknowledged, then 2 × (503, 422).
	if bars != 10 || okBars != 6 || failBars != 2 {
		t.Errorf("chart bars: %d (ok %d, fail %d), want 10 (ok 6, fail 2)", bars, okBars, failBars)
	}
	shot := filepath.Join(t.ArtifactDir(), "console.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if copyScreenshot {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "console.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A dead letter's page: its full attempt history.
	do(t, bctx, chromedp.Click(chromedp.CSS("table.dead-letters tbody tr:first-child td:first-child a")),
		chromedp.WaitVisible(chromedp.CSS("table.attempts")))
	history := run(t, bctx, chromedp.Text(chromedp.CSS("table.attempts tbody")))
	if n := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("table.attempts tbody tr").length`)); n != 2 {
		t.Errorf("the attempt history has %d rows, want 2:\n%s", n, history)
	}
	for _, want := range []string{"503", "retryable", "422", "permanent", "Unknown order: order 93be does not exist yet (https://acme.example/problems/unknown-order)"} {
		if !strings.Contains(history, want) {
			t.Errorf("the attempt history lacks %q:\n%s", want, history)
		}
	}
	shot = filepath.Join(t.ArtifactDir(), "dead-letter.png")
	if err := os.WriteFile(shot, run(t, bctx, chromedp.FullScreenshot(100)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// The overview: both endpoints, their counts and charts.
	do(t, bctx, chromedp.Navigate(consoleURL+"/"), chromedp.WaitVisible(chromedp.CSS("table.endpoints")))
	overview := run(t, bctx, chromedp.Text(chromedp.CSS("table.endpoints tbody")))
	for _, want := range []string{"acme", "globex", "active"} {
		if !strings.Contains(overview, want) {
			t.Errorf("the overview lacks %q:\n%s", want, overview)
		}
	}
	if n := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll("table.endpoints svg.chart").length`)); n != 2 {
		t.Errorf("the overview has %d endpoint charts, want 2", n)
	}
	shot = filepath.Join(t.ArtifactDir(), "overview.png")
	if err := os.WriteFile(shot, run(t, bctx, chromedp.FullScreenshot(100)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	do(t, bctx, chromedp.Navigate(consoleURL+"/endpoints/acme"), chromedp.WaitVisible(chromedp.CSS("table.dead-letters")))

	// Requeue the first dead letter of the page (the oldest): pending while the receiver
	// holds it, then delivered.
	firstID := run(t, bctx, chromedp.Text(chromedp.CSS("table.dead-letters tbody tr:first-child td:first-child a")))
	do(t, bctx, chromedp.Click(chromedp.CSS("table.dead-letters tbody tr:first-child button.requeue")),
		chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
	pendingText := run(t, bctx, chromedp.Text(chromedp.CSS("table.pending tbody")))
	if !slices.Contains(deadIDs, firstID) {
		t.Fatalf("the first row %q is none of the dead letters %v", firstID, deadIDs)
	}
	if !strings.Contains(pendingText, firstID) {
		t.Errorf("after Requeue, %s is not in the pending table:\n%s", firstID, pendingText)
	}
	close(rc.release)
	if got := wait(delivered, 1, "the requeued delivery"); got[0] != firstID {
		t.Errorf("delivered %s, want %s", got[0], firstID)
	}
	p, err := store.ListDead(ctx, queue.ListFilter{EndpointID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Deliveries) != 1 || p.Deliveries[0].ID == firstID {
		t.Errorf("acme's dead letters after the requeue: %v", ids(p.Deliveries))
	}
	total := 0
	rc.mu.Lock()
	for _, n := range rc.delivered {
		total += n
	}
	rc.mu.Unlock()
	if total != 13 {
		t.Errorf("the receiver acknowledged %d deliveries, want 13 (12, then the requeued one)", total)
	}
	do(t, bctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.dead-letters")))
	after := run(t, bctx, chromedp.Text(chromedp.CSS("table.dead-letters tbody")))
	if strings.Contains(after, firstID) {
		t.Errorf("the requeued delivery is still listed as a dead letter")
	}
}

func ids(ds []queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}
