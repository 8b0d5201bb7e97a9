package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const introClientID = "rs:client"

type introServer struct {
	*httptest.Server
	hits atomic.Int32
	exp  atomic.Int64
}

func newIntroServer(t *testing.T) *introServer {
	s := &introServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		id, secret, ok := r.BasicAuth()
		uid, _ := url.QueryUnescape(id)
		usec, _ := url.QueryUnescape(secret)
		if !ok || uid != introClientID || usec != testSecret || r.Method != http.MethodPost ||
			r.Header.Get("Accept") != "application/json" || r.PostFormValue("token_type_hint") != "access_token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.PostFormValue("token") {
		case "good":
			resp := map[string]any{"active": true, "scope": "hooks:write hooks:read", "sub": "user-1", "client_id": "c1", "iss": "i", "aud": []string{"a"}}
			if e := s.exp.Load(); e != 0 {
				resp["exp"] = e
			}
			_ = json.NewEncoder(w).Encode(resp)
		case "noscope":
			_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "client_id": "c2"})
		case "broken":
			_, _ = w.Write([]byte("{"))
		case "error":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			_, _ = w.Write([]byte(`{"active":false}`))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func newIntro(t *testing.T, s *introServer, clk *clock, scopes ...string) *IntrospectionValidator {
	v, err := NewIntrospectionValidator(IntrospectionConfig{
		URL: s.URL, AllowHTTP: true, ClientID: introClientID, ClientSecret: NewPassword(testSecret),
		Scopes: scopes, HTTPClient: s.Client(), Now: clk.Now,
	})
	require.NoError(t, err)
	return v
}

func TestIntrospectionValidator(t *testing.T) {
	s := newIntroServer(t)
	clk := &clock{t: time.Now()}
	v := newIntro(t, s, clk, "hooks:write")
	tests := []struct {
		name    string
		token   string
		subject string
		wantErr error
	}{
		{"active", "good", "user-1", nil},
		{"inactive", "revoked", "", ErrInvalidCredentials},
		{"missing scope", "noscope", "", ErrInsufficientScope},
		{"malformed response", "broken", "", ErrValidatorUnavailable},
		{"server error", "error", "", ErrValidatorUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tt.token))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.NotContains(t, fmt.Sprintf("%+v", err), testSecret)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.subject, p.Subject)
			assert.Equal(t, "introspection", p.Method)
			assert.Equal(t, []string{"hooks:write", "hooks:read"}, p.Scopes)
		})
	}
	_, err := v.Validate(context.Background(), reqWithAuth())
	require.ErrorIs(t, err, ErrNoCredentials)
}

func TestIntrospectionCache(t *testing.T) {
	s := newIntroServer(t)
	clk := &clock{t: time.Now()}
	v := newIntro(t, s, clk)
	ctx := context.Background()

	for range 2 {
		p, err := v.Validate(ctx, reqWithAuth("Bearer good"))
		require.NoError(t, err)
		p.Scopes[0] = "mutated" // callers cannot corrupt the cache
	}
	assert.EqualValues(t, 1, s.hits.Load())
	p, err := v.Validate(ctx, reqWithAuth("Bearer good"))
	require.NoError(t, err)
	assert.Equal(t, "hooks:write", p.Scopes[0])

	// Negative results are cached briefly.
	for range 2 {
		_, err := v.Validate(ctx, reqWithAuth("Bearer bad"))
		require.ErrorIs(t, err, ErrInvalidCredentials)
	}
	assert.EqualValues(t, 2, s.hits.Load())
	clk.Add(IntrospectionNegativeTTL + time.Second)
	_, err = v.Validate(ctx, reqWithAuth("Bearer bad"))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	assert.EqualValues(t, 3, s.hits.Load())

	// Positive results expire after MaxCacheTTL.
	clk.Add(DefaultIntrospectionMaxCacheTTL)
	_, err = v.Validate(ctx, reqWithAuth("Bearer good"))
	require.NoError(t, err)
	assert.EqualValues(t, 4, s.hits.Load())
}

func TestIntrospectionCacheHonoursExp(t *testing.T) {
	s := newIntroServer(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s.exp.Store(clk.Now().Add(30 * time.Second).Unix())
	v := newIntro(t, s, clk)
	ctx := context.Background()
	_, err := v.Validate(ctx, reqWithAuth("Bearer good"))
	require.NoError(t, err)
	clk.Add(31 * time.Second)
	// Cached entry expired with the token; the server now reports exp in the past.
	_, err = v.Validate(ctx, reqWithAuth("Bearer good"))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	assert.EqualValues(t, 2, s.hits.Load())
}

func TestIntrospectionCacheBounded(t *testing.T) {
	s := newIntroServer(t)
	clk := &clock{t: time.Now()}
	v, err := NewIntrospectionValidator(IntrospectionConfig{URL: s.URL, AllowHTTP: true, ClientID: introClientID, ClientSecret: NewPassword(testSecret), HTTPClient: s.Client(), Now: clk.Now, CacheSize: 3})
	require.NoError(t, err)
	for i := range 10 {
		_, err := v.Validate(context.Background(), reqWithAuth(fmt.Sprintf("Bearer t%d", i)))
		require.ErrorIs(t, err, ErrInvalidCredentials)
		v.mu.Lock()
		assert.LessOrEqual(t, len(v.cache), 3)
		v.mu.Unlock()
	}
}

func TestIntrospectionServerDown(t *testing.T) {
	s := newIntroServer(t)
	clk := &clock{t: time.Now()}
	v := newIntro(t, s, clk)
	s.Close()
	_, err := v.Validate(context.Background(), reqWithAuth("Bearer good"))
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	st, h := Challenge(err)
	assert.Equal(t, http.StatusServiceUnavailable, st)
	assert.Empty(t, h)
}

func TestIntrospectionDefaultClientRefusesLoopback(t *testing.T) {
	s := newIntroServer(t)
	v, err := NewIntrospectionValidator(IntrospectionConfig{URL: s.URL, AllowHTTP: true, ClientID: introClientID, ClientSecret: NewPassword(testSecret)})
	require.NoError(t, err)
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer good"))
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	assert.EqualValues(t, 0, s.hits.Load())
}

func TestNewIntrospectionValidatorConfig(t *testing.T) {
	for _, c := range []IntrospectionConfig{
		{URL: "", ClientID: "c"},
		{URL: "https://x/i"},
		{URL: "https://x/i", ClientID: "c", MaxCacheTTL: -1},
	} {
		_, err := NewIntrospectionValidator(c)
		require.Error(t, err)
		assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
	}
}
