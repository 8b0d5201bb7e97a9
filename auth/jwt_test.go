package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) (rk, ek, dk testKey) {
	keysOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		_, edKey, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
	})
	return testKey{"rsa1", jose.RS256, rsaKey}, testKey{"ec1", jose.ES256, ecKey}, testKey{"ed1", jose.EdDSA, edKey}
}

type jwksServer struct {
	*httptest.Server
	hits atomic.Int32
	mu   sync.Mutex
	set  jose.JSONWebKeySet
	down atomic.Bool
}

func newJWKSServer(t *testing.T, keys ...testKey) *jwksServer {
	s := &jwksServer{}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.Keys = nil
	for _, k := range keys {
		s.set.Keys = append(s.set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sign(t testing.TB, k testKey, claims jwt.Claims, extra map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	b := jwt.Signed(signer).Claims(claims)
	if extra != nil {
		b = b.Claims(extra)
	}
	s, err := b.Serialize()
	require.NoError(t, err)
	return s
}

const testIssuer = "https://issuer.example"

func stdClaims(now time.Time) jwt.Claims {
	return jwt.Claims{
		Issuer: testIssuer, Subject: "svc-1", Audience: jwt.Audience{"hookkit"},
		Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
	}
}

func newJWT(t *testing.T, srv *jwksServer, clk *clock, scopes ...string) *JWTValidator {
	v, err := NewJWTValidator(JWTConfig{
		JWKSURL: srv.URL, AllowHTTP: true, Issuer: testIssuer, Audience: "hookkit", Scopes: scopes,
		HTTPClient: srv.Client(), Now: clk.Now,
	})
	require.NoError(t, err)
	return v
}

func TestJWTValidator(t *testing.T) {
	rk, ek, dk := testKeys(t)
	now := time.Now()
	clk := &clock{t: now}
	srv := newJWKSServer(t, rk, ek, dk)
	v := newJWT(t, srv, clk, "hooks:write")
	scope := map[string]any{"scope": "hooks:read hooks:write"}

	mod := func(f func(*jwt.Claims)) jwt.Claims {
		c := stdClaims(now)
		f(&c)
		return c
	}
	hsSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	require.NoError(t, err)
	hs, err := jwt.Signed(hsSigner).Claims(stdClaims(now)).Claims(scope).Serialize()
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{"iss": testIssuer, "sub": "x", "aud": "hookkit", "exp": now.Add(time.Hour).Unix(), "scope": "hooks:write"})
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
	mismatch := sign(t, testKey{"ec1", jose.RS256, rsaKey}, stdClaims(now), scope) // RS256 signature, kid of an EC key

	tests := []struct {
		name    string
		token   string
		wantErr error
		scopes  []string
	}{
		{"rsa valid", sign(t, rk, stdClaims(now), scope), nil, []string{"hooks:read", "hooks:write"}},
		{"ec valid scp array", sign(t, ek, stdClaims(now), map[string]any{"scp": []string{"hooks:write"}}), nil, []string{"hooks:write"}},
		{"ed valid scp string", sign(t, dk, stdClaims(now), map[string]any{"scp": "hooks:write"}), nil, []string{"hooks:write"}},
		{"within leeway", sign(t, rk, mod(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-30 * time.Second)) }), scope), nil, []string{"hooks:read", "hooks:write"}},
		{"expired", sign(t, rk, mod(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-2 * time.Minute)) }), scope), ErrInvalidCredentials, nil},
		{"no exp", sign(t, rk, mod(func(c *jwt.Claims) { c.Expiry = nil }), scope), ErrInvalidCredentials, nil},
		{"not yet valid", sign(t, rk, mod(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(5 * time.Minute)) }), scope), ErrInvalidCredentials, nil},
		{"wrong iss", sign(t, rk, mod(func(c *jwt.Claims) { c.Issuer = "https://evil" }), scope), ErrInvalidCredentials, nil},
		{"wrong aud", sign(t, rk, mod(func(c *jwt.Claims) { c.Audience = jwt.Audience{"other"} }), scope), ErrInvalidCredentials, nil},
		{"alg none", none, ErrInvalidCredentials, nil},
		{"hs256", hs, ErrInvalidCredentials, nil},
		{"key type mismatch", mismatch, ErrInvalidCredentials, nil},
		{"tampered", sign(t, rk, stdClaims(now), scope) + "x", ErrInvalidCredentials, nil},
		{"garbage", "abc", ErrInvalidCredentials, nil},
		{"missing scope", sign(t, rk, stdClaims(now), map[string]any{"scope": "hooks:read"}), ErrInsufficientScope, nil},
		{"no scope claim", sign(t, rk, stdClaims(now), nil), ErrInsufficientScope, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tt.token))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), tt.token)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "svc-1", p.Subject)
			assert.Equal(t, "jwt", p.Method)
			assert.Equal(t, tt.scopes, p.Scopes)
		})
	}
	assert.EqualValues(t, 1, srv.hits.Load(), "jwks fetched once")

	_, err = v.Validate(context.Background(), reqWithAuth())
	require.ErrorIs(t, err, ErrNoCredentials)
}

func TestJWTMissingScopeChallenge(t *testing.T) {
	rk, _, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, rk)
	v := newJWT(t, srv, clk, "hooks:write")
	_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, rk, stdClaims(clk.Now()), map[string]any{"scope": "other"})))
	require.ErrorIs(t, err, ErrInsufficientScope)
	st, h := Challenge(err)
	assert.Equal(t, http.StatusForbidden, st)
	assert.Equal(t, `Bearer realm="hookkit", error="insufficient_scope", scope="hooks:write"`, h)
}

func TestJWTUnknownKidRefetchRateLimited(t *testing.T) {
	rk, ek, dk := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, rk)
	v := newJWT(t, srv, clk)
	ctx := context.Background()

	_, err := v.Validate(ctx, reqWithAuth("Bearer "+sign(t, rk, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.hits.Load())

	// Key rotated in: after the interval, an unknown kid causes one refetch.
	srv.setKeys(rk, ek)
	clk.Add(2 * time.Minute)
	_, err = v.Validate(ctx, reqWithAuth("Bearer "+sign(t, ek, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
	require.EqualValues(t, 2, srv.hits.Load())

	// Another unknown kid within the interval does not refetch.
	srv.setKeys(rk, ek, dk)
	clk.Add(10 * time.Second)
	for range 3 {
		_, err = v.Validate(ctx, reqWithAuth("Bearer "+sign(t, dk, stdClaims(clk.Now()), nil)))
		require.ErrorIs(t, err, ErrInvalidCredentials)
	}
	require.EqualValues(t, 2, srv.hits.Load())

	// Once the interval has passed it is fetched again.
	clk.Add(time.Minute)
	_, err = v.Validate(ctx, reqWithAuth("Bearer "+sign(t, dk, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
	require.EqualValues(t, 3, srv.hits.Load())

	// A refetch failure keeps the cached keys.
	srv.down.Store(true)
	clk.Add(2 * time.Minute)
	_, err = v.Validate(ctx, reqWithAuth("Bearer "+sign(t, testKey{"nope", jose.RS256, rsaKey}, stdClaims(clk.Now()), nil)))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	_, err = v.Validate(ctx, reqWithAuth("Bearer "+sign(t, rk, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
}

func TestJWTJWKSUnavailable(t *testing.T) {
	rk, _, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, rk)
	srv.down.Store(true)
	v := newJWT(t, srv, clk)
	tok := sign(t, rk, stdClaims(clk.Now()), nil)
	_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	st, _ := Challenge(err)
	assert.Equal(t, http.StatusServiceUnavailable, st)

	srv.down.Store(false)
	// Within the retry interval the failure stands and nothing is fetched.
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	assert.EqualValues(t, 1, srv.hits.Load())
	clk.Add(DefaultJWKSRetryInterval)
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.hits.Load())
}

func TestJWTConcurrentFirstFetch(t *testing.T) {
	rk, _, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, rk)
	v := newJWT(t, srv, clk)
	tok := sign(t, rk, stdClaims(clk.Now()), nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, srv.hits.Load())
}

func TestNewJWTValidatorConfig(t *testing.T) {
	good := JWTConfig{JWKSURL: "https://x/jwks", Issuer: "i", Audience: "a"}
	tests := []struct {
		name string
		mod  func(*JWTConfig)
		ok   bool
	}{
		{"good", func(*JWTConfig) {}, true},
		{"all asym", func(c *JWTConfig) { c.Algorithms = []string{"RS512", "ES384", "PS512", "EdDSA"} }, true},
		{"none", func(c *JWTConfig) { c.Algorithms = []string{"none"} }, false},
		{"hs256", func(c *JWTConfig) { c.Algorithms = []string{"RS256", "HS256"} }, false},
		{"no url", func(c *JWTConfig) { c.JWKSURL = "" }, false},
		{"ftp url", func(c *JWTConfig) { c.JWKSURL = "ftp://x/jwks" }, false},
		{"no issuer", func(c *JWTConfig) { c.Issuer = "" }, false},
		{"negative leeway: none", func(c *JWTConfig) { c.Leeway = -time.Second }, true},
		{"negative min refresh", func(c *JWTConfig) { c.MinRefreshInterval = -time.Second }, false},
		{"negative retry", func(c *JWTConfig) { c.RetryInterval = -time.Second }, false},
		{"negative fetch timeout", func(c *JWTConfig) { c.FetchTimeout = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			_, err := NewJWTValidator(c)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
		})
	}
}

func TestJWTAlgorithmRestriction(t *testing.T) {
	_, ek, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newJWKSServer(t, ek)
	v, err := NewJWTValidator(JWTConfig{JWKSURL: srv.URL, AllowHTTP: true, Issuer: testIssuer, Audience: "hookkit", Algorithms: []string{"RS256"}, HTTPClient: srv.Client(), Now: clk.Now})
	require.NoError(t, err)
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, ek, stdClaims(clk.Now()), nil)))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	assert.EqualValues(t, 0, srv.hits.Load())
}
