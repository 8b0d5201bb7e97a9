package oauth2mock_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hookkit/hookkit/internal/testenv/oauth2mock"
)

// fetchToken gets an access token with the client_credentials grant.
func fetchToken(t *testing.T, cfg clientcredentials.Config) *oauth2.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := cfg.Token(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	return tok
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3, "access token is not a JWS compact JWT")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func introspect(t *testing.T, srv *oauth2mock.Server, token string) map[string]any {
	t.Helper()
	resp, err := http.PostForm(srv.IntrospectionURL(), url.Values{"token": {token}})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func TestClientCredentialsTokenVerifiesAgainstJWKS(t *testing.T) {
	srv := oauth2mock.Start(t)
	require.True(t, strings.HasPrefix(srv.Issuer, "http://127.0.0.1:"), srv.Issuer)

	tok := fetchToken(t, clientcredentials.Config{
		ClientID:       "hookkit-sender",
		ClientSecret:   "whatever",
		TokenURL:       srv.TokenURL(),
		Scopes:         []string{"webhooks:send", "webhooks:read"},
		EndpointParams: url.Values{"audience": {"https://receiver.example"}},
	})
	assert.Equal(t, "Bearer", tok.Type())
	assert.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)

	claims := claimsOf(t, tok.AccessToken)
	assert.Equal(t, srv.Issuer, claims["iss"])
	assert.Equal(t, "https://receiver.example", claims["aud"])
	assert.Equal(t, "webhooks:send webhooks:read", claims["scope"])
	assert.Equal(t, "hookkit-sender", claims["sub"])
	assert.Equal(t, "hookkit-sender", claims["client_id"])
	for _, k := range []string{"iat", "nbf", "exp"} {
		assert.IsType(t, float64(0), claims[k], k)
	}

	var jwks jose.JSONWebKeySet
	getJSON(t, srv.JWKSURL(), &jwks)
	require.NotEmpty(t, jwks.Keys)
	for _, k := range jwks.Keys {
		assert.True(t, k.IsPublic(), "JWKS must not leak private keys")
	}

	jws, err := jose.ParseSignedCompact(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	require.Len(t, jws.Signatures, 1)
	kid := jws.Signatures[0].Header.KeyID
	keys := jwks.Key(kid)
	require.Len(t, keys, 1, "kid %q of the token is not in the JWKS", kid)
	assert.Equal(t, "RS256", keys[0].Algorithm)
	_, err = jws.Verify(keys[0])
	require.NoError(t, err, "token signature does not verify with the JWKS key")
}

func TestAnyClientCredentialsAccepted(t *testing.T) {
	srv := oauth2mock.Start(t)
	for _, c := range []clientcredentials.Config{
		{ClientID: "a", ClientSecret: "b", TokenURL: srv.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader},
		{ClientID: "other", ClientSecret: "x", TokenURL: srv.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
	} {
		tok := fetchToken(t, c)
		claims := claimsOf(t, tok.AccessToken)
		assert.Equal(t, c.ClientID, claims["sub"])
		assert.NotContains(t, claims, "aud", "no audience requested, none configured")
		assert.NotContains(t, claims, "scope", "no scope requested, none configured")
	}
}

func TestDiscoveryDocument(t *testing.T) {
	srv := oauth2mock.Start(t)
	var doc map[string]any
	getJSON(t, srv.DiscoveryURL(), &doc)
	assert.Equal(t, srv.Issuer, doc["issuer"])
	assert.Equal(t, srv.TokenURL(), doc["token_endpoint"])
	assert.Equal(t, srv.JWKSURL(), doc["jwks_uri"])
	assert.Equal(t, srv.IntrospectionURL(), doc["introspection_endpoint"])
	assert.Contains(t, doc["grant_types_supported"], "client_credentials")
}

func TestIntrospectionDefaultAnswersActive(t *testing.T) {
	srv := oauth2mock.Start(t)
	tok := fetchToken(t, clientcredentials.Config{ClientID: "c", ClientSecret: "s", TokenURL: srv.TokenURL()})
	assert.Equal(t, map[string]any{"active": true}, introspect(t, srv, tok.AccessToken))
	// Out of the box, oauth2-mock-server does not look at the token at all.
	assert.Equal(t, map[string]any{"active": true}, introspect(t, srv, "not-a-token"))
}

func TestStrictIntrospection(t *testing.T) {
	srv := oauth2mock.StartWithOptions(t, oauth2mock.Options{StrictIntrospection: true})
	tok := fetchToken(t, clientcredentials.Config{
		ClientID: "c", ClientSecret: "s", TokenURL: srv.TokenURL(),
		Scopes:         []string{"webhooks:send"},
		EndpointParams: url.Values{"resource": {"https://receiver.example"}},
	})
	got := introspect(t, srv, tok.AccessToken)
	assert.Equal(t, true, got["active"])
	assert.Equal(t, "webhooks:send", got["scope"])
	assert.Equal(t, "c", got["client_id"])
	assert.Equal(t, "https://receiver.example", got["aud"])
	assert.Equal(t, srv.Issuer, got["iss"])

	assert.Equal(t, map[string]any{"active": false}, introspect(t, srv, "not-a-token"))
	parts := strings.Split(tok.AccessToken, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"x"}`)) + "." + parts[2]
	assert.Equal(t, map[string]any{"active": false}, introspect(t, srv, tampered))

	// A token from another instance (other key, other issuer) is not active here.
	other := oauth2mock.Start(t)
	foreign := fetchToken(t, clientcredentials.Config{ClientID: "c", ClientSecret: "s", TokenURL: other.TokenURL()})
	assert.Equal(t, map[string]any{"active": false}, introspect(t, srv, foreign.AccessToken))
}

func TestDefaultAudienceAndScope(t *testing.T) {
	srv := oauth2mock.StartWithOptions(t, oauth2mock.Options{Audience: "https://a.example,https://b.example", Scope: "webhooks:send"})
	tok := fetchToken(t, clientcredentials.Config{ClientID: "c", ClientSecret: "s", TokenURL: srv.TokenURL()})
	claims := claimsOf(t, tok.AccessToken)
	assert.Equal(t, []any{"https://a.example", "https://b.example"}, claims["aud"])
	assert.Equal(t, "webhooks:send", claims["scope"])

	// A requested audience and scope win over the defaults; "aud" is the package's own parameter.
	tok = fetchToken(t, clientcredentials.Config{
		ClientID: "c", ClientSecret: "s", TokenURL: srv.TokenURL(),
		Scopes:         []string{"other"},
		EndpointParams: url.Values{"aud": {"https://c.example"}},
	})
	claims = claimsOf(t, tok.AccessToken)
	assert.Equal(t, "https://c.example", claims["aud"])
	assert.Equal(t, "other", claims["scope"])
}

func TestServerStopsWithTest(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		srv := oauth2mock.Start(t)
		addr = srv.Issuer[len("http://"):]
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		c.Close()
	})
	if addr == "" {
		t.Skip("inner test skipped")
	}
	_, err := net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "server still listening after its test ended")
}

func TestExpOffsetIssuesExpiredToken(t *testing.T) {
	srv := oauth2mock.Start(t)
	tok := fetchToken(t, clientcredentials.Config{
		ClientID: "c", ClientSecret: "s", TokenURL: srv.TokenURL(),
		Scopes:         []string{"webhooks:send"},
		EndpointParams: url.Values{"exp_offset": {"-120"}},
	})
	claims := claimsOf(t, tok.AccessToken)
	now := time.Now().Unix()
	exp, ok := claims["exp"].(float64)
	require.True(t, ok, "exp claim: %v", claims["exp"])
	assert.Less(t, int64(exp), now, "exp is not in the past")
	assert.InDelta(t, float64(now-120), exp, 10)
	for _, k := range []string{"iat", "nbf"} {
		v, ok := claims[k].(float64)
		require.True(t, ok, "%s claim: %v", k, claims[k])
		assert.LessOrEqual(t, v, exp, "%s after exp", k)
	}
	assert.Equal(t, "webhooks:send", claims["scope"], "other claims unaffected")

	// An invalid value is ignored: the package's default one-hour lifetime.
	tok = fetchToken(t, clientcredentials.Config{
		ClientID: "c", ClientSecret: "s", TokenURL: srv.TokenURL(),
		EndpointParams: url.Values{"exp_offset": {"-2m"}},
	})
	exp, ok = claimsOf(t, tok.AccessToken)["exp"].(float64)
	require.True(t, ok)
	assert.InDelta(t, float64(time.Now().Add(time.Hour).Unix()), exp, 10)
}
