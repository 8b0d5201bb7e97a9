package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hookkit/hookkit/internal/safenet"
)

// DefaultJWTAlgorithms returns the signature algorithms a JWTValidator
// accepts when JWTConfig.Algorithms is empty: RS256, ES256, EdDSA and PS256.
// Each call returns a new slice.
func DefaultJWTAlgorithms() []string {
	return []string{"RS256", "ES256", "EdDSA", "PS256"}
}

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

const (
	// DefaultJWTLeeway is JWTConfig.Leeway when that is zero.
	DefaultJWTLeeway = time.Minute
	// DefaultJWKSMinRefreshInterval is JWTConfig.MinRefreshInterval when
	// that is zero.
	DefaultJWKSMinRefreshInterval = time.Minute
	// DefaultJWKSRetryInterval is JWTConfig.RetryInterval when that is zero
	// (or MinRefreshInterval, if that is shorter).
	DefaultJWKSRetryInterval = 10 * time.Second
	// DefaultJWKSFetchTimeout is JWTConfig.FetchTimeout when that is zero.
	DefaultJWKSFetchTimeout = 10 * time.Second
)

// JWTConfig configures a [JWTValidator]. Its zero durations mean the
// documented defaults; a negative one means "none" where the field's doc says
// so (Leeway) and is refused by [NewJWTValidator] everywhere else.
type JWTConfig struct {
	// JWKSURL is the JSON Web Key Set: required, an absolute https URL (or
	// http with AllowHTTP).
	JWKSURL string
	// AllowHTTP: a plain http:// JWKSURL is allowed; for loopback test
	// servers. false: it is refused with [ErrInsecureURL], since anyone on
	// the network path could substitute their own signing keys. It does not
	// change which addresses the client may dial (see HTTPClient).
	AllowHTTP bool
	Issuer    string // required: the exact "iss" claim
	// Audience must be among the "aud" claim's values. Required unless
	// AnyAudience is set: a token minted for another service must not be
	// accepted here.
	Audience string
	// AnyAudience accepts tokens whatever their "aud" claim, or without one.
	// false: Audience is required. Setting both is an error.
	AnyAudience bool
	Scopes      []string // required scopes, from the "scope" or "scp" claim
	// Algorithms allowed in the JWS header. Empty: DefaultJWTAlgorithms()
	// (RS256, ES256, EdDSA, PS256). "none" and HS* are rejected.
	Algorithms []string
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// 0 means DefaultJWTLeeway (1 minute); negative means no leeway: the
	// claims are compared with Now exactly.
	Leeway time.Duration
	// HTTPClient fetches the JWKS. nil: safenet.NewClient(safenet.Policy{},
	// 30*time.Second), which dials public addresses only and never follows
	// redirects; pass a client of your own for a JWKS on a private network.
	HTTPClient *http.Client `json:"-"`
	// MinRefreshInterval rate-limits re-fetching the JWKS when a token names
	// an unknown key ID: it runs from the last successful fetch.
	// 0 means DefaultJWKSMinRefreshInterval (1 minute); negative is refused:
	// without a minimum, any request naming a made-up key ID would fetch the
	// JWKS again.
	MinRefreshInterval time.Duration
	// RetryInterval is how long after a failed fetch the next one may start,
	// however many tokens arrive meanwhile. 0 means DefaultJWKSRetryInterval
	// (10 seconds), or MinRefreshInterval if that is shorter; negative is
	// refused: a failing endpoint would be fetched again for every request.
	RetryInterval time.Duration
	// FetchTimeout bounds each JWKS fetch, whatever HTTPClient's own timeout.
	// The fetch does not run on the context of the request that caused it,
	// so a client that hangs up cannot abort it. 0 means
	// DefaultJWKSFetchTimeout (10 seconds); negative is refused: every
	// request waiting for keys shares the one fetch, and an unbounded fetch
	// that hangs would keep the next one from ever starting.
	FetchTimeout time.Duration
	// Now returns the current time. nil: time.Now.
	Now func() time.Time `json:"-"`
}

// JWTValidator validates bearer JWTs signed with a key from a JWKS. The key
// set is fetched on first use, cached, and re-fetched when a token names an
// unknown key ID: at most once per MinRefreshInterval after a successful
// fetch, and once per RetryInterval after a failed one. Concurrent requests
// share one fetch; it runs detached from their contexts, bounded by
// FetchTimeout, and each request stops waiting for it when its own context
// ends. Accepted tokens have a "typ" header that is absent, "JWT" or "at+jwt"
// (RFC 9068), optionally with an "application/" prefix, compared
// case-insensitively; other types, such as ID tokens ("id_token") or logout
// tokens ("logout+jwt"), are rejected. It is safe for concurrent use.
type JWTValidator struct {
	cfg    JWTConfig
	algs   []jose.SignatureAlgorithm
	client *http.Client

	mu        sync.Mutex
	keys      *jose.JSONWebKeySet // nil until a fetch has succeeded
	fetchedAt time.Time           // of the last successful fetch
	failedAt  time.Time           // of the last fetch if it failed, else zero
	lastErr   error               // error of the last fetch if it failed
	call      *jwksCall           // the fetch in flight, or nil
}

// jwksCall is one JWKS fetch that any number of requests wait for.
type jwksCall struct {
	done chan struct{} // closed when the fetch has ended and its result is stored
	err  error         // the fetch's error; written before done is closed
}

// NewJWTValidator checks cfg and returns a validator. It does not fetch the
// JWKS; that happens on first use.
func NewJWTValidator(cfg JWTConfig) (*JWTValidator, error) {
	if err := checkEndpointURL(cfg.JWKSURL, "jwks url", cfg.AllowHTTP); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		return nil, errors.New("hookkit/auth: jwt issuer is required")
	}
	switch {
	case cfg.Audience == "" && !cfg.AnyAudience:
		return nil, errors.New("hookkit/auth: jwt audience is required (or set AnyAudience to accept any)")
	case cfg.Audience != "" && cfg.AnyAudience:
		return nil, errors.New("hookkit/auth: jwt audience and AnyAudience are mutually exclusive")
	}
	switch {
	case cfg.MinRefreshInterval < 0:
		return nil, errors.New("hookkit/auth: jwt MinRefreshInterval must not be negative (0 means the default)")
	case cfg.RetryInterval < 0:
		return nil, errors.New("hookkit/auth: jwt RetryInterval must not be negative (0 means the default)")
	case cfg.FetchTimeout < 0:
		return nil, errors.New("hookkit/auth: jwt FetchTimeout must not be negative (0 means the default)")
	}
	names := cfg.Algorithms
	if len(names) == 0 {
		names = DefaultJWTAlgorithms()
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
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultJWTLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0 // none
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultJWKSMinRefreshInterval
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = min(DefaultJWKSRetryInterval, cfg.MinRefreshInterval)
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultJWKSFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = safenet.NewClient(safenet.Policy{}, 30*time.Second)
	}
	return &JWTValidator{cfg: cfg, algs: algs, client: client}, nil
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
	if !acceptedJWTType(hdr) {
		return nil, invalid("jwt type not accepted")
	}
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
	if !v.cfg.AnyAudience {
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

// acceptedJWTType reports whether the JWS "typ" header names an access
// token: absent, "JWT" or "at+jwt" (RFC 9068), each optionally prefixed by
// "application/" (RFC 7515 section 4.1.9), case-insensitively.
func acceptedJWTType(h jose.Header) bool {
	raw, ok := h.ExtraHeaders[jose.HeaderType]
	if !ok || raw == nil {
		return true
	}
	typ, ok := raw.(string)
	if !ok {
		return false
	}
	typ = strings.ToLower(typ)
	typ = strings.TrimPrefix(typ, "application/")
	switch typ {
	case "", "jwt", "at+jwt":
		return true
	}
	return false
}

// keysFor returns candidate verification keys, fetching the JWKS on first
// use and re-fetching it (rate-limited) when kid is unknown.
func (v *JWTValidator) keysFor(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	if ks := match(v.keys, kid, alg); len(ks) > 0 {
		v.mu.Unlock()
		return ks, nil
	}
	c := v.call
	if c == nil {
		if !v.mayFetchLocked() {
			set, lastErr := v.keys, v.lastErr
			v.mu.Unlock()
			if set == nil {
				return nil, lastErr
			}
			return nil, invalid("unknown jwt key id")
		}
		c = &jwksCall{done: make(chan struct{})}
		v.call = c
		go v.runFetch(context.WithoutCancel(ctx), c)
	}
	v.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done: // the fetch ended too: use its result
		default:
			return nil, fmt.Errorf("%w: gave up waiting for the jwks: %w", ErrValidatorUnavailable, ctx.Err())
		}
	}
	v.mu.Lock()
	set := v.keys
	v.mu.Unlock()
	if ks := match(set, kid, alg); len(ks) > 0 {
		return ks, nil
	}
	if set == nil {
		return nil, c.err
	}
	return nil, invalid("unknown jwt key id")
}

// mayFetchLocked reports whether a new fetch may start now: not within
// RetryInterval of a failed fetch, nor within MinRefreshInterval of a
// successful one. v.mu is held.
func (v *JWTValidator) mayFetchLocked() bool {
	now := v.cfg.Now()
	if !v.failedAt.IsZero() && now.Sub(v.failedAt) < v.cfg.RetryInterval {
		return false
	}
	if v.keys != nil && now.Sub(v.fetchedAt) < v.cfg.MinRefreshInterval {
		return false
	}
	return true
}

// runFetch performs the fetch of c on a context that no caller can cancel,
// bounded by FetchTimeout, stores its result and wakes the waiters. Only a
// successful fetch replaces the keys and restarts MinRefreshInterval.
func (v *JWTValidator) runFetch(detached context.Context, c *jwksCall) {
	ctx, cancel := context.WithTimeout(detached, v.cfg.FetchTimeout)
	set, err := v.fetch(ctx)
	cancel()
	v.mu.Lock()
	now := v.cfg.Now()
	if err == nil {
		v.keys, v.fetchedAt = set, now
		v.failedAt, v.lastErr = time.Time{}, nil
	} else {
		v.failedAt, v.lastErr = now, err
	}
	c.err = err
	v.call = nil
	v.mu.Unlock()
	close(c.done)
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
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: jwks fetch timed out: %w", ErrValidatorUnavailable, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("%w: jwks fetch failed", ErrValidatorUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: jwks endpoint returned http status %d", ErrValidatorUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: jwks fetch timed out: %w", ErrValidatorUnavailable, context.DeadlineExceeded)
	}
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
