package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const introIssuer = "https://as.example"

// newClaimsIntroServer answers every token as active, with the iss and aud
// members the token names.
func newClaimsIntroServer(t *testing.T, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	claims := map[string]map[string]any{
		"both":           {"iss": introIssuer, "aud": []string{"other", "hookkit"}},
		"aud-string":     {"iss": introIssuer, "aud": "hookkit"},
		"wrong-iss":      {"iss": "https://evil.example", "aud": "hookkit"},
		"iss-slash":      {"iss": introIssuer + "/", "aud": "hookkit"},
		"wrong-aud":      {"iss": introIssuer, "aud": []string{"other"}},
		"aud-not-string": {"iss": introIssuer, "aud": []any{7, true}},
		"no-iss":         {"aud": "hookkit"},
		"no-aud":         {"iss": introIssuer},
		"none":           {},
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		resp := map[string]any{"active": true, "sub": "svc"}
		for k, v := range claims[r.PostFormValue("token")] {
			resp[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestIntrospectionChecksIssuerAndAudience(t *testing.T) {
	var hits atomic.Int32
	s := newClaimsIntroServer(t, &hits)
	newV := func(t *testing.T, issuer, audience string) *IntrospectionValidator {
		v, err := NewIntrospectionValidator(IntrospectionConfig{
			URL: s.URL, AllowHTTP: true, ClientID: "rs", HTTPClient: s.Client(),
			Issuer: issuer, Audience: audience, Now: (&clock{t: time.Now()}).Now,
		})
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		token                  string
		both, issOnly, audOnly string // "" accepted, else the reason's text
	}{
		{"both", "", "", ""},
		{"aud-string", "", "", ""},
		{"wrong-iss", "issuer", "issuer", ""},
		{"iss-slash", "issuer", "issuer", ""},
		{"wrong-aud", "audience", "", "audience"},
		{"aud-not-string", "audience", "", "audience"},
		{"no-iss", "issuer", "issuer", ""},
		{"no-aud", "audience", "", "audience"},
		{"none", "issuer", "issuer", "audience"},
	}
	validators := map[string]*IntrospectionValidator{
		"both": newV(t, introIssuer, "hookkit"), "issOnly": newV(t, introIssuer, ""), "audOnly": newV(t, "", "hookkit"),
	}
	unchecked := newV(t, "", "")
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			for name, want := range map[string]string{"both": tt.both, "issOnly": tt.issOnly, "audOnly": tt.audOnly} {
				for i := range 2 { // fresh, then from the cache
					p, err := validators[name].Validate(context.Background(), reqWithAuth("Bearer "+tt.token))
					if want == "" {
						require.NoError(t, err, "%s attempt %d", name, i)
						assert.Equal(t, "svc", p.Subject)
						continue
					}
					require.ErrorIs(t, err, ErrInvalidCredentials, "%s attempt %d", name, i)
					assert.Nil(t, p)
					assert.Contains(t, err.Error(), want+" mismatch", name)
					st, _ := Challenge(err)
					assert.Equal(t, http.StatusUnauthorized, st)
				}
			}
			_, err := unchecked.Validate(context.Background(), reqWithAuth("Bearer "+tt.token))
			assert.NoError(t, err, "nothing configured: nothing checked")
		})
	}
	assert.EqualValues(t, 4*len(tests), hits.Load(), "results, rejections included, are cached")
}
