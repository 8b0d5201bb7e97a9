// Package receivertest builds signed webhook requests for the tests of handlers that sit
// behind a receiver, as net/http/httptest builds requests for handlers: a test gets the
// request a hookkit sender would deliver, without running a sender or a server.
//
//	req, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{Keys: []signature.Key{key}})
//	require.NoError(t, err)
//	rec := httptest.NewRecorder()
//	verified.ServeHTTP(rec, req) // your handler behind the receiver.New middleware
//
// NewRequest does not imitate the sender: it runs one attempt of a real sender.Sender and
// captures the request in place of the network, so the body, the headers and the
// signatures are produced by the code that produces them in production, and a request
// that passes the receiver in a test passes it in production (given the same scheme, keys
// and clock). Sign is the lower-level helper for bodies that are not hookkit events, such
// as a GitHub or Stripe payload decoded by receiver.Config.Decode.
package receivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// DefaultURL is the request URL when Options.URL is "". It is https, so auth.Basic
// credentials made for production (allowInsecureHTTP false) apply to it.
const DefaultURL = "https://example.test/webhooks"

// ErrInvalidOptions is wrapped by the errors of NewRequest and Sign for options that
// cannot build a request: a negative RetryCount, a URL the sender would refuse, more than
// signature.MaxKeys keys or a zero Key, or a nil event.
var ErrInvalidOptions = errors.New("hookkit/receivertest: invalid options")

// Options says how a test request is built. The zero value builds an unsigned request
// without credentials to DefaultURL, for testing that a receiver refuses it.
type Options struct {
	// URL is the absolute http:// or https:// URL the request is made to. "": DefaultURL.
	URL string
	// Scheme is the signature format. nil: signature.Standard(), as for sender.Endpoint
	// and receiver.Config.
	Scheme signature.Scheme
	// Keys sign the request, as the keys of sender.Endpoint.Keys do: every key active at
	// Now that can sign adds its signature (ed25519 public keys cannot, and are skipped).
	// None: the request is not signed. Keys given but none of them active at Now (or able
	// to sign): an error wrapping signature.ErrNoKeys, since a sender would not send it.
	Keys []signature.Key
	// Credentials authenticate the request (auth.Basic, auth.Bearer, ...), applied by the
	// sender with the context given to NewRequest. nil: none. Credentials that fetch a
	// token (auth.NewClientCredentials) would ask their token endpoint: in a test, give
	// auth.Bearer with the token your validator accepts instead.
	Credentials auth.Credentials
	// Now is the signing time, and the time keys are active at. Zero: time.Now(). Only
	// whole seconds are signed; set it more than the receiver's tolerance away from the
	// receiver's clock to test that a stale delivery is refused.
	Now time.Time
	// RetryCount is the body's retryCount: 0 for a first attempt, n for the n-th retry.
	// Negative is refused.
	RetryCount int
	// Header holds extra headers, as sender.Endpoint.Headers: the delivery's own headers
	// (Content-Type, User-Agent, signatures, Authorization) take precedence over them.
	Header http.Header
}

// now returns the signing time of o.
func (o *Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// keySet returns o.Keys as a key set; nil when there are none.
func (o *Options) keySet() (*signature.KeySet, error) {
	if len(o.Keys) == 0 {
		return nil, nil
	}
	ks, err := signature.NewKeySet(o.Keys...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return ks, nil
}

// NewRequest returns an incoming server request, as httptest.NewRequest returns one for
// the absolute URL opts.URL, that carries ev exactly as a hookkit sender delivers it with
// opts: the body of the attempt whose retryCount is opts.RetryCount, Content-Type
// application/json, sender.DefaultUserAgent, the scheme's signature headers for every key
// active at opts.Now, and the credentials' headers, under the canonical names a server
// reads them by. The request's context is ctx, which also bounds the credentials' Apply.
// Pass it to the ServeHTTP of a receiver.New middleware; its body reads once, so build
// one request per ServeHTTP.
//
// The request is captured from one attempt of a sender.Sender (a transport in place of the
// network answers it), so nothing is dialled. Errors wrap ErrInvalidOptions, the event's
// validation errors (event.ErrInvalidID, ...), signature.ErrNoKeys, or the credentials'
// error (auth.ErrInsecureTransport for Basic over http:// not allowed by auth.Basic).
func NewRequest(ctx context.Context, ev *event.Event, opts Options) (*http.Request, error) {
	if ev == nil {
		return nil, fmt.Errorf("%w: nil event", ErrInvalidOptions)
	}
	if opts.RetryCount < 0 {
		return nil, fmt.Errorf("%w: negative RetryCount", ErrInvalidOptions)
	}
	enc, err := ev.Encode()
	if err != nil {
		return nil, err
	}
	ks, err := opts.keySet()
	if err != nil {
		return nil, err
	}
	target := opts.URL
	if target == "" {
		target = DefaultURL
	}
	now := opts.now()
	var c capture
	s, err := sender.New(sender.Config{
		// The captured request never leaves the process: there is no address to guard,
		// and the URL is the test's, not production's.
		HTTPClient:         &http.Client{Transport: &c},
		GuardedTransport:   true,
		AllowHTTP:          true,
		AllowInsecureBasic: true,
		Now:                func() time.Time { return now },
	})
	if err != nil {
		return nil, err
	}
	t, err := s.Prepare(sender.Endpoint{
		URL: target, Scheme: opts.Scheme, Keys: ks, Credentials: opts.Credentials, Headers: opts.Header,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	a := s.Attempt(ctx, t, enc, opts.RetryCount)
	if c.req == nil {
		if a.Err == nil {
			a.Err = errors.New("no request was sent")
		}
		return nil, fmt.Errorf("hookkit/receivertest: %w", a.Err)
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(c.body))
	for k, v := range c.req.Header {
		// As a server reads them off the wire: schemes set lower-case names
		// ("webhook-signature"), which a handler's Header.Get would not find.
		ck := http.CanonicalHeaderKey(k)
		req.Header[ck] = append(req.Header[ck], v...)
	}
	return req, nil
}

// capture is the sender's transport: it keeps the one request and its body, and
// acknowledges it.
type capture struct {
	req  *http.Request
	body []byte
}

// RoundTrip implements http.RoundTripper.
func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	c.req, c.body = r, body
	return &http.Response{StatusCode: http.StatusNoContent, Status: "204 No Content", Proto: "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: r}, nil
}

// Sign signs body as a sender signs a delivery with opts.Scheme (nil:
// signature.Standard()): every key of opts.Keys active at opts.Now that can sign, at
// opts.Now (zero: time.Now()), with id as the delivery id (the standard scheme requires
// one; docusign, github and stripe ignore it). It returns the scheme's headers only, for a
// request the test builds itself; opts.URL, Credentials, RetryCount and Header are not
// used. With no key able to sign, the error wraps signature.ErrNoKeys.
func Sign(body []byte, id string, opts Options) (http.Header, error) {
	ks, err := opts.keySet()
	if err != nil {
		return nil, err
	}
	scheme := opts.Scheme
	if scheme == nil {
		scheme = signature.Standard()
	}
	now := opts.now()
	var keys []signature.Key
	if ks != nil {
		keys = ks.Active(now)
	}
	h := make(http.Header)
	if err := scheme.Sign(h, signature.Message{ID: id, Timestamp: now, Body: body}, keys); err != nil {
		return nil, fmt.Errorf("hookkit/receivertest: %w", err)
	}
	return h, nil
}
