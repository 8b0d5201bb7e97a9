package console_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

const regSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newRegistryKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, dispatch.SpecKeySize)
	_, _ = rand.Read(k)
	return k
}

// registryDispatcher returns a dispatcher on store whose endpoints are in reg, sealed
// under key, polling every poll; not started.
func registryDispatcher(t testing.TB, store queue.Store, reg queue.Registry, key []byte, poll time.Duration, obs dispatch.Observer) *dispatch.Dispatcher {
	t.Helper()
	s, err := sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true})
	require.NoError(t, err)
	d, err := dispatch.New(s, store, dispatch.Config{Registry: reg, RegistryKey: key, PollInterval: poll, Observer: obs,
		SpecOptions: dispatch.SpecOptions{AllowHTTP: true}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	return d
}

func regSpec(id, rawURL string) dispatch.EndpointSpec {
	return dispatch.EndpointSpec{ID: id, URL: rawURL, Secrets: []auth.Password{auth.NewPassword(regSecret)}}
}

// setRegState writes a state into the registry, as a dispatcher of another process would.
func setRegState(t testing.TB, reg queue.Registry, id string, st queue.StateUpdate) {
	t.Helper()
	recs, err := reg.GetEndpoints(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	st.UpdatedAt = t0
	_, err = reg.SetEndpointState(context.Background(), id, recs[0].Version, st)
	require.NoError(t, err)
}

func regState(t testing.TB, reg queue.Registry, id string) queue.Endpoint {
	t.Helper()
	recs, err := reg.GetEndpoints(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	return recs[0]
}

// overviewRow returns the overview's row of endpoint id ("" when it has none).
func overviewRow(body, id string) string {
	return regexp.MustCompile(`(?s)<tr>\s*<td><a href="/endpoints/` + regexp.QuoteMeta(id) + `">.*?</tr>`).FindString(body)
}

var numCell = regexp.MustCompile(`<td class="num(?: dead| muted)?">([^<]*)</td>`)

// numCells returns a row's number cells: failures, in flight, pending, leased, dead.
func numCells(row string) []string {
	var out []string
	for _, m := range numCell.FindAllStringSubmatch(row, -1) {
		out = append(out, m[1])
	}
	return out
}

// The overview of a Registered console pages through the registry (PageSize endpoints a
// page, by its cursor) and shows each endpoint's shared state — active, disabled with
// its failures, paused until, failing — read from the registry, its host from the sealed
// spec (with the key; "sealed" without), in-flight attempts as unknown (never 0), and the
// endpoints with deliveries but no record on the page their ID falls on. No secret of a
// spec is shown.
func TestRegistryOverviewPaged(t *testing.T) {
	ctx := context.Background()
	store, reg := memqueue.New(memqueue.Config{}), memqueue.NewRegistry()
	key := newRegistryKey(t)
	d := registryDispatcher(t, store, reg, key, 0, dispatch.Observer{})
	for _, id := range []string{"ep-0", "ep-1", "ep-2", "ep-3", "ep-4"} {
		require.NoError(t, d.Register(ctx, regSpec(id, "https://"+id+".example/hooks/path-secret")))
	}
	setRegState(t, reg, "ep-1", queue.StateUpdate{State: queue.EndpointDisabled, Failures: 1, Reason: "410 Gone"})
	setRegState(t, reg, "ep-2", queue.StateUpdate{State: queue.EndpointPaused, Failures: 5, PausedUntil: t0.Add(30 * time.Second),
		Reason: "5 consecutive failures"})
	setRegState(t, reg, "ep-3", queue.StateUpdate{State: queue.EndpointFailing, Failures: 2, Reason: "failing"})
	bury(t, store, "ep-1", "dl", 2)
	bury(t, store, "ep-1a", "orphan", 1) // deliveries of an endpoint no longer in the registry
	bury(t, store, "zz-gone", "old", 1)

	b := newBrowser(t, newConsole(t, console.Registered(store, reg), console.Config{PageSize: 2, RegistryKey: key}), "")
	r := b.get("/")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, "shared registry")
	assert.Contains(t, r.body, "not known here")
	assert.NotEmpty(t, overviewRow(r.body, "ep-0"))
	assert.Contains(t, overviewRow(r.body, "ep-0"), "ep-0.example")
	assert.Contains(t, overviewRow(r.body, "ep-0"), `<span class="state active">active</span>`)
	assert.Contains(t, overviewRow(r.body, "ep-1"), `<span class="state disabled">disabled</span>`)
	assert.Equal(t, []string{"1", "unknown", "0", "0", "2"}, numCells(overviewRow(r.body, "ep-1")), "failures, in flight, pending, leased, dead")
	for _, id := range []string{"ep-1a", "ep-2", "zz-gone"} {
		assert.Empty(t, overviewRow(r.body, id), "%s is on a later page", id)
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Next endpoints`).FindStringSubmatch(r.body)
	require.NotNil(t, next, "a next page")
	assert.Equal(t, "/?after=ep-1", unescape(next[1]))

	r = b.get(unescape(next[1]))
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Empty(t, overviewRow(r.body, "ep-1"))
	assert.Contains(t, overviewRow(r.body, "ep-1a"), "not in the registry")
	assert.Equal(t, []string{"—", "unknown", "0", "0", "1"}, numCells(overviewRow(r.body, "ep-1a")))
	paused := overviewRow(r.body, "ep-2")
	assert.Contains(t, paused, `<span class="state paused">paused</span><br><small>until 2031-03-04 05:06:37.000 UTC</small>`)
	assert.Equal(t, "5", numCells(paused)[0])
	assert.Contains(t, overviewRow(r.body, "ep-3"), `<span class="state failing">failing</span>`)
	assert.Contains(t, r.body, `href="/">First page</a>`)
	next = regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(r.body)
	require.NotNil(t, next)

	r = b.get(unescape(next[1]))
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.NotEmpty(t, overviewRow(r.body, "ep-4"))
	assert.Contains(t, overviewRow(r.body, "zz-gone"), "not in the registry")
	assert.NotContains(t, r.body, `rel="next"`, "the last page")

	// The endpoint's page: the shared state, why it changed, in flight unknown here.
	r = b.get("/endpoints/ep-1")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `<span class="state disabled">disabled</span>`)
	assert.Contains(t, r.body, "<dd>410 Gone (2031-03-04 05:06:07.000 UTC)</dd>")
	assert.Contains(t, r.body, `<span class="muted">unknown here</span>`)
	assert.Contains(t, r.body, `id="enable">`, "enable offered: it is disabled")
	assert.Contains(t, r.body, `id="disable" class="secondary" disabled`, "already disabled")
	assert.Contains(t, r.body, "dl-0")

	// Without the key the host is not known (the spec is sealed); nothing secret either way.
	nokey := newBrowser(t, newConsole(t, console.Registered(store, reg), console.Config{PageSize: 2}), "")
	r2 := nokey.get("/")
	assert.Contains(t, overviewRow(r2.body, "ep-0"), "sealed (no registry key here)")
	// During a key rotation: a new key alone does not open the specs sealed under the old
	// one (said so); with the old key in RegistryOldKeys they open.
	newKey := newRegistryKey(t)
	rotated := newBrowser(t, newConsole(t, console.Registered(store, reg), console.Config{PageSize: 2, RegistryKey: newKey}), "")
	assert.Contains(t, overviewRow(rotated.get("/").body, "ep-0"), "sealed under another key")
	rotated = newBrowser(t, newConsole(t, console.Registered(store, reg),
		console.Config{PageSize: 2, RegistryKey: newKey, RegistryOldKeys: [][]byte{key}}), "")
	assert.Contains(t, overviewRow(rotated.get("/").body, "ep-0"), "ep-0.example", "opened with the old key")
	for _, page := range []string{r.body, r2.body, b.get("/").body} {
		for _, s := range []string{regSecret, strings.TrimPrefix(regSecret, "whsec_"), "path-secret"} {
			assert.NotContains(t, page, s)
		}
	}

	assert.Equal(t, http.StatusBadRequest, b.get("/?after="+strings.Repeat("x", 2000)).status)
	assert.Equal(t, http.StatusNotFound, b.get("/endpoints/nope").status)
}

// receiver is a loopback endpoint that answers 410 Gone while gone is set, else 204, and
// reports each request on hits.
type receiver struct {
	srv  *httptest.Server
	gone atomic.Bool
	hits chan int
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	rc := &receiver{hits: make(chan int, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		code := http.StatusNoContent
		if rc.gone.Load() {
			code = http.StatusGone
		}
		w.WriteHeader(code)
		rc.hits <- code
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) next(t testing.TB) int {
	t.Helper()
	select {
	case code := <-rc.hits:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("the endpoint got no request")
		return 0
	}
}

// An endpoint disabled in the registry by a worker's 410 shows as disabled on the
// console — over Registered (no dispatcher in the process) and over a registry-backed
// dispatcher that is not the one serving it; a POST without the CSRF token, or from
// another site, changes nothing (403); the form's POST enables it in the registry, and
// the serving dispatcher (another instance on the same registry) delivers to it again.
// The console's Disable disables it for that dispatcher too.
func TestRegistryEnableThroughConsole(t *testing.T) {
	for _, kind := range []string{"registered", "dispatcher"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			store, reg := memqueue.New(memqueue.Config{}), memqueue.NewRegistry()
			key := newRegistryKey(t)
			delivered, disabled := make(chan string, 100), make(chan struct{}, 100)
			worker := registryDispatcher(t, store, reg, key, 20*time.Millisecond, dispatch.Observer{
				Delivered: func(_ context.Context, d queue.Delivery) { delivered <- d.EndpointID },
				EndpointStateChanged: func(_ context.Context, c dispatch.EndpointStateChange) {
					if c.To == dispatch.EndpointDisabled {
						disabled <- struct{}{}
					}
				}})
			rc := newReceiver(t)
			require.NoError(t, worker.Register(ctx, regSpec("ep", rc.srv.URL+"/hooks")))
			require.NoError(t, worker.Start(ctx))
			publish := func() int {
				t.Helper()
				ev, err := event.New("order.created", map[string]int{"n": 1})
				require.NoError(t, err)
				n, err := worker.Publish(ctx, ev)
				require.NoError(t, err)
				return n
			}

			rc.gone.Store(true)
			require.Equal(t, 1, publish())
			require.Equal(t, http.StatusGone, rc.next(t))
			select {
			case <-disabled: // reported once written to the registry
			case <-time.After(10 * time.Second):
				t.Fatal("the 410 did not disable the endpoint")
			}
			assert.Equal(t, queue.EndpointDisabled, regState(t, reg, "ep").State, "disabled in the registry")

			var src console.Source = console.Registered(store, reg)
			if kind == "dispatcher" {
				src = registryDispatcher(t, store, reg, key, 20*time.Millisecond, dispatch.Observer{}) // never started
			}
			b := newBrowser(t, newConsole(t, src, console.Config{RegistryKey: key}), "")
			r := b.get("/endpoints/ep")
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.Contains(t, r.body, `<span class="state disabled">disabled</span>`)
			assert.Contains(t, r.body, "410 Gone")
			assert.Contains(t, r.body, "127.0.0.1", "the host, from the sealed spec")
			if kind == "dispatcher" {
				assert.Contains(t, r.body, "0 in this process", "a dispatcher counts its own attempts")
			} else {
				assert.Contains(t, r.body, "unknown here")
			}
			tok := token(t, r.body)

			assert.Equal(t, http.StatusForbidden, b.post("/endpoints/ep/enable", url.Values{}).status, "no token")
			assert.Equal(t, http.StatusForbidden, b.post("/endpoints/ep/enable", url.Values{"csrf": {tok + "x"}}).status, "a wrong token")
			assert.Equal(t, http.StatusForbidden, b.post("/endpoints/ep/enable", url.Values{"csrf": {tok}},
				"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example").status, "another site")
			assert.Equal(t, queue.EndpointDisabled, regState(t, reg, "ep").State, "refused posts change nothing")

			r = b.post("/endpoints/ep/enable", url.Values{"csrf": {tok}})
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			rec := regState(t, reg, "ep")
			assert.Equal(t, queue.EndpointActive, rec.State, "the registry's record flipped")
			assert.Zero(t, rec.Failures)
			r = b.get("/endpoints/ep")
			assert.Contains(t, r.body, "is active again in the registry")
			assert.Contains(t, r.body, `<span class="state active">active</span>`)

			rc.gone.Store(false)
			require.Equal(t, 1, publish(), "published to again")
			require.Equal(t, http.StatusNoContent, rc.next(t))
			select {
			case id := <-delivered:
				assert.Equal(t, "ep", id, "the other instance serves it again")
			case <-time.After(10 * time.Second):
				t.Fatal("not delivered")
			}

			// A delivery pending for the endpoint (due later: the worker leaves it) becomes a
			// dead letter when the console disables it, as Registered.DisableEndpoint promises.
			require.NoError(t, store.Enqueue(ctx, queue.Delivery{ID: "later", EndpointID: "ep", Event: newEvent(t, "order.created"),
				Created: time.Now(), Due: time.Now().Add(time.Hour)}))
			before, err := store.Stats(ctx, time.Now())
			require.NoError(t, err)
			require.Equal(t, 1, before.Pending, "the delivery due later")
			assert.Equal(t, http.StatusForbidden, b.post("/endpoints/ep/disable", url.Values{}).status, "disable without a token")
			assert.Equal(t, queue.EndpointActive, regState(t, reg, "ep").State, "a refused disable changes nothing")
			r = b.post("/endpoints/ep/disable", url.Values{"csrf": {token(t, b.get("/endpoints/ep").body)}})
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			assert.Equal(t, queue.EndpointDisabled, regState(t, reg, "ep").State)
			after, err := store.Stats(ctx, time.Now())
			require.NoError(t, err)
			assert.Equal(t, 0, after.Pending, "the pending delivery is no longer pending")
			assert.Equal(t, before.Dead+1, after.Dead, "it is a dead letter")
			assert.Equal(t, 0, publish(), "disabled for the other instance")
			assert.Contains(t, b.get("/endpoints/ep").body, "is disabled")
		})
	}
}

// A console in a process with a registry-backed dispatcher lists the registry's
// endpoints (not only the ones the dispatcher caches) with that dispatcher's attempts in
// flight: 1 for the endpoint it is sending to, 0 for one it never touched.
func TestRegistryDispatcherInFlight(t *testing.T) {
	ctx := context.Background()
	store, reg := memqueue.New(memqueue.Config{}), memqueue.NewRegistry()
	key := newRegistryKey(t)
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	defer close(release) // before srv.Close: the handler returns
	d := registryDispatcher(t, store, reg, key, 20*time.Millisecond, dispatch.Observer{})
	require.NoError(t, d.Register(ctx, dispatch.EndpointSpec{ID: "busy", URL: srv.URL, Filter: []string{"order.*"}}))
	other := registryDispatcher(t, store, reg, key, 0, dispatch.Observer{}) // registers from elsewhere
	require.NoError(t, other.Register(ctx, dispatch.EndpointSpec{ID: "idle", URL: "https://idle.example/x", Filter: []string{"invoice.*"}}))
	require.NoError(t, d.Start(ctx))
	ev, err := event.New("order.created", nil)
	require.NoError(t, err)
	_, err = d.Publish(ctx, ev)
	require.NoError(t, err)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt")
	}
	assert.Len(t, d.Endpoints(), 1, "the dispatcher caches only what it serves")

	b := newBrowser(t, newConsole(t, d, console.Config{RegistryKey: key}), "")
	r := b.get("/")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, "Attempts in flight are this process's")
	assert.Equal(t, "1", numCells(overviewRow(r.body, "busy"))[1], "in flight here")
	assert.Equal(t, "0", numCells(overviewRow(r.body, "idle"))[1], "listed from the registry, none in flight here")
	assert.Contains(t, overviewRow(r.body, "idle"), "idle.example")
}

// Config.SecureCookies marks the cookies Secure on a plain HTTP request (a console behind
// a TLS-terminating proxy); without it they are Secure only over TLS.
func TestSecureCookies(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	src := console.Detached(store, nil)
	secureCookie := func(srv *httptest.Server) bool {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		cs := resp.Cookies()
		require.NotEmpty(t, cs, "the session cookie")
		for _, c := range cs {
			require.Equal(t, cs[0].Secure, c.Secure)
		}
		return cs[0].Secure
	}
	for _, tc := range []struct {
		secure, tls, want bool
	}{{false, false, false}, {true, false, true}, {false, true, true}, {true, true, true}} {
		c := newConsole(t, src, console.Config{SecureCookies: tc.secure})
		var srv *httptest.Server
		if tc.tls {
			srv = httptest.NewTLSServer(c)
		} else {
			srv = httptest.NewServer(c)
		}
		assert.Equal(t, tc.want, secureCookie(srv), "SecureCookies %v, TLS %v", tc.secure, tc.tls)
		srv.Close()
	}
	_, err := console.New(src, console.Config{RegistryKey: make([]byte, 31)})
	assert.ErrorIs(t, err, console.ErrInvalidConfig)
	_, err = console.New(src, console.Config{RegistryKey: make([]byte, 32), RegistryOldKeys: [][]byte{make([]byte, 31)}})
	assert.ErrorIs(t, err, console.ErrInvalidConfig, "an old key of 31 bytes")
}
