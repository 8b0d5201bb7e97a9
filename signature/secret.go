package signature

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
)

// Minimum and generated secret sizes.
const (
	// MinSecretLen is the shortest secret accepted, in bytes.
	MinSecretLen = 16
	// GeneratedSecretLen is the size of secrets made by GenerateSecret and GenerateKey.
	GeneratedSecretLen = 32
)

// Errors about secrets and keys.
var (
	ErrEmptySecret    = errors.New("hookkit/signature: empty secret")
	ErrSecretTooShort = fmt.Errorf("hookkit/signature: secret shorter than %d bytes", MinSecretLen)
	ErrInvalidKey     = errors.New("hookkit/signature: invalid key")
	ErrTooManyKeys    = fmt.Errorf("hookkit/signature: more than %d keys", MaxKeys)
)

const redacted = "[REDACTED]"

// Secret is secret key material. It never prints: String, GoString, Format (every verb),
// MarshalJSON and LogValue all give "[REDACTED]". The zero Secret is empty.
type Secret struct {
	b []byte
}

// NewSecret copies b into a Secret. It refuses an empty secret (ErrEmptySecret) and one
// shorter than MinSecretLen bytes (ErrSecretTooShort).
func NewSecret(b []byte) (Secret, error) {
	switch {
	case len(b) == 0:
		return Secret{}, ErrEmptySecret
	case len(b) < MinSecretLen:
		return Secret{}, ErrSecretTooShort
	}
	return Secret{b: append([]byte(nil), b...)}, nil
}

// GenerateSecret returns GeneratedSecretLen random bytes from crypto/rand as a Secret.
func GenerateSecret() Secret {
	b := make([]byte, GeneratedSecretLen)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return Secret{b: b}
}

// Len returns the length of the secret in bytes.
func (s Secret) Len() int { return len(s.b) }

// String returns "[REDACTED]".
func (s Secret) String() string { return redacted }

// GoString returns "[REDACTED]", so %#v does not print the material either.
func (s Secret) GoString() string { return redacted }

// Format prints "[REDACTED]" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue makes log/slog print "[REDACTED]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
