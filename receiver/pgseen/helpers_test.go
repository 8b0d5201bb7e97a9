package pgseen_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/pgseen"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// pgURL is the test Postgres (services.PostgresEnv), for the child processes and the
// Example, which cannot ask for it.
var pgURL = os.Getenv(services.PostgresEnv)

// shared is the pool the tests of this package share (closed by TestMain).
var shared pgtest.SharedPool

// TestMain runs a child receiver (crash_test.go) when the test binary is started as one,
// and otherwise the tests; it leaves the Examples out when there is no test Postgres, as
// the tests skip then, unless CI=true (where the Examples fail, as the tests do) or -run
// names what to run.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	flag.Parse()
	if pgURL == "" && os.Getenv("CI") != "true" && flag.Lookup("test.run").Value.String() == "" {
		_ = flag.Set("test.run", "^Test")
		fmt.Fprintf(os.Stderr, "pgseen: no %s: the Examples need Postgres and are not run\n", services.PostgresEnv)
	}
	os.Exit(shared.Run(m))
}

// newStore returns a Store in a new schema of the shared pool.
func newStore(t testing.TB, cfg pgseen.Config) *pgseen.Store {
	t.Helper()
	cfg.Schema = pgtest.Schema(t)
	s, err := pgseen.New(context.Background(), shared.Get(t), cfg)
	require.NoError(t, err)
	return s
}

// testSecret is the signing secret of the tests' sender and receivers (not a real one).
const testSecret = "whsec_cGdzZWVuLXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWYh"

func testKeys(t testing.TB) *signature.KeySet {
	t.Helper()
	key, err := signature.Standard().ParseKey("k1", testSecret)
	require.NoError(t, err)
	ks, err := signature.NewKeySet(key)
	require.NoError(t, err)
	return ks
}

// createPayments creates the application's table in schema: one row per handler effect,
// without a unique key, so that a second run of a handler shows as a second row.
func createPayments(t testing.TB, pool *pgxpool.Pool, schema string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `CREATE TABLE `+pgx.Identifier{schema, "payments"}.Sanitize()+
		` (n bigserial PRIMARY KEY, event_id text NOT NULL)`)
	require.NoError(t, err)
}

// insertPayment is the handlers' business change.
func insertPayment(ctx context.Context, tx pgx.Tx, schema, eventID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "payments"}.Sanitize()+` (event_id) VALUES ($1)`, eventID)
	return err
}

// payments returns the number of rows of each event id.
func payments(t testing.TB, pool *pgxpool.Pool, schema string) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id, count(*) FROM `+
		pgx.Identifier{schema, "payments"}.Sanitize()+` GROUP BY event_id`)
	require.NoError(t, err)
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		require.NoError(t, rows.Scan(&id, &n))
		out[id] = n
	}
	require.NoError(t, rows.Err())
	return out
}

// newSender returns a Sender to loopback http:// receivers that retries quickly and
// follows Retry-After for at most 20 ms.
func newSender(t testing.TB) *sender.Sender {
	t.Helper()
	s, err := sender.New(sender.Config{
		AllowPrivate: true,
		AllowHTTP:    true,
		Retry: sender.RetryPolicy{
			InitialInterval: 5 * time.Millisecond,
			MaxInterval:     50 * time.Millisecond,
			MaxAttempts:     400,
			MaxElapsedTime:  60 * time.Second,
			MaxRetryAfter:   20 * time.Millisecond,
		},
	})
	require.NoError(t, err)
	return s
}

// endpoint returns the endpoint of the receiver at url.
func endpoint(t testing.TB, url string) sender.Endpoint {
	return sender.Endpoint{ID: "receiver", URL: url, Keys: testKeys(t), Timeout: 20 * time.Second}
}

// newEvents returns n events with distinct ids.
func newEvents(t testing.TB, n int) []*event.Event {
	t.Helper()
	out := make([]*event.Event, n)
	for i := range out {
		ev, err := event.New("payment-received", map[string]int{"i": i})
		require.NoError(t, err)
		out[i] = ev
	}
	return out
}

// serve starts a loopback server for h behind a receiver middleware using seen, with
// lease (0: the default) and observer. The request context carries the webhook-id header
// for the observer (idFrom).
func serve(t testing.TB, seen receiver.SeenStore, lease time.Duration, obs receiver.RequestObserver, h http.Handler) *httptest.Server {
	t.Helper()
	mw, err := receiver.New(receiver.Config{Keys: testKeys(t), Seen: seen, Lease: lease, Observer: obs})
	require.NoError(t, err)
	guarded := mw(h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		guarded.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), idKey{}, r.Header.Get("webhook-id"))))
	}))
	t.Cleanup(srv.Close)
	return srv
}

type idKey struct{}

// idFrom returns the webhook-id header of a request served by serve.
func idFrom(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

// counter counts calls by key, safe for concurrent use.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

// add adds one to key and returns the new count.
func (c *counter) add(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
	return c.n[key]
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}
