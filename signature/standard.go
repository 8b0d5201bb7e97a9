package signature

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (canonical form) and secret prefixes.
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
	headerSvixID           = "Svix-Id"
	headerSvixTimestamp    = "Svix-Timestamp"
	headerSvixSignature    = "Svix-Signature"

	// PrefixSecret starts a Standard Webhooks symmetric secret: whsec_ + base64.
	PrefixSecret = "whsec_"
	// PrefixPrivateKey starts a Standard Webhooks ed25519 private key: whsk_ + base64.
	PrefixPrivateKey = "whsk_"
	// PrefixPublicKey starts a Standard Webhooks ed25519 public key: whpk_ + base64.
	PrefixPublicKey = "whpk_"

	maxIDLen = 256
)

// MaxV1aSignatures is the most ed25519 (v1a) signatures the standard scheme verifies in one
// delivery. Each costs a full ed25519 verification per ed25519 key, so Verify, when it is
// given ed25519 keys, accepts at most min(number of those keys + 2, MaxV1aSignatures) v1a
// entries in the signature header — one per key the sender may sign with, plus two for a
// rotation the receiver has not caught up with — and refuses a header with more with
// ErrMismatch before verifying any of them, whatever else it carries: a stuffed header costs
// a string scan, and the worst header within the limit costs limit × keys verifications.
// Without ed25519 keys, v1a entries are skipped unverified and not limited beyond
// MaxSignatures. v1 (HMAC) entries need one MAC per key whatever
// their number and are limited only by MaxSignatures and MaxHeaderLen.
const MaxV1aSignatures = 10

type standard struct{}

// Standard returns the Standard Webhooks v1 scheme: headers webhook-id, webhook-timestamp
// and webhook-signature ("v1,<base64> v1a,<base64> …"), signed content
// "id.timestamp.body", HMAC-SHA256 keys as whsec_ secrets and ed25519 keys as whsk_ /
// whpk_ keys (signature version v1a, at most MaxV1aSignatures of them are verified).
//
// Verify also reads the svix-* header names (svix-id, svix-timestamp, svix-signature), but
// only when the request has no webhook-signature header: as soon as webhook-signature is
// present, the three webhook-* headers alone are used and every svix-* header is ignored,
// even one that would verify. The two sets are never mixed.
func Standard() Scheme { return standard{} }

func (standard) Name() string { return "standard" }

// decodeB64 accepts padded and unpadded standard base64.
func decodeB64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func (standard) ParseKey(id, text string) (Key, error) {
	switch {
	case strings.HasPrefix(text, PrefixPrivateKey):
		b, err := decodeB64(text[len(PrefixPrivateKey):])
		if err != nil {
			return Key{}, fmt.Errorf("%w: whsk_ key is not base64", ErrInvalidKey)
		}
		switch len(b) {
		case ed25519.SeedSize:
			return Ed25519PrivateKey(id, ed25519.NewKeyFromSeed(b))
		case ed25519.PrivateKeySize:
			priv := ed25519.PrivateKey(b)
			if !priv.Public().(ed25519.PublicKey).Equal(ed25519.NewKeyFromSeed(b[:ed25519.SeedSize]).Public()) {
				return Key{}, fmt.Errorf("%w: whsk_ key's public half does not match its seed", ErrInvalidKey)
			}
			return Ed25519PrivateKey(id, priv)
		}
		return Key{}, fmt.Errorf("%w: whsk_ key must hold %d or %d bytes", ErrInvalidKey, ed25519.SeedSize, ed25519.PrivateKeySize)
	case strings.HasPrefix(text, PrefixPublicKey):
		b, err := decodeB64(text[len(PrefixPublicKey):])
		if err != nil {
			return Key{}, fmt.Errorf("%w: whpk_ key is not base64", ErrInvalidKey)
		}
		return Ed25519PublicKey(id, b)
	}
	b, err := decodeB64(strings.TrimPrefix(text, PrefixSecret))
	if err != nil {
		return Key{}, fmt.Errorf("%w: whsec_ secret is not base64", ErrInvalidKey)
	}
	s, err := NewSecret(b)
	if err != nil {
		return Key{}, err
	}
	return HMACKey(id, s), nil
}

func (standard) GenerateKey(id string) (Key, string, error) {
	s := GenerateSecret()
	return HMACKey(id, s), PrefixSecret + base64.StdEncoding.EncodeToString(s.b), nil
}

// GenerateEd25519Key returns a new Standard Webhooks v1a key pair: the private key (which
// signs) with its whsk_ text form, and the whpk_ text form of its public key.
func GenerateEd25519Key(id string) (priv Key, privText, pubText string, err error) {
	pub, p, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, "", "", err
	}
	k, err := Ed25519PrivateKey(id, p)
	if err != nil {
		return Key{}, "", "", err
	}
	return k, PrefixPrivateKey + base64.StdEncoding.EncodeToString(p), PrefixPublicKey + base64.StdEncoding.EncodeToString(pub), nil
}

// validMsgID reports whether id can be signed: non-empty, bounded, printable, no '.'.
func validMsgID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '.' {
			return false
		}
	}
	return true
}

func (standard) Sign(h http.Header, m Message, keys []Key) error {
	if !validMsgID(m.ID) {
		return fmt.Errorf("%w: webhook id must be 1 to %d printable bytes without '.'", ErrMalformedHeader, maxIDLen)
	}
	if activeSigners(keys) == 0 {
		return ErrNoKeys
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	var tsBuf [20]byte
	tsText := strconv.AppendInt(tsBuf[:0], ts.Unix(), 10)
	// One string holds the timestamp followed by the signatures.
	var sig strings.Builder
	sig.Grow(len(tsText) + len(keys)*48)
	sig.Write(tsText)
	for _, k := range keys {
		if !k.CanSign() {
			continue
		}
		if sig.Len() > len(tsText) {
			sig.WriteByte(' ')
		}
		switch k.m.kind {
		case KindHMACSHA256:
			st := k.m.state()
			writeString(st, m.ID)
			writeString(st, ".")
			st.h.Write(tsText)
			writeString(st, ".")
			st.h.Write(m.Body)
			st.h.Sum(st.sum[:0])
			var enc [44]byte
			base64.StdEncoding.Encode(enc[:], st.sum[:])
			k.m.release(st)
			sig.WriteString("v1,")
			sig.Write(enc[:])
		case KindEd25519Private:
			content := make([]byte, 0, len(m.ID)+len(tsText)+2+len(m.Body))
			content = append(append(append(append(append(content, m.ID...), '.'), tsText...), '.'), m.Body...)
			var enc [88]byte
			base64.StdEncoding.Encode(enc[:], ed25519.Sign(k.m.priv, content))
			sig.WriteString("v1a,")
			sig.Write(enc[:])
		}
	}
	all := sig.String()
	// One backing array for the three header values.
	vals := []string{m.ID, all[:len(tsText)], all[len(tsText):]}
	h[HeaderWebhookID] = vals[0:1:1]
	h[HeaderWebhookTimestamp] = vals[1:2:2]
	h[HeaderWebhookSignature] = vals[2:3:3]
	return nil
}

// parseUnix parses a decimal unix timestamp: digits only (no sign, no '.'), at most 12.
func parseUnix(s string) (time.Time, bool) {
	if s == "" || len(s) > 12 {
		return time.Time{}, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	return time.Unix(n, 0), true
}

// single returns the only value of a header, or ok=false when it is absent or repeated.
func single(h http.Header, name string) (string, bool) {
	v := h[name]
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

func (standard) Verify(h http.Header, body []byte, keys []Key, opts VerifyOptions) (Meta, error) {
	if len(keys) == 0 {
		return Meta{}, ErrNoKeys
	}
	idName, tsName, sigName, ok := headerNames(h)
	if !ok {
		return Meta{}, ErrNoSignature
	}
	id, ok := single(h, idName)
	if !ok || !validMsgID(id) {
		return Meta{}, fmt.Errorf("%w: missing or invalid %s", ErrMalformedHeader, strings.ToLower(idName))
	}
	tsText, ok := single(h, tsName)
	if !ok {
		return Meta{}, fmt.Errorf("%w: missing %s", ErrMalformedHeader, strings.ToLower(tsName))
	}
	ts, ok := parseUnix(tsText)
	if !ok {
		return Meta{}, fmt.Errorf("%w: %s is not a unix time in seconds", ErrMalformedHeader, strings.ToLower(tsName))
	}
	sigs := h[sigName]
	total, count := 0, 0
	for _, v := range sigs {
		total += len(v)
		count += strings.Count(v, " ") + 1
	}
	if total > MaxHeaderLen || count > MaxSignatures {
		return Meta{}, fmt.Errorf("%w: more than %d bytes or %d signatures", ErrMalformedHeader, MaxHeaderLen, MaxSignatures)
	}

	if edKeys := ed25519Keys(keys); edKeys > 0 {
		if n, limit := countEntries(sigs, "v1a,"), min(edKeys+2, MaxV1aSignatures); n > limit {
			return Meta{}, fmt.Errorf("%w: %d v1a signatures, at most %d are verified", ErrMismatch, n, limit)
		}
	}

	matched := -1
	var content []byte // id.ts.body, built only for ed25519 keys
	for i, k := range keys {
		if !k.Valid() {
			continue
		}
		switch k.m.kind {
		case KindHMACSHA256:
			st := k.m.state()
			writeString(st, id)
			writeString(st, ".")
			writeString(st, tsText)
			writeString(st, ".")
			st.h.Write(body)
			st.h.Sum(st.sum[:0])
			var want [44]byte
			base64.StdEncoding.Encode(want[:], st.sum[:])
			if anySignature(st, sigs, "v1,", want[:]) && matched < 0 {
				matched = i
			}
			k.m.release(st)
		case KindEd25519Private, KindEd25519Public:
			if matched >= 0 {
				// Public keys and signatures only: stopping early leaks nothing secret.
				continue
			}
			if content == nil {
				content = make([]byte, 0, len(id)+len(tsText)+2+len(body))
				content = append(append(append(append(append(content, id...), '.'), tsText...), '.'), body...)
			}
			if verifyEd25519(k.m.pub, sigs, content) && matched < 0 {
				matched = i
			}
		}
	}
	if matched < 0 {
		return Meta{}, ErrMismatch
	}
	meta := Meta{ID: id, Timestamp: ts, KeyID: keys[matched].ID}
	if err := opts.CheckTimestamp(ts); err != nil {
		return meta, err
	}
	return meta, nil
}

// headerNames returns the names of the id, timestamp and signature headers Verify reads:
// the webhook-* names whenever a webhook-signature header is present (svix-* headers are
// then ignored, even valid ones), else the svix-* names when svix-signature is present,
// else ok=false. The two sets are never mixed.
func headerNames(h http.Header) (idName, tsName, sigName string, ok bool) {
	if _, ok := h[HeaderWebhookSignature]; ok {
		return HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature, true
	}
	if _, ok := h[headerSvixSignature]; ok {
		return headerSvixID, headerSvixTimestamp, headerSvixSignature, true
	}
	return "", "", "", false
}

// ed25519Keys counts the keys that verify v1a signatures.
func ed25519Keys(keys []Key) int {
	n := 0
	for _, k := range keys {
		if k.Valid() && (k.m.kind == KindEd25519Private || k.m.kind == KindEd25519Public) {
			n++
		}
	}
	return n
}

// countEntries counts the space-separated entries of version prefix (e.g. "v1a,") in the
// header values, well-formed or not.
func countEntries(values []string, prefix string) int {
	n := 0
	for _, v := range values {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, " ")
			if strings.HasPrefix(tok, prefix) {
				n++
			}
		}
	}
	return n
}

// anySignature compares want with every signature of version prefix (e.g. "v1,") in the
// space-separated header values, in constant time each, without stopping at a match.
func anySignature(st *macState, values []string, prefix string, want []byte) bool {
	found := 0
	for _, v := range values {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, " ")
			if sig, ok := strings.CutPrefix(tok, prefix); ok && equalString(st, sig, want) {
				found = 1
			}
		}
	}
	return found == 1
}

func verifyEd25519(pub []byte, values []string, content []byte) bool {
	for _, v := range values {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, " ")
			sig, ok := strings.CutPrefix(tok, "v1a,")
			if !ok || len(sig) != 88 {
				continue
			}
			var raw [66]byte
			n, err := base64.StdEncoding.Decode(raw[:], []byte(sig))
			if err == nil && n == ed25519.SignatureSize && ed25519.Verify(pub, content, raw[:n]) {
				return true
			}
		}
	}
	return false
}
