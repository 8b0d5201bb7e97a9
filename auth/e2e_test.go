package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/internal/safenet"
	"github.com/hookkit/hookkit/internal/testenv/oauth2mock"
)

// End-to-end tests against the real oauth2-mock-server (npm), started by
// internal/testenv/oauth2mock. They skip when it is not installed (outside CI).

const (
	e2eAudience = "https://receiver.example"
	e2eScope    = "webhooks:write"
	e2eClientID = "svc"
)

// loopback returns an HTTP client that may dial the mock on 127.0.0.1.
func loopback() *http.Client {
	return safenet.NewClient(safenet.Policy{AllowPrivate: true}, 10*time.Second)
}

func e2eContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// e2eCredentials returns client credentials for srv's token endpoint.
func e2eCredentials(t *testing.T, srv *oauth2mock.Server, style auth.AuthStyle, client *http.Client, scopes ...string) *auth.OAuth2 {
	t.Helper()
	o, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
		TokenURL:       srv.TokenURL(),
		AllowHTTP:      true, // the mock serves plain http on loopback
		ClientID:       e2eClientID,
		ClientSecret:   auth.NewPassword("svc-secret"),
		Scopes:         scopes,
		EndpointParams: url.Values{"audience": {e2eAudience}},
		AuthStyle:      style,
		HTTPClient:     client,
	})
	require.NoError(t, err)
	return o
}

// e2eAuthorization obtains a token from srv and returns the Authorization
// header value that Apply set.
func e2eAuthorization(t *testing.T, srv *oauth2mock.Server, style auth.AuthStyle, scopes ...string) string {
	t.Helper()
	o := e2eCredentials(t, srv, style, loopback(), scopes...)
	r := e2eRequest(t, "")
	require.NoError(t, o.Apply(e2eContext(t), r))
	h := r.Header.Get("Authorization")
	require.Regexp(t, `^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`, h)
	return h
}

// e2eRequest returns an inbound-style request carrying the given
// Authorization header (none if empty).
func e2eRequest(t *testing.T, authorization string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "https://receiver.example/hook", nil)
	require.NoError(t, err)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

func e2eJWTValidator(t *testing.T, cfg auth.JWTConfig) *auth.JWTValidator {
	t.Helper()
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = loopback()
	}
	cfg.AllowHTTP = true // the mock serves plain http on loopback
	v, err := auth.NewJWTValidator(cfg)
	require.NoError(t, err)
	return v
}

func TestE2EClientCredentialsTokenValidatesThroughJWKS(t *testing.T) {
	srv := oauth2mock.Start(t)
	for _, tc := range []struct {
		name  string
		style auth.AuthStyle
	}{
		{"header", auth.AuthStyleHeader},
		{"params", auth.AuthStyleParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := e2eAuthorization(t, srv, tc.style, e2eScope)
			v := e2eJWTValidator(t, auth.JWTConfig{
				JWKSURL:  srv.JWKSURL(),
				Issuer:   srv.Issuer,
				Audience: e2eAudience,
				Scopes:   []string{e2eScope},
			})
			p, err := v.Validate(e2eContext(t), e2eRequest(t, h))
			require.NoError(t, err)
			require.NotNil(t, p)
			assert.Equal(t, e2eClientID, p.Subject)
			assert.Equal(t, "jwt", p.Method)
			assert.Contains(t, p.Scopes, e2eScope)
			assert.True(t, p.HasScope(e2eScope))
			st, www := auth.Challenge(err)
			assert.Equal(t, http.StatusOK, st)
			assert.Empty(t, www)
		})
	}
}

func TestE2EJWTRefusals(t *testing.T) {
	srv := oauth2mock.Start(t)
	h := e2eAuthorization(t, srv, auth.AuthStyleHeader, e2eScope)
	base := auth.JWTConfig{
		JWKSURL:  srv.JWKSURL(),
		Issuer:   srv.Issuer,
		Audience: e2eAudience,
		Scopes:   []string{e2eScope},
	}

	// Sanity: the token is accepted with the matching configuration, so each
	// refusal below is due to the one thing that differs.
	_, err := e2eJWTValidator(t, base).Validate(e2eContext(t), e2eRequest(t, h))
	require.NoError(t, err)

	invalidCases := []struct {
		name   string
		modify func(*auth.JWTConfig)
	}{
		{"wrong issuer", func(c *auth.JWTConfig) { c.Issuer = "http://127.0.0.1:1" }},
		{"issuer with trailing slash", func(c *auth.JWTConfig) { c.Issuer = srv.Issuer + "/" }},
		{"wrong audience", func(c *auth.JWTConfig) { c.Audience = "https://other.example" }},
		{"expired", func(c *auth.JWTConfig) {
			c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		}},
		{"not yet valid", func(c *auth.JWTConfig) {
			c.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		}},
		{"algorithm not allowed", func(c *auth.JWTConfig) { c.Algorithms = []string{"ES256"} }},
	}
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.modify(&cfg)
			p, err := e2eJWTValidator(t, cfg).Validate(e2eContext(t), e2eRequest(t, h))
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
			assert.Nil(t, p)
			assert.NotErrorIs(t, err, auth.ErrValidatorUnavailable)
			st, www := auth.Challenge(err)
			assert.Equal(t, http.StatusUnauthorized, st)
			assert.Equal(t, `Bearer realm="hookkit", error="invalid_token"`, www)
		})
	}

	t.Run("missing scope", func(t *testing.T) {
		cfg := base
		cfg.Scopes = []string{e2eScope, "webhooks:admin"}
		p, err := e2eJWTValidator(t, cfg).Validate(e2eContext(t), e2eRequest(t, h))
		require.ErrorIs(t, err, auth.ErrInsufficientScope)
		assert.Nil(t, p)
		var se *auth.ScopeError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, []string{e2eScope, "webhooks:admin"}, se.Required)
		st, www := auth.Challenge(err)
		assert.Equal(t, http.StatusForbidden, st)
		assert.Contains(t, www, `error="insufficient_scope"`)
		assert.Contains(t, www, `scope="webhooks:write webhooks:admin"`)
	})

	t.Run("token without scope claim", func(t *testing.T) {
		unscoped := e2eAuthorization(t, srv, auth.AuthStyleParams) // no scope requested
		p, err := e2eJWTValidator(t, base).Validate(e2eContext(t), e2eRequest(t, unscoped))
		require.ErrorIs(t, err, auth.ErrInsufficientScope)
		assert.Nil(t, p)
		st, _ := auth.Challenge(err)
		assert.Equal(t, http.StatusForbidden, st)
	})

	t.Run("no authorization header", func(t *testing.T) {
		p, err := e2eJWTValidator(t, base).Validate(e2eContext(t), e2eRequest(t, ""))
		require.ErrorIs(t, err, auth.ErrNoCredentials)
		assert.Nil(t, p)
		st, www := auth.Challenge(err)
		assert.Equal(t, http.StatusUnauthorized, st)
		assert.Equal(t, `Bearer realm="hookkit"`, www)
		assert.NotContains(t, www, "error=")
	})

	t.Run("tampered payload", func(t *testing.T) {
		// Swap the signature of one real token onto another real token.
		other := e2eAuthorization(t, srv, auth.AuthStyleParams, e2eScope, "webhooks:admin")
		a, b := splitJWT(t, h), splitJWT(t, other)
		forged := "Bearer " + a[0] + "." + b[1] + "." + a[2]
		p, err := e2eJWTValidator(t, base).Validate(e2eContext(t), e2eRequest(t, forged))
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		assert.Nil(t, p)
	})

	t.Run("signed by another server", func(t *testing.T) {
		foreignSrv := oauth2mock.Start(t)
		foreign := e2eAuthorization(t, foreignSrv, auth.AuthStyleHeader, e2eScope)
		v := e2eJWTValidator(t, base)
		// Load the JWKS with a good token first, so the foreign kid is an
		// unknown kid against a known key set.
		_, err := v.Validate(e2eContext(t), e2eRequest(t, h))
		require.NoError(t, err)
		for i := 0; i < 3; i++ { // later attempts hit the refetch rate limit
			p, err := v.Validate(e2eContext(t), e2eRequest(t, foreign))
			require.ErrorIs(t, err, auth.ErrInvalidCredentials, "attempt %d", i)
			assert.Nil(t, p)
			st, _ := auth.Challenge(err)
			assert.Equal(t, http.StatusUnauthorized, st)
		}
		// The good token is still accepted afterwards.
		_, err = v.Validate(e2eContext(t), e2eRequest(t, h))
		require.NoError(t, err)

		// Also on a fresh validator whose first fetch is triggered by the
		// foreign token, and one that trusts the other server's issuer but
		// this server's keys.
		_, err = e2eJWTValidator(t, base).Validate(e2eContext(t), e2eRequest(t, foreign))
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		cfg := base
		cfg.Issuer = foreignSrv.Issuer
		_, err = e2eJWTValidator(t, cfg).Validate(e2eContext(t), e2eRequest(t, foreign))
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	})
}

func splitJWT(t *testing.T, authorization string) [3]string {
	t.Helper()
	tok, err := auth.BearerToken(e2eRequest(t, authorization))
	require.NoError(t, err)
	var parts [3]string
	i := 0
	start := 0
	for j := 0; j < len(tok); j++ {
		if tok[j] == '.' {
			require.Less(t, i, 2)
			parts[i] = tok[start:j]
			i++
			start = j + 1
		}
	}
	require.Equal(t, 2, i)
	parts[2] = tok[start:]
	return parts
}

func TestE2EIntrospection(t *testing.T) {
	srv := oauth2mock.StartWithOptions(t, oauth2mock.Options{StrictIntrospection: true})
	h := e2eAuthorization(t, srv, auth.AuthStyleHeader, e2eScope)

	newValidator := func(t *testing.T, scopes ...string) *auth.IntrospectionValidator {
		v, err := auth.NewIntrospectionValidator(auth.IntrospectionConfig{
			URL:          srv.IntrospectionURL(),
			AllowHTTP:    true, // the mock serves plain http on loopback
			ClientID:     "receiver",
			ClientSecret: auth.NewPassword("receiver-secret"),
			Scopes:       scopes,
			HTTPClient:   loopback(),
		})
		require.NoError(t, err)
		return v
	}

	t.Run("active token", func(t *testing.T) {
		v := newValidator(t, e2eScope)
		for i := 0; i < 2; i++ { // second time from the cache
			p, err := v.Validate(e2eContext(t), e2eRequest(t, h))
			require.NoError(t, err)
			require.NotNil(t, p)
			assert.Equal(t, "introspection", p.Method)
			assert.Equal(t, e2eClientID, p.Subject)
			assert.Equal(t, []string{e2eScope}, p.Scopes)
		}
	})

	t.Run("missing scope", func(t *testing.T) {
		_, err := newValidator(t, "webhooks:admin").Validate(e2eContext(t), e2eRequest(t, h))
		require.ErrorIs(t, err, auth.ErrInsufficientScope)
		st, www := auth.Challenge(err)
		assert.Equal(t, http.StatusForbidden, st)
		assert.Contains(t, www, `error="insufficient_scope"`)
	})

	t.Run("garbage token", func(t *testing.T) {
		v := newValidator(t)
		for i := 0; i < 2; i++ { // second time from the negative cache
			p, err := v.Validate(e2eContext(t), e2eRequest(t, "Bearer not-a-jwt"))
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
			assert.Nil(t, p)
		}
	})

	t.Run("token from another server", func(t *testing.T) {
		other := oauth2mock.Start(t)
		foreign := e2eAuthorization(t, other, auth.AuthStyleHeader, e2eScope)
		p, err := newValidator(t).Validate(e2eContext(t), e2eRequest(t, foreign))
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		assert.Nil(t, p)
		st, www := auth.Challenge(err)
		assert.Equal(t, http.StatusUnauthorized, st)
		assert.Equal(t, `Bearer realm="hookkit", error="invalid_token"`, www)
	})

	t.Run("no authorization header", func(t *testing.T) {
		_, err := newValidator(t).Validate(e2eContext(t), e2eRequest(t, ""))
		require.ErrorIs(t, err, auth.ErrNoCredentials)
	})
}

// countingTransport counts the requests whose URL is url.
type countingTransport struct {
	base http.RoundTripper
	url  string
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() == c.url {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

func TestE2ETokenCachedAcrossConcurrentApply(t *testing.T) {
	srv := oauth2mock.Start(t)
	client := loopback()
	ct := &countingTransport{base: client.Transport, url: srv.TokenURL()}
	client.Transport = ct
	o := e2eCredentials(t, srv, auth.AuthStyleHeader, client, e2eScope)

	const n = 200
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		headers = make([]string, n)
		errs    = make([]error, n)
	)
	ctx := e2eContext(t)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := http.NewRequest(http.MethodPost, "https://receiver.example/hook", nil)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = o.Apply(ctx, r)
			headers[i] = r.Header.Get("Authorization")
		}()
	}
	close(start)
	wg.Wait()

	for i := 0; i < n; i++ {
		require.NoError(t, errs[i], "goroutine %d", i)
		require.NotEmpty(t, headers[i], "goroutine %d", i)
		require.Equal(t, headers[0], headers[i], "goroutine %d got another token", i)
	}
	assert.EqualValues(t, 1, ct.n.Load(), "token requests")

	// The shared token is a real one: it validates through the JWKS.
	v := e2eJWTValidator(t, auth.JWTConfig{JWKSURL: srv.JWKSURL(), Issuer: srv.Issuer, Audience: e2eAudience, Scopes: []string{e2eScope}})
	_, err := v.Validate(ctx, e2eRequest(t, headers[0]))
	require.NoError(t, err)

	// Invalidate drops it: the next Apply makes exactly one more request.
	o.Invalidate(e2eRequest(t, headers[0]))
	r := e2eRequest(t, "")
	require.NoError(t, o.Apply(ctx, r))
	assert.EqualValues(t, 2, ct.n.Load(), "token requests after Invalidate")
	_, err = v.Validate(ctx, e2eRequest(t, r.Header.Get("Authorization")))
	require.NoError(t, err)
}
