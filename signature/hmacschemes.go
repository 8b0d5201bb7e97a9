package signature

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// DefaultDocuSignPrefix is the header prefix of the docusign scheme; the headers are the
// prefix followed by 1, 2, … one per key.
const DefaultDocuSignPrefix = "X-DocuSign-Signature-"

// DefaultGitHubHeader is the signature header of the github scheme.
const DefaultGitHubHeader = "X-Hub-Signature-256"

// HeaderStripeSignature is the signature header of the stripe scheme.
const HeaderStripeSignature = "Stripe-Signature"

type docusign struct{ prefix string }

// DocuSign returns the indexed scheme of DocuSign Connect: one header per key, prefix+"1"
// … prefix+"N", each the base64 HMAC-SHA256 of the raw body, with the key string's bytes
// used as given. prefix "" means DefaultDocuSignPrefix; any "X-…-Signature-" prefix makes
// the same scheme serve other systems that sign this way.
func DocuSign(prefix string) Scheme {
	if prefix == "" {
		prefix = DefaultDocuSignPrefix
	}
	return docusign{prefix: textproto.CanonicalMIMEHeaderKey(prefix)}
}

func (docusign) Name() string { return "docusign" }

func (docusign) ParseKey(id, text string) (Key, error) { return rawStringKey(id, text) }

func (docusign) GenerateKey(id string) (Key, string, error) {
	text := base64.StdEncoding.EncodeToString(GenerateSecret().b)
	k, err := rawStringKey(id, text)
	return k, text, err
}

func (d docusign) Sign(h http.Header, m Message, keys []Key) error {
	n := 0
	for _, k := range keys {
		if k.m == nil || k.m.kind != KindHMACSHA256 {
			continue
		}
		st := k.m.mac("", m.Body)
		n++
		h[d.prefix+strconv.Itoa(n)] = []string{base64.StdEncoding.EncodeToString(st.sum[:])}
		k.m.release(st)
	}
	if n == 0 {
		return ErrNoKeys
	}
	return nil
}

// indexed reports whether name is prefix followed by a positive decimal number without
// leading zeros (at most 6 digits).
func indexed(name, prefix string) bool {
	if len(name) <= len(prefix) || len(name) > len(prefix)+6 || !strings.EqualFold(name[:len(prefix)], prefix) {
		return false
	}
	num := name[len(prefix):]
	if num[0] == '0' {
		return false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return false
		}
	}
	return true
}

func (d docusign) Verify(h http.Header, body []byte, keys []Key, _ VerifyOptions) (Meta, error) {
	if len(keys) == 0 {
		return Meta{}, ErrNoKeys
	}
	present, total := 0, 0
	for name, vs := range h {
		if indexed(name, d.prefix) {
			present += len(vs)
			for _, v := range vs {
				total += len(v)
			}
		}
	}
	if present == 0 {
		return Meta{}, ErrNoSignature
	}
	if present > MaxSignatures || total > MaxHeaderLen {
		return Meta{}, fmt.Errorf("%w: more than %d signatures or %d bytes", ErrMalformedHeader, MaxSignatures, MaxHeaderLen)
	}
	matched := -1
	for i, k := range keys {
		if k.m == nil || k.m.kind != KindHMACSHA256 {
			continue
		}
		st := k.m.mac("", body)
		var want [44]byte
		base64.StdEncoding.Encode(want[:], st.sum[:])
		found := 0
		for name, vs := range h {
			if !indexed(name, d.prefix) {
				continue
			}
			for _, v := range vs {
				if equalString(st, strings.TrimSpace(v), want[:]) {
					found = 1
				}
			}
		}
		k.m.release(st)
		if found == 1 && matched < 0 {
			matched = i
		}
	}
	if matched < 0 {
		return Meta{}, ErrMismatch
	}
	return Meta{KeyID: keys[matched].ID}, nil
}

type github struct{ header string }

// GitHub returns GitHub's scheme: header X-Hub-Signature-256 "sha256=<hex>", the
// HMAC-SHA256 of the raw body with the secret string's bytes. header "" means
// DefaultGitHubHeader. With several keys, Sign adds one header value per key.
func GitHub(header string) Scheme {
	if header == "" {
		header = DefaultGitHubHeader
	}
	return github{header: textproto.CanonicalMIMEHeaderKey(header)}
}

func (github) Name() string { return "github" }

func (github) ParseKey(id, text string) (Key, error) { return rawStringKey(id, text) }

func (github) GenerateKey(id string) (Key, string, error) {
	text := hex.EncodeToString(GenerateSecret().b)
	k, err := rawStringKey(id, text)
	return k, text, err
}

func (g github) Sign(h http.Header, m Message, keys []Key) error {
	var vals []string
	for _, k := range keys {
		if k.m == nil || k.m.kind != KindHMACSHA256 {
			continue
		}
		st := k.m.mac("", m.Body)
		vals = append(vals, "sha256="+hex.EncodeToString(st.sum[:]))
		k.m.release(st)
	}
	if len(vals) == 0 {
		return ErrNoKeys
	}
	h[g.header] = vals
	return nil
}

// decodeHex32 decodes a 64-digit hex signature (either case) into dst.
func decodeHex32(st *macState, s string, dst *[32]byte) bool {
	if len(s) != 64 {
		return false
	}
	n := copy(st.scratch[:], s)
	_, err := hex.Decode(dst[:], st.scratch[:n])
	return err == nil
}

func (g github) Verify(h http.Header, body []byte, keys []Key, _ VerifyOptions) (Meta, error) {
	if len(keys) == 0 {
		return Meta{}, ErrNoKeys
	}
	vs := h[g.header]
	if len(vs) == 0 {
		return Meta{}, ErrNoSignature
	}
	total := 0
	for _, v := range vs {
		total += len(v)
	}
	if len(vs) > MaxSignatures || total > MaxHeaderLen {
		return Meta{}, fmt.Errorf("%w: more than %d signatures or %d bytes", ErrMalformedHeader, MaxSignatures, MaxHeaderLen)
	}
	parsed := 0
	matched := -1
	for i, k := range keys {
		if k.m == nil || k.m.kind != KindHMACSHA256 {
			continue
		}
		st := k.m.mac("", body)
		found := 0
		for _, v := range vs {
			var got [32]byte
			hexSig, ok := strings.CutPrefix(strings.TrimSpace(v), "sha256=")
			if !ok || !decodeHex32(st, hexSig, &got) {
				continue
			}
			parsed++
			found |= subtle.ConstantTimeCompare(got[:], st.sum[:])
		}
		k.m.release(st)
		if found == 1 && matched < 0 {
			matched = i
		}
	}
	if matched < 0 {
		if parsed == 0 {
			return Meta{}, fmt.Errorf("%w: %s must be sha256=<64 hex digits>", ErrMalformedHeader, strings.ToLower(g.header))
		}
		return Meta{}, ErrMismatch
	}
	return Meta{KeyID: keys[matched].ID}, nil
}

type stripe struct{}

// Stripe returns Stripe's scheme: header Stripe-Signature "t=<unix>,v1=<hex>[,v1=<hex>…]",
// the HMAC-SHA256 of "timestamp.body" keyed with the whole whsec_… string's bytes.
func Stripe() Scheme { return stripe{} }

func (stripe) Name() string { return "stripe" }

func (stripe) ParseKey(id, text string) (Key, error) { return rawStringKey(id, text) }

func (stripe) GenerateKey(id string) (Key, string, error) {
	text := PrefixSecret + base64.RawURLEncoding.EncodeToString(GenerateSecret().b)
	k, err := rawStringKey(id, text)
	return k, text, err
}

func (stripe) Sign(h http.Header, m Message, keys []Key) error {
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	tsText := strconv.FormatInt(ts.Unix(), 10)
	out := make([]byte, 0, 16+len(keys)*68)
	out = append(append(out, "t="...), tsText...)
	n := 0
	for _, k := range keys {
		if k.m == nil || k.m.kind != KindHMACSHA256 {
			continue
		}
		st := k.m.mac(tsText, m.Body)
		out = append(out, ",v1="...)
		out = hex.AppendEncode(out, st.sum[:])
		k.m.release(st)
		n++
	}
	if n == 0 {
		return ErrNoKeys
	}
	h[HeaderStripeSignature] = []string{string(out)}
	return nil
}

func (stripe) Verify(h http.Header, body []byte, keys []Key, opts VerifyOptions) (Meta, error) {
	if len(keys) == 0 {
		return Meta{}, ErrNoKeys
	}
	v, ok := single(h, HeaderStripeSignature)
	if !ok {
		if len(h[HeaderStripeSignature]) == 0 {
			return Meta{}, ErrNoSignature
		}
		return Meta{}, fmt.Errorf("%w: repeated stripe-signature header", ErrMalformedHeader)
	}
	if len(v) > MaxHeaderLen || strings.Count(v, ",") >= MaxSignatures+8 {
		return Meta{}, fmt.Errorf("%w: more than %d bytes or %d signatures", ErrMalformedHeader, MaxHeaderLen, MaxSignatures)
	}
	var tsText string
	sigs := 0
	for rest := v; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		k, val, _ := strings.Cut(strings.TrimSpace(item), "=")
		switch k {
		case "t":
			if tsText != "" {
				return Meta{}, fmt.Errorf("%w: repeated t= in stripe-signature", ErrMalformedHeader)
			}
			tsText = val
		case "v1":
			sigs++
		}
	}
	ts, ok := parseUnix(tsText)
	if !ok {
		return Meta{}, fmt.Errorf("%w: stripe-signature has no valid t=", ErrMalformedHeader)
	}
	if sigs == 0 {
		return Meta{}, fmt.Errorf("%w: stripe-signature has no v1 signature", ErrNoSignature)
	}
	matched := -1
	for i, k := range keys {
		if k.m == nil || k.m.kind != KindHMACSHA256 {
			continue
		}
		st := k.m.mac(tsText, body)
		found := 0
		for rest := v; rest != ""; {
			var item string
			item, rest, _ = strings.Cut(rest, ",")
			sig, ok := strings.CutPrefix(strings.TrimSpace(item), "v1=")
			var got [32]byte
			if ok && decodeHex32(st, sig, &got) {
				found |= subtle.ConstantTimeCompare(got[:], st.sum[:])
			}
		}
		k.m.release(st)
		if found == 1 && matched < 0 {
			matched = i
		}
	}
	if matched < 0 {
		return Meta{}, ErrMismatch
	}
	meta := Meta{Timestamp: ts, KeyID: keys[matched].ID}
	return meta, opts.CheckTimestamp(ts)
}
