package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

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

func TestAPIKeyValidator(t *testing.T) {
	k1, d1, err := GenerateAPIKey("dsk_")
	require.NoError(t, err)
	k2, d2, err := GenerateAPIKey("dsk_")
	require.NoError(t, err)
	v := NewAPIKeyValidator(d1)

	tests := []struct {
		name    string
		headers []string
		subject string
		wantErr error
	}{
		{"valid", []string{"Bearer " + k1}, "apikey:" + hex.EncodeToString(d1[:4]), nil},
		{"wrong key", []string{"Bearer " + k2}, "", ErrInvalidCredentials},
		{"absent", nil, "", ErrNoCredentials},
		{"malformed", []string{"Bearer"}, "", ErrInvalidCredentials},
		{"other scheme", []string{"Basic abc"}, "", ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Validate(context.Background(), reqWithAuth(tt.headers...))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.subject, p.Subject)
			assert.Len(t, p.Subject, len("apikey:")+8)
			assert.Equal(t, "bearer", p.Method)
		})
	}

	// Rotation: accept both, then only the new key.
	v.Replace(d1, d2)
	p, err := v.Validate(context.Background(), reqWithAuth("Bearer "+k2))
	require.NoError(t, err)
	assert.Equal(t, "apikey:"+hex.EncodeToString(d2[:4]), p.Subject)
	v.Replace(d2)
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+k1))
	require.ErrorIs(t, err, ErrInvalidCredentials)

	_, err = NewAPIKeyValidator().Validate(context.Background(), reqWithAuth("Bearer "+k1))
	require.ErrorIs(t, err, ErrInvalidCredentials)
}

func TestAPIKeyValidatorConcurrentReplace(t *testing.T) {
	k1, d1, _ := GenerateAPIKey("k_")
	_, d2, _ := GenerateAPIKey("k_")
	v := NewAPIKeyValidator(d1)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if i%2 == 0 {
					v.Replace(d1, d2)
				} else {
					_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+k1))
					assert.NoError(t, err)
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkAPIKeyValidator_Validate(b *testing.B) {
	var digests [][32]byte
	var key string
	for i := range 10 {
		k, d, err := GenerateAPIKey("dsk_")
		require.NoError(b, err)
		digests = append(digests, d)
		if i == 5 {
			key = k
		}
	}
	v := NewAPIKeyValidator(digests...)
	r := reqWithAuth("Bearer " + key)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
