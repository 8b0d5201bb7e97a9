package auth

import (
	"context"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJWTValidatorRequiresAudienceOrAnyAudience(t *testing.T) {
	_, err := NewJWTValidator(JWTConfig{JWKSURL: "https://x/jwks", Issuer: "i"})
	require.Error(t, err, "no audience and no AnyAudience")
	assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
	assert.Contains(t, err.Error(), "AnyAudience")

	_, err = NewJWTValidator(JWTConfig{JWKSURL: "https://x/jwks", Issuer: "i", Audience: "a", AnyAudience: true})
	require.Error(t, err, "both an audience and AnyAudience")
	assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())

	// AnyAudience accepts any aud, or none.
	rk, _, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, rk)
	v, err := NewJWTValidator(JWTConfig{JWKSURL: srv.URL, AllowHTTP: true, Issuer: testIssuer, AnyAudience: true, HTTPClient: srv.Client(), Now: clk.Now})
	require.NoError(t, err)
	for _, aud := range []jwt.Audience{{"other"}, nil, {"a", "b"}} {
		c := stdClaims(clk.Now())
		c.Audience = aud
		_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, rk, c, nil)))
		assert.NoError(t, err, "aud %v", aud)
	}
}

// signTyp signs stdClaims with rk and the given "typ" header (none if nil).
func signTyp(t *testing.T, k testKey, now time.Time, typ any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != nil {
		opts = opts.WithHeader("typ", typ)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	require.NoError(t, err)
	s, err := jwt.Signed(signer).Claims(stdClaims(now)).Serialize()
	require.NoError(t, err)
	return s
}

func TestJWTRejectsTokenTypesOtherThanAccessTokens(t *testing.T) {
	rk, _, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, rk)
	v := newJWT(t, srv, clk)
	for _, typ := range []any{nil, "", "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "application/JWT"} {
		_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+signTyp(t, rk, clk.Now(), typ)))
		assert.NoError(t, err, "typ %v", typ)
	}
	for _, typ := range []any{"id_token", "ID_TOKEN", "logout+jwt", "secevent+jwt", "dpop+jwt", "token-introspection+jwt", "JOSE", " JWT", "application/id_token", 7, []string{"JWT"}} {
		_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+signTyp(t, rk, clk.Now(), typ)))
		require.ErrorIs(t, err, ErrInvalidCredentials, "typ %v", typ)
		assert.Contains(t, err.Error(), "jwt type not accepted", "typ %v", typ)
	}
}

func TestDefaultJWTAlgorithmsReturnsFreshCopy(t *testing.T) {
	a := DefaultJWTAlgorithms()
	assert.Equal(t, []string{"RS256", "ES256", "EdDSA", "PS256"}, a)
	a[0] = "none"
	assert.Equal(t, "RS256", DefaultJWTAlgorithms()[0])

	rk, _, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, rk)
	v := newJWT(t, srv, clk) // Algorithms empty: the defaults
	_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, rk, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
}
