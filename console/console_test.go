package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

func newConsole(t testing.TB, src console.Source, cfg console.Config) *console.Console {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = clock
	}
	c, err := console.New(src, cfg)
	require.NoError(t, err)
	return c
}

// The overview lists every endpoint with its host, state and counts (per endpoint, from
// the store's EndpointCounter), the store's totals and an SVG chart, with the security
// headers on the response.
func TestOverview(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example:8443/docusign"), sub("globex", "https://globex.example/in"))
	bury(t, store, "acme", "dl", 3)
	require.NoError(t, store.Enqueue(t.Context(), queue.Delivery{ID: "p1", EndpointID: "globex", Event: newEvent(t, "x"), Due: t0}))
	bury(t, store, "gone-endpoint", "old", 1) // dead letters of an endpoint no longer subscribed

	b := newBrowser(t, newConsole(t, d, console.Config{}), "")
	r := b.get("/")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	for h, want := range map[string]string{
		"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"Cache-Control": "no-store",
	} {
		assert.Equal(t, want, r.header.Get(h), h)
	}
	csp := r.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.NotContains(t, csp, "script-src", "no script is allowed at all")
	assert.NotContains(t, r.body, "<script")

	for _, s := range []string{`href="/endpoints/acme"`, "hooks.acme.example:8443", `href="/endpoints/globex"`, "globex.example",
		`href="/endpoints/gone-endpoint"`, "not subscribed", "active", "<svg", `class="bar fail"`} {
		assert.Contains(t, r.body, s)
	}
	row := func(id string) string {
		m := regexp.MustCompile(`(?s)<tr>\s*<td><a href="/endpoints/` + id + `">.*?</tr>`).FindString(r.body)
		require.NotEmpty(t, m, "a row for %s", id)
		return m
	}
	counts := regexp.MustCompile(`<td class="num(?: dead| muted)?">([^<]*)</td>`)
	cells := func(id string) []string {
		var out []string
		for _, m := range counts.FindAllStringSubmatch(row(id), -1) {
			out = append(out, m[1])
		}
		return out
	}
	assert.Equal(t, []string{"0", "0", "0", "0", "3"}, cells("acme"), "failures, in flight, pending, leased, dead")
	assert.Equal(t, []string{"0", "0", "1", "0", "0"}, cells("globex"))
	assert.Equal(t, []string{"—", "unknown", "0", "0", "1"}, cells("gone-endpoint"), "not subscribed: no state, no fake 0")
	assert.Contains(t, r.body, "<strong>1</strong> pending")
	assert.Regexp(t, `<strong class="dead">4</strong> dead letters`, r.body)
}

// The stylesheet is inline and allowed by its hash in the CSP, so the page is styled
// without 'unsafe-inline'.
func TestStylesheetHashInCSP(t *testing.T) {
	b := newBrowser(t, newConsole(t, newDispatcher(t, nil), console.Config{}), "")
	r := b.get("/")
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(r.body)
	require.NotNil(t, m)
	sum := sha256.Sum256([]byte(m[1]))
	assert.Contains(t, r.header.Get("Content-Security-Policy"), "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	assert.NotContains(t, r.header.Get("Content-Security-Policy"), "unsafe-inline")
}

// The endpoint page lists its dead letters with their last error and a requeue form, and
// its pending deliveries; the dead letter's page shows every attempt with status, outcome,
// duration, error and the receiver's problem.
func TestEndpointAndDeadLetterPages(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example/x"))
	bury(t, store, "acme", "dl", 2)
	b := newBrowser(t, newConsole(t, d, console.Config{}), "")

	r := b.get("/endpoints/acme")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, "rejected permanently")
	assert.Contains(t, r.body, "status 422 Unprocessable Entity: Unknown order")
	assert.Equal(t, 2, strings.Count(r.body, `class="requeue"`))
	assert.Contains(t, r.body, `action="/endpoints/acme/requeue"`)
	assert.Contains(t, r.body, "Nothing pending")
	assert.Contains(t, r.body, "<svg", "the chart of the stored attempts")

	link := regexp.MustCompile(`href="(/endpoints/acme/dead/dl-0\?at=[^"]+)"`).FindStringSubmatch(r.body)
	require.NotNil(t, link)
	r = b.get(unescape(link[1]))
	require.Equal(t, http.StatusOK, r.status, r.body)
	for _, s := range []string{"Dead letter dl-0", "order-created", "rejected permanently", "503", "422", "120ms", "35ms",
		"retryable", "permanent", "Unknown order: order 93be does not exist (https://acme.example/problems/unknown-order)",
		`action="/endpoints/acme/dead/dl-0/requeue"`} {
		assert.Contains(t, r.body, s)
	}
	assert.Equal(t, 2, strings.Count(r.body, `<td class="num">`), "two attempts")

	// Without the position (a link made by hand): found by paging.
	assert.Equal(t, http.StatusOK, b.get("/endpoints/acme/dead/dl-1").status)
	// With a stale position: found by paging too.
	assert.Equal(t, http.StatusOK, b.get("/endpoints/acme/dead/dl-1?at="+url.QueryEscape(queue.Cursor(t0, 1))).status)
}

// Unknown endpoints and deliveries answer 404, a cursor that is not one 400, and every
// page an action's address answers GET with 405 (Allow: POST).
func TestNotFoundBadCursorAndMethods(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example/x"))
	bury(t, store, "acme", "dl", 1)
	b := newBrowser(t, newConsole(t, d, console.Config{}), "")
	for _, p := range []string{"/nope", "/endpoints", "/endpoints/unknown", "/endpoints/acme/dead/missing",
		"/endpoints/acme/pending/dl-0", "/endpoints/acme/", "/endpoints/acme/x/y/z/w"} {
		assert.Equal(t, http.StatusNotFound, b.get(p).status, p)
	}
	for _, p := range []string{"/endpoints/acme?dead=garbage", "/endpoints/acme?pending=1.2", "/endpoints/acme/dead/dl-0?at=x",
		"/endpoints/acme?dead=" + strings.Repeat("1", 100)} {
		assert.Equal(t, http.StatusBadRequest, b.get(p).status, p)
	}
	for _, p := range []string{"/endpoints/acme/requeue", "/endpoints/acme/enable", "/endpoints/acme/dead/dl-0/requeue"} {
		r := b.get(p)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status, p)
		assert.Equal(t, "POST", r.header.Get("Allow"), p)
	}
	r := b.post("/", url.Values{})
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
	p, err := store.ListDead(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	assert.Len(t, p.Deliveries, 1, "nothing was requeued by a GET")
}

// Every action is refused with 403 without the page's CSRF token, with a wrong one, with
// another browser's, or from another site; nothing is requeued.
func TestActionsNeedCSRF(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example/x"))
	bury(t, store, "acme", "dl", 1)
	c := newConsole(t, d, console.Config{})
	b := newBrowser(t, c, "")
	tok := token(t, b.get("/endpoints/acme").body)

	other := newBrowser(t, c, "")
	otherTok := token(t, other.get("/endpoints/acme").body)
	require.NotEqual(t, tok, otherTok, "each browser session has its own token")

	for name, tc := range map[string]struct {
		b      *browser
		form   url.Values
		header []string
	}{
		"no token":               {b, url.Values{}, nil},
		"wrong token":            {b, url.Values{"csrf": {tok[:len(tok)-2] + "xx"}}, nil},
		"another session's":      {b, url.Values{"csrf": {otherTok}}, nil},
		"cross-site":             {b, url.Values{"csrf": {tok}}, []string{"Sec-Fetch-Site", "cross-site"}},
		"another origin":         {b, url.Values{"csrf": {tok}}, []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
		"no cookie (new client)": {newBrowser(t, c, ""), url.Values{"csrf": {tok}}, nil},
	} {
		for _, action := range []string{"/endpoints/acme/requeue", "/endpoints/acme/dead/dl-0/requeue", "/endpoints/acme/enable"} {
			r := tc.b.post(action, tc.form, tc.header...)
			assert.Equal(t, http.StatusForbidden, r.status, "%s: %s", name, action)
		}
	}
	st, err := store.Stats(t.Context(), t0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Dead: 1}, st, "nothing was requeued")
}

// Requeue one: 303 back to the endpoint's page with a flash message shown once; the dead
// letter is pending again, due at the dispatcher's clock, its history kept.
func TestRequeueOne(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example/x"))
	bury(t, store, "acme", "dl", 3)
	b := newBrowser(t, newConsole(t, d, console.Config{}), "")
	page := b.get("/endpoints/acme").body
	r := b.post("/endpoints/acme/dead/dl-1/requeue", url.Values{"csrf": {token(t, page)}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	assert.Equal(t, "/endpoints/acme", r.header.Get("Location"))

	next := b.get("/endpoints/acme")
	assert.Contains(t, next.body, `class="flash ok"`)
	assert.Contains(t, next.body, "Requeued 1 dead letter (dl-1)")
	assert.NotContains(t, b.get("/endpoints/acme").body, "Requeued 1", "a flash message is shown once")

	p, err := store.ListPending(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 1)
	assert.Equal(t, "dl-1", p.Deliveries[0].ID)
	assert.True(t, p.Deliveries[0].Due.Equal(t0))
	assert.Len(t, p.Deliveries[0].Attempts, 2, "history kept")
	// Its page is now the pending one; the dead one is gone.
	assert.Equal(t, http.StatusNotFound, b.get("/endpoints/acme/dead/dl-1").status)
	assert.Equal(t, http.StatusOK, b.get("/endpoints/acme/pending/dl-1").status)
	// Requeueing it again: it is no dead letter any more.
	r = b.post("/endpoints/acme/dead/dl-1/requeue", url.Values{"csrf": {token(t, page)}})
	assert.Equal(t, http.StatusNotFound, r.status)
	// A dead letter of another endpoint is not requeued through this one's address.
	bury(t, store, "globex", "g", 1)
	r = b.post("/endpoints/acme/dead/g-0/requeue", url.Values{"csrf": {token(t, page)}})
	assert.Equal(t, http.StatusNotFound, r.status)
}

// Requeue all of an endpoint: only that endpoint's dead letters.
func TestRequeueAll(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example/x"), sub("globex", "https://globex.example/x"))
	bury(t, store, "acme", "a", 4)
	bury(t, store, "globex", "g", 2)
	b := newBrowser(t, newConsole(t, d, console.Config{}), "")
	r := b.post("/endpoints/acme/requeue", url.Values{"csrf": {token(t, b.get("/endpoints/acme").body)}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	assert.Contains(t, b.get("/endpoints/acme").body, "Requeued 4 dead letter(s) of acme")
	per, err := store.EndpointStats(t.Context(), t0)
	require.NoError(t, err)
	assert.Equal(t, map[string]queue.Stats{"acme": {Pending: 4}, "globex": {Dead: 2}}, per)
	assert.Equal(t, http.StatusNotFound, b.post("/endpoints/unknown/requeue", url.Values{"csrf": {token(t, b.get("/endpoints/acme").body)}}).status)
}

// Enable: a paused endpoint becomes active through the source, with a flash message; the
// button is there for a subscribed endpoint.
func TestEnableEndpoint(t *testing.T) {
	src := &fakeSource{store: memqueue.New(memqueue.Config{}), eps: []dispatch.EndpointStatus{{
		Subscription: sub("acme", "https://hooks.acme.example/x"), State: dispatch.EndpointPaused, Failures: 5,
		PausedUntil: t0.Add(30 * time.Second), InFlight: 1,
	}}}
	b := newBrowser(t, newConsole(t, src, console.Config{}), "")
	page := b.get("/endpoints/acme").body
	assert.Contains(t, page, `<span class="state paused">paused</span>`)
	assert.Contains(t, page, "2031-03-04 05:06:37.000 UTC")
	assert.Contains(t, page, `id="enable">Enable endpoint`)
	r := b.post("/endpoints/acme/enable", url.Values{"csrf": {token(t, page)}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	page = b.get("/endpoints/acme").body
	assert.Contains(t, page, "Endpoint acme is active again.")
	assert.Contains(t, page, `<span class="state active">active</span>`)
	assert.Equal(t, http.StatusNotFound, b.post("/endpoints/nope/enable", url.Values{"csrf": {token(t, page)}}).status)

	// A source that enables with a context gets the request's.
	cs := &ctxSource{fakeSource: &fakeSource{store: src.store, eps: []dispatch.EndpointStatus{{
		Subscription: sub("acme", "https://hooks.acme.example/x"), State: dispatch.EndpointDisabled}}}, ctxs: make(chan context.Context, 1)}
	b = newBrowser(t, newConsole(t, cs, console.Config{}), "")
	page = b.get("/endpoints/acme").body
	assert.Contains(t, page, `<span class="state disabled">disabled</span>`)
	require.Equal(t, http.StatusSeeOther, b.post("/endpoints/acme/enable", url.Values{"csrf": {token(t, page)}}).status)
	select {
	case ctx := <-cs.ctxs:
		assert.NotNil(t, ctx.Done(), "the request's context")
	default:
		t.Fatal("EnableEndpointContext was not called")
	}
	assert.Contains(t, b.get("/endpoints/acme").body, `<span class="state active">active</span>`)
}

// A Detached console (no dispatcher in the process) shows states as unknown, requeues
// through the store at its clock, and answers "enable" with an explanation on the page.
func TestDetached(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	bury(t, store, "acme", "dl", 1)
	src := console.Detached(store, []dispatch.Subscription{sub("acme", "https://hooks.acme.example/x")})
	b := newBrowser(t, newConsole(t, src, console.Config{}), "")
	page := b.get("/").body
	assert.Contains(t, page, "unknown here")
	assert.Contains(t, page, "runs no dispatcher")
	page = b.get("/endpoints/acme").body
	r := b.post("/endpoints/acme/enable", url.Values{"csrf": {token(t, page)}})
	require.Equal(t, http.StatusSeeOther, r.status)
	page = b.get("/endpoints/acme").body
	assert.Contains(t, page, `class="flash error"`)
	assert.Contains(t, page, "Not enabled: this console runs no dispatcher")
	r = b.post("/endpoints/acme/requeue", url.Values{"csrf": {token(t, page)}})
	require.Equal(t, http.StatusSeeOther, r.status)
	p, err := store.ListPending(t.Context(), queue.ListFilter{})
	require.NoError(t, err)
	require.Len(t, p.Deliveries, 1)
	assert.True(t, p.Deliveries[0].Due.Equal(t0), "due at the console's clock")
	assert.ErrorIs(t, src.EnableEndpoint("acme"), console.ErrNoDispatcher)
	assert.ErrorIs(t, src.EnableEndpoint("nope"), queue.ErrNotFound)
}

// Mounted under a prefix with http.StripPrefix, behind the application's own handler:
// links, form actions, redirects and cookies carry the prefix.
func TestMountedUnderPrefix(t *testing.T) {
	store := memqueue.New(memqueue.Config{})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example/x"))
	bury(t, store, "acme", "dl", 1)
	c := newConsole(t, d, console.Config{})
	auth := func(h http.Handler) http.Handler { // the application's authentication
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Admin") != "yes" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/webhooks/", auth(http.StripPrefix("/admin/webhooks", c)))
	b := newBrowser(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Admin", "yes")
		mux.ServeHTTP(w, r)
	}), "/admin/webhooks")

	r := b.get("/admin/webhooks/")
	require.Equal(t, http.StatusOK, r.status, r.body)
	for _, m := range hrefRE.FindAllStringSubmatch(r.body, -1) {
		assert.True(t, strings.HasPrefix(m[1], "/admin/webhooks/"), "link %s", m[1])
	}
	assert.Contains(t, r.body, `href="/admin/webhooks/endpoints/acme"`)
	assert.Contains(t, r.header.Get("Set-Cookie"), "Path=/admin/webhooks/")
	assert.Contains(t, r.header.Get("Set-Cookie"), "HttpOnly")
	assert.Contains(t, r.header.Get("Set-Cookie"), "SameSite=Strict")

	page := b.get("/admin/webhooks/endpoints/acme").body
	actions := actionRE.FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, actions)
	for _, a := range actions {
		assert.True(t, strings.HasPrefix(a[1], "/admin/webhooks/endpoints/acme/"), "action %s", a[1])
	}
	r = b.post("/admin/webhooks/endpoints/acme/requeue", url.Values{"csrf": {token(t, page)}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	assert.Equal(t, "/admin/webhooks/endpoints/acme", r.header.Get("Location"))
	assert.Contains(t, b.get("/admin/webhooks/endpoints/acme").body, "Requeued 1 dead letter(s)")

	// Config.BasePath wins over the request (a proxy that rewrites paths).
	c2 := newConsole(t, d, console.Config{BasePath: "/ops/hooks/"})
	b2 := newBrowser(t, c2, "")
	assert.Contains(t, b2.get("/").body, `href="/ops/hooks/endpoints/acme"`)
}

// New refuses configurations that cannot work.
func TestNewInvalidConfig(t *testing.T) {
	d := newDispatcher(t, nil)
	for name, cfg := range map[string]console.Config{
		"negative page size": {PageSize: -1},
		"page size too big":  {PageSize: console.MaxPageSize + 1},
		"negative cap":       {CountCap: -1},
		"short key":          {Key: []byte("short")},
		"relative base":      {BasePath: "admin"},
		"scheme-relative":    {BasePath: "//evil.example"},
	} {
		_, err := console.New(d, cfg)
		assert.ErrorIs(t, err, console.ErrInvalidConfig, name)
	}
	_, err := console.New(nil, console.Config{})
	assert.ErrorIs(t, err, console.ErrInvalidConfig)
}

// Nothing secret is ever in a page: not the signing secret, a bearer token, a Basic
// password, nor the user information, path or query of an endpoint's URL.
func TestSecretsNeverShown(t *testing.T) {
	const (
		signing = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		bearer  = "tok_sup3rs3cretbearer"
		basicPW = "b4sic-pa55word"
		qToken  = "qtok-secret-in-query"
		pathTok = "T0KEN1NPATH"
		userPW  = "userinfo-pa55"
	)
	key, err := signature.Standard().ParseKey("k1", signing)
	require.NoError(t, err)
	keys, err := signature.NewKeySet(key)
	require.NoError(t, err)
	store := memqueue.New(memqueue.Config{})
	subs := []dispatch.Subscription{
		{Endpoint: sender.Endpoint{ID: "signed", URL: "https://hooks.acme.example/services/" + pathTok + "?token=" + qToken, Keys: keys,
			Credentials: auth.Bearer(auth.NewPassword(bearer)), Headers: http.Header{"X-Api-Key": {bearer}}}},
		{Endpoint: sender.Endpoint{ID: "basic", URL: "https://basic.example/in", Credentials: auth.Basic("user", auth.NewPassword(basicPW), false)}},
	}
	d := newDispatcher(t, store, subs...)
	bury(t, store, "signed", "s", 1)
	bury(t, store, "basic", "b", 1)
	// A detached console takes the endpoints file as it is: with user information in a URL.
	detachedSubs := append(subs, dispatch.Subscription{Endpoint: sender.Endpoint{ID: "userinfo", URL: "https://admin:" + userPW + "@ui.example/x"}})
	secrets := []string{signing, strings.TrimPrefix(signing, "whsec_"), bearer, basicPW, qToken, pathTok, userPW, "admin:"}

	for name, src := range map[string]console.Source{"dispatcher": d, "detached": console.Detached(store, detachedSubs)} {
		b := newBrowser(t, newConsole(t, src, console.Config{Recorder: console.NewRecorder(10)}), "")
		pages := []string{"/", "/endpoints/signed", "/endpoints/basic", "/endpoints/userinfo", "/endpoints/signed/dead/s-0",
			"/endpoints/basic/dead/b-0", "/endpoints/nope", "/endpoints/signed?dead=bad"}
		var all strings.Builder
		for _, p := range pages {
			r := b.get(p)
			all.WriteString(r.body)
			for _, vs := range r.header {
				all.WriteString(strings.Join(vs, " "))
			}
		}
		tok := token(t, b.get("/endpoints/signed").body)
		for _, p := range []string{"/endpoints/signed/enable", "/endpoints/signed/requeue"} {
			r := b.post(p, url.Values{"csrf": {tok}})
			all.WriteString(r.body)
			all.WriteString(b.get("/endpoints/signed").body)
		}
		text := all.String()
		assert.Contains(t, text, "hooks.acme.example", "%s: the host is shown", name)
		for _, s := range secrets {
			assert.NotContains(t, text, s, "%s: a secret in a page", name)
		}
	}
}

// 10,000 dead letters: the endpoint page holds PageSize rows and renders in bounded time;
// following the cursor links visits every dead letter exactly once.
func TestPaginationTenThousandDeadLetters(t *testing.T) {
	store := memqueue.New(memqueue.Config{MaxDead: 20000})
	d := newDispatcher(t, store, sub("acme", "https://hooks.acme.example/x"))
	ids := bury(t, store, "acme", "dl", 10000)
	b := newBrowser(t, newConsole(t, d, console.Config{}), "")

	start := time.Now()
	r := b.get("/endpoints/acme")
	elapsed := time.Since(start)
	require.Equal(t, http.StatusOK, r.status)
	t.Logf("endpoint page with 10,000 dead letters: %v, %d bytes", elapsed, len(r.body))
	assert.Less(t, elapsed, 2*time.Second)
	assert.Less(t, len(r.body), 200_000, "one page, not ten thousand rows")
	assert.Equal(t, console.DefaultPageSize, strings.Count(r.body, `class="requeue"`))
	assert.Contains(t, r.body, "10000", "the count is exact (EndpointCounter)")

	start = time.Now()
	r = b.get("/")
	t.Logf("overview with 10,000 dead letters: %v", time.Since(start))
	assert.Less(t, time.Since(start), 2*time.Second)

	// Walk every page (500 a page, so that the walk is short).
	b = newBrowser(t, newConsole(t, d, console.Config{PageSize: console.MaxPageSize}), "")
	rowRE := regexp.MustCompile(`href="/endpoints/acme/dead/(dl-\d+)\?at=`)
	nextRE := regexp.MustCompile(`href="([^"]+)#dead" rel="next"`)
	seen := map[string]int{}
	p, pages, last := "/endpoints/acme", 0, ""
	for p != "" && pages < 100 {
		r := b.get(p)
		last = r.body
		require.Equal(t, http.StatusOK, r.status, p)
		rows := rowRE.FindAllStringSubmatch(r.body, -1)
		assert.LessOrEqual(t, len(rows), console.MaxPageSize)
		for _, m := range rows {
			seen[m[1]]++
		}
		p = ""
		if m := nextRE.FindStringSubmatch(r.body); m != nil {
			p = unescape(m[1])
		}
		pages++
	}
	assert.Equal(t, 20, pages)
	assert.Len(t, seen, len(ids))

	// The last dead letter's Requeue form, on the last page, finds it from the position it
	// sends (not by scanning from the start, which stops at CountCap).
	forms := regexp.MustCompile(`<form method="post" action="(/endpoints/acme/dead/dl-9999/requeue)"><input type="hidden" name="csrf" value="([^"]+)"><input type="hidden" name="at" value="([^"]+)">`).
		FindStringSubmatch(last)
	require.NotNil(t, forms, "the last page has the last dead letter's form")
	r = b.post(forms[1], url.Values{"csrf": {forms[2]}, "at": {unescape(forms[3])}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	st, err := store.Stats(t.Context(), t0)
	require.NoError(t, err)
	assert.Equal(t, queue.Stats{Pending: 1, Dead: 9999}, st)
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
}

// Without a queue.EndpointCounter the console counts by paging, up to CountCap, and shows
// "≥ N" beyond it.
func TestCountsWithoutCounter(t *testing.T) {
	mem := memqueue.New(memqueue.Config{})
	bury(t, mem, "acme", "dl", 150)
	require.NoError(t, mem.Enqueue(t.Context(), queue.Delivery{ID: "p", EndpointID: "acme", Event: newEvent(t, "x"), Due: t0}))
	_, err := mem.Lease(t.Context(), queue.LeaseRequest{Now: t0, Max: 1, For: time.Minute})
	require.NoError(t, err)
	store := plainStore{mem}
	src := &fakeSource{store: store, eps: []dispatch.EndpointStatus{{Subscription: sub("acme", "https://hooks.acme.example/x")}}}

	b := newBrowser(t, newConsole(t, src, console.Config{CountCap: 100}), "")
	page := b.get("/").body
	assert.Contains(t, page, "≥ 100")
	page = b.get("/endpoints/acme").body
	assert.Contains(t, page, "0 · 1 · ")
	assert.Contains(t, page, "≥ 100")

	b = newBrowser(t, newConsole(t, src, console.Config{CountCap: 1000}), "")
	assert.Regexp(t, `<td class="num">0</td><td class="num">1</td><td class="num dead">150</td>`, b.get("/").body)
}

// With a Recorder the charts show every attempt (acknowledged ones too), with a tooltip
// per bar, and the receiver's last problem title.
func TestChartFromRecorder(t *testing.T) {
	rec := console.NewRecorder(50)
	obs := rec.Observer()
	info := sender.AttemptInfo{Endpoint: "acme", EventID: "e1", EventType: "x", Number: 1}
	for i := range 30 {
		a := sender.Attempt{Number: 1, Start: t0.Add(time.Duration(i) * time.Second), Duration: time.Duration(i+1) * time.Millisecond,
			Status: 200, Class: sender.ClassAcknowledged}
		if i%10 == 9 {
			a.Status, a.Class, a.Problem = 422, sender.ClassPermanent, &sender.Problem{Title: "Invalid signature"}
		}
		obs.AttemptFinished(context.Background(), info, a)
	}
	d := newDispatcher(t, memqueue.New(memqueue.Config{}), sub("acme", "https://hooks.acme.example/x"))
	b := newBrowser(t, newConsole(t, d, console.Config{Recorder: rec}), "")
	for p, charts := range map[string]int{"/": 2, "/endpoints/acme": 1} { // the overview: the endpoint's and the overall one
		page := b.get(p).body
		assert.Equal(t, charts, strings.Count(page, "<svg"), p)
		assert.Equal(t, 27*charts, strings.Count(page, `class="bar ok"`), p)
		assert.Equal(t, 3*charts, strings.Count(page, `class="bar fail"`), p)
		assert.Contains(t, page, "<title>attempt 1 · 422 · permanent · 10ms · 2031-03-04 05:06:16.000 UTC</title>", p)
		assert.Contains(t, page, "Invalid signature", p)
		assert.Contains(t, page, "recorded in this process", p)
	}
}
