package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/testenv/oauth2mock"
)

// End-to-end OAuth2 tests: the built binary on both sides (send fetches a client-credentials
// token, listen checks it) against the real oauth2-mock-server started by oauth2mock.
// Expired tokens come from the same server: its exp_offset token parameter (see the
// oauth2mock package) sets exp relative to now.

const (
	oauthAudience     = "https://receiver.example"
	oauthScope        = "webhooks:write"
	oauthClientID     = "svc"
	oauthClientSecret = "s3cret"
)

// oauthSendArgs are the send flags that deliver one envelope-sent event to l with an OAuth2
// token from srv (scope webhooks:write, audience https://receiver.example).
func oauthSendArgs(l *listener, srv *oauth2mock.Server, key string, extra ...string) []string {
	args := []string{"--url", l.url, "--allow-private", "--allow-http", "--secret", key,
		"--type", "envelope-sent", "--data", `{"envelopeId":"1"}`,
		"--token-url", srv.TokenURL(), "--client-id", oauthClientID, "--client-secret", oauthClientSecret,
		"--scope", oauthScope, "--param", "audience=" + oauthAudience, "--quiet"}
	return append(args, extra...)
}

// requireRefused checks that send failed with exit 1, delivered nothing, and that every
// attempt got status want.
func requireRefused(t *testing.T, l *listener, res sendResult, r cliResult, want int) {
	t.Helper()
	assert.Equal(t, 1, r.code, "stderr %s; listener %s", r.stderr, l.logs())
	requireOneLineError(t, r)
	assert.False(t, res.Delivered)
	require.NotEmpty(t, res.Attempts, "stdout %s", r.stdout)
	for _, a := range res.Attempts {
		assert.Equal(t, want, a.Status, "attempt %d: %+v", a.Attempt, a)
	}
	assert.NotContains(t, r.stdout+r.stderr, oauthClientSecret)
	l.noMoreEvents(t)
}

// send fetches a client-credentials token from the real authorization server and listen
// accepts it after checking its signature against the JWKS, its issuer, audience and scope.
func TestE2EOAuth2SendToListenWithJWKS(t *testing.T) {
	srv := oauth2mock.Start(t)
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key, "--allow-http", "--jwks-url", srv.JWKSURL(), "--issuer", srv.Issuer,
		"--audience", oauthAudience, "--scope", oauthScope)

	for _, style := range []string{"header", "params"} {
		t.Run("auth-style "+style, func(t *testing.T) {
			res, r := sendCLI(t, oauthSendArgs(l, srv, key, "--auth-style", style)...)
			require.Equal(t, 0, r.code, "stderr %s; listener %s", r.stderr, l.logs())
			assert.Empty(t, r.stderr)
			assert.True(t, res.Delivered)
			assert.Equal(t, "envelope-sent", res.Type)
			require.Len(t, res.Attempts, 1)
			assert.Equal(t, 204, res.Attempts[0].Status)

			ev := l.next(t)
			assert.Equal(t, res.ID, ev["id"])
			assert.Equal(t, "envelope-sent", ev["event"])
			assert.Equal(t, map[string]any{"envelopeId": "1"}, ev["data"])

			assert.NotContains(t, r.stdout, oauthClientSecret, "client secret in send's stdout")
			assert.NotContains(t, r.stderr, oauthClientSecret, "client secret in send's stderr")
		})
	}
	l.noMoreEvents(t)
	assert.Equal(t, 0, l.stop(t))
	assert.NotContains(t, l.logs(), "Bearer ey", "no token in the listener's logs")
}

// listen refuses tokens that do not match its configuration and deliveries without one.
func TestE2EOAuth2Refusals(t *testing.T) {
	srv := oauth2mock.Start(t)
	key := keygen(t, "standard")

	t.Run("wrong issuer", func(t *testing.T) {
		l := startListen(t, "--secret", key, "--allow-http", "--jwks-url", srv.JWKSURL(), "--issuer", "https://other-issuer.example",
			"--audience", oauthAudience, "--scope", oauthScope)
		res, r := sendCLI(t, oauthSendArgs(l, srv, key, "--max-attempts", "3")...)
		requireRefused(t, l, res, r, 401)
		// The sender invalidates its token after a 401 and tries once more with a fresh
		// one; the second 401 is final.
		assert.LessOrEqual(t, len(res.Attempts), 2, "a repeated 401 is not retried further")
	})

	t.Run("wrong audience", func(t *testing.T) {
		l := startListen(t, "--secret", key, "--allow-http", "--jwks-url", srv.JWKSURL(), "--issuer", srv.Issuer,
			"--audience", "https://someone-else.example")
		res, r := sendCLI(t, oauthSendArgs(l, srv, key)...)
		requireRefused(t, l, res, r, 401)
	})

	t.Run("missing token", func(t *testing.T) {
		l := startListen(t, "--secret", key, "--allow-http", "--jwks-url", srv.JWKSURL(), "--issuer", srv.Issuer,
			"--audience", oauthAudience, "--scope", oauthScope)
		// Correctly signed, but no credentials at all.
		res, r := sendCLI(t, "--url", l.url, "--allow-private", "--allow-http", "--secret", key,
			"--type", "envelope-sent", "--data", `{"envelopeId":"1"}`, "--max-attempts", "3", "--quiet")
		requireRefused(t, l, res, r, 401)
		assert.Len(t, res.Attempts, 1, "a 401 without refreshable credentials is final")
	})

	t.Run("forged bearer token", func(t *testing.T) {
		l := startListen(t, "--secret", key, "--allow-http", "--jwks-url", srv.JWKSURL(), "--issuer", srv.Issuer)
		res, r := sendCLI(t, "--url", l.url, "--allow-private", "--allow-http", "--secret", key,
			"--type", "envelope-sent", "--bearer", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", "--max-attempts", "3", "--quiet")
		requireRefused(t, l, res, r, 401)
	})

	t.Run("wrong scope", func(t *testing.T) {
		l := startListen(t, "--secret", key, "--allow-http", "--jwks-url", srv.JWKSURL(), "--issuer", srv.Issuer,
			"--audience", oauthAudience, "--scope", "admin")
		res, r := sendCLI(t, oauthSendArgs(l, srv, key, "--max-attempts", "3")...)
		requireRefused(t, l, res, r, 403)
		assert.Len(t, res.Attempts, 1, "a 403 is final")
	})

	t.Run("expired token", func(t *testing.T) {
		l := startListen(t, "--secret", key, "--allow-http", "--jwks-url", srv.JWKSURL(), "--issuer", srv.Issuer,
			"--audience", oauthAudience, "--scope", oauthScope)
		// Correctly signed by the server whose JWKS listen trusts, right issuer, audience and
		// scope, but exp is two minutes in the past.
		res, r := sendCLI(t, oauthSendArgs(l, srv, key, "--param", "exp_offset=-120", "--max-attempts", "3")...)
		requireRefused(t, l, res, r, 401)
		// The sender invalidates its token after a 401 and tries once more with a fresh one,
		// which is expired too; the second 401 is final.
		assert.LessOrEqual(t, len(res.Attempts), 2, "a repeated 401 is not retried further")
	})
}

// listen with --introspect-url asks the real server (strict introspection: it verifies the
// token) whether the bearer token is active.
func TestE2EOAuth2Introspection(t *testing.T) {
	srv := oauth2mock.StartWithOptions(t, oauth2mock.Options{StrictIntrospection: true})
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key, "--allow-http", "--introspect-url", srv.IntrospectionURL(),
		"--client-id", "receiver", "--client-secret", "receiver-secret", "--scope", oauthScope)

	t.Run("token", func(t *testing.T) {
		res, r := sendCLI(t, oauthSendArgs(l, srv, key)...)
		require.Equal(t, 0, r.code, "stderr %s; listener %s", r.stderr, l.logs())
		assert.True(t, res.Delivered)
		require.Len(t, res.Attempts, 1)
		assert.Equal(t, 204, res.Attempts[0].Status)
		ev := l.next(t)
		assert.Equal(t, res.ID, ev["id"])
		assert.Equal(t, map[string]any{"envelopeId": "1"}, ev["data"])
		assert.NotContains(t, r.stdout+r.stderr, oauthClientSecret)
	})

	t.Run("no token", func(t *testing.T) {
		res, r := sendCLI(t, "--url", l.url, "--allow-private", "--allow-http", "--secret", key,
			"--type", "envelope-sent", "--max-attempts", "3", "--quiet")
		requireRefused(t, l, res, r, 401)
		assert.Len(t, res.Attempts, 1)
	})

	t.Run("inactive token", func(t *testing.T) {
		// Not issued by the server: strict introspection answers {"active":false}.
		res, r := sendCLI(t, "--url", l.url, "--allow-private", "--allow-http", "--secret", key,
			"--type", "envelope-sent", "--bearer", "not-a-token-from-the-server", "--max-attempts", "3", "--quiet")
		requireRefused(t, l, res, r, 401)
	})

	t.Run("token without the scope", func(t *testing.T) {
		res, r := sendCLI(t, "--url", l.url, "--allow-private", "--allow-http", "--secret", key,
			"--type", "envelope-sent", "--token-url", srv.TokenURL(), "--client-id", oauthClientID,
			"--client-secret", oauthClientSecret, "--scope", "other", "--max-attempts", "3", "--quiet")
		requireRefused(t, l, res, r, 403)
	})

	assert.Equal(t, 0, l.stop(t))
	assert.NotContains(t, l.logs(), "receiver-secret")
}
