package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hookkit/hookkit/internal/safenet"
)

// DefaultJWTAlgorithms are the signature algorithms a JWTValidator accepts
// when JWTConfig.Algorithms is empty.
var DefaultJWTAlgorithms = []string{"RS256", "ES256", "EdDSA", "PS256"}

// allowedJWTAlgorithms are the asymmetric algorithms that may be configured;
// "none" and HMAC (HS*) are never accepted.
var allowedJWTAlgorithms = map[string]jose.SignatureAlgorithm{
	"RS256": jose.RS256, "RS384": jose.RS384, "RS512": jose.RS512,
	"PS256": jose.PS256, "PS384": jose.PS384, "PS512": jose.PS512,
	"ES256": jose.ES256, "ES384": jose.ES384, "ES512": jose.ES512,
	"EdDSA": jose.EdDSA,
}

// maxJWKSSize bounds the JWKS document read from JWKSURL.
const maxJWKSSize = 1 << 20

// JWTConfig configures a [JWTValidator].
type JWTConfig struct {
	JWKSURL  string   // required: absolute http(s) URL of the JSON Web Key Set
	Issuer   string   // required: the exact "iss" claim
	Audience string   // if set, must be among the "aud" claim's values
	Scopes   []string // required scopes, from the "scope" or "scp" claim
	// Algorithms allowed in the JWS header. Empty: DefaultJWTAlgorithms
	// (RS256, ES256, EdDSA, PS256). "none" and HS* are rejected.
	Algorithms []string
	// Leeway for exp, nbf and iat. 0: 1 minute.
	Leeway time.Duration
	// HTTPClient fetches the JWKS. nil: safenet.NewClient(safenet.Policy{},
	// 30*time.Second), which dials public addresses only and never follows
	// redirects; pass a client of your own for a JWKS on a private network.
	HTTPClient *http.Client `json:"-"`
	// MinRefreshInterval rate-limits re-fetching the JWKS when a token names
	// an unknown key ID. 0: 1 minute.
	MinRefreshInterval time.Duration
	// Now returns the current time. nil: time.Now.
	Now func() time.Time `json:"-"`
}

// JWTValidator validates bearer JWTs signed with a key from a JWKS. The key
// set is fetched on first use, cached, and re-fetched (at most once per
// MinRefreshInterval) when a token names an unknown key ID. It is safe for
// concurrent use.
type JWTValidator struct {
	cfg    JWTConfig
	algs   []jose.SignatureAlgorithm
	client *http.Client

	sem chan struct{} // held while fetching the JWKS

	mu        sync.Mutex
	keys      *jose.JSONWebKeySet
	lastFetch time.Time // last fetch attempt
}

// NewJWTValidator checks cfg and returns a validator. It does not fetch the
// JWKS; that happens on first use.
func NewJWTValidator(cfg JWTConfig) (*JWTValidator, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("hookkit/auth: jwks url must be an absolute http(s) url")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("hookkit/auth: jwt issuer is required")
	}
	if cfg.Leeway < 0 || cfg.MinRefreshInterval < 0 {
		return nil, errors.New("hookkit/auth: jwt leeway and refresh interval must not be negative")
	}
	names := cfg.Algorithms
	if len(names) == 0 {
		names = DefaultJWTAlgorithms
	}
	algs := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		a, ok := allowedJWTAlgorithms[n]
		if !ok {
			return nil, fmt.Errorf("hookkit/auth: jwt algorithm %q is not allowed", n)
		}
		algs = append(algs, a)
	}
	cfg.Algorithms = append([]string(nil), names...)
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	if cfg.Leeway == 0 {
		cfg.Leeway = time.Minute
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = safenet.NewClient(safenet.Policy{}, 30*time.Second)
	}
	return &JWTValidator{cfg: cfg, algs: algs, client: client, sem: make(chan struct{}, 1)}, nil
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidCredentials, reason)
}

type scopeClaims struct {
	Scope any `json:"scope"`
	Scp   any `json:"scp"`
}

// Validate implements [Validator]. The principal has Subject = "sub",
// Scopes from "scope" (space-separated) and/or "scp" (array or string), and
// Method "jwt".
func (v *JWTValidator) Validate(ctx context.Context, r *http.Request) (*Principal, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	tok, err := jwt.ParseSigned(raw, v.algs)
	if err != nil {
		return nil, invalid("malformed jwt or disallowed algorithm")
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("jwt must have one signature")
	}
	hdr := tok.Headers[0]
	keys, err := v.keysFor(ctx, hdr.KeyID, hdr.Algorithm)
	if err != nil {
		return nil, err
	}
	var (
		claims jwt.Claims
		extra  scopeClaims
		ok     bool
	)
	for _, k := range keys {
		if err := tok.Claims(k.Key, &claims, &extra); err == nil {
			ok = true
			break
		}
	}
	if !ok {
		return nil, invalid("jwt signature or claims rejected")
	}
	if claims.Expiry == nil {
		return nil, invalid("jwt has no exp claim")
	}
	exp := jwt.Expected{Issuer: v.cfg.Issuer, Time: v.cfg.Now()}
	if v.cfg.Audience != "" {
		exp.AnyAudience = jwt.Audience{v.cfg.Audience}
	}
	if err := claims.ValidateWithLeeway(exp, v.cfg.Leeway); err != nil {
		switch {
		case errors.Is(err, jwt.ErrExpired):
			return nil, invalid("jwt expired")
		case errors.Is(err, jwt.ErrInvalidIssuer):
			return nil, invalid("jwt issuer mismatch")
		case errors.Is(err, jwt.ErrInvalidAudience):
			return nil, invalid("jwt audience mismatch")
		default:
			return nil, invalid("jwt not valid at this time")
		}
	}
	p := &Principal{Subject: claims.Subject, Scopes: scopesOf(extra), Method: "jwt"}
	if err := requireScopes(p, v.cfg.Scopes); err != nil {
		return nil, err
	}
	return p, nil
}

func scopesOf(c scopeClaims) []string {
	var out []string
	add := func(x any) {
		switch t := x.(type) {
		case string:
			out = append(out, strings.Fields(t)...)
		case []any:
			for _, e := range t {
				if s, ok := e.(string); ok && s != "" {
					out = append(out, s)
				}
			}
		}
	}
	add(c.Scope)
	add(c.Scp)
	return out
}

// match returns the keys of set usable for kid and alg.
func match(set *jose.JSONWebKeySet, kid, alg string) []jose.JSONWebKey {
	if set == nil {
		return nil
	}
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		out = append(out, k)
	}
	return out
}

// keysFor returns candidate verification keys, fetching the JWKS on first
// use and re-fetching it (rate-limited) when kid is unknown.
func (v *JWTValidator) keysFor(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	set, last := v.keys, v.lastFetch
	v.mu.Unlock()
	if ks := match(set, kid, alg); len(ks) > 0 {
		return ks, nil
	}
	if set != nil && v.cfg.Now().Sub(last) < v.cfg.MinRefreshInterval {
		return nil, invalid("unknown jwt key id")
	}
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrValidatorUnavailable, ctx.Err())
	}
	defer func() { <-v.sem }()
	// Re-check: another caller may have fetched meanwhile.
	v.mu.Lock()
	set, last = v.keys, v.lastFetch
	v.mu.Unlock()
	if ks := match(set, kid, alg); len(ks) > 0 {
		return ks, nil
	}
	if set != nil && v.cfg.Now().Sub(last) < v.cfg.MinRefreshInterval {
		return nil, invalid("unknown jwt key id")
	}
	fresh, ferr := v.fetch(ctx)
	v.mu.Lock()
	v.lastFetch = v.cfg.Now()
	if ferr == nil {
		v.keys = fresh
	}
	set = v.keys
	v.mu.Unlock()
	if ferr != nil && set == nil {
		return nil, ferr
	}
	if ks := match(set, kid, alg); len(ks) > 0 {
		return ks, nil
	}
	return nil, invalid("unknown jwt key id")
}

// fetch downloads and parses the JWKS, keeping only public signing keys.
func (v *JWTValidator) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: building jwks request failed", ErrValidatorUnavailable)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks fetch failed", ErrValidatorUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: jwks endpoint returned http status %d", ErrValidatorUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil || len(body) > maxJWKSSize {
		return nil, fmt.Errorf("%w: reading jwks failed", ErrValidatorUnavailable)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%w: malformed jwks", ErrValidatorUnavailable)
	}
	out := &jose.JSONWebKeySet{}
	for _, k := range set.Keys {
		if !k.Valid() {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // zero value for symmetric keys
		}
		if k.Key == nil || !k.Valid() {
			continue
		}
		out.Keys = append(out.Keys, k)
	}
	return out, nil
}

var _ Validator = (*JWTValidator)(nil)
