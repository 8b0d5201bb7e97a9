package auth

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/safenet"
)

func TestPlainHTTPURLNeedsAllowHTTP(t *testing.T) {
	constructors := map[string]func(url string, allowHTTP bool) error{
		"jwks": func(u string, allow bool) error {
			_, err := NewJWTValidator(JWTConfig{JWKSURL: u, AllowHTTP: allow, Issuer: "i", Audience: "a"})
			return err
		},
		"token": func(u string, allow bool) error {
			_, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: u, AllowHTTP: allow, ClientID: "c", AuthStyle: AuthStyleHeader})
			return err
		},
		"introspection": func(u string, allow bool) error {
			_, err := NewIntrospectionValidator(IntrospectionConfig{URL: u, AllowHTTP: allow, ClientID: "c"})
			return err
		},
	}
	for name, build := range constructors {
		t.Run(name, func(t *testing.T) {
			for _, u := range []string{"http://127.0.0.1:8080/x", "HTTP://idp.example/x", "http://idp.example/x"} {
				err := build(u, false)
				require.ErrorIs(t, err, ErrInsecureURL, u)
				assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
				assert.Contains(t, err.Error(), "AllowHTTP")
				assert.NoError(t, build(u, true), "%s with AllowHTTP", u)
			}
			assert.NoError(t, build("https://idp.example/x", false))
			assert.NotErrorIs(t, build("ftp://idp.example/x", true), ErrInsecureURL)
			assert.Error(t, build("ftp://idp.example/x", true))
		})
	}
}

// AllowHTTP is about the URL scheme only: it does not let the default client
// dial a loopback address.
func TestAllowHTTPDoesNotAllowPrivateAddresses(t *testing.T) {
	ts := newTokenServer(t, 3600)
	o, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: ts.URL, AllowHTTP: true, ClientID: "client", ClientSecret: NewPassword(testSecret), AuthStyle: AuthStyleHeader})
	require.NoError(t, err)
	_, err = applyHeader(t, o)
	require.ErrorIs(t, err, ErrTokenUnavailable)
	assert.ErrorIs(t, err, safenet.ErrRefused)
	assert.Contains(t, err.Error(), "refused destination 127.0.0.1: loopback")
	assert.EqualValues(t, 0, ts.hits.Load())

	s := newIntroServer(t)
	iv, err := NewIntrospectionValidator(IntrospectionConfig{URL: s.URL, AllowHTTP: true, ClientID: introClientID, ClientSecret: NewPassword(testSecret)})
	require.NoError(t, err)
	_, err = iv.Validate(context.Background(), reqWithAuth("Bearer good"))
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	assert.EqualValues(t, 0, s.hits.Load())
}
