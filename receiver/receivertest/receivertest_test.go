package receivertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/receivertest"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// t0 is the receivers' clock and the default signing time of the tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func schemes() []signature.Scheme {
	return []signature.Scheme{signature.Standard(), signature.DocuSign(""), signature.GitHub(""), signature.Stripe()}
}

func genKeys(t *testing.T, s signature.Scheme, ids ...string) []signature.Key {
	t.Helper()
	keys := make([]signature.Key, len(ids))
	for i, id := range ids {
		k, _, err := s.GenerateKey(id)
		require.NoError(t, err)
		keys[i] = k
	}
	return keys
}

func newEvent(t *testing.T) *event.Event {
	t.Helper()
	ev, err := event.New("envelope-completed", map[string]any{"envelopeId": "env-1", "pages": 3})
	require.NoError(t, err)
	ev.URI = "/envelopes/env-1"
	ev.ConfigurationID = 10
	return ev
}

// got is what the handler behind the receiver saw.
type got struct {
	calls     int
	ev        *event.Event
	id        string
	principal *auth.Principal
	body      []byte
}

// guard returns a receiver built from cfg (its clock t0 unless set) in front of a
// handler that records what it sees and answers 204.
func guard(t *testing.T, cfg receiver.Config) (http.Handler, *got) {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	mw, err := receiver.New(cfg)
	require.NoError(t, err)
	g := &got{}
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls++
		g.ev, _ = receiver.EventFrom(r.Context())
		g.id, _ = receiver.DeliveryIDFrom(r.Context())
		g.principal, _ = receiver.PrincipalFrom(r.Context())
		g.body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	})), g
}

func keySet(t *testing.T, keys ...signature.Key) *signature.KeySet {
	t.Helper()
	ks, err := signature.NewKeySet(keys...)
	require.NoError(t, err)
	return ks
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// problemType is the reason of a receiver's problem document.
func problemType(t *testing.T, rec *httptest.ResponseRecorder) receiver.Reason {
	t.Helper()
	var p struct{ Type string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), rec.Body.String())
	return receiver.Reason(strings.TrimPrefix(p.Type, receiver.ProblemTypeBase))
}

func TestNewRequestPassesReceiver(t *testing.T) {
	for _, s := range schemes() {
		t.Run(s.Name(), func(t *testing.T) {
			keys := genKeys(t, s, "k1", "k2")
			wrong := genKeys(t, s, "other")
			ev := newEvent(t)
			enc, err := ev.Encode()
			require.NoError(t, err)
			opts := receivertest.Options{Scheme: s, Keys: keys, Now: t0}
			timed := s.Name() == "standard" || s.Name() == "stripe"

			// Both keys sign: a receiver that knows only one of them accepts.
			for _, k := range keys {
				h, g := guard(t, receiver.Config{Scheme: s, Keys: keySet(t, k)})
				req, err := receivertest.NewRequest(t.Context(), ev, opts)
				require.NoError(t, err)
				rec := serve(h, req)
				require.Equal(t, http.StatusNoContent, rec.Code, "key %s: %s", k.ID, rec.Body)
				require.Equal(t, 1, g.calls)
				assert.Equal(t, ev.ID, g.ev.ID)
				assert.Equal(t, ev.Type, g.ev.Type)
				assert.Equal(t, ev.URI, g.ev.URI)
				assert.Equal(t, ev.ConfigurationID, g.ev.ConfigurationID)
				assert.JSONEq(t, string(ev.Data), string(g.ev.Data))
				assert.Equal(t, ev.ID, g.id)
				assert.Equal(t, enc.Body(0), g.body)
			}

			refused := func(t *testing.T, cfgKeys []signature.Key, req *http.Request, reason receiver.Reason) {
				t.Helper()
				h, g := guard(t, receiver.Config{Scheme: s, Keys: keySet(t, cfgKeys...)})
				rec := serve(h, req)
				assert.Equal(t, http.StatusUnauthorized, rec.Code)
				assert.Equal(t, reason, problemType(t, rec))
				assert.Zero(t, g.calls)
			}
			t.Run("tampered body", func(t *testing.T) {
				req, err := receivertest.NewRequest(t.Context(), ev, opts)
				require.NoError(t, err)
				body, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				forged := bytes.Replace(body, []byte(`"pages":3`), []byte(`"pages":4`), 1)
				require.NotEqual(t, body, forged)
				req.Body = io.NopCloser(bytes.NewReader(forged))
				refused(t, keys, req, receiver.ReasonInvalidSignature)
			})
			t.Run("wrong key", func(t *testing.T) {
				req, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{Scheme: s, Keys: wrong, Now: t0})
				require.NoError(t, err)
				refused(t, keys, req, receiver.ReasonInvalidSignature)
			})
			t.Run("unsigned", func(t *testing.T) {
				req, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{Scheme: s, Now: t0})
				require.NoError(t, err)
				refused(t, keys, req, receiver.ReasonInvalidSignature)
			})
			for _, off := range []time.Duration{-6 * time.Minute, 6 * time.Minute, -4 * time.Minute, 4 * time.Minute} {
				t.Run("signed at t0"+off.String(), func(t *testing.T) {
					o := opts
					o.Now = t0.Add(off)
					req, err := receivertest.NewRequest(t.Context(), ev, o)
					require.NoError(t, err)
					if timed && off.Abs() > signature.DefaultTolerance {
						refused(t, keys, req, receiver.ReasonTimestamp)
						return
					}
					// Within the tolerance, or a scheme that signs no time: accepted.
					h, g := guard(t, receiver.Config{Scheme: s, Keys: keySet(t, keys...)})
					rec := serve(h, req)
					assert.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
					assert.Equal(t, 1, g.calls)
				})
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	token, digest, err := auth.GenerateAPIKey("dsk_")
	require.NoError(t, err)
	bearer, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: auth.NewMemoryAPIKeys(digest)})
	require.NoError(t, err)
	cases := []struct {
		name          string
		validator     auth.Validator
		good, bad     auth.Credentials
		subject, chal string
	}{
		{"basic", auth.NewBasicValidator(map[string]auth.Password{"acme": auth.NewPassword("correct horse")}),
			auth.Basic("acme", auth.NewPassword("correct horse"), false),
			auth.Basic("acme", auth.NewPassword("battery staple"), false), "acme", "Basic"},
		{"bearer", bearer,
			auth.Bearer(auth.NewPassword(token)), auth.Bearer(auth.NewPassword("dsk_guessed")), "apikey:", "Bearer"},
	}
	s := signature.Standard()
	keys := genKeys(t, s, "k1")
	ev := newEvent(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, sub := range []struct {
				name  string
				creds auth.Credentials
				ok    bool
			}{{"valid", c.good, true}, {"none", nil, false}, {"wrong", c.bad, false}} {
				t.Run(sub.name, func(t *testing.T) {
					h, g := guard(t, receiver.Config{Keys: keySet(t, keys...), Credentials: c.validator})
					req, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{Keys: keys, Credentials: sub.creds, Now: t0})
					require.NoError(t, err)
					rec := serve(h, req)
					if !sub.ok {
						assert.Equal(t, http.StatusUnauthorized, rec.Code)
						assert.True(t, strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), c.chal), rec.Header().Get("WWW-Authenticate"))
						assert.Zero(t, g.calls)
						return
					}
					require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
					require.NotNil(t, g.principal)
					assert.True(t, strings.HasPrefix(g.principal.Subject, c.subject), g.principal.Subject)
					assert.Equal(t, ev.ID, g.ev.ID)
				})
			}
		})
	}
	t.Run("basic over http refused as by the sender", func(t *testing.T) {
		_, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{
			URL: "http://example.test/webhooks", Credentials: cases[0].good,
		})
		assert.ErrorIs(t, err, auth.ErrInsecureTransport)
	})
}

// ctxCredentials records the context Apply got and fails when it is done.
type ctxCredentials struct{ got context.Context }

type ctxKey struct{}

func (c *ctxCredentials) Apply(ctx context.Context, r *http.Request) error {
	c.got = ctx
	if err := ctx.Err(); err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+ctx.Value(ctxKey{}).(string))
	return nil
}

func TestCredentialsGetTheContext(t *testing.T) {
	ev := newEvent(t)
	ctx := context.WithValue(t.Context(), ctxKey{}, "from-ctx")
	c := &ctxCredentials{}
	req, err := receivertest.NewRequest(ctx, ev, receivertest.Options{Credentials: c})
	require.NoError(t, err)
	require.NotNil(t, c.got)
	assert.Equal(t, "from-ctx", c.got.Value(ctxKey{}))
	assert.Equal(t, "Bearer from-ctx", req.Header.Get("Authorization"))
	assert.Equal(t, "from-ctx", req.Context().Value(ctxKey{}), "the request carries ctx")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = receivertest.NewRequest(cancelled, ev, receivertest.Options{Credentials: c})
	assert.ErrorIs(t, err, context.Canceled)
}

// TestSameAsSender compares NewRequest with what a real sender puts on the wire to a
// loopback server, for every scheme: the same body bytes (the Encoded's Body), and every
// header NewRequest sets, with the same value.
func TestSameAsSender(t *testing.T) {
	type wire struct {
		header http.Header
		body   []byte
	}
	received := make(chan wire, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		received <- wire{r.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	snd, err := sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	defer snd.CloseIdleConnections()

	ev := newEvent(t)
	enc, err := ev.Encode()
	require.NoError(t, err)
	extra := http.Header{"X-Tenant": {"t1"}, "Content-Type": {"text/plain"}}
	creds := auth.Bearer(auth.NewPassword("tok_test"))
	for _, s := range schemes() {
		t.Run(s.Name(), func(t *testing.T) {
			keys := genKeys(t, s, "k1", "k2")
			const retryCount = 3
			target, err := snd.Prepare(sender.Endpoint{URL: srv.URL, Scheme: s, Keys: keySet(t, keys...), Credentials: creds, Headers: extra})
			require.NoError(t, err)
			a := snd.Attempt(t.Context(), target, enc, retryCount)
			require.NoError(t, a.Err)
			var w wire
			select {
			case w = <-received:
			case <-time.After(10 * time.Second):
				t.Fatal("the server got no request")
			}

			req, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{
				URL: srv.URL, Scheme: s, Keys: keys, Credentials: creds, Now: t0, RetryCount: retryCount, Header: extra,
			})
			require.NoError(t, err)
			body, err := io.ReadAll(req.Body)
			require.NoError(t, err)
			assert.Equal(t, enc.Body(retryCount), body)
			assert.Equal(t, w.body, body)
			assert.Equal(t, int64(len(body)), req.ContentLength)
			for k, v := range req.Header {
				assert.Equal(t, w.header[k], v, k)
			}
			for k := range w.header {
				if k != "Content-Length" && k != "Accept-Encoding" {
					assert.Contains(t, req.Header, k)
				}
			}
			assert.Equal(t, "application/json", req.Header.Get("Content-Type"), "the sender's own headers win")
			assert.Equal(t, sender.DefaultUserAgent, req.Header.Get("User-Agent"))
			assert.Equal(t, "t1", req.Header.Get("X-Tenant"))
		})
	}
}

func TestDefaults(t *testing.T) {
	ev := newEvent(t)
	enc, err := ev.Encode()
	require.NoError(t, err)
	before := time.Now().Truncate(time.Second)
	req, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{Keys: genKeys(t, signature.Standard(), "k1")})
	require.NoError(t, err)
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, receivertest.DefaultURL, req.URL.String())
	assert.Equal(t, "example.test", req.Host)
	assert.Equal(t, "/webhooks", req.URL.Path)
	assert.NotNil(t, req.TLS)
	assert.Equal(t, int64(enc.Len(0)), req.ContentLength)
	// The standard scheme by default, signed now, under the names a server reads.
	assert.Equal(t, ev.ID, req.Header.Get(signature.HeaderWebhookID))
	assert.True(t, strings.HasPrefix(req.Header.Get(signature.HeaderWebhookSignature), "v1,"))
	unix, err := strconv.ParseInt(req.Header.Get(signature.HeaderWebhookTimestamp), 10, 64)
	require.NoError(t, err)
	signed := time.Unix(unix, 0)
	assert.False(t, signed.Before(before), "signed at %v, before %v", signed, before)
	assert.False(t, signed.After(time.Now()))

	unsigned, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{})
	require.NoError(t, err)
	for k := range unsigned.Header {
		assert.Contains(t, []string{"Content-Type", "User-Agent"}, k)
	}
}

func TestErrors(t *testing.T) {
	s := signature.Standard()
	key := genKeys(t, s, "k1")[0]
	expired := key
	expired.Expires = t0
	bad := newEvent(t)
	bad.ID = "evt.with.dots"
	for _, c := range []struct {
		name string
		ev   *event.Event
		opts receivertest.Options
		want error
	}{
		{"nil event", nil, receivertest.Options{}, receivertest.ErrInvalidOptions},
		{"negative retry count", newEvent(t), receivertest.Options{RetryCount: -1}, receivertest.ErrInvalidOptions},
		{"ftp url", newEvent(t), receivertest.Options{URL: "ftp://example.test/"}, receivertest.ErrInvalidOptions},
		{"url with user", newEvent(t), receivertest.Options{URL: "https://u:p@example.test/"}, receivertest.ErrInvalidOptions},
		{"zero key", newEvent(t), receivertest.Options{Keys: []signature.Key{{}}}, receivertest.ErrInvalidOptions},
		{"too many keys", newEvent(t), receivertest.Options{Keys: make([]signature.Key, signature.MaxKeys+1)}, signature.ErrTooManyKeys},
		{"no active key", newEvent(t), receivertest.Options{Keys: []signature.Key{expired}, Now: t0}, signature.ErrNoKeys},
		{"public key only", newEvent(t), receivertest.Options{Keys: []signature.Key{publicKey(t)}}, signature.ErrNoKeys},
		{"invalid event", bad, receivertest.Options{}, event.ErrInvalidID},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := receivertest.NewRequest(t.Context(), c.ev, c.opts)
			assert.ErrorIs(t, err, c.want)
			assert.Nil(t, req)
		})
	}
}

func publicKey(t *testing.T) signature.Key {
	t.Helper()
	priv, _, _, err := signature.GenerateEd25519Key("ed")
	require.NoError(t, err)
	return priv.Public()
}

func TestSign(t *testing.T) {
	body := []byte(`{"action":"opened"}`)
	for _, s := range schemes() {
		t.Run(s.Name(), func(t *testing.T) {
			keys := genKeys(t, s, "k1", "k2")
			later := keys[1]
			later.NotBefore = t0.Add(time.Hour) // not active yet: does not sign
			h, err := receivertest.Sign(body, "delivery-1", receivertest.Options{Scheme: s, Keys: []signature.Key{keys[0], later}, Now: t0})
			require.NoError(t, err)

			// What the scheme's Sign makes for the active key, at the same time.
			want := http.Header{}
			require.NoError(t, s.Sign(want, signature.Message{ID: "delivery-1", Timestamp: t0, Body: body}, keys[:1]))
			assert.Equal(t, want, h)

			vo := signature.VerifyOptions{Now: func() time.Time { return t0 }}
			meta, err := s.Verify(h, body, keys[:1], vo)
			require.NoError(t, err)
			assert.Equal(t, "k1", meta.KeyID)
			_, err = s.Verify(h, body, keys[1:], vo)
			assert.ErrorIs(t, err, signature.ErrMismatch, "the inactive key did not sign")
			_, err = s.Verify(h, append([]byte(nil), `{"action":"closed"}`...), keys[:1], vo)
			assert.ErrorIs(t, err, signature.ErrMismatch)

			_, err = receivertest.Sign(body, "delivery-1", receivertest.Options{Scheme: s})
			assert.ErrorIs(t, err, signature.ErrNoKeys)
		})
	}
	_, err := receivertest.Sign(body, "", receivertest.Options{Keys: genKeys(t, signature.Standard(), "k")})
	assert.Error(t, err, "the standard scheme needs an id")
}

// lowerScheme is a scheme written elsewhere that sets its headers under lower-case names,
// as Go servers never show them: it signs as inner and lower-cases the header names.
type lowerScheme struct{ signature.Scheme }

func (l lowerScheme) Sign(h http.Header, m signature.Message, keys []signature.Key) error {
	tmp := http.Header{}
	if err := l.Scheme.Sign(tmp, m, keys); err != nil {
		return err
	}
	for k, v := range tmp {
		h[strings.ToLower(k)] = v
	}
	return nil
}

// TestHeaderNamesAsAServerReadsThem: the request's header names are canonical, as a
// server reads them off the wire, whatever names the scheme set.
func TestHeaderNamesAsAServerReadsThem(t *testing.T) {
	s := lowerScheme{signature.GitHub("")}
	keys := genKeys(t, s, "k1")
	req, err := receivertest.NewRequest(t.Context(), newEvent(t), receivertest.Options{Scheme: s, Keys: keys})
	require.NoError(t, err)
	assert.NotEmpty(t, req.Header.Get(signature.DefaultGitHubHeader))
	h, g := guard(t, receiver.Config{Scheme: s, Keys: keySet(t, keys...)})
	rec := serve(h, req)
	assert.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Equal(t, 1, g.calls)
}
