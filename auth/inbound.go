package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Principal is the authenticated caller of an inbound request.
type Principal struct {
	Subject string   // who: a user name, "apikey:<8 hex>", the JWT "sub", ...
	Scopes  []string // granted scopes, if the method has any
	Method  string   // "bearer", "basic", "jwt" or "introspection"
}

// HasScope reports whether s is among p's scopes. A nil Principal has none.
func (p *Principal) HasScope(s string) bool {
	if p == nil {
		return false
	}
	return slices.Contains(p.Scopes, s)
}

// Validator authenticates an inbound request. Errors wrap one of
// [ErrNoCredentials], [ErrInvalidCredentials], [ErrInsufficientScope] or
// [ErrValidatorUnavailable]; pass them to [Challenge] to build the response.
type Validator interface {
	Validate(ctx context.Context, r *http.Request) (*Principal, error)
}

var (
	// ErrNoCredentials means the request carried no credentials of the
	// kind the validator accepts.
	ErrNoCredentials = errors.New("hookkit/auth: no credentials")
	// ErrInvalidCredentials means the credentials were malformed, unknown,
	// expired or otherwise rejected.
	ErrInvalidCredentials = errors.New("hookkit/auth: invalid credentials")
	// ErrInsufficientScope means the credentials were valid but lack a
	// required scope. It is wrapped by *[ScopeError].
	ErrInsufficientScope = errors.New("hookkit/auth: insufficient scope")
	// ErrValidatorUnavailable means the validator could not decide, for
	// example because the JWKS or introspection endpoint is down.
	ErrValidatorUnavailable = errors.New("hookkit/auth: validator unavailable")
)

// ScopeError reports the scopes a request needed. It wraps
// [ErrInsufficientScope]; [Challenge] puts Required into the scope attribute.
type ScopeError struct {
	// Required are the scopes the request needed.
	Required []string
}

// Error lists the required scopes.
func (e *ScopeError) Error() string {
	return ErrInsufficientScope.Error() + ": requires " + strings.Join(e.Required, " ")
}

// Unwrap returns [ErrInsufficientScope].
func (e *ScopeError) Unwrap() error { return ErrInsufficientScope }

// BasicAuthError marks an error from a validator of HTTP Basic credentials;
// [Challenge] then answers with `Basic realm="hookkit"` instead of a Bearer
// challenge. Err is one of the sentinel errors.
type BasicAuthError struct {
	// Err is the sentinel error of the failure (ErrNoCredentials or
	// ErrInvalidCredentials, for example).
	Err error
}

// Error returns the message of the wrapped error.
func (e *BasicAuthError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *BasicAuthError) Unwrap() error { return e.Err }

// Realm is the realm used in WWW-Authenticate challenges.
const Realm = "hookkit"

// Challenge maps an error from [Validator.Validate] to an HTTP status and a
// WWW-Authenticate header value (RFC 6750 section 3, RFC 7617):
//
//   - ErrNoCredentials: 401, `Bearer realm="hookkit"`
//   - ErrInvalidCredentials: 401, `Bearer realm="hookkit", error="invalid_token"`
//   - ErrInsufficientScope: 403, `Bearer realm="hookkit", error="insufficient_scope"`,
//     plus `scope="..."` when the error is a *[ScopeError]
//   - ErrValidatorUnavailable: 503, ""
//   - any other non-nil error: 401 as for ErrInvalidCredentials
//
// If err wraps a *[BasicAuthError], the challenge is `Basic realm="hookkit"`
// for 401 and empty for 403. A nil error gives 200 and "".
func Challenge(err error) (status int, wwwAuthenticate string) {
	if err == nil {
		return http.StatusOK, ""
	}
	if errors.Is(err, ErrValidatorUnavailable) {
		return http.StatusServiceUnavailable, ""
	}
	var be *BasicAuthError
	if errors.As(err, &be) {
		if errors.Is(err, ErrInsufficientScope) {
			return http.StatusForbidden, ""
		}
		return http.StatusUnauthorized, `Basic realm="` + Realm + `"`
	}
	const bearer = `Bearer realm="` + Realm + `"`
	switch {
	case errors.Is(err, ErrNoCredentials):
		return http.StatusUnauthorized, bearer
	case errors.Is(err, ErrInsufficientScope):
		h := bearer + `, error="insufficient_scope"`
		var se *ScopeError
		if errors.As(err, &se) && len(se.Required) > 0 {
			h += `, scope="` + quoteSafe(strings.Join(se.Required, " ")) + `"`
		}
		return http.StatusForbidden, h
	default:
		return http.StatusUnauthorized, bearer + `, error="invalid_token"`
	}
}

// quoteSafe keeps only characters allowed in an RFC 6749 scope token and
// spaces, so the value can go into a quoted-string unescaped.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || (r >= 0x21 && r <= 0x7e && r != '"' && r != '\\') {
			return r
		}
		return -1
	}, s)
}

// AnyOf returns a Validator that tries vs in order and returns the first
// success. If all fail, it returns the most specific error, ranked
// ErrInsufficientScope > ErrValidatorUnavailable > ErrInvalidCredentials
// (and unknown errors) > ErrNoCredentials; among equals the first one wins.
// With no validators it returns ErrNoCredentials.
func AnyOf(vs ...Validator) Validator {
	return anyOf(slices.Clone(vs))
}

type anyOf []Validator

func (a anyOf) Validate(ctx context.Context, r *http.Request) (*Principal, error) {
	best, bestRank := error(ErrNoCredentials), 0
	for _, v := range a {
		p, err := v.Validate(ctx, r)
		if err == nil {
			return p, nil
		}
		if rk := errRank(err); rk > bestRank {
			best, bestRank = err, rk
		}
	}
	return nil, best
}

func errRank(err error) int {
	switch {
	case errors.Is(err, ErrInsufficientScope):
		return 4
	case errors.Is(err, ErrValidatorUnavailable):
		return 3
	case errors.Is(err, ErrNoCredentials):
		return 1
	default:
		return 2
	}
}

// maxTokenLen bounds accepted bearer tokens.
const maxTokenLen = 16 << 10

// BearerToken returns the token of an "Authorization: Bearer <token>" header
// (scheme case-insensitive, RFC 6750 section 2.1). Tokens are read only from
// the Authorization header. It returns [ErrNoCredentials] if there is no
// Authorization header or it uses another scheme, and [ErrInvalidCredentials]
// if the header is malformed (several headers, missing or ill-formed token).
func BearerToken(r *http.Request) (string, error) {
	if r == nil {
		return "", ErrNoCredentials
	}
	return parseBearer(r.Header.Values("Authorization"))
}

func parseBearer(vals []string) (string, error) {
	if len(vals) == 0 {
		return "", ErrNoCredentials
	}
	if len(vals) > 1 {
		return "", ErrInvalidCredentials
	}
	scheme, rest, ok := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "bearer") {
		if scheme != "" && isToken(scheme) {
			return "", ErrNoCredentials // another scheme, e.g. Basic
		}
		return "", ErrInvalidCredentials
	}
	if !ok {
		return "", ErrInvalidCredentials
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" || len(tok) > maxTokenLen || !isToken68(tok) {
		return "", ErrInvalidCredentials
	}
	return tok, nil
}

// isToken reports whether s is an RFC 9110 token (used for scheme names).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// isToken68 reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for i < len(s) && (isAlnum(s[i]) || strings.IndexByte("-._~+/", s[i]) >= 0) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// requireScopes returns a *ScopeError if p lacks any of required.
func requireScopes(p *Principal, required []string) error {
	for _, s := range required {
		if !p.HasScope(s) {
			return &ScopeError{Required: slices.Clone(required)}
		}
	}
	return nil
}
