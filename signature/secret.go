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
	// ErrEmptySecret: NewSecret was given no bytes.
	ErrEmptySecret = errors.New("hookkit/signature: empty secret")
	// ErrSecretTooShort: NewSecret was given fewer than MinSecretLen bytes.
	ErrSecretTooShort = fmt.Errorf("hookkit/signature: secret shorter than %d bytes", MinSecretLen)
	// ErrInvalidKey: key material that cannot be used, or a Key capability asked of a key
	// of another kind.
	ErrInvalidKey = errors.New("hookkit/signature: invalid key")
	// ErrTooManyKeys: a KeySet was given more than MaxKeys keys.
	ErrTooManyKeys = fmt.Errorf("hookkit/signature: more than %d keys", MaxKeys)
)

const redacted = "[REDACTED]"

// Secret is secret key material. It never prints: String, GoString, Format (every verb),
// MarshalJSON and LogValue all give "[REDACTED]", so a Secret passed to fmt, log/slog or
// encoding/json, or held in an exported field of a struct they print, shows the redaction.
// In an unexported field (or an interface held in one) fmt cannot call those methods and
// prints the fields by reflection instead; the material still does not appear there, in
// any verb, because it sits two pointers away and fmt prints the second as an address
// (e.g. {s:{_:[] secretBox:0xc000010018}}). Code that follows pointers by reflection or
// unsafe (debuggers, heap dumps, go-spew and so the diffs of failed testify assertions)
// can reach the bytes: keep Secrets out of values handed to such tools. The zero Secret
// is empty. Secrets are not comparable with ==.
type Secret struct {
	_ [0]func() // not comparable, as when the material was a []byte field
	*secretBox
}

// secretBox is the first pointer between a Secret and its material. fmt expands one
// pointer at the top level, and for a verb that is wrong for a pointer (%s) it prints the
// pointer as if it were at the top level; a second pointer keeps the bytes out of reach.
// Both are embedded so that s.b reads the material; use bytes where s may be zero.
type secretBox struct{ *secretBytes }

// secretBytes holds a Secret's material; it is never modified after construction.
type secretBytes struct{ b []byte }

func newSecret(b []byte) Secret { return Secret{secretBox: &secretBox{&secretBytes{b: b}}} }

// bytes returns the material, nil for the zero Secret.
func (s Secret) bytes() []byte {
	if s.secretBox == nil || s.secretBytes == nil {
		return nil
	}
	return s.b
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
	return newSecret(append([]byte(nil), b...)), nil
}

// GenerateSecret returns GeneratedSecretLen random bytes from crypto/rand as a Secret.
func GenerateSecret() Secret {
	b := make([]byte, GeneratedSecretLen)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return newSecret(b)
}

// Len returns the length of the secret in bytes.
func (s Secret) Len() int { return len(s.bytes()) }

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
