package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/receivertest"
)

// switchableStore is MemoryAPIKeys whose Lookup can be made to fail, as a store that is
// down.
type switchableStore struct {
	*auth.MemoryAPIKeys
	down bool
}

func (s *switchableStore) Lookup(ctx context.Context, d [32]byte) (auth.APIKey, error) {
	if s.down {
		return auth.APIKey{}, errors.New("dial tcp 127.0.0.1:5432: connection refused")
	}
	return s.MemoryAPIKeys.Lookup(ctx, d)
}

// TestAPIKeyValidatorInReceiver: behind receiver.New (credentials only), a valid key is
// handled (204), an unknown and a just revoked key are 401 with a Bearer challenge, and
// a store that is down is 503 (ReasonAuthUnavailable), not 401: the sender retries.
// No response body carries the key.
func TestAPIKeyValidatorInReceiver(t *testing.T) {
	keys := &switchableStore{MemoryAPIKeys: auth.NewMemoryAPIKeys()}
	good, goodKey, err := keys.Create(t.Context(), "dsk_", "acme")
	require.NoError(t, err)
	unknown, _, err := auth.GenerateAPIKey("dsk_")
	require.NoError(t, err)
	v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: keys})
	require.NoError(t, err)
	mw, err := receiver.New(receiver.Config{SkipSignature: true, Credentials: v})
	require.NoError(t, err)
	var subject string
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := receiver.PrincipalFrom(r.Context()); ok {
			subject = p.Subject
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	ev, err := event.New("envelope-completed", map[string]string{"envelopeId": "env-1"})
	require.NoError(t, err)
	serve := func(token string) *httptest.ResponseRecorder {
		req, err := receivertest.NewRequest(t.Context(), ev, receivertest.Options{Credentials: auth.Bearer(auth.NewPassword(token))})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.NotContains(t, rec.Body.String(), token)
		return rec
	}

	rec := serve(good)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Equal(t, "apikey:"+goodKey.ID, subject)

	rec = serve(unknown)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")

	keys.down = true
	rec = serve(good)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), string(receiver.ReasonAuthUnavailable))
	assert.NotContains(t, rec.Body.String(), "5432")
	keys.down = false

	require.NoError(t, keys.Revoke(t.Context(), goodKey.ID))
	rec = serve(good)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}
