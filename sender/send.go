package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/signature"
)

// Send delivers ev to ep, retrying by the endpoint's retry policy, and returns the record
// of every attempt. The body is marshalled once; each attempt carries the same event id,
// retryCount = attempt number - 1, and a signature over a fresh timestamp.
//
// On failure the error is a *DeliveryError whose Kind says why (errors.Is): ErrGone,
// ErrRejected (ErrRedirect), ErrExhausted, ErrRefusedDestination (ErrPlainHTTP,
// ErrInsecureBasic), ErrCredentials, ErrInvalidEndpoint (an unusable URL, a negative
// Endpoint.Timeout, an invalid Endpoint.Retry: nothing is sent), or ctx's error when ctx
// ended (Send returns promptly, during a request or a wait). The Result is never nil.
//
// Send sends every event it is given: event-type filters belong to a
// dispatch.Subscription. The endpoint's URL is parsed on every call (it costs about as
// much as one signature header); Prepare parses it once for many attempts.
func (s *Sender) Send(ctx context.Context, ep Endpoint, ev *event.Event) (*Result, error) {
	start := s.now()
	t := s.check(&ep)
	// The Result and room for its first attempt come in one allocation.
	rb := &resultBlock{}
	res := &rb.res
	res.Endpoint = t.name
	res.Attempts = rb.first[:0:1]
	if ev == nil {
		return res, s.fail(ctx, res, start, ErrInvalidEvent, nil)
	}
	res.EventID = ev.ID
	if t.dest.err != nil {
		kind := kindOf(t.dest.class)
		if errors.Is(t.dest.err, ErrInvalidEndpoint) {
			kind = ErrInvalidEndpoint
		}
		return res, s.fail(ctx, res, start, kind, t.dest.err)
	}
	if err := ep.validate(); err != nil {
		return res, s.fail(ctx, res, start, ErrInvalidEndpoint, err)
	}
	enc, err := ev.Encode()
	if err != nil {
		return res, s.fail(ctx, res, start, ErrInvalidEvent, err)
	}
	_, refreshable := ep.Credentials.(auth.Invalidator)
	refreshed := false
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	next := start // when the next attempt starts: Send's start for the first one
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return res, s.fail(ctx, res, start, err, nil)
		}
		a := s.do(ctx, &t, enc, n, refreshed, next)
		res.Attempts = append(res.Attempts, a)
		if a.Class == ClassAcknowledged {
			res.Delivered = true
			res.Duration = a.Start.Add(a.Duration).Sub(start)
			if s.observer.Delivered != nil {
				s.observer.Delivered(ctx, res)
			}
			if s.log != nil {
				s.log.LogAttrs(ctx, slog.LevelInfo, "hookkit: delivered", slog.String("event", res.EventID),
					slog.String("endpoint", res.Endpoint), slog.Int("attempts", len(res.Attempts)), slog.Duration("duration", res.Duration))
			}
			return res, nil
		}
		if err := ctx.Err(); err != nil {
			return res, s.fail(ctx, res, start, err, nil)
		}
		if stops(&a) {
			kind := kindOf(a.Class)
			if a.Class == ClassPermanent && errors.Is(a.Err, ErrInvalidEndpoint) {
				kind = ErrInvalidEndpoint
			}
			return res, s.fail(ctx, res, start, kind, nil)
		}
		var delay time.Duration
		if a.Status == http.StatusUnauthorized && refreshable && !refreshed {
			// The token was invalidated: retry at once with a fresh one, once.
			refreshed = true
			if p := s.retryPolicy(&ep); p.MaxAttempts > 0 && len(res.Attempts) >= p.MaxAttempts {
				return res, s.fail(ctx, res, start, ErrExhausted, nil)
			}
		} else {
			var ok bool
			policy := s.retryPolicy(&ep)
			delay, ok = policy.Next(len(res.Attempts), s.now().Sub(res.Attempts[0].Start), a.RetryAfter)
			if !ok {
				return res, s.fail(ctx, res, start, kindOf(a.Class), nil)
			}
		}
		if delay > 0 {
			if timer == nil {
				timer = time.NewTimer(delay)
			} else {
				timer.Reset(delay)
			}
			select {
			case <-ctx.Done():
				return res, s.fail(ctx, res, start, ctx.Err(), nil)
			case <-timer.C:
			}
		}
		next = s.now()
	}
}

// resultBlock holds a Result and its first attempt, allocated together: most deliveries
// take one attempt.
type resultBlock struct {
	res   Result
	first [1]Attempt
}

// ErrInvalidEvent is the Kind of Send's error for a nil event or one that cannot be
// encoded.
var ErrInvalidEvent = errors.New("hookkit/sender: invalid event")

// kindOf is the sentinel of a delivery that ended with an attempt of class c.
func kindOf(c Class) error {
	switch c {
	case ClassGone:
		return ErrGone
	case ClassPermanent:
		return ErrRejected
	case ClassRedirect:
		return ErrRedirect
	case ClassRefused:
		return ErrRefusedDestination
	case ClassCredentials:
		return ErrCredentials
	}
	return ErrExhausted
}

// fail finishes a Send that did not deliver: it completes res, tells the observer and
// the logger, and returns the *DeliveryError of kind, whose Err is cause when given and
// otherwise the last attempt's error.
func (s *Sender) fail(ctx context.Context, res *Result, start time.Time, kind, cause error) error {
	res.Duration = s.now().Sub(start)
	derr := &DeliveryError{EventID: res.EventID, Endpoint: res.Endpoint, Kind: kind, Err: cause, Attempts: len(res.Attempts)}
	if n := len(res.Attempts); n > 0 {
		last := &res.Attempts[n-1]
		derr.Status, derr.Class = last.Status, last.Class
		if cause == nil {
			derr.Err = last.Err
		}
	}
	if s.observer.Failed != nil {
		s.observer.Failed(ctx, res, derr)
	}
	if s.log != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "hookkit: delivery failed", slog.String("event", res.EventID),
			slog.String("endpoint", res.Endpoint), slog.Int("attempts", len(res.Attempts)),
			slog.Int("status", derr.Status), slog.String("error", derr.Error()))
	}
	return derr
}

// Attempt makes exactly one attempt to deliver enc to t, with the same rules as each
// attempt of Send, and returns its record; the retries are the caller's (a
// dispatch.Dispatcher reschedules them with RetryPolicy.Next). The attempt:
//
//   - sends the body for retryCount (event.Encoded.View), Number = retryCount+1, over a
//     fresh timestamp signed with every key of the endpoint's key set active now, with
//     its Credentials applied, as one POST through the guarded client (redirects are
//     never followed); the response is classified and its body read up to 64 KiB;
//   - is bounded by t.Timeout() and returns early when ctx ends, with ClassRetryable and
//     an error saying why;
//   - calls Config.Observer's AttemptStarted and AttemptFinished hooks (never Delivered
//     or Failed: there is no Send) and logs at debug level;
//   - never panics: a key set without an active key, or a scheme that cannot sign, give
//     ClassPermanent with an Err wrapping ErrInvalidEndpoint; Basic credentials over
//     plain http or an address the guard refuses give ClassRefused;
//   - after a 401 with credentials implementing auth.Invalidator, invalidates the token
//     and is ClassRetryable, so that the next attempt fetches a fresh one (Send retries at
//     once, once, and calls a second 401 in a row ClassCredentials; one attempt cannot
//     know about the one before). ClassCredentials is a token that could not be obtained;
//   - records in RetryAfter the wait a 429 or 503 asked for, uncapped.
//
// Event-type filters are not the Sender's business: every event given is sent.
func (s *Sender) Attempt(ctx context.Context, t *Target, enc *event.Encoded, retryCount int) Attempt {
	return s.do(ctx, t, enc, retryCount, false, s.now())
}

// do makes one attempt to t, started at start, with the observer's and the logger's
// calls around it. afterRefresh says the previous attempt got a 401 and had its token
// invalidated.
func (s *Sender) do(ctx context.Context, t *Target, enc *event.Encoded, retryCount int, afterRefresh bool, start time.Time) Attempt {
	info := AttemptInfo{EventID: enc.ID(), EventType: enc.Type(), Endpoint: t.name, Number: retryCount + 1, dest: t.dest.url}
	a := Attempt{Number: retryCount + 1, Start: start}
	actx := ctx
	if s.observer.AttemptStarted != nil {
		if c := s.observer.AttemptStarted(ctx, info); c != nil {
			actx = c
		}
	}
	s.post(actx, t, enc, retryCount, afterRefresh, &a)
	a.Duration = s.now().Sub(a.Start)
	if s.observer.AttemptFinished != nil {
		s.observer.AttemptFinished(actx, info, a)
	}
	if s.log != nil && s.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{slog.String("event", info.EventID), slog.String("endpoint", t.name),
			slog.Int("attempt", a.Number), slog.Int("status", a.Status), slog.String("class", a.Class.String()),
			slog.Duration("duration", a.Duration)}
		if a.Err != nil {
			attrs = append(attrs, slog.String("error", a.Err.Error()))
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "hookkit: attempt", attrs...)
	}
	return a
}

// outgoing holds what one attempt's request points to, allocated together.
type outgoing struct {
	url     url.URL
	body    bytes.Reader
	headers [2]string // Content-Type, User-Agent
}

// Canonical header names set on every request.
const (
	hContentType = "Content-Type"
	hUserAgent   = "User-Agent"
)

// post fills a with the outcome of one POST.
func (s *Sender) post(ctx context.Context, t *Target, enc *event.Encoded, retryCount int, afterRefresh bool, a *Attempt) {
	if t.dest.err != nil {
		a.Class, a.Err = t.dest.class, t.dest.err
		return
	}
	ep := &t.ep
	ctx, cancel := withAttemptTimeout(ctx, t.timeout, t.cause)
	defer cancel()

	o := &outgoing{url: *t.dest.url}
	body := enc.View(retryCount) // read-only: the reader, the signature and GetBody only read it
	o.body.Reset(body)
	h := make(http.Header, len(ep.Headers)+6)
	for k, v := range ep.Headers {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	o.headers = [2]string{"application/json", s.ua}
	h[hContentType] = o.headers[0:1:1]
	h[hUserAgent] = o.headers[1:2:2]
	if ep.Keys != nil {
		keys := ep.Keys.Active(a.Start)
		if len(keys) == 0 {
			a.Class, a.Err = ClassPermanent, fmt.Errorf("%w: %w", ErrInvalidEndpoint, signature.ErrNoKeys)
			return
		}
		if err := t.scheme.Sign(h, signature.Message{ID: enc.ID(), Timestamp: a.Start, Body: body}, keys); err != nil {
			a.Class, a.Err = ClassPermanent, fmt.Errorf("%w: signing: %w", ErrInvalidEndpoint, err)
			return
		}
		if len(ep.Headers) > 0 {
			dropShadowed(h)
		}
	}
	// What http.NewRequestWithContext builds, without parsing the URL again (check did,
	// once): each attempt gets its own copy of it.
	tmpl := http.Request{
		Method: http.MethodPost, URL: &o.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		// io.NopCloser over a *bytes.Reader, as NewRequest makes: the transport knows it is
		// in memory and writes headers and body together in one packet.
		Header: h, Body: io.NopCloser(&o.body), ContentLength: int64(len(body)), Host: t.dest.host,
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
	}
	req := tmpl.WithContext(ctx)
	if ep.Credentials != nil {
		if err := ep.Credentials.Apply(ctx, req); err != nil {
			switch {
			case classifyNetErr(err) == ClassRefused:
				a.Class, a.Err = ClassRefused, err
			case ctx.Err() != nil:
				a.Class, a.Err = ClassRetryable, s.ctxErr(ctx, err)
			default:
				a.Class, a.Err = ClassCredentials, fmt.Errorf("credentials: %w", err)
			}
			return
		}
	}
	if !t.dest.https && !s.allowInsecureBasic && isBasic(req.Header.Get("Authorization")) {
		a.Class, a.Err = ClassRefused, ErrInsecureBasic
		return
	}
	if s.observer.InjectHeaders != nil {
		s.injectHeaders(ctx, h) // after every header of the sender's own: they win
	}
	var resp *http.Response
	var err error
	if s.direct != nil {
		resp, err = s.direct.RoundTrip(req)
	} else {
		resp, err = s.client.Do(req)
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL: it may carry a secret
		}
		a.Class, a.Err = classifyNetErr(err), s.ctxErr(ctx, err)
		return
	}
	a.Status = resp.StatusCode
	a.Class = classifyStatus(resp.StatusCode)
	// A refusal explained by a problem document (hookkit's receivers send one) is read,
	// bounded and sanitised, so the attempt says why.
	if a.Class != ClassAcknowledged && isProblemJSON(resp.Header.Get(hContentType)) &&
		resp.ContentLength <= maxProblemBody {
		a.Problem = readProblem(resp.Body)
	}
	// Read what a well-behaved receiver sends so that the connection is reused; a longer
	// body is not worth the wait and the connection is closed instead. A declared length
	// within the cap is enforced by the transport already.
	if resp.ContentLength >= 0 && resp.ContentLength <= maxResponseBody {
		_, _ = io.Copy(io.Discard, resp.Body)
	} else {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	}
	resp.Body.Close()
	if a.Class == ClassAcknowledged {
		return
	}
	a.Err = &statusError{code: resp.StatusCode, problem: a.Problem}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if inv, ok := ep.Credentials.(auth.Invalidator); ok {
			inv.Invalidate(req)
			if afterRefresh {
				a.Class, a.Err = ClassCredentials, fmt.Errorf("%w: a fresh token was rejected too", a.Err)
			} else {
				a.Class, a.Err = ClassRetryable, fmt.Errorf("%w: token invalidated", a.Err)
			}
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	if a.Class == ClassRedirect {
		a.Err = fmt.Errorf("%w: not followed", a.Err)
	}
}

// ctxErr rewrites the error of an attempt that ran out of time, so that it says so;
// other errors are returned as they are.
func (s *Sender) ctxErr(ctx context.Context, err error) error {
	if timedOut(ctx) {
		return context.Cause(ctx) // "attempt timed out after …", wrapping DeadlineExceeded
	}
	return err
}

// dropShadowed removes the canonical form of every header that is also set under a
// non-canonical key (as signature schemes set "webhook-signature"): a static header of the
// endpoint must not add a second, forged value to a signature header.
func dropShadowed(h http.Header) {
	for k := range h {
		if ck := http.CanonicalHeaderKey(k); ck != k {
			delete(h, ck)
		}
	}
}

// isBasic reports whether an Authorization header value uses the Basic scheme.
func isBasic(v string) bool {
	return len(v) >= 6 && strings.EqualFold(v[:6], "basic ")
}
