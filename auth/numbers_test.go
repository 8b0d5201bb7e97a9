package auth

import (
	"context"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The one rule for numbers in auth's configs: 0 is the documented default, a negative
// value means "none" where that has a meaning (Leeway, RefreshBefore, CacheSize) and is
// refused by the constructor where it has none.

// A negative Leeway means no leeway: exp, nbf and iat are compared with the clock exactly,
// where 0 allows DefaultJWTLeeway of skew.
func TestJWTNegativeLeewayMeansNoLeeway(t *testing.T) {
	_, ek, _ := testKeys(t)
	srv := newJWKSServer(t, ek)
	clk := &clock{t: time.Unix(1700000000, 0)}
	now := clk.Now()
	expired := stdClaims(now)
	expired.Expiry = jwt.NewNumericDate(now.Add(-30 * time.Second))
	early := stdClaims(now)
	early.NotBefore = jwt.NewNumericDate(now.Add(30 * time.Second))
	future := stdClaims(now)
	future.IssuedAt = jwt.NewNumericDate(now.Add(30 * time.Second))

	newV := func(leeway time.Duration) *JWTValidator {
		v, err := NewJWTValidator(JWTConfig{JWKSURL: srv.URL, AllowHTTP: true, Issuer: testIssuer, Audience: "hookkit",
			HTTPClient: srv.Client(), Now: clk.Now, Leeway: leeway})
		require.NoError(t, err)
		return v
	}
	validate := func(v *JWTValidator, c jwt.Claims) error {
		_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, ek, c, nil)))
		return err
	}
	def, none, short := newV(0), newV(-1), newV(10*time.Second)
	for name, c := range map[string]jwt.Claims{"expired 30s ago": expired, "nbf in 30s": early, "iat in 30s": future} {
		assert.NoError(t, validate(def, c), "%s: the default leeway is %s", name, DefaultJWTLeeway)
		assert.ErrorIs(t, validate(none, c), ErrInvalidCredentials, "%s: no leeway", name)
		assert.ErrorIs(t, validate(short, c), ErrInvalidCredentials, "%s: 10s of leeway", name)
	}
	assert.NoError(t, validate(none, stdClaims(now)), "a current token is valid without leeway")
}

// The JWT config's other durations have no "none": each negative one is refused, naming
// the field.
func TestNewJWTValidatorRefusesNegativeIntervals(t *testing.T) {
	good := JWTConfig{JWKSURL: "https://x/jwks", Issuer: "i", Audience: "a"}
	for field, mod := range map[string]func(*JWTConfig){
		"MinRefreshInterval": func(c *JWTConfig) { c.MinRefreshInterval = -time.Second },
		"RetryInterval":      func(c *JWTConfig) { c.RetryInterval = -time.Second },
		"FetchTimeout":       func(c *JWTConfig) { c.FetchTimeout = -time.Second },
	} {
		c := good
		mod(&c)
		_, err := NewJWTValidator(c)
		require.Error(t, err, field)
		assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
		assert.Contains(t, err.Error(), field)
	}
	v, err := NewJWTValidator(good)
	require.NoError(t, err)
	assert.Equal(t, DefaultJWTLeeway, v.cfg.Leeway)
	assert.Equal(t, DefaultJWKSMinRefreshInterval, v.cfg.MinRefreshInterval)
	assert.Equal(t, DefaultJWKSRetryInterval, v.cfg.RetryInterval)
	assert.Equal(t, DefaultJWKSFetchTimeout, v.cfg.FetchTimeout)
}

// A negative RefreshBefore means no early refresh: the token is used until it expires,
// where 0 refreshes it DefaultRefreshBefore ahead.
func TestClientCredentialsNegativeRefreshBeforeRefreshesAtExpiry(t *testing.T) {
	ts := newTokenServer(t, 3600)
	o, err := NewClientCredentials(ClientCredentialsConfig{
		TokenURL: ts.URL, AllowHTTP: true, ClientID: "client", ClientSecret: NewPassword(testSecret),
		AuthStyle: AuthStyleHeader, HTTPClient: ts.Client(), RefreshBefore: -1,
	})
	require.NoError(t, err)
	start := time.Now()
	offset := time.Duration(0)
	o.now = func() time.Time { return start.Add(offset) }

	r, err := applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok1", r.Header.Get("Authorization"))
	offset = 59*time.Minute + 50*time.Second // inside DefaultRefreshBefore, before expiry
	r, err = applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok1", r.Header.Get("Authorization"), "no early refresh")
	assert.EqualValues(t, 1, ts.hits.Load())
	offset = time.Hour + time.Minute // expired
	r, err = applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok2", r.Header.Get("Authorization"))
	assert.EqualValues(t, 2, ts.hits.Load())
}

// FetchTimeout has no "none" (the one fetch is shared by every waiter): negative is
// refused, naming the field; 0 is the default.
func TestNewClientCredentialsRefusesNegativeFetchTimeout(t *testing.T) {
	_, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: "https://x/t", ClientID: "c", AuthStyle: AuthStyleHeader, FetchTimeout: -time.Second})
	require.Error(t, err)
	assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
	assert.Contains(t, err.Error(), "FetchTimeout")
	o, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: "https://x/t", ClientID: "c", AuthStyle: AuthStyleHeader})
	require.NoError(t, err)
	assert.Equal(t, DefaultRefreshBefore, o.refreshBefore)
	assert.Equal(t, DefaultTokenFetchTimeout, o.fetchTimeout)
}

// Introspection: a negative CacheSize means no cache, a negative MaxCacheTTL is refused
// (naming the field), zeros are the defaults.
func TestIntrospectionConfigNumbers(t *testing.T) {
	_, err := NewIntrospectionValidator(IntrospectionConfig{URL: "https://x/i", ClientID: "c", MaxCacheTTL: -time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MaxCacheTTL")
	v, err := NewIntrospectionValidator(IntrospectionConfig{URL: "https://x/i", ClientID: "c"})
	require.NoError(t, err)
	assert.Equal(t, DefaultIntrospectionCacheSize, v.cfg.CacheSize)
	assert.Equal(t, DefaultIntrospectionMaxCacheTTL, v.cfg.MaxCacheTTL)
	v, err = NewIntrospectionValidator(IntrospectionConfig{URL: "https://x/i", ClientID: "c", CacheSize: -1})
	require.NoError(t, err)
	v.store([32]byte{1}, introEntry{reason: "x", expires: time.Now().Add(time.Hour)})
	_, hit := v.lookup([32]byte{1})
	assert.False(t, hit, "a negative CacheSize caches nothing")
}
