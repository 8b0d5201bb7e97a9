package browsertest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// newSqliteStore returns a sqlitequeue.Store in a new file of the test's (SyncNormal: no
// fsync per commit), closed at the end.
func newSqliteStore(t *testing.T) queue.Store {
	t.Helper()
	s, err := sqlitequeue.Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), sqlitequeue.Config{Synchronous: sqlitequeue.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// buryMany stores n dead letters of endpoint ep, 1,000 per Enqueue, each with one attempt.
func buryMany(t *testing.T, s queue.Store, ep string, n int) {
	t.Helper()
	ctx := t.Context()
	ev, err := event.New("order-created", map[string]string{"orderId": "93be"})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for start := 0; start < n; start += 1000 {
		var ds []queue.Delivery
		for i := start; i < min(n, start+1000); i++ {
			ds = append(ds, queue.Delivery{ID: fmt.Sprintf("dl-%05d", i), EndpointID: ep, Event: enc, Created: now, Due: now})
		}
		if err := s.Enqueue(ctx, ds...); err != nil {
			t.Fatal(err)
		}
		leased, err := s.Lease(ctx, queue.LeaseRequest{Now: now, Max: len(ds), For: time.Minute})
		if err != nil || len(leased) != len(ds) {
			t.Fatalf("lease: %d of %d, %v", len(leased), len(ds), err)
		}
		outs := make([]queue.Outcome, len(leased))
		for i, d := range leased {
			outs[i] = queue.DeadLetter(d.ID, d.Lease, queue.DeadReasonRejected, queue.Attempt{Number: 1, Start: now,
				Duration: 20 * time.Millisecond, Status: 422, Class: queue.ClassPermanent, Error: "status 422 Unprocessable Entity: Unknown order"})
		}
		errs, err := s.Complete(ctx, now, outs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				t.Fatal(e)
			}
		}
	}
}

// With 10,000 dead letters in each durable store, the console's endpoint page holds one
// page of rows and renders in bounded time (its counts from one GROUP BY query), the next
// page follows by cursor, and a dead letter's page finds it from the position its link
// carries. Under -race, SQLite gets 2,000 (the race detector slows modernc's SQLite some
// fifty times: seeding 10,000 would take about 50 s); the memqueue run with 10,000 is the
// console's own TestPaginationTenThousandDeadLetters.
func TestDeadLetterPagesOnEveryStore(t *testing.T) {
	sqliteN, bound := 10000, 2*time.Second
	if raceEnabled {
		sqliteN, bound = 2000, 10*time.Second
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) queue.Store
		n     int
	}{
		{"sqlitequeue", newSqliteStore, sqliteN},
		{"pgqueue", newPgStore, 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			if _, ok := store.(queue.EndpointCounter); !ok {
				t.Fatal("the store counts per endpoint")
			}
			buryMany(t, store, "acme", tc.n)
			s, err := sender.New(sender.Config{})
			if err != nil {
				t.Fatal(err)
			}
			d, err := dispatch.New(s, store, dispatch.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/x"}}); err != nil {
				t.Fatal(err)
			}
			c, err := console.New(d, console.Config{})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(c)
			t.Cleanup(srv.Close)
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
			get := func(p string) (string, time.Duration) {
				t.Helper()
				return timedGet(t, client, srv.URL+p)
			}
			_, _ = get("/endpoints/acme") // warm: prepared statements, connections
			page, took := get("/endpoints/acme")
			t.Logf("%s: endpoint page with %d dead letters in %v", tc.name, tc.n, took)
			if took > bound {
				t.Errorf("the endpoint page took %v", took)
			}
			if n := strings.Count(page, `class="requeue"`); n != console.DefaultPageSize {
				t.Errorf("%d rows, want %d", n, console.DefaultPageSize)
			}
			if !strings.Contains(page, fmt.Sprintf(`<span class="dead">%d</span>`, tc.n)) {
				t.Errorf("the exact count is not shown")
			}
			_, took = get("/")
			t.Logf("%s: overview in %v", tc.name, took)
			if took > bound {
				t.Errorf("the overview took %v", took)
			}
			next := regexp.MustCompile(`href="([^"]+)#dead" rel="next"`).FindStringSubmatch(page)
			if next == nil {
				t.Fatal("no next page")
			}
			page2, _ := get(strings.ReplaceAll(next[1], "&amp;", "&"))
			if !strings.Contains(page2, "dl-00050") || strings.Contains(page2, "dl-00049\"") {
				t.Errorf("the second page does not start at the 51st dead letter")
			}
			// The last dead letter's page, from the position its link carries (queue.Cursor).
			var lastDL queue.Delivery
			for after := ""; ; {
				p, err := store.ListDead(t.Context(), queue.ListFilter{EndpointID: "acme", Limit: 1000, After: after})
				if err != nil {
					t.Fatal(err)
				}
				lastDL = p.Deliveries[len(p.Deliveries)-1]
				if after = p.Next; after == "" {
					break
				}
			}
			last := "/endpoints/acme/dead/" + lastDL.ID + "?" + url.Values{"at": {queue.Cursor(lastDL.DeadAt, lastDL.Seq)}}.Encode()
			dl, took := get(last)
			t.Logf("%s: the last dead letter's page in %v", tc.name, took)
			if took > bound {
				t.Errorf("the dead letter's page took %v", took)
			}
			if !strings.Contains(dl, "Dead letter "+fmt.Sprintf("dl-%05d", tc.n-1)) {
				t.Errorf("the dead letter's page does not show it")
			}
		})
	}
}

// timedGet GETs url with client and returns the body and how long the request took,
// failing t on an error or a status other than 200.
func timedGet(t *testing.T, client *http.Client, url string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return string(b), time.Since(start)
}
