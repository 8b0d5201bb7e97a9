package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
)

// Plaintext secrets that must never appear in an error message, a log line or
// a formatted value. They contain characters that URL encoding changes, so a
// leak of their form-encoded spelling is caught too (see secretSpellings).
const (
	leakClientSecret = "cs-LEAK secret/1a2b+="
	leakPassword     = "pw-LEAK-3c4d"
	leakBearer       = "bt-LEAK-5e6f"
)

// syncBuf is a goroutine-safe bytes.Buffer for log capture.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureLogs routes the default slog logger and the standard log package into
// a buffer for the rest of the test. auth itself logs nothing today; this
// catches it if it ever starts to.
func captureLogs(t *testing.T) *syncBuf {
	t.Helper()
	buf := &syncBuf{}
	prevSlog := slog.Default()
	prevOut, prevFlags := log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.SetOutput(buf)
	t.Cleanup(func() {
		slog.SetDefault(prevSlog)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
	})
	return buf
}

// errorStrings returns every rendering of err and of each error in its tree.
func errorStrings(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		out = append(out, e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e), fmt.Sprintf("%q", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// secretSpellings returns the plaintext and its form/query-encoded spelling.
func secretSpellings(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s)
		if q := url.QueryEscape(s); q != s {
			out = append(out, q)
		}
	}
	return out
}

// leakServer answers every request with status and a body that echoes back
// the client secret it received, as careless servers do.
func leakServer(t *testing.T, status int, contentType string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := readAll(r)
		_, secret, ok := r.BasicAuth()
		if ok { // RFC 6749 section 2.3.1: form-encoded inside Basic
			if dec, err := url.QueryUnescape(secret); err == nil {
				secret = dec
			}
		} else if v, err := url.ParseQuery(raw); err == nil {
			secret = v.Get("client_secret")
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		if contentType == "application/json" {
			_ = json.NewEncoder(w).Encode(map[string]string{
				"error":             "invalid_client",
				"error_description": "bad secret " + secret + " in " + raw,
				"error_uri":         "https://idp.example/err?s=" + url.QueryEscape(secret),
			})
			return
		}
		_, _ = fmt.Fprintf(w, "bad secret %s in %s (%s)", secret, raw, r.Header.Get("Authorization"))
	}))
	t.Cleanup(s.Close)
	return s
}

func readAll(r *http.Request) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r.Body)
	return b.String(), err
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	logs := captureLogs(t)
	apiKey, apiDigest, err := auth.GenerateAPIKey("hk_")
	require.NoError(t, err)
	otherKey, _, err := auth.GenerateAPIKey("hk_")
	require.NoError(t, err)
	secrets := secretSpellings(leakClientSecret, leakPassword, leakBearer, apiKey, otherKey)

	var (
		errs   []error
		values []any
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := func(s *httptest.Server) *http.Client { c := s.Client(); c.Timeout = 10 * time.Second; return c }
	outbound := func(method, u string) *http.Request {
		r, err := http.NewRequest(method, u, nil)
		require.NoError(t, err)
		return r
	}
	inbound := func(authorization string) *http.Request {
		r := outbound(http.MethodPost, "https://receiver.example/hook")
		r.Header.Set("Authorization", authorization)
		return r
	}

	// Outbound OAuth2: token endpoints that fail in several ways, with both
	// auth styles; the failing servers echo the secret they received.
	for _, srvCase := range []struct {
		status int
		ctype  string
	}{
		{http.StatusUnauthorized, "application/json"},
		{http.StatusBadRequest, "text/plain"},
		{http.StatusOK, "text/plain"},       // no access token
		{http.StatusOK, "application/json"}, // JSON without access_token
	} {
		s := leakServer(t, srvCase.status, srvCase.ctype)
		for _, style := range []auth.AuthStyle{auth.AuthStyleHeader, auth.AuthStyleParams} {
			cfg := auth.ClientCredentialsConfig{
				TokenURL: s.URL + "/token", AllowHTTP: true, ClientID: "svc", ClientSecret: auth.NewPassword(leakClientSecret),
				Scopes: []string{"webhooks:write"}, AuthStyle: style, HTTPClient: client(s),
				EndpointParams: url.Values{"audience": {"https://receiver.example"}},
			}
			o, err := auth.NewClientCredentials(cfg)
			require.NoError(t, err)
			err = o.Apply(ctx, outbound(http.MethodPost, "https://receiver.example/hook"))
			require.ErrorIs(t, err, auth.ErrTokenUnavailable, "status %d %s", srvCase.status, srvCase.ctype)
			errs = append(errs, err)
			var te *auth.TokenError
			if errors.As(err, &te) {
				values = append(values, *te, te.Code)
			}
			values = append(values, cfg, &cfg, o)
		}
	}
	// Token endpoint down (connection refused).
	{
		s := leakServer(t, http.StatusOK, "application/json")
		c := client(s)
		s.Close()
		o, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			TokenURL: s.URL + "/token", AllowHTTP: true, ClientID: "svc", ClientSecret: auth.NewPassword(leakClientSecret),
			AuthStyle: auth.AuthStyleParams, HTTPClient: c,
		})
		require.NoError(t, err)
		err = o.Apply(ctx, outbound(http.MethodPost, "https://receiver.example/hook"))
		require.ErrorIs(t, err, auth.ErrTokenUnavailable)
		errs = append(errs, err)
	}
	// Token endpoint refused by the default (public-only) client.
	{
		s := leakServer(t, http.StatusOK, "application/json")
		o, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			TokenURL: s.URL + "/token", AllowHTTP: true, ClientID: "svc", ClientSecret: auth.NewPassword(leakClientSecret),
			AuthStyle: auth.AuthStyleHeader,
		})
		require.NoError(t, err)
		err = o.Apply(ctx, outbound(http.MethodPost, "https://receiver.example/hook"))
		require.ErrorIs(t, err, auth.ErrTokenUnavailable)
		errs = append(errs, err)
	}

	// Outbound Basic over http:// is refused.
	basic := auth.Basic("user", auth.NewPassword(leakPassword), false)
	r := outbound(http.MethodPost, "http://receiver.example/hook")
	err = basic.Apply(ctx, r)
	require.ErrorIs(t, err, auth.ErrInsecureTransport)
	assert.Empty(t, r.Header.Get("Authorization"), "credentials set on a refused request")
	errs = append(errs, err, basic.Apply(ctx, nil))
	values = append(values, basic, auth.Bearer(auth.NewPassword(leakBearer)), auth.Bearer(auth.NewPassword(apiKey)))

	// Introspection: endpoint down, endpoint failing, token inactive.
	{
		s := leakServer(t, http.StatusUnauthorized, "application/json")
		icfg := auth.IntrospectionConfig{URL: s.URL + "/introspect", AllowHTTP: true, ClientID: "receiver", ClientSecret: auth.NewPassword(leakClientSecret), HTTPClient: client(s)}
		iv, err := auth.NewIntrospectionValidator(icfg)
		require.NoError(t, err)
		_, err = iv.Validate(ctx, inbound("Bearer "+leakBearer))
		require.ErrorIs(t, err, auth.ErrValidatorUnavailable)
		errs = append(errs, err)
		values = append(values, icfg, &icfg, iv)

		s.Close()
		_, err = iv.Validate(ctx, inbound("Bearer "+apiKey))
		require.ErrorIs(t, err, auth.ErrValidatorUnavailable)
		errs = append(errs, err)

		inactive := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"active":false}`))
		}))
		t.Cleanup(inactive.Close)
		iv2, err := auth.NewIntrospectionValidator(auth.IntrospectionConfig{URL: inactive.URL, AllowHTTP: true, ClientID: "receiver", ClientSecret: auth.NewPassword(leakClientSecret), HTTPClient: client(inactive)})
		require.NoError(t, err)
		for i := 0; i < 2; i++ { // fresh, then cached
			_, err = iv2.Validate(ctx, inbound("Bearer "+leakBearer))
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
			errs = append(errs, err)
		}
		values = append(values, iv2)
	}

	// Inbound JWT: a bearer token that is not a JWT, a JWKS endpoint failing.
	{
		jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[]}`))
		}))
		t.Cleanup(jwks.Close)
		jcfg := auth.JWTConfig{JWKSURL: jwks.URL, AllowHTTP: true, Issuer: "https://idp.example", Audience: "https://receiver.example", HTTPClient: client(jwks)}
		jv, err := auth.NewJWTValidator(jcfg)
		require.NoError(t, err)
		for _, h := range []string{"Bearer " + leakBearer, "Bearer " + apiKey, "Bearer " + leakBearer + " extra", "bearer  " + leakBearer} {
			_, err = jv.Validate(ctx, inbound(h))
			require.Error(t, err)
			errs = append(errs, err)
		}
		// A well-formed JWT with a bogus signature whose payload embeds a secret.
		fake := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0." +
			b64url(`{"iss":"https://idp.example","sub":"`+leakBearer+`"}`) + ".c2ln"
		_, err = jv.Validate(ctx, inbound("Bearer "+fake))
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		errs = append(errs, err)
		values = append(values, jcfg, jv)

		jwks.Close()
		jv2, err := auth.NewJWTValidator(jcfg)
		require.NoError(t, err)
		_, err = jv2.Validate(ctx, inbound("Bearer "+fake))
		require.ErrorIs(t, err, auth.ErrValidatorUnavailable)
		errs = append(errs, err)
	}

	// Inbound Basic and API keys: wrong password, unknown key, malformed headers.
	{
		bv := auth.NewBasicValidator(map[string]auth.Password{"user": auth.NewPassword(leakPassword)})
		av, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: auth.NewMemoryAPIKeys(apiDigest)})
		require.NoError(t, err)
		for _, h := range []string{
			"Basic " + b64std("user:"+leakPassword+"x"),
			"Basic " + b64std("nobody:"+leakPassword),
			"Basic " + leakPassword,
		} {
			_, err := bv.Validate(ctx, inbound(h))
			require.Error(t, err)
			errs = append(errs, err)
		}
		p, err := bv.Validate(ctx, inbound("Basic "+b64std("user:"+leakPassword)))
		require.NoError(t, err)
		values = append(values, p, *p, bv)

		for _, h := range []string{"Bearer " + otherKey, "Bearer " + apiKey + "!", "Bearer " + leakBearer} {
			_, err := av.Validate(ctx, inbound(h))
			require.Error(t, err)
			errs = append(errs, err)
		}
		p, err = av.Validate(ctx, inbound("Bearer "+apiKey))
		require.NoError(t, err)
		values = append(values, p, *p, av)

		_, err = auth.AnyOf(bv, av).Validate(ctx, inbound("Bearer "+leakBearer))
		require.Error(t, err)
		errs = append(errs, err)
	}

	require.NotEmpty(t, errs)
	var texts []string
	for _, e := range errs {
		require.Error(t, e)
		texts = append(texts, errorStrings(e)...)
		st, www := auth.Challenge(e)
		texts = append(texts, fmt.Sprint(st), www)
		slog.Error("auth failed", "err", e, "errv", fmt.Sprintf("%+v", e))
		slog.Default().With("component", "auth").Warn("auth failed", slog.Any("error", e))
		log.Printf("auth failed: %v", e)
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			texts = append(texts, fmt.Sprintf(verb, v))
		}
		if b, err := json.Marshal(v); err == nil {
			texts = append(texts, string(b))
		}
		slog.Info("value", "v", v)
		var jbuf bytes.Buffer
		slog.New(slog.NewJSONHandler(&jbuf, nil)).Info("value", "v", v)
		texts = append(texts, jbuf.String())
	}
	texts = append(texts, logs.String())
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("secret %q leaked in %q", s, text)
			}
		}
	}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func b64std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
