package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateAPIKey(t *testing.T) {
	k1, d1, err := GenerateAPIKey("dsk_")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(k1, "dsk_"))
	assert.Len(t, k1, 4+43)
	assert.Equal(t, sha256.Sum256([]byte(k1)), d1)
	k2, _, err := GenerateAPIKey("dsk_")
	require.NoError(t, err)
	assert.NotEqual(t, k1, k2)
	_, err = BearerToken(reqWithAuth("Bearer " + k1))
	require.NoError(t, err)

	for _, bad := range []string{"a b", "x/", strings.Repeat("a", 33), "é"} {
		_, _, err := GenerateAPIKey(bad)
		require.Error(t, err, bad)
	}
	k3, _, err := GenerateAPIKey("")
	require.NoError(t, err)
	assert.Len(t, k3, 43)
}

// TestNewAPIKey: the ID is the first 8 hex digits of the digest, Prefix the key's
// prefix and 4 more characters.
func TestNewAPIKey(t *testing.T) {
	now := time.Unix(1700000000, 0)
	plain, k, err := NewAPIKey("dsk_", "acme", now)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256([]byte(plain)), k.Digest)
	assert.Equal(t, hex.EncodeToString(k.Digest[:4]), k.ID)
	assert.Equal(t, plain[:8], k.Prefix)
	assert.Equal(t, "acme", k.Name)
	assert.Equal(t, now, k.Created)
	assert.True(t, k.LastUsed.IsZero() && k.Revoked.IsZero())
	_, _, err = NewAPIKey("a b", "", now)
	require.Error(t, err)
}

// fakeClock is a settable clock for the validator's Now.
type fakeClock struct{ n atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.n.Store(time.Unix(1700000000, 0).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.n.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.n.Add(int64(d)) }

// countingStore wraps a store, counts its Touch calls and can make Lookup or Touch fail.
type countingStore struct {
	APIKeyStore
	touches    atomic.Int64
	lookupErr  error
	touchErr   error
	touchCtxOK atomic.Bool // the last Touch had a live context with a deadline
}

func (s *countingStore) Lookup(ctx context.Context, d [32]byte) (APIKey, error) {
	if s.lookupErr != nil {
		return APIKey{}, s.lookupErr
	}
	return s.APIKeyStore.Lookup(ctx, d)
}

func (s *countingStore) Touch(ctx context.Context, id string, at time.Time) error {
	s.touches.Add(1)
	_, hasDeadline := ctx.Deadline()
	s.touchCtxOK.Store(hasDeadline && ctx.Err() == nil)
	if s.touchErr != nil {
		return s.touchErr
	}
	return s.APIKeyStore.Touch(ctx, id, at)
}

func newTestValidator(t *testing.T, cfg APIKeyConfig) *APIKeyValidator {
	t.Helper()
	v, err := NewAPIKeyValidator(cfg)
	require.NoError(t, err)
	return v
}

func TestAPIKeyValidator(t *testing.T) {
	keys := NewMemoryAPIKeys()
	k1, key1, err := keys.Create(t.Context(), "dsk_", "one")
	require.NoError(t, err)
	k2, _, err := GenerateAPIKey("dsk_")
	require.NoError(t, err)
	v := newTestValidator(t, APIKeyConfig{Keys: keys})

	tests := []struct {
		name    string
		headers []string
		subject string
		wantErr error
	}{
		{"valid", []string{"Bearer " + k1}, "apikey:" + hex.EncodeToString(key1.Digest[:4]), nil},
		{"unknown key", []string{"Bearer " + k2}, "", ErrInvalidCredentials},
		{"absent", nil, "", ErrNoCredentials},
		{"malformed", []string{"Bearer"}, "", ErrInvalidCredentials},
		{"other scheme", []string{"Basic abc"}, "", ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Validate(t.Context(), reqWithAuth(tt.headers...))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.subject, p.Subject)
			assert.Equal(t, "apikey:"+key1.ID, p.Subject)
			assert.Len(t, p.Subject, len("apikey:")+8)
			assert.Equal(t, "bearer", p.Method)
		})
	}
}

// TestAPIKeyValidatorStaticDigests: NewMemoryAPIKeys(digests...) accepts exactly those
// keys, with the Subject "apikey:<first 8 hex digits of the digest>" as before stores.
func TestAPIKeyValidatorStaticDigests(t *testing.T) {
	k1, d1, _ := GenerateAPIKey("k_")
	k2, d2, _ := GenerateAPIKey("k_")
	k3, _, _ := GenerateAPIKey("k_")
	v := newTestValidator(t, APIKeyConfig{Keys: NewMemoryAPIKeys(d1, d2, d1)})
	for k, d := range map[string][32]byte{k1: d1, k2: d2} {
		p, err := v.Validate(t.Context(), reqWithAuth("Bearer "+k))
		require.NoError(t, err)
		assert.Equal(t, "apikey:"+hex.EncodeToString(d[:4]), p.Subject)
	}
	_, err := v.Validate(t.Context(), reqWithAuth("Bearer "+k3))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	_, err = newTestValidator(t, APIKeyConfig{Keys: NewMemoryAPIKeys()}).Validate(t.Context(), reqWithAuth("Bearer "+k1))
	require.ErrorIs(t, err, ErrInvalidCredentials)
}

// TestMemoryAPIKeysIDCollision: two digests with the same first 4 bytes get distinct IDs.
func TestMemoryAPIKeysIDCollision(t *testing.T) {
	a := sha256.Sum256([]byte("a"))
	b := a
	b[31] ^= 1
	m := NewMemoryAPIKeys(a, b)
	ka, err := m.Lookup(t.Context(), a)
	require.NoError(t, err)
	kb, err := m.Lookup(t.Context(), b)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(a[:4]), ka.ID)
	assert.Equal(t, hex.EncodeToString(b[:]), kb.ID)
	require.NoError(t, m.Revoke(t.Context(), kb.ID))
	_, err = m.Lookup(t.Context(), a)
	require.NoError(t, err, "revoking one leaves the other")
}

// TestAPIKeyValidatorRevokedAtNextRequest: a key revoked in the store while the validator
// runs is refused by the very next request; the other keys are not.
func TestAPIKeyValidatorRevokedAtNextRequest(t *testing.T) {
	keys := NewMemoryAPIKeys()
	old, oldKey, err := keys.Create(t.Context(), "dsk_", "old")
	require.NoError(t, err)
	cur, _, err := keys.Create(t.Context(), "dsk_", "new")
	require.NoError(t, err)
	v := newTestValidator(t, APIKeyConfig{Keys: keys})
	for range 3 {
		_, err := v.Validate(t.Context(), reqWithAuth("Bearer "+old))
		require.NoError(t, err)
	}
	require.NoError(t, keys.Revoke(t.Context(), oldKey.ID))
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+old))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+cur))
	require.NoError(t, err)
}

// TestAPIKeyValidatorTouchesOncePerInterval: 1,000 requests with one key, a second apart
// on the validator's clock, touch it once per minute (17 times: at 0, 60, ..., 960 s),
// each with the time of the request that fell due; 1,000 concurrent requests at one
// instant touch it once.
func TestAPIKeyValidatorTouchesOncePerInterval(t *testing.T) {
	keys := NewMemoryAPIKeys()
	plain, key, err := keys.Create(t.Context(), "dsk_", "")
	require.NoError(t, err)
	_, other, err := keys.Create(t.Context(), "dsk_", "")
	require.NoError(t, err)
	store := &countingStore{APIKeyStore: keys}
	clk := newFakeClock()
	start := clk.Now()
	v := newTestValidator(t, APIKeyConfig{Keys: store, Now: clk.Now})
	r := reqWithAuth("Bearer " + plain)

	for range 1000 {
		_, err := v.Validate(t.Context(), r)
		require.NoError(t, err)
		clk.Advance(time.Second)
	}
	assert.Equal(t, int64(17), store.touches.Load())
	k := memKey(t, keys, key.ID)
	assert.Equal(t, start.Add(960*time.Second), k.LastUsed, "LastUsed is the time of the last request that fell due")
	assert.True(t, memKey(t, keys, other.ID).LastUsed.IsZero(), "an unused key is never touched")

	t.Run("concurrent", func(t *testing.T) {
		store.touches.Store(0)
		clk.Advance(time.Hour)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 125 {
					_, err := v.Validate(context.Background(), r)
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), store.touches.Load())
	})

	t.Run("interval", func(t *testing.T) {
		store.touches.Store(0)
		v := newTestValidator(t, APIKeyConfig{Keys: store, Now: clk.Now, TouchInterval: 10 * time.Second})
		for range 100 {
			_, err := v.Validate(t.Context(), r)
			require.NoError(t, err)
			clk.Advance(time.Second)
		}
		assert.Equal(t, int64(10), store.touches.Load())
	})
}

// TestAPIKeyValidatorTouchSurvivesTheRequest: the Touch runs on a context with a deadline
// (TouchTimeout) that the request's cancellation does not cancel.
func TestAPIKeyValidatorTouchSurvivesTheRequest(t *testing.T) {
	keys := NewMemoryAPIKeys()
	plain, _, err := keys.Create(t.Context(), "dsk_", "")
	require.NoError(t, err)
	store := &countingStore{APIKeyStore: keys}
	v := newTestValidator(t, APIKeyConfig{Keys: store})
	ctx, cancel := context.WithCancel(t.Context())
	store.APIKeyStore = &cancelOnLookup{APIKeyStore: keys, cancel: cancel}
	_, err = v.Validate(ctx, reqWithAuth("Bearer "+plain))
	require.NoError(t, err)
	require.Error(t, ctx.Err(), "the request's context was cancelled before the Touch")
	assert.Equal(t, int64(1), store.touches.Load())
	assert.True(t, store.touchCtxOK.Load(), "Touch had a live context with a deadline")
}

// cancelOnLookup cancels the request's context once its Lookup has answered.
type cancelOnLookup struct {
	APIKeyStore
	cancel context.CancelFunc
}

func (s *cancelOnLookup) Lookup(ctx context.Context, d [32]byte) (APIKey, error) {
	k, err := s.APIKeyStore.Lookup(ctx, d)
	s.cancel()
	return k, err
}

// TestAPIKeyValidatorFailingTouch: a store whose Touch fails does not fail the request;
// the failure is logged with the key's ID and not the key, and retried an interval later.
func TestAPIKeyValidatorFailingTouch(t *testing.T) {
	keys := NewMemoryAPIKeys()
	plain, key, err := keys.Create(t.Context(), "dsk_", "")
	require.NoError(t, err)
	store := &countingStore{APIKeyStore: keys, touchErr: errors.New("store: connection refused")}
	var logs bytes.Buffer
	clk := newFakeClock()
	v := newTestValidator(t, APIKeyConfig{Keys: store, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 100 {
		p, err := v.Validate(t.Context(), reqWithAuth("Bearer "+plain))
		require.NoError(t, err)
		assert.Equal(t, "apikey:"+key.ID, p.Subject)
	}
	assert.Equal(t, int64(1), store.touches.Load(), "a failed Touch is not retried on every request")
	clk.Advance(time.Minute)
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+plain))
	require.NoError(t, err)
	assert.Equal(t, int64(2), store.touches.Load(), "the next Touch is due an interval later")
	assert.Contains(t, logs.String(), "recording api key use failed")
	assert.Contains(t, logs.String(), "key_id="+key.ID)
	assert.Contains(t, logs.String(), "connection refused")
	assert.NotContains(t, logs.String(), plain)
	assert.NotContains(t, logs.String(), plain[len("dsk_"):])

	// Without a logger the failure is silent, and still does not fail the request.
	v = newTestValidator(t, APIKeyConfig{Keys: store})
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+plain))
	require.NoError(t, err)
}

// TestAPIKeyValidatorStoreDown: a Lookup error other than ErrUnknownAPIKey is
// ErrValidatorUnavailable (503 through Challenge), not a refusal, and its text has
// neither the key nor the store's message; a cancelled request says so.
func TestAPIKeyValidatorStoreDown(t *testing.T) {
	keys := NewMemoryAPIKeys()
	plain, _, err := keys.Create(t.Context(), "dsk_", "")
	require.NoError(t, err)
	var logs bytes.Buffer
	store := &countingStore{APIKeyStore: keys, lookupErr: errors.New("dial tcp 127.0.0.1:5432: connection refused")}
	v := newTestValidator(t, APIKeyConfig{Keys: store, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+plain))
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	require.NotErrorIs(t, err, ErrInvalidCredentials)
	status, chal := Challenge(err)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Empty(t, chal)
	assert.NotContains(t, err.Error(), plain)
	assert.NotContains(t, err.Error(), "5432")
	assert.Equal(t, int64(0), store.touches.Load())
	assert.Contains(t, logs.String(), "connection refused", "the store's error is logged")
	assert.NotContains(t, logs.String(), plain)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	store.lookupErr = context.Canceled
	_, err = v.Validate(ctx, reqWithAuth("Bearer "+plain))
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	require.ErrorIs(t, err, context.Canceled)
}

// lyingStore answers every Lookup with its key, whatever the digest.
type lyingStore struct {
	APIKeyStore
	key APIKey
}

func (s lyingStore) Lookup(context.Context, [32]byte) (APIKey, error) { return s.key, nil }

// TestAPIKeyValidatorChecksTheStoresAnswer: a key the store returns is accepted only if
// its digest is the presented key's, it is not revoked and it has an ID.
func TestAPIKeyValidatorChecksTheStoresAnswer(t *testing.T) {
	plain, k, err := NewAPIKey("dsk_", "", time.Now())
	require.NoError(t, err)
	other, _, err := GenerateAPIKey("dsk_")
	require.NoError(t, err)
	keys := NewMemoryAPIKeys()
	v := newTestValidator(t, APIKeyConfig{Keys: lyingStore{keys, k}})
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+plain))
	require.NoError(t, err)
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+other))
	require.ErrorIs(t, err, ErrInvalidCredentials, "a store answering for another digest accepts nothing")

	revoked := k
	revoked.Revoked = time.Now()
	v = newTestValidator(t, APIKeyConfig{Keys: lyingStore{keys, revoked}})
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+plain))
	require.ErrorIs(t, err, ErrInvalidCredentials, "a revoked key the store returns is refused")

	noID := k
	noID.ID = ""
	v = newTestValidator(t, APIKeyConfig{Keys: lyingStore{keys, noID}})
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+plain))
	require.ErrorIs(t, err, ErrInvalidCredentials)
}

// TestAPIKeyConfigNumbers: Keys is required, negative durations are refused, zero ones
// are the defaults.
func TestAPIKeyConfigNumbers(t *testing.T) {
	keys := NewMemoryAPIKeys()
	for _, cfg := range []APIKeyConfig{
		{},
		{Keys: keys, TouchInterval: -1},
		{Keys: keys, TouchTimeout: -time.Second},
	} {
		_, err := NewAPIKeyValidator(cfg)
		require.ErrorIs(t, err, ErrInvalidAPIKeyConfig)
	}
	v := newTestValidator(t, APIKeyConfig{Keys: keys})
	assert.Equal(t, DefaultAPIKeyTouchInterval, v.touchInterval)
	assert.Equal(t, DefaultAPIKeyTouchTimeout, v.touchTimeout)
}

// TestAPIKeyValidatorConcurrentRevoke: requests racing with creations and revocations
// in the store (run with -race) see each key valid or refused, never an error of
// another kind.
func TestAPIKeyValidatorConcurrentRevoke(t *testing.T) {
	keys := NewMemoryAPIKeys()
	k1, key1, err := keys.Create(t.Context(), "k_", "")
	require.NoError(t, err)
	v := newTestValidator(t, APIKeyConfig{Keys: keys, TouchInterval: time.Nanosecond})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				if i == 0 {
					_, k, err := keys.Create(t.Context(), "k_", "")
					assert.NoError(t, err)
					if j == 50 {
						assert.NoError(t, keys.Revoke(t.Context(), key1.ID))
					}
					assert.NoError(t, keys.Revoke(t.Context(), k.ID))
					continue
				}
				_, err := v.Validate(t.Context(), reqWithAuth("Bearer "+k1))
				if err != nil {
					assert.ErrorIs(t, err, ErrInvalidCredentials)
				}
			}
		})
	}
	wg.Wait()
	_, err = v.Validate(t.Context(), reqWithAuth("Bearer "+k1))
	require.ErrorIs(t, err, ErrInvalidCredentials)
}

func memKey(t *testing.T, m *MemoryAPIKeys, id string) APIKey {
	t.Helper()
	ks, err := m.List(t.Context())
	require.NoError(t, err)
	for _, k := range ks {
		if k.ID == id {
			return k
		}
	}
	t.Fatalf("no key %s", id)
	return APIKey{}
}

// linearValidator is the validator before stores: the presented digest compared in
// constant time with every stored digest, kept to measure against (BenchmarkAPIKeyValidate).
type linearValidator struct{ digests [][32]byte }

func (v *linearValidator) Validate(_ context.Context, r *http.Request) (*Principal, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(tok))
	found, idx := 0, 0
	for i := range v.digests {
		eq := subtle.ConstantTimeCompare(sum[:], v.digests[i][:])
		idx = subtle.ConstantTimeSelect(eq&^found, i, idx)
		found |= eq
	}
	if found == 0 {
		return nil, ErrInvalidCredentials
	}
	d := v.digests[idx]
	return &Principal{Subject: "apikey:" + hex.EncodeToString(d[:4]), Method: "bearer"}, nil
}

// BenchmarkAPIKeyValidate validates one key (the middle one) among 10 and 100,000:
// "store" is APIKeyValidator on MemoryAPIKeys, "linear" the comparison with every
// digest that it replaced.
func BenchmarkAPIKeyValidate(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		digests := make([][32]byte, n)
		var key string
		for i := range n {
			k, d, err := GenerateAPIKey("dsk_")
			require.NoError(b, err)
			digests[i] = d
			if i == n/2 {
				key = k
			}
		}
		r := reqWithAuth("Bearer " + key)
		v, err := NewAPIKeyValidator(APIKeyConfig{Keys: NewMemoryAPIKeys(digests...)})
		require.NoError(b, err)
		for _, c := range []struct {
			name string
			v    Validator
		}{{"store", v}, {"linear", &linearValidator{digests}}} {
			b.Run(fmt.Sprintf("%s/keys=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.v.Validate(context.Background(), r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
