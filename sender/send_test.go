package sender_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/safenet"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// sndHit is one request a test receiver got, with what the checks found.
type sndHit struct {
	At         time.Time
	Header     http.Header
	Body       []byte
	Event      *event.Event
	ParseErr   error
	VerifyErr  []error // hookkit's Scheme.Verify, per key of the receiver
	OfficialOK []error // the official Standard Webhooks library, per key
}

// sndKeys is a signing key pair (hookkit key and its whsec_ text) for the tests.
type sndKeys struct {
	keys  []signature.Key
	texts []string
	set   *signature.KeySet
}

func newSndKeys(t testing.TB, n int) *sndKeys {
	t.Helper()
	k := &sndKeys{}
	for i := range n {
		key, text, err := signature.Standard().GenerateKey(fmt.Sprintf("k%d", i+1))
		require.NoError(t, err)
		k.keys = append(k.keys, key)
		k.texts = append(k.texts, text)
	}
	set, err := signature.NewKeySet(k.keys...)
	require.NoError(t, err)
	k.set = set
	return k
}

// sndReceiver is a loopback receiver that records and verifies every request and
// answers with respond(n, w, r), n counting from 1.
type sndReceiver struct {
	*httptest.Server
	keys    *sndKeys
	mu      sync.Mutex
	hits    []sndHit
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newSndReceiver(t testing.TB, keys *sndKeys, respond func(n int, w http.ResponseWriter, r *http.Request)) *sndReceiver {
	t.Helper()
	rc := &sndReceiver{keys: keys, respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *sndReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := sndHit{At: time.Now(), Header: r.Header.Clone(), Body: body}
	h.Event, h.ParseErr = event.Parse(body)
	if rc.keys != nil {
		for i, k := range rc.keys.keys {
			_, err := signature.Standard().Verify(r.Header, body, []signature.Key{k}, signature.VerifyOptions{})
			h.VerifyErr = append(h.VerifyErr, err)
			wh, err := standardwebhooks.NewWebhook(rc.keys.texts[i])
			if err == nil {
				err = wh.Verify(body, r.Header)
			}
			h.OfficialOK = append(h.OfficialOK, err)
		}
	}
	rc.mu.Lock()
	rc.hits = append(rc.hits, h)
	n := len(rc.hits)
	rc.mu.Unlock()
	if rc.respond == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rc.respond(n, w, r)
}

func (rc *sndReceiver) Hits() []sndHit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]sndHit(nil), rc.hits...)
}

// statuses answers the n-th request with codes[n-1], and the last code after that.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

// fastRetry is a quick retry policy without jitter, for timing checks.
func fastRetry(attempts int) *sender.RetryPolicy {
	return &sender.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: time.Second,
		RandomizationFactor: -1, MaxAttempts: attempts, MaxElapsedTime: time.Minute}
}

// loopbackSender is a Sender with the SSRF guard relaxed for loopback test servers.
func loopbackSender(t testing.TB, cfg sender.Config) *sender.Sender {
	t.Helper()
	cfg.AllowPrivate = true
	cfg.AllowHTTP = true
	if cfg.Retry == (sender.RetryPolicy{}) {
		cfg.Retry = *fastRetry(4)
	}
	s, err := sender.New(cfg)
	require.NoError(t, err)
	t.Cleanup(s.CloseIdleConnections)
	return s
}

func sndEvent(t testing.TB, typ string) *event.Event {
	t.Helper()
	ev, err := event.New(typ, map[string]any{"envelopeId": "e-1", "status": "completed"})
	require.NoError(t, err)
	return ev
}

// assertEveryAttemptSigned checks that every hit carries the event's id, retryCount
// n-1 and signatures that hookkit and the official library both accept with every key.
func assertEveryAttemptSigned(t *testing.T, ev *event.Event, hits []sndHit) {
	t.Helper()
	for i, h := range hits {
		require.NoError(t, h.ParseErr, "attempt %d body parses", i+1)
		assert.Equal(t, ev.ID, h.Event.ID, "attempt %d: same event id", i+1)
		assert.Equal(t, ev.ID, h.Header.Get("webhook-id"), "attempt %d: webhook-id", i+1)
		assert.Equal(t, i, h.Event.RetryCount, "attempt %d: retryCount", i+1)
		assert.Equal(t, ev.Type, h.Event.Type)
		assert.JSONEq(t, string(ev.Data), string(h.Event.Data))
		assert.Equal(t, "application/json", h.Header.Get("Content-Type"))
		for k, err := range h.VerifyErr {
			assert.NoError(t, err, "attempt %d: Scheme.Verify with key %d", i+1, k+1)
		}
		for k, err := range h.OfficialOK {
			assert.NoError(t, err, "attempt %d: official Standard Webhooks Verify with key %d", i+1, k+1)
		}
	}
}

func classes(res *sender.Result) []sender.Class {
	var out []sender.Class
	for _, a := range res.Attempts {
		out = append(out, a.Class)
	}
	return out
}

func TestSend5xxThenSuccess(t *testing.T) {
	t.Parallel()
	keys := newSndKeys(t, 2) // rotation: both keys sign every attempt
	rc := newSndReceiver(t, keys, statuses(500, 503, 502, 200))
	s := loopbackSender(t, sender.Config{})
	ev := sndEvent(t, "envelope-completed")

	start := time.Now()
	res, err := s.Send(context.Background(), sender.Endpoint{ID: "acme", URL: rc.URL, Keys: keys.set, Retry: fastRetry(5)}, ev)
	elapsed := time.Since(start)
	require.NoError(t, err)
	require.True(t, res.Delivered)
	assert.Equal(t, ev.ID, res.EventID)
	assert.Equal(t, "acme", res.Endpoint)
	require.Len(t, res.Attempts, 4)
	assert.Equal(t, []sender.Class{sender.ClassRetryable, sender.ClassRetryable, sender.ClassRetryable, sender.ClassAcknowledged}, classes(res))
	for i, a := range res.Attempts {
		assert.Equal(t, i+1, a.Number)
		assert.Equal(t, []int{500, 503, 502, 200}[i], a.Status)
		assert.Positive(t, a.Duration)
		if i < 3 {
			assert.ErrorContains(t, a.Err, strconv.Itoa(a.Status))
		} else {
			assert.NoError(t, a.Err)
		}
	}
	hits := rc.Hits()
	require.Len(t, hits, 4)
	assertEveryAttemptSigned(t, ev, hits)
	assert.Len(t, hits[0].Header.Values("webhook-signature"), 1)
	assert.Regexp(t, `^v1,\S+ v1,\S+$`, hits[0].Header.Get("webhook-signature"), "one signature per active key")

	// Backoff without jitter: 20 ms, 40 ms, 80 ms.
	for i, want := range []time.Duration{20, 40, 80} {
		gap := hits[i+1].At.Sub(hits[i].At)
		assert.GreaterOrEqual(t, gap, want*time.Millisecond, "wait before attempt %d", i+2)
		assert.Less(t, gap, want*time.Millisecond+time.Second, "wait before attempt %d", i+2)
	}
	assert.Less(t, elapsed, 5*time.Second)
	assert.GreaterOrEqual(t, res.Duration, 140*time.Millisecond)
}

// TestSendFreshTimestampPerAttempt pins down that each attempt is signed over the time it
// is made, not the time of the first one.
func TestSendFreshTimestampPerAttempt(t *testing.T) {
	t.Parallel()
	keys := newSndKeys(t, 1)
	rc := newSndReceiver(t, nil, statuses(503, 503, 204))
	var calls atomic.Int64
	base := time.Now().Add(-time.Hour)
	s := loopbackSender(t, sender.Config{Now: func() time.Time {
		return base.Add(time.Duration(calls.Add(1)) * time.Minute) // the clock jumps a minute per reading
	}})
	ev := sndEvent(t, "envelope-sent")
	p := fastRetry(3)
	p.MaxElapsedTime = -1 // the fake clock runs fast
	res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Keys: keys.set, Retry: p}, ev)
	require.NoError(t, err)
	hits := rc.Hits()
	require.Len(t, hits, 3)
	var last int64
	for i, h := range hits {
		ts, err := strconv.ParseInt(h.Header.Get("webhook-timestamp"), 10, 64)
		require.NoError(t, err)
		assert.Greater(t, ts, last, "attempt %d has a later timestamp", i+1)
		last = ts
		assert.Equal(t, res.Attempts[i].Start.Unix(), ts, "signed over the attempt's start")
		_, err = signature.Standard().Verify(h.Header, h.Body, keys.keys, signature.VerifyOptions{
			Now: func() time.Time { return time.Unix(ts, 0) }})
		assert.NoError(t, err)
	}
}

// TestSendRetryAfter runs in a synctest bubble, over an in-process transport (a bubble
// cannot use real sockets), so that the wait between the two attempts is measured on the
// fake clock exactly, whatever the load of the machine: the Retry-After asked for (or its
// cap, or the backoff when it cannot be used), to the nanosecond.
func TestSendRetryAfter(t *testing.T) {
	cases := []struct {
		name       string
		code       int
		header     func() string
		wait       time.Duration
		maxAfter   time.Duration
		recordedGE time.Duration
	}{
		{"seconds on 429", 429, func() string { return "1" }, time.Second, 0, time.Second},
		// The bubble's clock starts on a whole second, so the HTTP-date loses nothing.
		{"http-date on 503", 503, func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 2 * time.Second, 0, 2 * time.Second},
		{"capped by MaxRetryAfter", 429, func() string { return "3600" }, 50 * time.Millisecond, 50 * time.Millisecond, time.Hour},
		{"past http-date: backoff", 503, func() string { return time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat) }, 20 * time.Millisecond, 0, 0},
		{"garbage: backoff", 429, func() string { return "soon" }, 20 * time.Millisecond, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var hits []time.Time
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					hits = append(hits, time.Now())
					w := httptest.NewRecorder()
					if len(hits) == 1 {
						w.Header().Set("Retry-After", tc.header())
						w.WriteHeader(tc.code)
					} else {
						w.WriteHeader(http.StatusOK)
					}
					return w.Result(), nil
				})
				p := fastRetry(3)
				p.MaxRetryAfter = tc.maxAfter
				s, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: rt}, GuardedTransport: true,
					AllowHTTP: true, Retry: *p})
				require.NoError(t, err)
				res, err := s.Send(context.Background(), sender.Endpoint{URL: "http://receiver.test/hook", Retry: p}, sndEvent(t, "envelope-sent"))
				require.NoError(t, err)
				require.Len(t, res.Attempts, 2)
				assert.Equal(t, tc.code, res.Attempts[0].Status)
				assert.Equal(t, sender.ClassRetryable, res.Attempts[0].Class)
				assert.GreaterOrEqual(t, res.Attempts[0].RetryAfter, tc.recordedGE)
				require.Len(t, hits, 2)
				assert.Equal(t, tc.wait, hits[1].Sub(hits[0]), "the wait, to the nanosecond")
			})
		})
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

// RoundTrip implements http.RoundTripper.
func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSendClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code     int
		attempts int // with MaxAttempts 3
		class    sender.Class
		kind     error
	}{
		{200, 1, sender.ClassAcknowledged, nil},
		{201, 1, sender.ClassAcknowledged, nil},
		{202, 1, sender.ClassAcknowledged, nil},
		{204, 1, sender.ClassAcknowledged, nil},
		{400, 1, sender.ClassPermanent, sender.ErrRejected},
		{401, 1, sender.ClassPermanent, sender.ErrRejected}, // no OAuth2 credentials
		{403, 1, sender.ClassPermanent, sender.ErrRejected},
		{404, 1, sender.ClassPermanent, sender.ErrRejected},
		{413, 1, sender.ClassPermanent, sender.ErrRejected},
		{422, 1, sender.ClassPermanent, sender.ErrRejected},
		{410, 1, sender.ClassGone, sender.ErrGone},
		{408, 3, sender.ClassRetryable, sender.ErrExhausted},
		{425, 3, sender.ClassRetryable, sender.ErrExhausted},
		{429, 3, sender.ClassRetryable, sender.ErrExhausted},
		{500, 3, sender.ClassRetryable, sender.ErrExhausted},
		{502, 3, sender.ClassRetryable, sender.ErrExhausted},
		{503, 3, sender.ClassRetryable, sender.ErrExhausted},
		{504, 3, sender.ClassRetryable, sender.ErrExhausted},
		{507, 3, sender.ClassRetryable, sender.ErrExhausted},
		{501, 1, sender.ClassPermanent, sender.ErrRejected},
		{505, 1, sender.ClassPermanent, sender.ErrRejected},
		{301, 1, sender.ClassRedirect, sender.ErrRedirect},
		{302, 1, sender.ClassRedirect, sender.ErrRedirect},
		{307, 1, sender.ClassRedirect, sender.ErrRedirect},
		{308, 1, sender.ClassRedirect, sender.ErrRedirect},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			keys := newSndKeys(t, 1)
			rc := newSndReceiver(t, keys, func(_ int, w http.ResponseWriter, r *http.Request) {
				if tc.code >= 300 && tc.code < 400 {
					http.Redirect(w, r, "/elsewhere", tc.code)
					return
				}
				w.WriteHeader(tc.code)
			})
			s := loopbackSender(t, sender.Config{})
			ev := sndEvent(t, "envelope-voided")
			res, err := s.Send(context.Background(), sender.Endpoint{ID: "ep", URL: rc.URL, Keys: keys.set, Retry: fastRetry(3)}, ev)
			require.Len(t, res.Attempts, tc.attempts)
			require.Len(t, rc.Hits(), tc.attempts, "redirects are not followed")
			assertEveryAttemptSigned(t, ev, rc.Hits())
			last := res.Attempts[len(res.Attempts)-1]
			assert.Equal(t, tc.class, last.Class)
			assert.Equal(t, tc.code, last.Status)
			if tc.kind == nil {
				require.NoError(t, err)
				assert.True(t, res.Delivered)
				return
			}
			require.Error(t, err)
			assert.False(t, res.Delivered)
			assert.ErrorIs(t, err, tc.kind)
			var de *sender.DeliveryError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.code, de.Status)
			assert.Equal(t, tc.class, de.Class)
			assert.Equal(t, tc.attempts, de.Attempts)
			assert.Equal(t, ev.ID, de.EventID)
			assert.Equal(t, "ep", de.Endpoint)
			assert.Contains(t, err.Error(), strconv.Itoa(tc.code))
		})
	}
}

func TestSendGoneAndRejectedErrors(t *testing.T) {
	t.Parallel()
	gone := newSndReceiver(t, nil, statuses(410))
	bad := newSndReceiver(t, nil, statuses(400))
	s := loopbackSender(t, sender.Config{})
	_, err := s.Send(context.Background(), sender.Endpoint{ID: "old", URL: gone.URL}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrGone)
	assert.NotErrorIs(t, err, sender.ErrRejected)
	assert.Contains(t, err.Error(), "endpoint gone")
	_, err = s.Send(context.Background(), sender.Endpoint{ID: "picky", URL: bad.URL}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrRejected)
	assert.NotErrorIs(t, err, sender.ErrGone)
	assert.NotErrorIs(t, err, sender.ErrRedirect)
	assert.Len(t, gone.Hits(), 1)
	assert.Len(t, bad.Hits(), 1)
}

// countingTokens is an oauth2.TokenSource that issues tok-1, tok-2, ... and counts.
type countingTokens struct {
	n     atomic.Int64
	delay time.Duration
}

func (c *countingTokens) Token() (*oauth2.Token, error) {
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	n := c.n.Add(1)
	return &oauth2.Token{AccessToken: fmt.Sprintf("tok-%d", n), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func TestSend401RefreshesTokenOnce(t *testing.T) {
	t.Parallel()
	t.Run("then success", func(t *testing.T) {
		t.Parallel()
		ts := &countingTokens{}
		var seen []string
		var mu sync.Mutex
		rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get("Authorization"))
			mu.Unlock()
			if r.Header.Get("Authorization") == "Bearer tok-1" { // revoked at the receiver
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		s := loopbackSender(t, sender.Config{})
		p := fastRetry(5)
		p.InitialInterval = 2 * time.Second // the retry after a 401 does not wait
		start := time.Now()
		res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Credentials: auth.FromTokenSource(ts), Retry: p}, sndEvent(t, "envelope-sent"))
		require.NoError(t, err)
		assert.Less(t, time.Since(start), time.Second, "retried at once")
		require.Len(t, res.Attempts, 2)
		assert.Equal(t, 401, res.Attempts[0].Status)
		assert.Equal(t, sender.ClassRetryable, res.Attempts[0].Class)
		assert.Equal(t, 200, res.Attempts[1].Status)
		assert.Equal(t, []string{"Bearer tok-1", "Bearer tok-2"}, seen)
		assert.Equal(t, int64(2), ts.n.Load(), "one token request per token")
	})
	t.Run("fresh token rejected too", func(t *testing.T) {
		t.Parallel()
		ts := &countingTokens{}
		rc := newSndReceiver(t, nil, statuses(401))
		s := loopbackSender(t, sender.Config{})
		res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Credentials: auth.FromTokenSource(ts), Retry: fastRetry(5)}, sndEvent(t, "envelope-sent"))
		require.Error(t, err)
		assert.ErrorIs(t, err, sender.ErrCredentials)
		require.Len(t, res.Attempts, 2, "one refresh, not more")
		assert.Equal(t, sender.ClassCredentials, res.Attempts[1].Class)
		assert.Len(t, rc.Hits(), 2)
		assert.Equal(t, int64(2), ts.n.Load())
	})
	t.Run("token endpoint down", func(t *testing.T) {
		t.Parallel()
		rc := newSndReceiver(t, nil, nil)
		s := loopbackSender(t, sender.Config{})
		creds := auth.FromTokenSource(failingTokens{})
		res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Credentials: creds, Retry: fastRetry(3)}, sndEvent(t, "envelope-sent"))
		require.Error(t, err)
		assert.ErrorIs(t, err, sender.ErrCredentials)
		assert.Equal(t, []sender.Class{sender.ClassCredentials, sender.ClassCredentials, sender.ClassCredentials}, classes(res), "transient: retried")
		assert.Empty(t, rc.Hits(), "nothing sent without credentials")
	})
}

// A token endpoint that fails transiently is retried; one that rejects the client with an
// OAuth2 error is not, and its error code reaches the caller.
func TestSendTokenEndpointFailures(t *testing.T) {
	t.Parallel()
	tokenServer := func(t *testing.T, first func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int64) {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				first(w)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"tok","token_type":"Bearer","expires_in":3600}`)
		}))
		t.Cleanup(srv.Close)
		return srv, &calls
	}
	creds := func(t *testing.T, url string) auth.Credentials {
		c, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			TokenURL: url, AllowHTTP: true, ClientID: "svc", ClientSecret: auth.NewPassword("s3cret"), AuthStyle: auth.AuthStyleHeader,
			HTTPClient: safenet.NewClient(safenet.Policy{AllowPrivate: true}, 5*time.Second),
		})
		require.NoError(t, err)
		return c
	}
	t.Run("503 then a token: retried and delivered", func(t *testing.T) {
		t.Parallel()
		ts, calls := tokenServer(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
		rc := newSndReceiver(t, nil, nil)
		s := loopbackSender(t, sender.Config{})
		res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Credentials: creds(t, ts.URL), Retry: fastRetry(3)}, sndEvent(t, "envelope-sent"))
		require.NoError(t, err)
		assert.Equal(t, []sender.Class{sender.ClassCredentials, sender.ClassAcknowledged}, classes(res))
		assert.Equal(t, int64(2), calls.Load())
		require.Len(t, rc.Hits(), 1)
	})
	t.Run("invalid_client: not retried, code reported", func(t *testing.T) {
		t.Parallel()
		ts, calls := tokenServer(t, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"bad secret s3cret"}`)
		})
		rc := newSndReceiver(t, nil, nil)
		s := loopbackSender(t, sender.Config{})
		res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Credentials: creds(t, ts.URL), Retry: fastRetry(3)}, sndEvent(t, "envelope-sent"))
		require.Error(t, err)
		assert.ErrorIs(t, err, sender.ErrCredentials)
		var te *auth.TokenError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "invalid_client", te.Code)
		assert.Contains(t, err.Error(), "invalid_client")
		assert.NotContains(t, err.Error(), "s3cret")
		assert.Equal(t, []sender.Class{sender.ClassCredentials}, classes(res))
		assert.Equal(t, int64(1), calls.Load())
		assert.Empty(t, rc.Hits())
	})
}

type failingTokens struct{}

func (failingTokens) Token() (*oauth2.Token, error) {
	return nil, errors.New("token endpoint unreachable")
}

func TestSendSlowResponsePastTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(http.StatusOK)
	})
	s := loopbackSender(t, sender.Config{})
	start := time.Now()
	res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Timeout: 150 * time.Millisecond, Retry: fastRetry(2)}, sndEvent(t, "envelope-sent"))
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, sender.ErrExhausted)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, res.Attempts, 2)
	for _, a := range res.Attempts {
		assert.Equal(t, sender.ClassRetryable, a.Class)
		assert.Zero(t, a.Status)
		assert.ErrorContains(t, a.Err, "timed out after 150ms")
		assert.GreaterOrEqual(t, a.Duration, 140*time.Millisecond)
		assert.Less(t, a.Duration, 2*time.Second)
	}
	assert.Less(t, elapsed, 3*time.Second)
}

func TestSendConnectionReset(t *testing.T) {
	t.Parallel()
	keys := newSndKeys(t, 1)
	rc := newSndReceiver(t, keys, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST, not FIN
				}
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	s := loopbackSender(t, sender.Config{})
	ev := sndEvent(t, "envelope-sent")
	res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Keys: keys.set, Retry: fastRetry(4)}, ev)
	require.NoError(t, err)
	require.Len(t, res.Attempts, 3)
	for _, a := range res.Attempts[:2] {
		assert.Equal(t, sender.ClassRetryable, a.Class)
		assert.Zero(t, a.Status)
		assert.Error(t, a.Err)
		assert.NotContains(t, a.Err.Error(), rc.URL, "no URL in errors")
	}
	assert.Equal(t, 202, res.Attempts[2].Status)
	assertEveryAttemptSigned(t, ev, rc.Hits())
}

func TestSendRedirectToInternalAddressNotFollowed(t *testing.T) {
	t.Parallel()
	internal := newSndReceiver(t, nil, nil)
	for _, loc := range []string{internal.URL + "/admin", "http://169.254.169.254/latest/meta-data/"} {
		rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
		})
		s := loopbackSender(t, sender.Config{})
		res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Retry: fastRetry(3)}, sndEvent(t, "envelope-sent"))
		require.Error(t, err)
		assert.ErrorIs(t, err, sender.ErrRedirect)
		assert.ErrorIs(t, err, sender.ErrRejected)
		require.Len(t, res.Attempts, 1, "not retried")
		assert.Equal(t, sender.ClassRedirect, res.Attempts[0].Class)
		assert.Equal(t, 307, res.Attempts[0].Status)
		assert.NotContains(t, err.Error(), "169.254", "the Location is not echoed")
	}
	assert.Empty(t, internal.Hits(), "the internal target was never reached")
}

// cancelAfterAttempt is an observer that calls cancel when the first attempt has finished,
// so a test cancels exactly while Send waits out its backoff.
func cancelAfterAttempt(cancel context.CancelFunc) sender.DeliveryObserver {
	return sender.DeliveryObserver{
		AttemptFinished: func(context.Context, sender.AttemptInfo, sender.Attempt) { cancel() },
	}
}

func TestSendContextCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, statuses(503))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := loopbackSender(t, sender.Config{Observer: cancelAfterAttempt(cancel)})
	p := fastRetry(5)
	p.InitialInterval = time.Minute
	p.MaxInterval = time.Minute
	start := time.Now()
	res, err := s.Send(ctx, sender.Endpoint{URL: rc.URL, Retry: p}, sndEvent(t, "envelope-sent"))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, res.Attempts, 1)
	assert.Len(t, rc.Hits(), 1)
	assert.Less(t, time.Since(start), 30*time.Second, "stopped when cancelled, not after the 1 minute backoff")
}

func TestSendContextCancelledDuringRequest(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // hangs until the sender gives up the request
	})
	s := loopbackSender(t, sender.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	start := time.Now()
	res, err := s.Send(ctx, sender.Endpoint{URL: rc.URL, Retry: fastRetry(5)}, sndEvent(t, "envelope-sent"))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 30*time.Second, "stopped when cancelled, not after the 30 s attempt timeout")
	assert.Len(t, res.Attempts, 1)

	// Already cancelled: nothing is sent.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	res, err = s.Send(ctx2, sender.Endpoint{URL: rc.URL}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, res.Attempts)
	assert.Len(t, rc.Hits(), 1)
}

func TestSendHeaders(t *testing.T) {
	t.Parallel()
	keys := newSndKeys(t, 1)
	rc := newSndReceiver(t, keys, nil)
	s := loopbackSender(t, sender.Config{UserAgent: "acme-webhooks/2"})
	ev := sndEvent(t, "envelope-sent")
	_, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Keys: keys.set, Headers: http.Header{
		"X-Tenant":          {"t-42"},
		"Webhook-Signature": {"v1,forged"},
		"Content-Type":      {"text/plain"},
	}}, ev)
	require.NoError(t, err)
	h := rc.Hits()[0]
	assert.Equal(t, "t-42", h.Header.Get("X-Tenant"))
	assert.Equal(t, "acme-webhooks/2", h.Header.Get("User-Agent"))
	assert.Equal(t, "application/json", h.Header.Get("Content-Type"))
	assert.NotContains(t, h.Header.Get("webhook-signature"), "forged")
	assertEveryAttemptSigned(t, ev, rc.Hits())

	// Default User-Agent; no key set: unsigned.
	rc2 := newSndReceiver(t, nil, nil)
	s2 := loopbackSender(t, sender.Config{})
	_, err = s2.Send(context.Background(), sender.Endpoint{URL: rc2.URL}, ev)
	require.NoError(t, err)
	assert.Equal(t, sender.DefaultUserAgent, rc2.Hits()[0].Header.Get("User-Agent"))
	assert.Empty(t, rc2.Hits()[0].Header.Get("webhook-signature"))
}

func TestSendNoActiveKeyIsNotSentUnsigned(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	key, _, err := signature.Standard().GenerateKey("old")
	require.NoError(t, err)
	key.Expires = time.Now().Add(-time.Hour)
	set, err := signature.NewKeySet(key)
	require.NoError(t, err)
	s := loopbackSender(t, sender.Config{})
	res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Keys: set}, sndEvent(t, "envelope-sent"))
	require.Error(t, err)
	assert.ErrorIs(t, err, sender.ErrInvalidEndpoint)
	assert.ErrorIs(t, err, signature.ErrNoKeys)
	assert.Len(t, res.Attempts, 1)
	assert.Empty(t, rc.Hits())
}

func TestSendInvalidInput(t *testing.T) {
	t.Parallel()
	s := loopbackSender(t, sender.Config{})
	ev := sndEvent(t, "envelope-sent")
	for _, u := range []string{"", "::", "ftp://example.com/", "https://", "https://user:pw@example.com/hook", "/relative"} {
		res, err := s.Send(context.Background(), sender.Endpoint{URL: u}, ev)
		assert.ErrorIs(t, err, sender.ErrInvalidEndpoint, "%q", u)
		assert.Empty(t, res.Attempts, "%q", u)
		assert.NotContains(t, err.Error(), "pw@", "%q", u)
	}
	_, err := s.Send(context.Background(), sender.Endpoint{URL: "https://example.com/"}, nil)
	assert.ErrorIs(t, err, sender.ErrInvalidEvent)
	_, err = s.Send(context.Background(), sender.Endpoint{URL: "https://example.com/", Retry: &sender.RetryPolicy{Multiplier: 0.5}}, ev)
	assert.ErrorIs(t, err, sender.ErrInvalidEndpoint)
	assert.ErrorIs(t, err, sender.ErrInvalidPolicy)
}

// TestSendRefusesNegativeTimeout: a negative Endpoint.Timeout has no meaning; Send fails
// with ErrInvalidEndpoint and sends nothing, instead of taking the default.
func TestSendRefusesNegativeTimeout(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	s := loopbackSender(t, sender.Config{})
	res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Timeout: -time.Second}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrInvalidEndpoint)
	assert.ErrorContains(t, err, "negative timeout")
	assert.Empty(t, res.Attempts)
	assert.Empty(t, rc.Hits(), "nothing sent")
}

// TestSendReusesConnections pins down that response bodies are drained: sequential
// deliveries share one connection.
func TestSendReusesConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	rc := &sndReceiver{respond: func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 8<<10)) // read to the end, so the connection is reused
	}}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	rc.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	rc.Start()
	t.Cleanup(rc.Close)
	s := loopbackSender(t, sender.Config{})
	for range 5 {
		_, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, sndEvent(t, "envelope-sent"))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), conns.Load())

	// A body past the 64 KiB cap is not read to the end: still acknowledged.
	big := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 1<<20))
	})
	res, err := s.Send(context.Background(), sender.Endpoint{URL: big.URL}, sndEvent(t, "envelope-sent"))
	require.NoError(t, err)
	assert.True(t, res.Delivered)
}

func TestSendConcurrentOneTokenPerLifetime(t *testing.T) {
	t.Parallel()
	ts := &countingTokens{delay: 20 * time.Millisecond}
	creds := auth.FromTokenSource(ts)
	rc := newSndReceiver(t, nil, nil)
	s := loopbackSender(t, sender.Config{})
	ep := sender.Endpoint{URL: rc.URL, Credentials: creds}
	ev := sndEvent(t, "envelope-sent")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Send(context.Background(), ep, ev); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, failed.Load())
	assert.Equal(t, int64(1), ts.n.Load(), "one token request for 1,000 concurrent sends")
	assert.Len(t, rc.Hits(), 1000)
}
