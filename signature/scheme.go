package signature

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultTolerance is how far a signed timestamp may be from the verifier's clock, in
// either direction, when VerifyOptions.Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// Limits on what Verify parses, so a hostile header costs little.
const (
	// MaxHeaderLen is the longest signature header value accepted, in bytes.
	MaxHeaderLen = 16 << 10
	// MaxSignatures is the most signatures accepted in one delivery.
	MaxSignatures = 2 * MaxKeys
)

// Verification errors. Every error Verify returns wraps one of them.
var (
	// ErrNoSignature: the request carries none of the scheme's signature headers.
	ErrNoSignature = errors.New("hookkit/signature: no signature")
	// ErrMalformedHeader: a signature, id or timestamp header cannot be parsed.
	ErrMalformedHeader = errors.New("hookkit/signature: malformed signature header")
	// ErrMismatch: no presented signature matches any active key.
	ErrMismatch = errors.New("hookkit/signature: signature mismatch")
	// ErrTimestamp: the signature is valid but its timestamp is outside the tolerance.
	ErrTimestamp = errors.New("hookkit/signature: timestamp outside tolerance")
	// ErrUnknownScheme: SchemeByName was given a name it does not know.
	ErrUnknownScheme = errors.New("hookkit/signature: unknown scheme")
)

// Message is what a sender signs: the delivery id, the signing time and the exact body.
// Schemes that have no id or timestamp (docusign, github) ignore them.
type Message struct {
	// ID is the delivery (event) id; the standard scheme requires it and refuses a '.'.
	ID string
	// Timestamp is the signing time; zero means time.Now(). Only whole seconds are signed.
	Timestamp time.Time
	// Body is the exact request body.
	Body []byte
}

// Meta is what a verified request's headers said. Fields are zero when the scheme does
// not carry them (docusign and github have neither; stripe has no id).
type Meta struct {
	// ID is the signed delivery id (webhook-id for standard); "" when the scheme has none.
	ID string
	// Timestamp is the signed time; zero when the scheme has none.
	Timestamp time.Time
	// KeyID is the ID of the key whose signature matched.
	KeyID string
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Now is the verifier's clock; nil means time.Now.
	Now func() time.Time
	// Tolerance is the largest accepted distance between the signed timestamp and Now,
	// in the past or the future. Zero means DefaultTolerance; negative disables the check.
	Tolerance time.Duration
}

// CheckTimestamp checks a signed timestamp against the options: nil when it is within
// Tolerance of Now (either direction) or Tolerance is negative, else an error wrapping
// ErrTimestamp. Schemes call it after the signature has matched, so a scheme written
// outside this package applies the receiver's tolerance as the built-in ones do.
func (o VerifyOptions) CheckTimestamp(ts time.Time) error {
	tol := o.Tolerance
	if tol < 0 {
		return nil
	}
	if tol == 0 {
		tol = DefaultTolerance
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	d := now.Sub(ts)
	if d > tol || d < -tol {
		return fmt.Errorf("%w: %s off by %s", ErrTimestamp, ts.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	return nil
}

// Scheme is one wire format of webhook signatures. Four are built in (Standard, DocuSign,
// GitHub, Stripe); senders (sender.Endpoint.Scheme) and receivers (receiver.Config.Scheme)
// take any Scheme, so a format hookkit does not ship is written outside this package.
//
// Scheme is open to implementation, not sealed, and an implementation never sees key
// material: it builds keys with NewSecret and HMACKey (or Ed25519PrivateKey and
// Ed25519PublicKey) and uses the Key's capabilities, which compute with the material
// inside the Key: AppendHMACSHA256 over the parts of the signed content written in order,
// SignEd25519 and VerifyEd25519. Kind says which of them a key has. An implementation
// must keep the contract the built-in schemes keep:
//
//   - Sign signs with every key of keys that it can use (skipping the others) and
//     returns ErrNoKeys when there is none.
//   - Verify returns ErrNoKeys for empty keys; computes one signature per usable key and
//     compares it with every presented one in constant time (crypto/hmac.Equal), without
//     stopping at the first match; bounds what it parses (MaxHeaderLen, MaxSignatures);
//     wraps ErrNoSignature, ErrMalformedHeader or ErrMismatch; checks the timestamp, where
//     the format has one, with opts.CheckTimestamp only after a signature has matched; and
//     returns Meta with the matching key's ID (and the signed id and timestamp, if any).
//   - Errors never contain key material or presented signatures.
//
// examples/slack-scheme implements Slack's signing this way and plugs it into a receiver.
type Scheme interface {
	// Name is the scheme's name: "standard", "docusign", "github" or "stripe" for the
	// built-in ones, lower-case.
	Name() string
	// ParseKey reads a secret in the text form the scheme's system shows its users.
	ParseKey(id, text string) (Key, error)
	// GenerateKey makes a new random key (32 random bytes) and returns it with its text form.
	GenerateKey(id string) (Key, string, error)
	// Sign sets the scheme's headers on h for m, one signature per key that can sign.
	// It fails with ErrNoKeys when no key can sign.
	Sign(h http.Header, m Message, keys []Key) error
	// Verify checks the headers against body with every key: one MAC per key, compared in
	// constant time with every presented signature, then the timestamp tolerance where the
	// scheme has a timestamp. It fails with ErrNoKeys when keys is empty.
	Verify(h http.Header, body []byte, keys []Key, opts VerifyOptions) (Meta, error)
}

// SchemeByName returns the scheme with the given name ("standard", "docusign", "github"
// or "stripe") with default header names.
func SchemeByName(name string) (Scheme, error) {
	switch strings.ToLower(name) {
	case "standard", "":
		return Standard(), nil
	case "docusign":
		return DocuSign(""), nil
	case "github":
		return GitHub(""), nil
	case "stripe":
		return Stripe(), nil
	}
	return nil, fmt.Errorf("%w %q (want standard, docusign, github or stripe)", ErrUnknownScheme, name)
}

// SchemeNames lists the names SchemeByName accepts.
func SchemeNames() []string { return []string{"standard", "docusign", "github", "stripe"} }

// writeString writes s to st.h through the scratch buffer (hash.Hash takes []byte).
func writeString(st *macState, s string) {
	for len(s) > 0 {
		n := copy(st.scratch[:], s)
		st.h.Write(st.scratch[:n])
		s = s[n:]
	}
}

// equalString compares a presented signature (as text) with want (bytes or text) in constant
// time for equal lengths.
func equalString(st *macState, presented string, want []byte) bool {
	if len(presented) != len(want) || len(presented) > len(st.scratch) {
		return false
	}
	n := copy(st.scratch[:], presented)
	return subtle.ConstantTimeCompare(st.scratch[:n], want) == 1
}

func activeSigners(keys []Key) int {
	n := 0
	for _, k := range keys {
		if k.CanSign() {
			n++
		}
	}
	return n
}

// rawStringKey returns an HMAC key whose secret is the bytes of text, after the
// length checks of NewSecret.
func rawStringKey(id, text string) (Key, error) {
	s, err := NewSecret([]byte(text))
	if err != nil {
		return Key{}, err
	}
	return HMACKey(id, s), nil
}
