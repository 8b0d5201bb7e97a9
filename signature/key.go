package signature

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// MaxKeys is the most keys a KeySet holds (and a scheme signs with).
const MaxKeys = 100

// KeyKind is what a Key's material is, and so which of its capability methods work.
type KeyKind uint8

// The kinds of key.
const (
	// KindNone is the zero Key's kind: no material.
	KindNone KeyKind = iota
	// KindHMACSHA256 is a shared secret: AppendHMACSHA256 signs and verifies with it.
	KindHMACSHA256
	// KindEd25519Private is an Ed25519 private key: SignEd25519 and VerifyEd25519.
	KindEd25519Private
	// KindEd25519Public is an Ed25519 public key: VerifyEd25519 only.
	KindEd25519Public
)

// String names the kind: "none", "hmac-sha256", "ed25519-private" or "ed25519-public".
func (k KeyKind) String() string {
	switch k {
	case KindHMACSHA256:
		return "hmac-sha256"
	case KindEd25519Private:
		return "ed25519-private"
	case KindEd25519Public:
		return "ed25519-public"
	}
	return "none"
}

// material is shared by copies of a Key; it is never modified after construction.
type material struct {
	kind KeyKind
	// The key bytes are one pointer further away, so that fmt, printing a Key held in an
	// unexported field by reflection, shows an address (see Secret). Embedded, so that
	// m.secret, m.priv and m.pub read them.
	*keyBytes
	states sync.Pool // of *macState whose MAC is keyed with secret; Reset restores the keyed state
}

// keyBytes is the material proper of a key.
type keyBytes struct {
	secret []byte
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
}

// macState is a pooled keyed HMAC with scratch space, so that signing and verifying do
// not allocate per call.
type macState struct {
	h       hash.Hash
	sum     [32]byte
	scratch [128]byte
}

func (m *material) state() *macState {
	if st, ok := m.states.Get().(*macState); ok {
		return st
	}
	return &macState{h: hmac.New(sha256.New, m.secret)}
}

// mac returns a state holding in sum the HMAC of prefix, then "." when prefix is not
// empty, then body; prefix is streamed, never concatenated with body. Give the state back
// with release.
func (m *material) mac(prefix string, body []byte) *macState {
	st := m.state()
	if prefix != "" {
		writeString(st, prefix)
		writeString(st, ".")
	}
	st.h.Write(body)
	st.h.Sum(st.sum[:0])
	return st
}

func (m *material) release(st *macState) {
	st.h.Reset()
	m.states.Put(st)
}

// Key is one signing or verifying key: an HMAC-SHA256 secret, an Ed25519 private key
// (signs and verifies) or an Ed25519 public key (verifies only), with an optional id and
// validity window. A Key is a small value; copies share the (immutable) material. Like
// Secret, a Key never prints its material.
type Key struct {
	// ID labels the key in logs and errors. It is never the material.
	ID string
	// NotBefore is when the key becomes active; zero means immediately.
	NotBefore time.Time
	// Expires is when the key stops being active; zero means never.
	Expires time.Time

	m *material
}

// HMACKey returns an HMAC-SHA256 key with the given id and secret.
func HMACKey(id string, s Secret) Key {
	return Key{ID: id, m: &material{kind: KindHMACSHA256, keyBytes: &keyBytes{secret: s.bytes()}}}
}

// Ed25519PrivateKey returns a key that signs (and verifies) Standard Webhooks v1a
// signatures. priv must be a 64-byte ed25519 private key.
func Ed25519PrivateKey(id string, priv ed25519.PrivateKey) (Key, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Key{}, fmt.Errorf("%w: ed25519 private key must be %d bytes", ErrInvalidKey, ed25519.PrivateKeySize)
	}
	p := append(ed25519.PrivateKey(nil), priv...)
	return Key{ID: id, m: &material{kind: KindEd25519Private, keyBytes: &keyBytes{priv: p, pub: p.Public().(ed25519.PublicKey)}}}, nil
}

// Ed25519PublicKey returns a key that verifies Standard Webhooks v1a signatures.
func Ed25519PublicKey(id string, pub ed25519.PublicKey) (Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("%w: ed25519 public key must be %d bytes", ErrInvalidKey, ed25519.PublicKeySize)
	}
	return Key{ID: id, m: &material{kind: KindEd25519Public, keyBytes: &keyBytes{pub: append(ed25519.PublicKey(nil), pub...)}}}, nil
}

// Valid reports whether the key holds material (the zero Key does not).
func (k Key) Valid() bool { return k.m != nil && k.m.kind != KindNone }

// CanSign reports whether the key can produce signatures (HMAC or Ed25519 private).
func (k Key) CanSign() bool {
	return k.m != nil && (k.m.kind == KindHMACSHA256 || k.m.kind == KindEd25519Private)
}

// Public returns the verifying half of an Ed25519 private key, with the same id and
// window. For other keys it returns k itself.
func (k Key) Public() Key {
	if k.m == nil || k.m.kind != KindEd25519Private {
		return k
	}
	p := Key{ID: k.ID, NotBefore: k.NotBefore, Expires: k.Expires}
	p.m = &material{kind: KindEd25519Public, keyBytes: &keyBytes{pub: k.m.pub}}
	return p
}

// Active reports whether the key is valid at now: after NotBefore (if set) and before
// Expires (if set).
func (k Key) Active(now time.Time) bool {
	if !k.NotBefore.IsZero() && now.Before(k.NotBefore) {
		return false
	}
	return k.Expires.IsZero() || now.Before(k.Expires)
}

// Kind returns what the key's material is (KindNone for the zero Key).
func (k Key) Kind() KeyKind {
	if k.m == nil {
		return KindNone
	}
	return k.m.kind
}

func (k Key) kindName() string { return k.Kind().String() }

// AppendHMACSHA256 appends to dst the HMAC-SHA256 keyed with k's secret of parts written in
// order, as if they were concatenated (they are streamed into the MAC, never copied
// together), and returns the extended slice: 32 bytes longer. It is the capability a
// scheme outside this package signs and verifies with, so that the secret never leaves the
// Key; pass a buffer with room (a [32]byte's [:0]) and it does not allocate. Compare what
// it computes with a presented signature in constant time (crypto/hmac.Equal), never with
// bytes.Equal or ==. A key of another kind gets an error wrapping ErrInvalidKey.
func (k Key) AppendHMACSHA256(dst []byte, parts ...[]byte) ([]byte, error) {
	if k.Kind() != KindHMACSHA256 {
		return dst, fmt.Errorf("%w: %s is not an hmac-sha256 key", ErrInvalidKey, k.kindName())
	}
	st := k.m.state()
	for _, p := range parts {
		st.h.Write(p)
	}
	dst = st.h.Sum(dst)
	k.m.release(st)
	return dst, nil
}

// SignEd25519 returns the Ed25519 signature (ed25519.SignatureSize bytes) of msg made with
// k, which must be an Ed25519 private key; a key of another kind gets an error wrapping
// ErrInvalidKey. The private key never leaves the Key.
func (k Key) SignEd25519(msg []byte) ([]byte, error) {
	if k.Kind() != KindEd25519Private {
		return nil, fmt.Errorf("%w: %s is not an ed25519 private key", ErrInvalidKey, k.kindName())
	}
	return ed25519.Sign(k.m.priv, msg), nil
}

// VerifyEd25519 reports whether sig is a valid Ed25519 signature of msg by k (a private or
// a public Ed25519 key). It is false for any other kind of key.
func (k Key) VerifyEd25519(msg, sig []byte) bool {
	kind := k.Kind()
	if kind != KindEd25519Private && kind != KindEd25519Public {
		return false
	}
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.m.pub, msg, sig)
}

// String describes the key without its material, e.g. `key "2026-01" (hmac-sha256)`.
func (k Key) String() string { return fmt.Sprintf("key %q (%s)", k.ID, k.kindName()) }

// GoString is String, so %#v does not print the material.
func (k Key) GoString() string { return k.String() }

// Format prints String for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// keyJSON is the JSON form of a Key: its id and kind, never its material.
type keyJSON struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

// MarshalJSON gives the id and kind only, e.g. {"id":"2026-01","kind":"hmac-sha256"}. The
// id is encoded as encoding/json encodes any string (invalid UTF-8 becomes U+FFFD).
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(keyJSON{ID: k.ID, Kind: k.kindName()})
}

// LogValue gives the id and kind only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("kind", k.kindName()))
}

// ErrNoKeys is returned when there is no active key to sign or verify with. A scheme
// given no keys fails closed with it.
var ErrNoKeys = errors.New("hookkit/signature: no active keys")

type keyList struct {
	keys  []Key
	timed bool // some key has a validity window
}

// KeySet is a replaceable set of up to MaxKeys keys: senders sign with every active key,
// receivers accept a signature from any active key. It is safe for concurrent use, and
// Replace swaps the keys atomically at run time, so keys rotate without a restart. The
// zero KeySet is empty (and so fails closed).
type KeySet struct {
	p atomic.Pointer[keyList]
}

// NewKeySet returns a set holding keys. It refuses more than MaxKeys keys and invalid
// (zero) keys.
func NewKeySet(keys ...Key) (*KeySet, error) {
	ks := &KeySet{}
	if err := ks.Replace(keys...); err != nil {
		return nil, err
	}
	return ks, nil
}

// Replace atomically replaces the keys of the set. Requests in flight finish with the
// keys they started with.
func (ks *KeySet) Replace(keys ...Key) error {
	if len(keys) > MaxKeys {
		return ErrTooManyKeys
	}
	l := &keyList{keys: append([]Key(nil), keys...)}
	for i, k := range l.keys {
		if !k.Valid() {
			return fmt.Errorf("%w: key %d has no material", ErrInvalidKey, i)
		}
		if !k.NotBefore.IsZero() || !k.Expires.IsZero() {
			l.timed = true
		}
	}
	ks.p.Store(l)
	return nil
}

// Keys returns all keys of the set, active or not. Do not modify the returned slice.
func (ks *KeySet) Keys() []Key {
	if l := ks.p.Load(); l != nil {
		return l.keys
	}
	return nil
}

// Active returns the keys active at now. When no key has a validity window it returns
// the set's own slice without allocating; do not modify the returned slice.
func (ks *KeySet) Active(now time.Time) []Key {
	l := ks.p.Load()
	if l == nil {
		return nil
	}
	if !l.timed {
		return l.keys
	}
	out := make([]Key, 0, len(l.keys))
	for _, k := range l.keys {
		if k.Active(now) {
			out = append(out, k)
		}
	}
	return out
}

// Len returns the number of keys in the set, active or not.
func (ks *KeySet) Len() int { return len(ks.Keys()) }
