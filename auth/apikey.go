package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
)

// apiKeyBytes is the number of random bytes in a generated key (256 bits).
const apiKeyBytes = 32

// maxAPIKeyPrefix bounds the prefix accepted by GenerateAPIKey.
const maxAPIKeyPrefix = 32

// GenerateAPIKey returns a new API key: prefix followed by 256 random bits
// from crypto/rand in unpadded base64url (43 characters), and the SHA-256
// digest of the whole key, which is what a server should store. The prefix
// (for example "dsk_") may be empty and may contain only ASCII letters,
// digits and "-", "_", "." (at most 32 characters).
func GenerateAPIKey(prefix string) (plaintext string, digest [32]byte, err error) {
	if len(prefix) > maxAPIKeyPrefix {
		return "", digest, errors.New("hookkit/auth: api key prefix too long")
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return "", digest, errors.New("hookkit/auth: api key prefix has an invalid character")
		}
	}
	var b [apiKeyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", digest, errors.New("hookkit/auth: reading random bytes failed")
	}
	plaintext = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return plaintext, sha256.Sum256([]byte(plaintext)), nil
}

// APIKeyValidator accepts static API keys sent as bearer tokens in the
// Authorization header. It stores only SHA-256 digests, compares the digest
// of the presented token in constant time against every stored digest
// without exiting early, and is safe for concurrent use.
type APIKeyValidator struct {
	digests atomic.Pointer[[][32]byte]
}

// NewAPIKeyValidator returns a validator accepting keys whose SHA-256
// digests are given (see [GenerateAPIKey]). The principal's Subject is
// "apikey:" followed by the first 8 hex digits of the digest; Method is
// "bearer".
func NewAPIKeyValidator(digests ...[32]byte) *APIKeyValidator {
	v := &APIKeyValidator{}
	v.Replace(digests...)
	return v
}

// Replace atomically swaps the set of accepted digests, for key rotation.
func (v *APIKeyValidator) Replace(digests ...[32]byte) {
	d := slices.Clone(digests)
	v.digests.Store(&d)
}

// Validate implements [Validator].
func (v *APIKeyValidator) Validate(_ context.Context, r *http.Request) (*Principal, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(tok))
	var digests [][32]byte
	if p := v.digests.Load(); p != nil {
		digests = *p
	}
	found, idx := 0, 0
	for i := range digests {
		eq := subtle.ConstantTimeCompare(sum[:], digests[i][:])
		idx = subtle.ConstantTimeSelect(eq&^found, i, idx)
		found |= eq
	}
	if found == 0 {
		return nil, ErrInvalidCredentials
	}
	d := digests[idx]
	return &Principal{Subject: "apikey:" + hex.EncodeToString(d[:4]), Method: "bearer"}, nil
}

var _ Validator = (*APIKeyValidator)(nil)
