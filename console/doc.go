// Package console is a delivery console for a dispatch.Dispatcher: an http.Handler with
// server-rendered pages (html/template, no JavaScript, no build step) that shows every
// endpoint — its circuit-breaker state, consecutive failures, attempts in flight, pending,
// leased and dead deliveries, and an SVG chart of its recent attempts' outcomes and
// latency — every dead letter with its full attempt history (status, outcome, error text,
// the receiver's problem document, duration), and lets an operator requeue one dead letter
// or all of an endpoint's, and re-enable an endpoint.
//
// It has no authentication of its own: mount it behind yours. Three lines:
//
//	rec := console.NewRecorder(100) // and sender.Config{Observer: rec.Observer()}: the charts
//	c, err := console.New(d, console.Config{Recorder: rec}) // d: your *dispatch.Dispatcher
//	mux.Handle("/admin/webhooks/", requireAdmin(http.StripPrefix("/admin/webhooks", c)))
//
// The console finds the prefix http.StripPrefix removed by itself (Config.BasePath sets
// it when a proxy rewrites paths). "hookkit console" serves it on its own, beside the
// workers, with Detached: the same pages over a store and an endpoints file, on loopback
// (with --registry: Registered, over the store's shared endpoint registry).
//
// Safety:
//   - Nothing secret is shown: an endpoint appears by its ID and its URL's host only
//     (never user information, path, query, keys, credentials or headers); a delivery by
//     its IDs, event type, times and attempt records (whose error texts never carry a URL
//     or credentials, by the sender's rule). Event payloads are not shown.
//   - Every action is a POST form (a GET answers 405) carrying a CSRF token: the HMAC,
//     under a per-console random key (Config.Key), of a random per-browser session cookie
//     (HttpOnly, SameSite=Strict), compared in constant time; requests that the browser
//     marks as cross-site (Sec-Fetch-Site, Origin; net/http.CrossOriginProtection) are
//     refused too. Refusals answer 403. After an action the browser is sent back (303)
//     to the endpoint's page with a one-time, signed flash message.
//   - Every response has a Content-Security-Policy without scripts (the stylesheet is
//     inline, allowed by its hash), frame-ancestors 'none' and X-Frame-Options DENY,
//     X-Content-Type-Options nosniff, Referrer-Policy no-referrer and Cache-Control
//     no-store.
//   - Work per request is bounded: listings are pages of Config.PageSize (at most
//     MaxPageSize) by keyset cursor (a cursor that is not one answers 400), and a dead
//     letter's page finds it with one indexed read from the position its link carries.
//     Unknown endpoints and deliveries answer 404.
//
// Counts per endpoint come from one query when the store implements
// queue.EndpointCounter (memqueue, sqlitequeue and pgqueue do); otherwise the console
// pages through the endpoint's listings up to Config.CountCap and shows "≥ N" beyond it.
// The charts take the recent attempts from a Recorder when Config has one (every attempt,
// acknowledged ones included), else from the attempt histories the store holds (the
// failed attempts of deliveries still pending or dead).
//
// The store keeps an attempt's error as text: a receiver's problem document (RFC 9457,
// sender.Problem) is in it after the status line ("status 422 Unprocessable Entity:
// Title: Detail (type)"), and the dead letter's page shows that part on its own. A
// Recorder keeps the title of each endpoint's last problem document as it was received.
//
// Without a dispatcher in the process (Detached), an endpoint's circuit-breaker state is
// unknown to the console — it lives in each worker's memory — so the console says so and
// "enable" answers with an explanation instead of pretending.
//
// # Endpoints in a shared registry
//
// When the endpoints live in the store's registry (dispatch.Config.Registry, queue.Registry;
// pgqueue has one), their circuit-breaker state is shared by every dispatcher on it, and
// the console shows and changes that shared state: over a registry-backed Dispatcher, or
// beside the workers with Registered (hookkit console --registry). The overview pages
// through the registry by its cursor (Config.PageSize endpoints a page: a registry of
// 100,000 endpoints is never loaded whole), each endpoint with its record's state
// (active, failing, paused until, probing, disabled), consecutive failures and the reason
// of its last change; endpoints with deliveries in the store but no record are listed
// among them as "not in the registry". Enable (and Disable, which also makes the pending
// deliveries dead letters, as a 410 Gone does) writes the record, compare-and-set, and
// every worker on the registry follows within its poll interval. Attempts in flight are
// counted by each dispatcher in its memory: the console shows those of its own
// dispatcher, and "unknown" beside the workers — never a made-up 0. Config.RegistryKey
// (with Config.RegistryOldKeys during a key rotation) opens the sealed specs to show each
// endpoint's host (nothing else of them).
//
// Behind a TLS-terminating proxy the console sees plain HTTP: set Config.SecureCookies so
// that its cookies are marked Secure all the same.
package console
