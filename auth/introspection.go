package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hookkit/hookkit/internal/safenet"
)

const (
	// DefaultIntrospectionCacheSize is the cache size used when
	// IntrospectionConfig.CacheSize is zero.
	DefaultIntrospectionCacheSize = 10000
	// DefaultIntrospectionMaxCacheTTL is the longest an active result is
	// cached when IntrospectionConfig.MaxCacheTTL is zero.
	DefaultIntrospectionMaxCacheTTL = 5 * time.Minute
	// IntrospectionNegativeTTL is how long an inactive result is cached.
	IntrospectionNegativeTTL = 10 * time.Second
	// maxIntrospectionSize bounds the introspection response read.
	maxIntrospectionSize = 1 << 20
)

// IntrospectionConfig configures an [IntrospectionValidator] (RFC 7662). Its
// zero numbers mean the documented defaults; a negative one means "none" where
// the field's doc says so (CacheSize) and is refused by
// [NewIntrospectionValidator] everywhere else.
type IntrospectionConfig struct {
	// URL is the introspection endpoint: required, an absolute https URL (or
	// http with AllowHTTP).
	URL string
	// AllowHTTP: a plain http:// URL is allowed; for loopback test servers.
	// false: it is refused with [ErrInsecureURL], since the client secret and
	// the tokens would cross the network in clear, and anyone on the path
	// could answer "active". It does not change which addresses the client
	// may dial (see HTTPClient).
	AllowHTTP    bool
	ClientID     string   // required: client authenticating to the endpoint (HTTP Basic)
	ClientSecret Password // its secret; never printed
	Scopes       []string // required scopes, from the "scope" member
	// Issuer, if set, must equal the response's "iss" member exactly; a
	// response without one is rejected. "": not checked.
	Issuer string
	// Audience, if set, must be the response's "aud" member or one of its
	// values; a response without one is rejected. "": not checked.
	Audience string
	// HTTPClient performs introspection requests. nil:
	// safenet.NewClient(safenet.Policy{}, 30*time.Second) (public addresses only).
	HTTPClient *http.Client `json:"-"`
	// CacheSize bounds the number of cached results. 0 means
	// DefaultIntrospectionCacheSize (10000); negative means no cache: every
	// request asks the endpoint.
	CacheSize int
	// MaxCacheTTL bounds how long an active result is cached (it is never
	// cached past the token's exp). 0 means DefaultIntrospectionMaxCacheTTL
	// (5 minutes); negative is refused: an unbounded entry would keep a
	// revoked token without exp accepted for as long as it stays cached (set
	// CacheSize negative to turn caching off).
	MaxCacheTTL time.Duration
	// Now returns the current time. nil: time.Now.
	Now func() time.Time `json:"-"`
}

// IntrospectionValidator validates opaque bearer tokens by asking an OAuth2
// introspection endpoint. Results, active and inactive (or rejected for their
// issuer or audience), are cached by the SHA-256 of the token. It is safe for
// concurrent use.
type IntrospectionValidator struct {
	cfg    IntrospectionConfig
	client *http.Client

	mu    sync.Mutex
	cache map[[32]byte]introEntry
}

type introEntry struct {
	p       *Principal // nil: rejected, for reason
	reason  string
	expires time.Time
}

// NewIntrospectionValidator checks cfg and returns a validator.
func NewIntrospectionValidator(cfg IntrospectionConfig) (*IntrospectionValidator, error) {
	if err := checkEndpointURL(cfg.URL, "introspection url", cfg.AllowHTTP); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errors.New("hookkit/auth: introspection client id is required")
	}
	if cfg.MaxCacheTTL < 0 {
		return nil, errors.New("hookkit/auth: introspection MaxCacheTTL must not be negative (0 means the default; a negative CacheSize turns caching off)")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultIntrospectionCacheSize
	}
	if cfg.MaxCacheTTL == 0 {
		cfg.MaxCacheTTL = DefaultIntrospectionMaxCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	client := cfg.HTTPClient
	if client == nil {
		client = safenet.NewClient(safenet.Policy{}, 30*time.Second)
	}
	return &IntrospectionValidator{cfg: cfg, client: client, cache: make(map[[32]byte]introEntry)}, nil
}

type introResponse struct {
	Active   bool     `json:"active"`
	Scope    string   `json:"scope"`
	Sub      string   `json:"sub"`
	ClientID string   `json:"client_id"`
	Exp      *float64 `json:"exp"`
	Iss      string   `json:"iss"`
	Aud      any      `json:"aud"`
}

// Validate implements [Validator]. The principal has Subject = "sub" (or
// "client_id" when there is no sub), Scopes from "scope" and Method
// "introspection".
func (v *IntrospectionValidator) Validate(ctx context.Context, r *http.Request) (*Principal, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(tok))
	if e, hit := v.lookup(key); hit {
		if e.p == nil {
			return nil, invalid(e.reason)
		}
		return v.checked(e.p)
	}
	res, err := v.introspect(ctx, tok)
	if err != nil {
		return nil, err
	}
	now := v.cfg.Now()
	reject := func(reason string) (*Principal, error) {
		v.store(key, introEntry{reason: reason, expires: now.Add(IntrospectionNegativeTTL)})
		return nil, invalid(reason)
	}
	if !res.Active {
		return reject("token inactive")
	}
	until := now.Add(v.cfg.MaxCacheTTL)
	if res.Exp != nil {
		exp := time.Unix(int64(*res.Exp), 0)
		if !exp.After(now) {
			return reject("token expired")
		}
		if exp.Before(until) {
			until = exp
		}
	}
	if v.cfg.Issuer != "" && res.Iss != v.cfg.Issuer {
		return reject("token issuer mismatch")
	}
	if v.cfg.Audience != "" && !hasAudience(res.Aud, v.cfg.Audience) {
		return reject("token audience mismatch")
	}
	sub := res.Sub
	if sub == "" {
		sub = res.ClientID
	}
	p := &Principal{Subject: sub, Scopes: strings.Fields(res.Scope), Method: "introspection"}
	v.store(key, introEntry{p: p, expires: until})
	return v.checked(p)
}

// checked returns a copy of p, or a *ScopeError if it lacks required scopes.
func (v *IntrospectionValidator) checked(p *Principal) (*Principal, error) {
	if err := requireScopes(p, v.cfg.Scopes); err != nil {
		return nil, err
	}
	cp := *p
	cp.Scopes = append([]string(nil), p.Scopes...)
	return &cp, nil
}

// hasAudience reports whether aud, the "aud" member (a string or an array of
// strings), is or contains want.
func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

func (v *IntrospectionValidator) lookup(key [32]byte) (introEntry, bool) {
	if v.cfg.CacheSize < 0 {
		return introEntry{}, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.cache[key]
	if !ok {
		return introEntry{}, false
	}
	if !v.cfg.Now().Before(e.expires) {
		delete(v.cache, key)
		return introEntry{}, false
	}
	return e, true
}

func (v *IntrospectionValidator) store(key [32]byte, e introEntry) {
	if v.cfg.CacheSize < 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, exists := v.cache[key]; !exists && len(v.cache) >= v.cfg.CacheSize {
		now := v.cfg.Now()
		for k, e := range v.cache { // drop expired entries first
			if !now.Before(e.expires) {
				delete(v.cache, k)
			}
		}
		for k := range v.cache { // then arbitrary ones
			if len(v.cache) < v.cfg.CacheSize {
				break
			}
			delete(v.cache, k)
		}
	}
	v.cache[key] = e
}

func (v *IntrospectionValidator) introspect(ctx context.Context, tok string) (*introResponse, error) {
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: building introspection request failed", ErrValidatorUnavailable)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: form-urlencode the client id and secret.
	req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret.Reveal()))
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection request failed", ErrValidatorUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection endpoint returned http status %d", ErrValidatorUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionSize+1))
	if err != nil || len(body) > maxIntrospectionSize {
		return nil, fmt.Errorf("%w: reading introspection response failed", ErrValidatorUnavailable)
	}
	var res introResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("%w: malformed introspection response", ErrValidatorUnavailable)
	}
	return &res, nil
}

// Format prints the validator without its client secret.
func (v *IntrospectionValidator) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "auth.IntrospectionValidator{"+redacted+"}")
}

var _ Validator = (*IntrospectionValidator)(nil)
