package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func reqWithAuth(vals ...string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
	for _, v := range vals {
		r.Header.Add("Authorization", v)
	}
	return r
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr error
	}{
		{"absent", nil, "", ErrNoCredentials},
		{"ok", []string{"Bearer abc.def-ghi_~+/=="}, "abc.def-ghi_~+/==", nil},
		{"lower scheme", []string{"bearer abc"}, "abc", nil},
		{"upper scheme", []string{"BEARER abc"}, "abc", nil},
		{"extra spaces", []string{"Bearer   abc"}, "abc", nil},
		{"other scheme", []string{"Basic dTpw"}, "", ErrNoCredentials},
		{"empty header", []string{""}, "", ErrInvalidCredentials},
		{"scheme only", []string{"Bearer"}, "", ErrInvalidCredentials},
		{"empty token", []string{"Bearer "}, "", ErrInvalidCredentials},
		{"space in token", []string{"Bearer a b"}, "", ErrInvalidCredentials},
		{"bad char", []string{"Bearer a\"b"}, "", ErrInvalidCredentials},
		{"equals inside", []string{"Bearer a=b"}, "", ErrInvalidCredentials},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", ErrInvalidCredentials},
		{"junk", []string{" Bearer a"}, "", ErrInvalidCredentials},
		{"too long", []string{"Bearer " + strings.Repeat("a", maxTokenLen+1)}, "", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BearerToken(reqWithAuth(tt.headers...))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := BearerToken(nil)
	require.ErrorIs(t, err, ErrNoCredentials)
}

func FuzzBearerHeader(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer a.b.c", "Basic dTpw", "Bearer", "Bearer  x==", "Bearer a=b", "\x00", "Bearer \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := parseBearer([]string{h})
		if err != nil {
			if err != ErrNoCredentials && err != ErrInvalidCredentials {
				t.Fatalf("non-sentinel error %v", err)
			}
			if tok != "" {
				t.Fatalf("token with error")
			}
			return
		}
		if tok == "" || !isToken68(tok) || !strings.HasSuffix(h, tok) {
			t.Fatalf("bad token %q from %q", tok, h)
		}
	})
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		header string
	}{
		{"nil", nil, 200, ""},
		{"no credentials", ErrNoCredentials, 401, `Bearer realm="hookkit"`},
		{"invalid", ErrInvalidCredentials, 401, `Bearer realm="hookkit", error="invalid_token"`},
		{"wrapped invalid", fmt.Errorf("%w: x", ErrInvalidCredentials), 401, `Bearer realm="hookkit", error="invalid_token"`},
		{"scope bare", ErrInsufficientScope, 403, `Bearer realm="hookkit", error="insufficient_scope"`},
		{"scope typed", &ScopeError{Required: []string{"hooks:write", "a\"b"}}, 403, `Bearer realm="hookkit", error="insufficient_scope", scope="hooks:write ab"`},
		{"unavailable", fmt.Errorf("%w: down", ErrValidatorUnavailable), 503, ""},
		{"other", errors.New("boom"), 401, `Bearer realm="hookkit", error="invalid_token"`},
		{"basic none", &BasicAuthError{Err: ErrNoCredentials}, 401, `Basic realm="hookkit"`},
		{"basic invalid", &BasicAuthError{Err: ErrInvalidCredentials}, 401, `Basic realm="hookkit"`},
		{"basic unavailable", &BasicAuthError{Err: ErrValidatorUnavailable}, 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, h := Challenge(tt.err)
			assert.Equal(t, tt.status, st)
			assert.Equal(t, tt.header, h)
		})
	}
}

type fixedValidator struct {
	p   *Principal
	err error
}

func (f fixedValidator) Validate(context.Context, *http.Request) (*Principal, error) {
	return f.p, f.err
}

func TestAnyOf(t *testing.T) {
	ok := fixedValidator{p: &Principal{Subject: "s"}}
	none := fixedValidator{err: ErrNoCredentials}
	bad := fixedValidator{err: invalid("x")}
	down := fixedValidator{err: ErrValidatorUnavailable}
	scope := fixedValidator{err: &ScopeError{Required: []string{"a"}}}
	tests := []struct {
		name    string
		vs      []Validator
		wantErr error
	}{
		{"empty", nil, ErrNoCredentials},
		{"first ok", []Validator{ok, bad}, nil},
		{"later ok", []Validator{none, bad, ok}, nil},
		{"invalid beats none", []Validator{none, bad, none}, ErrInvalidCredentials},
		{"unavailable beats invalid", []Validator{bad, down}, ErrValidatorUnavailable},
		{"scope beats all", []Validator{down, scope, bad}, ErrInsufficientScope},
		{"all none", []Validator{none, none}, ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := AnyOf(tt.vs...).Validate(context.Background(), reqWithAuth())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, p)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "s", p.Subject)
		})
	}
}

func TestPrincipalHasScope(t *testing.T) {
	p := &Principal{Scopes: []string{"a", "b"}}
	assert.True(t, p.HasScope("a"))
	assert.False(t, p.HasScope("c"))
	var nilP *Principal
	assert.False(t, nilP.HasScope("a"))
}

func TestErrorMessagesPrefixed(t *testing.T) {
	for _, err := range []error{ErrNoCredentials, ErrInvalidCredentials, ErrInsufficientScope, ErrValidatorUnavailable, ErrInsecureTransport, ErrTokenUnavailable, &ScopeError{Required: []string{"x"}}, &TokenError{Code: "invalid_client"}} {
		assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
	}
}
