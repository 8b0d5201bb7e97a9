package dispatch_test

// Helpers of the dispatcher tests: a Sender that may reach loopback test servers, an
// in-process network for tests in a synctest bubble, short retry policies, and test
// receivers that record what they get.
//
// Most dispatcher tests run in a synctest bubble (dspBubble): the dispatcher's timers,
// the attempts' timeouts, the store's clock and the handlers' sleeps all run on the
// bubble's fake clock, and synctest.Wait stands for "everything that can happen now has
// happened". A bubble cannot use real sockets (an httptest.Server's accept loop is never
// durably blocked, so fake time would never advance): there the Sender's transport is
// dspNet, which serves each request with a test handler in process. TestSoakDispatcher
// and TestDispatcherDeliversOverLoopback keep real loopback servers (newDspServer).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
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
func dspSub(t testing.TB, id, url string, retry *sender.RetryPolicy, patterns ...string) dispatch.Subscription {
	t.Helper()
	f, err := event.NewFilter(patterns...)
	require.NoError(t, err)
	return dispatch.Subscription{Endpoint: sender.Endpoint{ID: id, URL: url, Timeout: 2 * time.Second, Retry: retry}, Filter: f}
}

// dspHit is one request a test receiver got.
type dspHit struct {
	ID         string
	Type       string
	RetryCount int
	At         time.Time
	// ClientGone is closed when the client gave up on the request: the request's context
	// ended (on loopback, the server saw the connection close).
	ClientGone <-chan struct{}
}

// dspServer is a test receiver that records every request and answers with respond. It
// listens on loopback (newDspServer) or is served in process by a dspNet (dspNet.server).
type dspServer struct {
	URL      string // base URL, without a trailing slash (as httptest.Server's)
	mu       sync.Mutex
	hits     []dspHit
	inflight atomic.Int32
	maxIn    atomic.Int32
	respond  atomic.Pointer[func(w http.ResponseWriter, h dspHit, n int)]
}

// newDspServer starts a dspServer on a loopback listener, closed at the end of the test.
func newDspServer(t testing.TB, respond func(w http.ResponseWriter, h dspHit, n int)) *dspServer {
	t.Helper()
	s := &dspServer{}
	s.setRespond(respond)
	srv := httptest.NewServer(s)
	s.URL = srv.URL
	t.Cleanup(srv.Close)
	return s
}

// ServeHTTP records the request and answers it with respond.
func (s *dspServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	h := dspHit{ID: ev.ID, Type: ev.Type, RetryCount: ev.RetryCount, At: time.Now(), ClientGone: r.Context().Done()}
	s.mu.Lock()
	s.hits = append(s.hits, h)
	count := len(s.hits)
	s.mu.Unlock()
	(*s.respond.Load())(w, h, count)
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

// dspBubble runs f in a synctest bubble with a new in-process network. Every goroutine
// the test starts in the bubble must have ended when f and its cleanups return
// (synctest.Test fails the test otherwise); after that, goleak checks that none was left
// behind outside the bubble either. Cleanups registered in f (newDispatcher's Shutdown)
// run inside the bubble, before it ends.
func dspBubble(t *testing.T, f func(t *testing.T, n *dspNet)) {
	t.Helper()
	dspNoLeaks(t) // on the outer test: runs after synctest.Test has returned
	synctest.Test(t, func(t *testing.T) { f(t, &dspNet{hosts: map[string]http.Handler{}}) })
}

// dspNet is an in-process network for tests in a synctest bubble: an http.RoundTripper
// that serves each request with the handler registered for its host, in a goroutine of
// the bubble, without a socket. The response comes through an io.Pipe: RoundTrip returns
// when the handler writes its header (or returns), so a handler that blocks keeps the
// request in flight; the request's context is the handler's, and when it ends (attempt
// timeout, the dispatcher's hard stop) RoundTrip and the body return its error at once,
// as a client whose connection is closed would see. A host without a handler refuses the
// connection.
type dspNet struct {
	mu    sync.Mutex
	hosts map[string]http.Handler
}

// server returns a dspServer served by n at a host of its own under .hooks.test (a
// reserved name: nothing resolves it, nothing dials it).
func (n *dspNet) server(respond func(w http.ResponseWriter, h dspHit, n int)) *dspServer {
	s := &dspServer{}
	s.setRespond(respond)
	n.mu.Lock()
	host := fmt.Sprintf("srv%d.hooks.test", len(n.hosts)+1)
	n.hosts[host] = s
	n.mu.Unlock()
	s.URL = "http://" + host
	return s
}

// newSender returns a Sender configured by cfg whose requests n serves. GuardedTransport
// tells New to use n as it is: the SSRF guard lives in the dialer, and an in-process
// handler has no address to check nor a dial to refuse (the guard has its own tests, over
// real sockets). AllowHTTP admits the plain http:// URLs of n's servers.
func (n *dspNet) newSender(t testing.TB, cfg sender.Config) *sender.Sender {
	t.Helper()
	cfg.HTTPClient = &http.Client{Transport: n}
	cfg.GuardedTransport = true
	cfg.AllowHTTP = true
	s, err := sender.New(cfg)
	require.NoError(t, err)
	return s
}

// sender is dspSender for n: the short retry policy of the dispatcher tests.
func (n *dspNet) sender(t testing.TB) *sender.Sender {
	t.Helper()
	return n.newSender(t, sender.Config{Retry: *dspRetry(5, 10*time.Millisecond)})
}

// errRefused is what a request to a host without a handler gets.
var errRefused = errors.New("connection refused")

// RoundTrip serves req with the handler of its host.
func (n *dspNet) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil { // a RoundTripper closes the body, whatever happens
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	h := n.hosts[req.URL.Host]
	n.mu.Unlock()
	if h == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errRefused}
	}
	ctx := req.Context()
	// The request as a server hands it to its handler. Its context is the client's: it
	// ends when the client gives up, as a server's does when the connection closes.
	sreq := req.Clone(ctx)
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "pipe"
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, head: make(chan struct{}), body: pw}
	go func() {
		defer func() {
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing answers 200, as a server's does
			pw.Close()
		}()
		h.ServeHTTP(w, sreq)
	}()
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	select {
	case <-w.head:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)), StatusCode: w.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, Body: &pipeBody{PipeReader: pr, stop: stop}, ContentLength: -1, Request: req,
	}, nil
}

// pipeResponse is the http.ResponseWriter of a dspNet handler. Only the handler's
// goroutine calls it; RoundTrip reads code and sent after head is closed.
type pipeResponse struct {
	header http.Header
	sent   http.Header // header as it was at WriteHeader
	code   int
	head   chan struct{} // closed by WriteHeader
	body   *io.PipeWriter
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(code int) {
	if w.sent != nil {
		return
	}
	w.code, w.sent = code, w.header.Clone()
	close(w.head)
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// pipeBody is a dspNet response body; closing it stops watching the request's context.
type pipeBody struct {
	*io.PipeReader
	stop func() bool
}

func (b *pipeBody) Close() error {
	b.stop()
	return b.PipeReader.Close()
}

// dspStates records endpoint state changes.
type dspStates struct {
	mu      sync.Mutex
	changes []dispatch.EndpointStateChange
	onEach  func(c dispatch.EndpointStateChange)
}

func (r *dspStates) EndpointStateChanged(_ context.Context, c dispatch.EndpointStateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	if r.onEach != nil {
		r.onEach(c)
	}
}

// hooks returns an Observer whose EndpointStateChanged records into r.
func (r *dspStates) hooks() dispatch.Observer {
	return dispatch.Observer{EndpointStateChanged: r.EndpointStateChanged}
}

func (r *dspStates) States(id string) []dispatch.EndpointState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []dispatch.EndpointState
	for _, c := range r.changes {
		if c.EndpointID == id {
			out = append(out, c.To)
		}
	}
	return out
}

// Changes returns the recorded changes of the endpoint id.
func (r *dspStates) Changes(id string) []dispatch.EndpointStateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []dispatch.EndpointStateChange
	for _, c := range r.changes {
		if c.EndpointID == id {
			out = append(out, c)
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
func newDispatcher(t testing.TB, s *sender.Sender, store queue.Store, cfg dispatch.Config) *dispatch.Dispatcher {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	d, err := dispatch.New(s, store, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	return d
}

// dspNoLeaks checks, after every other cleanup of the test (servers closed, dispatcher
// shut down), that no goroutine was left behind.
func dspNoLeaks(t testing.TB) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// listPending returns the one page of d's ListPending for f (which sets no Limit, or
// does not need the rest).
func listPending(d *dispatch.Dispatcher, f queue.ListFilter) ([]queue.Delivery, error) {
	p, err := d.ListPending(bg, f)
	return p.Deliveries, err
}

// listDead returns the one page of d's ListDead for f.
func listDead(d *dispatch.Dispatcher, f queue.ListFilter) ([]queue.Delivery, error) {
	p, err := d.ListDead(bg, f)
	return p.Deliveries, err
}
