// Package receiver is the receiving side of hookkit: an http.Handler middleware that lets
// only authentic, fresh, new webhook deliveries through, and a small Router that dispatches
// verified events by type.
//
// # Middleware
//
// New builds the middleware from a Config: a func(http.Handler) http.Handler, the shape
// routers and middleware chains take. For every request it does, in this order, stopping
// at the first failure:
//
//  1. Method: anything but POST gets 405 with "Allow: POST".
//  2. Size: a Content-Length above Config.MaxBodyBytes (default 1 MiB) gets 413 before any
//     byte is read; other bodies are read through a limit of MaxBodyBytes+1 bytes and get
//     413 when they reach it. A body of exactly MaxBodyBytes is accepted.
//  3. Credentials (when Config.Credentials is set): the auth.Validator runs before the body
//     is read. Failures get the status and WWW-Authenticate value of auth.Challenge: 401
//     (missing or invalid), 403 (insufficient scope), 503 (validator unavailable).
//  4. Body: read once into a pooled buffer that grows as bytes arrive (a declared
//     Content-Length reserves at most 16 KiB up front); a read error gets 400.
//  5. Signature (unless Config.SkipSignature): Scheme.Verify with every active key of the
//     key set — one MAC per key, constant-time comparisons. Missing, malformed or wrong
//     signatures get 401 (problem type invalid-signature). No active key gets 503.
//  6. Timestamp (schemes with one: standard, stripe): outside Config.Tolerance (default
//     5 minutes) gets 401 with the distinct problem type timestamp-out-of-tolerance.
//  7. Duplicate check (see below): a delivery already handled gets 204 without reaching the
//     handler; one being handled right now gets 503 with "Retry-After: 1".
//  8. Event: the body is decoded with event.Parse (or Config.Decode); failure gets 400.
//  9. The event, the principal and the delivery id go into the request context (EventFrom,
//     PrincipalFrom, DeliveryIDFrom), r.Body is replaced by a reader over the exact bytes
//     that were verified (r.ContentLength set to match), and the next handler runs.
//
// Signature and credentials combine: with Keys and Credentials set, both are required; with
// only Keys, the signature is; "credentials only" must be asked for explicitly with
// SkipSignature (which refuses a Keys value, so a signature check is never dropped by
// mistake).
//
// Every rejection is an RFC 9457 application/problem+json document whose type is
// ProblemTypeBase followed by the Reason, for example
//
//	{"type":"https://hookkit.dev/problems/invalid-signature","title":"Invalid signature",
//	 "status":401,"detail":"the webhook signature is missing, malformed or not valid"}
//
// The detail is fixed text: it never says which key was tried, which one failed or why a
// MAC did not match. The middleware never panics on any input (see FuzzMiddleware).
//
// Numeric settings follow one rule: 0 means the documented default, and a negative value
// is refused by New (ErrInvalidConfig) except where it means "off" and the field says so:
// only Config.Tolerance < 0, which turns the timestamp check off.
//
// # Observing
//
// Config.Logger (log/slog, off by default) gets one record per rejection and, at Debug,
// per accepted or duplicate delivery. Config.Observer is a RequestObserver, a struct of
// optional hooks (Accepted, Rejected, Duplicate; nil hooks are skipped) for metrics and
// tracing, passed by value like net/http/httptrace.ClientTrace.
//
// # De-duplication
//
// The id of a delivery is, in order of preference: the signed delivery id header of the
// scheme (webhook-id for standard; it is covered by the signature), else the event's "id"
// (docusign, github and stripe carry no id header, so the body is decoded before the
// duplicate check for them; for a message without an "id", such as DocuSign Connect's own,
// event.Parse derives one that stays the same across retries, see event.DeriveID), else,
// with a Config.Decode that leaves the id empty, "sha256:" and the hex SHA-256 of the body.
// That id, verbatim, is the SeenStore key and what DeliveryIDFrom returns.
//
// When a delivery has both and they differ, the signed header id wins: it is the
// de-duplication key and the delivery id, while the body's "id" is only the event's id
// (EventFrom(ctx).ID). Two deliveries with one header id are one delivery, the second
// acknowledged as a duplicate whatever its body says; two with different header ids are
// two deliveries, even of the same event. hookkit's sender uses the event id as the header
// id, so for its deliveries the two agree.
//
// Ids go through a SeenStore in three steps. Reserve claims the id atomically for
// Config.Lease and returns a token that owns the reservation; Commit marks it seen for the
// retention window only after the next handler answered 2xx (writing nothing counts as 200);
// Release frees it when the handler answered anything else or panicked, so the sender's
// retry gets through. While one delivery holds an id, another with the same id gets 503 and
// "Retry-After: 1": the sender retries and then receives the duplicate acknowledgement, and
// the handler runs exactly once.
//
// That holds while the handler returns within its lease (DefaultLease, 2 minutes): set
// Config.Lease above the longest handler run. A handler that outlives its lease is not
// stopped, and a retry arriving after the lease expired reserves the id and runs the handler
// a second time, concurrently. Commit and Release present the token, so the late delivery
// can neither free the retry's reservation (which would let a third copy in) nor undo a
// success: if it succeeds, its id is recorded as seen all the same and the receiver logs a
// warning (ErrLeaseLost). The retention defaults to
// max(2×Tolerance, 10 minutes), and 24 hours for deliveries without a signed timestamp,
// for which the seen store is the only replay defence. The default store is a
// MemorySeenStore holding at most 100,000 ids (MemorySeenStoreConfig.MaxEntries), private
// to the middleware New built; pass one to several middlewares in Config.Seen to share it,
// and use a shared SeenStore (Redis, SQL) when several processes receive the same endpoint.
//
// # Key rotation
//
// The middleware reads Config.Keys (a *signature.KeySet) on every request. Rotate without a
// restart, and without building a new middleware, by calling Replace on the key set you
// passed: add the new key, let senders switch, then drop the old one. Keys with NotBefore
// or Expires become active and inactive on their own.
//
// # Router
//
// NewRouter(RouterConfig{}) returns an http.Handler that reads the verified event from the
// context and calls the HandlerFunc registered for the most specific matching pattern: an
// exact type, then the longest prefix pattern ("envelope-*"), then "*". Results become
// statuses that senders understand: nil → 204; Retryable(err, d) → 503 with Retry-After;
// Permanent(err) → 422 (final, not 408, 425 or 429); any other error → 500. A type no
// pattern matches gets 204 (the event is acknowledged and ignored; with a
// RouterConfig.Logger, a Debug record says so) unless RouterConfig.RejectUnknown is set,
// which answers 422 (problem type unknown-event-type) and logs at Info.
// Mount middleware and Router under http.ServeMux ("POST /webhooks"), chi or anything else
// that takes an http.Handler.
//
// # Server timeouts
//
// The middleware bounds what one request may cost — MaxBodyBytes, a body buffer that grows
// only as bytes arrive, credentials checked before the body is read — but only the
// http.Server bounds how long a client may take over it. Without timeouts a client that
// opens connections and sends slowly keeps a goroutine, a connection and the bytes it sent
// so far on each, for as long as it likes. Set them on the server that serves the receiver:
//
//   - ReadHeaderTimeout: how long the request line and headers may take (a few seconds).
//   - ReadTimeout: how long headers and body together may take. A 1 MiB body needs well
//     under a minute even from a slow sender. If the same server has routes that need
//     longer, leave it to those and give the webhook route its own deadline instead, with
//     http.NewResponseController(w).SetReadDeadline in a handler in front of the middleware.
//   - WriteTimeout: how long from the end of the request headers until the response is
//     written. It covers the application handler's run: make it longer than the slowest
//     handler (and Config.Lease longer still), or the sender sees a timeout and retries a
//     delivery that was handled.
//   - IdleTimeout: how long a keep-alive connection may wait for its next request.
//   - MaxHeaderBytes: the largest request header block. The default is 1 MiB; signature
//     headers are at most 16 KiB (signature.MaxHeaderLen), so 64 KiB leaves room for
//     credentials.
//
// For example:
//
//	srv := &http.Server{
//		Addr:              ":8443",
//		Handler:           mux, // serves "POST /webhooks" with verified := verify(app)
//		ReadHeaderTimeout: 5 * time.Second,
//		ReadTimeout:       30 * time.Second,
//		WriteTimeout:      60 * time.Second,
//		IdleTimeout:       2 * time.Minute,
//		MaxHeaderBytes:    64 << 10,
//	}
//
// or, per request, when the server's ReadTimeout must stay longer for other routes:
//
//	mux.Handle("POST /webhooks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(30 * time.Second))
//		verified.ServeHTTP(w, r)
//	}))
//
// # Lifetimes
//
// The body buffer is pooled: the next handler must not use r.Body after it returns. The
// event from EventFrom does not share memory with the buffer and may be kept.
package receiver
