package auth

import (
	"cmp"
	"context"
	"encoding/hex"
	"slices"
	"sync"
	"time"
)

// MemoryAPIKeys is an [APIKeyStore] in memory: a map by digest (Lookup is O(1)) and one
// by ID. Revocations take effect at once. It is safe for concurrent use; its keys are
// lost with the process, so it suits a fixed set of keys from the configuration, tests,
// and single processes.
type MemoryAPIKeys struct {
	mu       sync.RWMutex
	byDigest map[[32]byte]*APIKey
	byID     map[string]*APIKey
}

var _ APIKeyStore = (*MemoryAPIKeys)(nil)

// NewMemoryAPIKeys returns a store holding the keys with these SHA-256 digests (see
// [GenerateAPIKey]), each with the ID made of the first 8 hex digits of its digest (all
// 64 for a digest whose first 8 an earlier one has); no name, prefix or Created. A
// digest given twice is one key.
func NewMemoryAPIKeys(digests ...[32]byte) *MemoryAPIKeys {
	m := &MemoryAPIKeys{byDigest: make(map[[32]byte]*APIKey, len(digests)), byID: make(map[string]*APIKey, len(digests))}
	for _, d := range digests {
		if _, dup := m.byDigest[d]; dup {
			continue
		}
		k := &APIKey{ID: apiKeyID(d), Digest: d}
		if _, taken := m.byID[k.ID]; taken {
			k.ID = hex.EncodeToString(d[:])
		}
		m.byDigest[d] = k
		m.byID[k.ID] = k
	}
	return m
}

// Create makes a new key named name, with the given prefix (as [GenerateAPIKey]
// accepts), and adds it. plaintext is the key, to be shown once: the store keeps only
// its digest.
func (m *MemoryAPIKeys) Create(_ context.Context, prefix, name string) (plaintext string, key APIKey, err error) {
	for {
		plaintext, key, err = NewAPIKey(prefix, name, time.Now())
		if err != nil {
			return "", APIKey{}, err
		}
		m.mu.Lock()
		_, idTaken := m.byID[key.ID]
		_, digestTaken := m.byDigest[key.Digest]
		if !idTaken && !digestTaken {
			k := key
			m.byDigest[k.Digest] = &k
			m.byID[k.ID] = &k
			m.mu.Unlock()
			return plaintext, key, nil
		}
		m.mu.Unlock() // one chance in 2^32 per key held: make another
	}
}

// List returns every key, revoked ones included, by Created then ID.
func (m *MemoryAPIKeys) List(_ context.Context) ([]APIKey, error) {
	m.mu.RLock()
	out := make([]APIKey, 0, len(m.byID))
	for _, k := range m.byID {
		out = append(out, *k)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b APIKey) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Revoke revokes the key id: Lookup refuses it from now on, and List shows when it was
// revoked. Revoking a revoked key changes nothing. It returns [ErrUnknownAPIKey] for an
// unknown id.
func (m *MemoryAPIKeys) Revoke(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.byID[id]
	if !ok {
		return ErrUnknownAPIKey
	}
	if k.Revoked.IsZero() {
		k.Revoked = time.Now()
	}
	return nil
}

// Lookup implements [APIKeyStore].
func (m *MemoryAPIKeys) Lookup(_ context.Context, digest [32]byte) (APIKey, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.byDigest[digest]
	if !ok || !k.Revoked.IsZero() {
		return APIKey{}, ErrUnknownAPIKey
	}
	return *k, nil
}

// Touch implements [APIKeyStore].
func (m *MemoryAPIKeys) Touch(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.byID[id]; ok && k.LastUsed.Before(at) {
		k.LastUsed = at
	}
	return nil
}
