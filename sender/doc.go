// Package sender delivers webhooks: it signs, authenticates and POSTs events to endpoints,
// classifies the answers and retries, safely by default.
//
// # Synchronous delivery: Send
//
//	s, err := sender.New(sender.Config{})           // public https:// endpoints only
//	keys, _ := signature.NewKeySet(key)
//	ep := sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/docusign", Keys: keys,
//		Credentials: oauth}                            // *auth.OAuth2, auth.Basic, auth.Bearer or nil
//	ev, _ := event.New("envelope-completed", data)
//	res, err := s.Send(ctx, ep, ev)
//	switch {
//	case errors.Is(err, sender.ErrGone):            // 410: disable the endpoint
//	case errors.Is(err, sender.ErrRejected):        // another 4xx, or a redirect
//	case errors.Is(err, sender.ErrExhausted):       // retries used up
//	}
//
// Send delivers every event it is given (event-type filters belong to a
// dispatch.Subscription) and parses the endpoint's URL on each call: an Endpoint is a plain value,
// nothing about it is cached. CloseIdleConnections closes the transport's idle
// connections, as http.Client's does; the Sender stays usable.
//
// The event is marshalled once. Every attempt sends the same event id with retryCount set
// to the number of attempts before it, signed (Endpoint.Scheme, signature.Standard by
// default) with every key of the endpoint's key set active at that moment, over a fresh
// timestamp, so that a late retry is still within the receiver's tolerance.
//
// # Classification and retries
//
//   - 2xx: acknowledged.
//   - network errors, timeouts (Endpoint.Timeout, DefaultTimeout 30 s per attempt), 408,
//     425, 429, 500, 502, 503, 504 and other 5xx except 501 and 505: retried.
//   - 401 with credentials that implement auth.Invalidator (*auth.OAuth2): the token is
//     invalidated and the request retried at once with a fresh one, once; a second 401 is
//     a credentials failure (ErrCredentials).
//   - 410 Gone: ErrGone, so the caller can disable the endpoint.
//   - 3xx: ErrRedirect (which is an ErrRejected); redirects are never followed.
//   - other 4xx (401 without such credentials included), 501, 505: ErrRejected.
//
// Retries follow a RetryPolicy (exponential backoff with jitter from
// github.com/cenkalti/backoff/v4, bounded attempts and elapsed time, every default
// documented); a Retry-After header (seconds or HTTP-date) on 429 and 503 sets the wait,
// capped by RetryPolicy.MaxRetryAfter. When ctx ends, Send returns at once, whether it is
// waiting or sending. The Result lists every attempt (status, duration, class, error) and
// the error is a *DeliveryError for errors.As. Response bodies are read up to 64 KiB and
// discarded so that connections are reused.
//
// # Safe by default
//
// The sender refuses to connect to loopback, private-use, link-local (cloud metadata
// included), CGNAT, unique-local, multicast, unspecified and other non-public addresses,
// including their IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo forms. The check
// is made when dialling, on the resolved address, so a hostname that resolves to a
// private address is refused and DNS rebinding cannot get around it. Config.AllowPrivate
// and Config.AllowPrefixes relax it. Only https:// endpoints are allowed unless
// Config.AllowHTTP is set (AllowPrivate does not imply it), and Basic credentials are never sent over
// plain HTTP unless Config.AllowInsecureBasic is set. A client supplied in
// Config.HTTPClient gets the same rules (see its documentation); its RoundTripper, e.g.
// an OpenTelemetry one, is kept. OAuth2 token requests made by package auth go through
// the same guard by default. URLs, secrets and tokens never appear in errors, results or
// log records.
//
// # Observing
//
// Config.Logger (log/slog, off by default) receives a record per attempt and per outcome.
// Config.Observer, a DeliveryObserver (a struct of optional hooks, like
// net/http/httptrace.ClientTrace), is called on every attempt and outcome for metrics and
// tracing; its AttemptStarted hook can return the context the request is made with, so a
// span nests the transport's own.
//
// # Asynchronous delivery
//
// Send blocks its caller while retries last. Package dispatch (github.com/hookkit/hookkit/dispatch)
// takes an event in microseconds and delivers it later, at least once, through a Sender:
// fan-out to subscriptions, a queue store, workers, a circuit breaker per endpoint and
// dead letters. It uses the Sender's seam for one attempt at a time: Prepare checks an
// endpoint once and returns its Target, Attempt makes exactly one attempt to a Target,
// and RetryPolicy (Next, LongestDelay, Sender.RetryPolicy) says when to try again. This
// package never imports dispatch.
package sender
