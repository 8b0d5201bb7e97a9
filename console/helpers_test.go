package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// t0 is the tests' clock.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func clock() time.Time { return t0 }

// newEvent returns an encoded event of type typ.
func newEvent(t testing.TB, typ string) *event.Encoded {
	t.Helper()
	ev, err := event.New(typ, map[string]string{"k": "v"})
	require.NoError(t, err)
	enc, err := ev.Encode()
	require.NoError(t, err)
	return enc
}

// bury stores n dead letters of endpoint ep (IDs prefix-0…), each with two failed
// attempts, the last answered 422 with a problem document, the way the sender records it.
func bury(t testing.TB, s queue.Store, ep, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	ev := newEvent(t, "order-created")
	ids := make([]string, n)
	for start := 0; start < n; start += 1000 {
		var ds []queue.Delivery
		for i := start; i < min(n, start+1000); i++ {
			ids[i] = fmt.Sprintf("%s-%d", prefix, i)
			ds = append(ds, queue.Delivery{ID: ids[i], EndpointID: ep, Event: ev, Created: t0, Due: t0})
		}
		require.NoError(t, s.Enqueue(ctx, ds...))
		leased, err := s.Lease(ctx, queue.LeaseRequest{Now: t0, Max: len(ds), For: time.Minute, Endpoints: map[string]int{ep: len(ds)}})
		require.NoError(t, err)
		require.Len(t, leased, len(ds))
		outs := make([]queue.Outcome, len(leased))
		for i, d := range leased {
			outs[i] = queue.DeadLetter(d.ID, d.Lease, queue.DeadReasonRejected,
				queue.Attempt{Number: 1, Start: t0, Duration: 120 * time.Millisecond, Status: 503, Class: queue.ClassRetryable,
					Error: "status 503 Service Unavailable"},
				queue.Attempt{Number: 2, Start: t0.Add(time.Second), Duration: 35 * time.Millisecond, Status: 422, Class: queue.ClassPermanent,
					Error: "status 422 Unprocessable Entity: Unknown order: order 93be does not exist (https://acme.example/problems/unknown-order)"})
		}
		errs, err := s.Complete(ctx, t0.Add(2*time.Second), outs...)
		require.NoError(t, err)
		for _, e := range errs {
			require.NoError(t, e)
		}
	}
	return ids
}

// newDispatcher returns a dispatcher (never started) on store with the given subscriptions.
func newDispatcher(t testing.TB, store queue.Store, subs ...dispatch.Subscription) *dispatch.Dispatcher {
	t.Helper()
	s, err := sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true})
	require.NoError(t, err)
	d, err := dispatch.New(s, store, dispatch.Config{Now: clock})
	require.NoError(t, err)
	for _, sub := range subs {
		require.NoError(t, d.Subscribe(sub))
	}
	return d
}

func sub(id, rawURL string) dispatch.Subscription {
	return dispatch.Subscription{Endpoint: sender.Endpoint{ID: id, URL: rawURL}}
}

// browser is a client with a cookie jar, like a browser on one console, that does not
// follow redirects (the tests look at them).
type browser struct {
	t    testing.TB
	srv  *httptest.Server
	c    *http.Client
	base string // the console's path prefix on srv
}

func newBrowser(t testing.TB, h http.Handler, base string) *browser {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, srv: srv, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// get fetches a path under the console's base (or an absolute path as given, from "/").
func (b *browser) get(p string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+p, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

// post submits a form to path p with the given fields, as a same-origin browser form.
func (b *browser) post(p string, form url.Values, header ...string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+p, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.srv.URL)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hrefRE   = regexp.MustCompile(`href="([^"]+)"`)
)

// token returns the CSRF token of a page.
func token(t testing.TB, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, "the page has a form with a CSRF token")
	return m[1]
}

// unescape undoes the HTML escaping of an attribute value.
func unescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// fakeSource is a Source with endpoint states set by the test, recording EnableEndpoint.
type fakeSource struct {
	store queue.Store
	mu    sync.Mutex
	eps   []dispatch.EndpointStatus
}

func (f *fakeSource) Store() queue.Store { return f.store }

func (f *fakeSource) Endpoints() []dispatch.EndpointStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dispatch.EndpointStatus(nil), f.eps...)
}

func (f *fakeSource) EnableEndpoint(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.eps {
		if f.eps[i].Subscription.Endpoint.ID == id {
			f.eps[i].State, f.eps[i].Failures, f.eps[i].PausedUntil = dispatch.EndpointActive, 0, time.Time{}
			return nil
		}
	}
	return queue.ErrNotFound
}

// ctxSource is a fakeSource whose enabling takes the request's context.
type ctxSource struct {
	*fakeSource
	ctxs chan context.Context
}

func (c *ctxSource) EnableEndpointContext(ctx context.Context, id string) error {
	c.ctxs <- ctx
	return c.EnableEndpoint(id)
}

// plainStore hides every optional extension of a store (queue.EndpointCounter among them).
type plainStore struct{ queue.Store }
