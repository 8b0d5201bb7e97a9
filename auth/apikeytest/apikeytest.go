// Package apikeytest checks implementations of auth.APIKeyStore, with the management
// methods hookkit's stores have, against their documented contract, as fstest checks an
// fs.FS: a store's own tests call Run with a function that makes an empty store.
//
//	func TestConformance(t *testing.T) {
//		apikeytest.Run(t, func(t *testing.T) apikeytest.Store {
//			return newEmptyStore(t) // cleaned up by t.Cleanup
//		})
//	}
//
// The suite uses the real clock for Created and Revoked, and allows a store to keep
// times to the microsecond (Precision), as Postgres does.
package apikeytest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
)

// Precision is how far a time a store returns may be from the one it was given: stores
// may keep microseconds only.
const Precision = time.Microsecond

// Store is an auth.APIKeyStore with the management methods of auth.MemoryAPIKeys and
// hookkit/auth/pgapikeys.Store.
type Store interface {
	auth.APIKeyStore
	// Create makes and adds a new key with that prefix (as auth.GenerateAPIKey takes)
	// and name; plaintext is the key, to be shown once.
	Create(ctx context.Context, prefix, name string) (plaintext string, key auth.APIKey, err error)
	// List returns every key, revoked ones included, by Created then ID.
	List(ctx context.Context) ([]auth.APIKey, error)
	// Revoke revokes the key id (a no-op for a revoked key); auth.ErrUnknownAPIKey for
	// an unknown id.
	Revoke(ctx context.Context, id string) error
}

// Run checks the store that newStore returns, one subtest per rule. newStore is called
// once per subtest, with the subtest's t, and must return an empty store.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("CreateThenLookup", func(t *testing.T) {
		s := newStore(t)
		before := time.Now()
		plain, k, err := s.Create(t.Context(), "dsk_", "acme")
		after := time.Now()
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(plain, "dsk_"), "the key starts with its prefix")
		assert.Len(t, plain, len("dsk_")+43, "prefix and 256 bits in base64url")
		assert.Equal(t, sha256.Sum256([]byte(plain)), k.Digest, "Digest is the SHA-256 of the key")
		assert.NotEmpty(t, k.ID)
		assert.Equal(t, "acme", k.Name)
		assert.Equal(t, plain[:len("dsk_")+4], k.Prefix, "Prefix: the key's prefix and 4 more characters")
		within(t, k.Created, before, after, "Created")
		assert.True(t, k.LastUsed.IsZero(), "a new key was never used")
		assert.True(t, k.Revoked.IsZero(), "a new key is valid")

		got, err := s.Lookup(t.Context(), sha256.Sum256([]byte(plain)))
		require.NoError(t, err)
		sameKey(t, k, got)

		plain2, k2, err := s.Create(t.Context(), "", "")
		require.NoError(t, err)
		assert.Len(t, plain2, 43)
		assert.NotEqual(t, k.ID, k2.ID)
		assert.Len(t, k2.Prefix, 4)
		got, err = s.Lookup(t.Context(), k2.Digest)
		require.NoError(t, err)
		sameKey(t, k2, got)
	})

	t.Run("CreateRefusesABadPrefix", func(t *testing.T) {
		s := newStore(t)
		for _, bad := range []string{"a b", "x/", strings.Repeat("a", 33)} {
			_, _, err := s.Create(t.Context(), bad, "n")
			require.Error(t, err, "prefix %q", bad)
		}
		ks, err := s.List(t.Context())
		require.NoError(t, err)
		assert.Empty(t, ks, "a refused Create adds nothing")
	})

	t.Run("LookupUnknown", func(t *testing.T) {
		s := newStore(t)
		_, _, err := s.Create(t.Context(), "k_", "")
		require.NoError(t, err)
		var d [32]byte
		_, _ = rand.Read(d[:])
		_, err = s.Lookup(t.Context(), d)
		require.ErrorIs(t, err, auth.ErrUnknownAPIKey)
		_, err = s.Lookup(t.Context(), [32]byte{})
		require.ErrorIs(t, err, auth.ErrUnknownAPIKey)
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		ks, err := s.List(t.Context())
		require.NoError(t, err)
		assert.Empty(t, ks)
		var made []auth.APIKey
		for i := range 5 {
			_, k, err := s.Create(t.Context(), "k_", fmt.Sprint("key ", i))
			require.NoError(t, err)
			made = append(made, k)
		}
		ks, err = s.List(t.Context())
		require.NoError(t, err)
		require.Len(t, ks, len(made))
		for i := 1; i < len(ks); i++ {
			a, b := ks[i-1], ks[i]
			assert.True(t, a.Created.Before(b.Created) || a.Created.Equal(b.Created) && a.ID < b.ID,
				"List is ordered by Created then ID: %s (%v) before %s (%v)", a.ID, a.Created, b.ID, b.Created)
		}
		byID := map[string]auth.APIKey{}
		for _, k := range ks {
			byID[k.ID] = k
		}
		for _, k := range made {
			got, ok := byID[k.ID]
			if assert.True(t, ok, "List has key %s", k.ID) {
				sameKey(t, k, got)
			}
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		s := newStore(t)
		p1, k1, err := s.Create(t.Context(), "k_", "old")
		require.NoError(t, err)
		_, k2, err := s.Create(t.Context(), "k_", "new")
		require.NoError(t, err)
		before := time.Now()
		require.NoError(t, s.Revoke(t.Context(), k1.ID))
		after := time.Now()

		_, err = s.Lookup(t.Context(), sha256.Sum256([]byte(p1)))
		require.ErrorIs(t, err, auth.ErrUnknownAPIKey, "a revoked key is not found at the next Lookup")
		got, err := s.Lookup(t.Context(), k2.Digest)
		require.NoError(t, err, "the other key stays valid")
		assert.True(t, got.Revoked.IsZero())

		revoked := listed(t, s, k1.ID)
		within(t, revoked.Revoked, before, after, "Revoked")
		assert.Equal(t, "old", revoked.Name, "List still shows a revoked key")

		require.NoError(t, s.Revoke(t.Context(), k1.ID), "revoking twice is not an error")
		again := listed(t, s, k1.ID)
		assert.True(t, again.Revoked.Equal(revoked.Revoked), "revoking twice keeps the first time: %v, %v", revoked.Revoked, again.Revoked)
		_, err = s.Lookup(t.Context(), k1.Digest)
		require.ErrorIs(t, err, auth.ErrUnknownAPIKey)

		require.ErrorIs(t, s.Revoke(t.Context(), "no-such-id"), auth.ErrUnknownAPIKey)
		require.ErrorIs(t, s.Revoke(t.Context(), ""), auth.ErrUnknownAPIKey)
	})

	t.Run("Touch", func(t *testing.T) {
		s := newStore(t)
		_, k, err := s.Create(t.Context(), "k_", "")
		require.NoError(t, err)
		_, other, err := s.Create(t.Context(), "k_", "")
		require.NoError(t, err)
		t1 := time.Now().Add(time.Hour)
		require.NoError(t, s.Touch(t.Context(), k.ID, t1))
		got, err := s.Lookup(t.Context(), k.Digest)
		require.NoError(t, err)
		assert.WithinDuration(t, t1, got.LastUsed, Precision, "Lookup shows LastUsed")
		assert.WithinDuration(t, t1, listed(t, s, k.ID).LastUsed, Precision, "List shows LastUsed")
		assert.True(t, listed(t, s, other.ID).LastUsed.IsZero(), "touching a key leaves the others alone")

		require.NoError(t, s.Touch(t.Context(), k.ID, t1.Add(-time.Minute)))
		assert.WithinDuration(t, t1, listed(t, s, k.ID).LastUsed, Precision, "LastUsed never moves back")
		t2 := t1.Add(time.Minute)
		require.NoError(t, s.Touch(t.Context(), k.ID, t2))
		assert.WithinDuration(t, t2, listed(t, s, k.ID).LastUsed, Precision, "a later Touch moves LastUsed on")

		require.NoError(t, s.Touch(t.Context(), "no-such-id", t2), "touching an unknown id is not an error")
		ks, err := s.List(t.Context())
		require.NoError(t, err)
		assert.Len(t, ks, 2, "touching an unknown id adds nothing")
	})

	t.Run("ManyKeys", func(t *testing.T) {
		s := newStore(t)
		const n = 300
		plains := make([]string, n)
		ids := map[string]bool{}
		for i := range n {
			var k auth.APIKey
			var err error
			plains[i], k, err = s.Create(t.Context(), "k_", fmt.Sprint(i))
			require.NoError(t, err)
			require.False(t, ids[k.ID], "IDs are unique: %s twice", k.ID)
			ids[k.ID] = true
		}
		for i, p := range plains {
			got, err := s.Lookup(t.Context(), sha256.Sum256([]byte(p)))
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), got.Name, "Lookup finds the key of this digest")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const workers, each = 8, 20
		var mu sync.Mutex
		ids := map[string]bool{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					p, k, err := s.Create(t.Context(), "k_", fmt.Sprint(w, "/", i))
					if !assert.NoError(t, err) {
						return
					}
					got, err := s.Lookup(t.Context(), sha256.Sum256([]byte(p)))
					if assert.NoError(t, err) {
						assert.Equal(t, k.ID, got.ID)
					}
					assert.NoError(t, s.Touch(t.Context(), k.ID, time.Now()))
					if i%4 == 0 {
						assert.NoError(t, s.Revoke(t.Context(), k.ID))
					}
					mu.Lock()
					assert.False(t, ids[k.ID], "IDs are unique: %s twice", k.ID)
					ids[k.ID] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		ks, err := s.List(t.Context())
		require.NoError(t, err)
		assert.Len(t, ks, workers*each)
		revoked := 0
		for _, k := range ks {
			assert.False(t, k.LastUsed.IsZero(), "key %s was touched", k.ID)
			if !k.Revoked.IsZero() {
				revoked++
			}
		}
		assert.Equal(t, workers*each/4, revoked)
	})
}

// listed returns the key id from s.List.
func listed(t *testing.T, s Store, id string) auth.APIKey {
	t.Helper()
	ks, err := s.List(t.Context())
	require.NoError(t, err)
	for _, k := range ks {
		if k.ID == id {
			return k
		}
	}
	require.Failf(t, "key not listed", "List has no key %s", id)
	return auth.APIKey{}
}

// sameKey asserts that got is want as a store returns it: times within Precision.
func sameKey(t *testing.T, want, got auth.APIKey) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.Digest, got.Digest)
	assert.Equal(t, want.Prefix, got.Prefix)
	sameTime(t, want.Created, got.Created, "Created")
	sameTime(t, want.LastUsed, got.LastUsed, "LastUsed")
	sameTime(t, want.Revoked, got.Revoked, "Revoked")
}

func sameTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	if want.IsZero() || got.IsZero() {
		assert.Equal(t, want.IsZero(), got.IsZero(), "%s: %v, want %v", what, got, want)
		return
	}
	assert.WithinDuration(t, want, got, Precision, what)
}

// within asserts that before - Precision <= got <= after.
func within(t *testing.T, got, before, after time.Time, what string) {
	t.Helper()
	assert.False(t, got.Before(before.Add(-Precision)) || got.After(after), "%s %v is not between %v and %v", what, got, before, after)
}
