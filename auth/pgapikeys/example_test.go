package pgapikeys_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/auth/pgapikeys"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/receivertest"
)

// A receiver whose callers authenticate with API keys kept in Postgres, and the
// rotation of a customer's key: make the new key, see when the old one was last used,
// revoke it once nobody uses it. It needs a Postgres server (DATABASE_URL);
// TestExample runs the same steps.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	keys, err := pgapikeys.New(ctx, pool, pgapikeys.Config{}) // schema "hookkit"
	if err != nil {
		panic(err)
	}
	v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: keys})
	if err != nil {
		panic(err)
	}
	mw, err := receiver.New(receiver.Config{SkipSignature: true, Credentials: v})
	if err != nil {
		panic(err)
	}
	http.Handle("/hooks", mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))) // served by http.ListenAndServe

	// Rotation: the new key is shown once, to be given to the customer.
	plaintext, _, err := keys.Create(ctx, "dsk_", "acme (2025)")
	if err != nil {
		panic(err)
	}
	fmt.Println("give the customer", plaintext)

	// Who still uses the old key?
	list, err := keys.List(ctx)
	if err != nil {
		panic(err)
	}
	for _, k := range list {
		if k.Revoked.IsZero() {
			fmt.Printf("%s %s… %q last used %v\n", k.ID, k.Prefix, k.Name, k.LastUsed)
		}
	}
	// Once the old key's LastUsed stops moving: keys.Revoke(ctx, oldID).
}

// TestExample runs the steps of Example against the test server, with a request made
// with each key between them.
func TestExample(t *testing.T) {
	ctx := t.Context()
	keys := newStore(t)
	v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: keys})
	require.NoError(t, err)
	mw, err := receiver.New(receiver.Config{SkipSignature: true, Credentials: v})
	require.NoError(t, err)
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	ev, err := event.New("envelope-completed", map[string]string{"envelopeId": "env-1"})
	require.NoError(t, err)
	post := func(key string) int {
		r, err := receivertest.NewRequest(ctx, ev, receivertest.Options{Credentials: auth.Bearer(auth.NewPassword(key))})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}

	oldKey, old, err := keys.Create(ctx, "dsk_", "acme (2024)")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, post(oldKey))
	newKey, cur, err := keys.Create(ctx, "dsk_", "acme (2025)")
	require.NoError(t, err)

	list, err := keys.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, old.ID, list[0].ID)
	assert.False(t, list[0].LastUsed.IsZero(), "the old key was used")
	assert.Equal(t, cur.ID, list[1].ID)
	assert.True(t, list[1].LastUsed.IsZero(), "the new key was not used yet")

	assert.Equal(t, http.StatusNoContent, post(newKey))
	require.NoError(t, keys.Revoke(ctx, old.ID))
	assert.Equal(t, http.StatusUnauthorized, post(oldKey))
	assert.Equal(t, http.StatusNoContent, post(newKey))
}
