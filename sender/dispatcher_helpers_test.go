package sender_test

// Helpers of the dispatcher tests: a Sender that may reach loopback test servers, short
// retry policies, and test receivers that record what they get.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// dspSender returns a Sender allowed to deliver to plain-HTTP loopback servers.
func dspSender(t testing.TB) *sender.Sender {
	t.Helper()
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true, Retry: *dspRetry(5, 10*time.Millisecond)})
	require.NoError(t, err)
	t.Cleanup(s.CloseIdleConnections)
	return s
}

// dspRetry is a short retry policy for tests.
func dspRetry(attempts int, initial time.Duration) *sender.RetryPolicy {
	return &sender.RetryPolicy{InitialInterval: initial, MaxInterval: 4 * initial, MaxAttempts: attempts, MaxElapsedTime: time.Minute}
}

// dspSub returns a subscription of an endpoint at url to the event types matched by
// patterns (all when none).
func dspSub(t testing.TB, id, url string, retry *sender.RetryPolicy, patterns ...string) sender.Subscription {
	t.Helper()
	f, err := event.NewFilter(patterns...)
	require.NoError(t, err)
	return sender.Subscription{Endpoint: sender.Endpoint{ID: id, URL: url, Timeout: 2 * time.Second, Retry: retry}, Filter: f}
}

// dspHit is one request a test receiver got.
type dspHit struct {
	ID         string
	Type       string
	RetryCount int
	At         time.Time
}

// dspServer is a loopback receiver that records every request and answers with respond.
type dspServer struct {
	*httptest.Server
	mu       sync.Mutex
	hits     []dspHit
	inflight atomic.Int32
	maxIn    atomic.Int32
	respond  atomic.Pointer[func(w http.ResponseWriter, h dspHit, n int)]
}

func newDspServer(t testing.TB, respond func(w http.ResponseWriter, h dspHit, n int)) *dspServer {
	t.Helper()
	s := &dspServer{}
	s.setRespond(respond)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for {
			m := s.maxIn.Load()
			if in <= m || s.maxIn.CompareAndSwap(m, in) {
				break
			}
		}
		body, _ := io.ReadAll(r.Body)
		ev, err := event.Parse(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h := dspHit{ID: ev.ID, Type: ev.Type, RetryCount: ev.RetryCount, At: time.Now()}
		s.mu.Lock()
		s.hits = append(s.hits, h)
		count := len(s.hits)
		s.mu.Unlock()
		(*s.respond.Load())(w, h, count)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *dspServer) setRespond(f func(w http.ResponseWriter, h dspHit, n int)) {
	if f == nil {
		f = func(w http.ResponseWriter, _ dspHit, _ int) { w.WriteHeader(http.StatusNoContent) }
	}
	s.respond.Store(&f)
}

func (s *dspServer) Hits() []dspHit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dspHit(nil), s.hits...)
}

func (s *dspServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hits)
}

// status answers every request with code.
func status(code int) func(w http.ResponseWriter, _ dspHit, _ int) {
	return func(w http.ResponseWriter, _ dspHit, _ int) { w.WriteHeader(code) }
}

// dspStates records endpoint state changes.
type dspStates struct {
	mu      sync.Mutex
	changes []sender.EndpointStateChange
	onEach  func(c sender.EndpointStateChange)
}

func (r *dspStates) EndpointStateChanged(_ context.Context, c sender.EndpointStateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	if r.onEach != nil {
		r.onEach(c)
	}
}

// hooks returns a DeliveryObserver whose EndpointStateChanged records into r.
func (r *dspStates) hooks() sender.DeliveryObserver {
	return sender.DeliveryObserver{EndpointStateChanged: r.EndpointStateChanged}
}

func (r *dspStates) States(id string) []sender.EndpointState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sender.EndpointState
	for _, c := range r.changes {
		if c.EndpointID == id {
			out = append(out, c.To)
		}
	}
	return out
}

func newEvent(t testing.TB, typ string) *event.Event {
	t.Helper()
	ev, err := event.New(typ, map[string]string{"k": "v"})
	require.NoError(t, err)
	return ev
}

// newDispatcher builds a dispatcher and shuts it down at the end of the test.
func newDispatcher(t testing.TB, s *sender.Sender, store sender.Store, cfg sender.DispatcherConfig) *sender.Dispatcher {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	d, err := sender.NewDispatcher(s, store, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	return d
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, what)
}

// dspNoLeaks checks, after every other cleanup of the test (servers closed, dispatcher
// shut down), that no goroutine was left behind.
func dspNoLeaks(t testing.TB) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}
