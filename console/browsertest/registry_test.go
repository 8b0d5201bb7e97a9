package browsertest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// TestRegistryOverviewOnPgqueue: a console beside the workers (console.Registered) over a
// pgqueue registry of many endpoints (10,000; 5,000 under -race: registering them is the
// slow part, ~1 ms each) renders its overview one page at a time — Config.PageSize rows
// from one ListEndpoints, a late page from the registry's cursor, the last page without a
// next link — within a bound, with the shared state and counts of each endpoint on it.
// At 100,000 endpoints (n edited, once) the first page took 10 ms and a late one 13 ms.
func TestRegistryOverviewOnPgqueue(t *testing.T) {
	n, bound := 10_000, 2*time.Second
	if raceEnabled {
		n, bound = 5_000, 10*time.Second
	}
	if testing.Short() {
		n = 2_000
	}
	store := newPgStore(t)
	reg, ok := store.(queue.Registry)
	if !ok {
		t.Fatal("pgqueue is a registry")
	}
	ctx := context.Background()
	now := time.Now()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				e := queue.Endpoint{ID: fmt.Sprintf("ep-%06d", i), Spec: []byte(`P{}`),
					Patterns: []queue.Pattern{{Kind: queue.PatternExact, Value: fmt.Sprintf("type-%d", i%100)}}, UpdatedAt: now}
				if i%1000 == 7 {
					e.State, e.Failures, e.Reason = queue.EndpointDisabled, 1, "410 Gone"
				}
				if _, err := reg.PutEndpoint(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d endpoints registered in %v", n, time.Since(start))
	buryMany(t, store, "ep-000007", 3)

	c, err := console.New(console.Registered(store, reg), console.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	get := func(p string) (string, time.Duration) {
		t.Helper()
		return timedGet(t, srv.Client(), srv.URL+p)
	}
	_, _ = get("/") // warm: prepared statements, connections
	page, took := get("/")
	t.Logf("overview (first page of %d endpoints) in %v", n, took)
	if took > bound {
		t.Errorf("the overview took %v", took)
	}
	rows := regexp.MustCompile(`<td><a href="/endpoints/([^"]+)">`).FindAllStringSubmatch(page, -1)
	if len(rows) != console.DefaultPageSize {
		t.Fatalf("%d rows, want %d", len(rows), console.DefaultPageSize)
	}
	if rows[0][1] != "ep-000000" || rows[len(rows)-1][1] != fmt.Sprintf("ep-%06d", console.DefaultPageSize-1) {
		t.Errorf("the first page is not the first endpoints: %s … %s", rows[0][1], rows[len(rows)-1][1])
	}
	row7 := regexp.MustCompile(`(?s)<a href="/endpoints/ep-000007">.*?</tr>`).FindString(page)
	if !strings.Contains(row7, `<span class="state disabled">disabled</span>`) || !strings.Contains(row7, `<td class="num dead">3</td>`) {
		t.Errorf("ep-000007's row lacks its state or its dead letters: %s", row7)
	}
	// Deep in the registry, from a cursor: one page again.
	deep := fmt.Sprintf("ep-%06d", n-2*console.DefaultPageSize+6)
	page, took = get("/?after=" + deep)
	t.Logf("overview page after %s in %v", deep, took)
	if took > bound {
		t.Errorf("a late overview page took %v", took)
	}
	rows = regexp.MustCompile(`<td><a href="/endpoints/([^"]+)">`).FindAllStringSubmatch(page, -1)
	if len(rows) != console.DefaultPageSize || rows[0][1] <= deep {
		t.Fatalf("%d rows after %s, first %v", len(rows), deep, rows[0])
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(page)
	if next == nil {
		t.Fatal("no next page")
	}
	last, _ := get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if strings.Contains(last, `rel="next"`) || !strings.Contains(last, fmt.Sprintf(`href="/endpoints/ep-%06d"`, n-1)) {
		t.Errorf("the last page does not end the registry")
	}
}
