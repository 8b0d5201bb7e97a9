package main

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookkit/hookkit/signature"
)

// Slack's header names.
const (
	headerSignature = "X-Slack-Signature"
	headerTimestamp = "X-Slack-Request-Timestamp"
)

// slackScheme is Slack's request signing ("Verifying requests from Slack"), written
// outside package signature: X-Slack-Request-Timestamp carries the unix time and
// X-Slack-Signature "v0=" and the hex HMAC-SHA256, keyed with the signing secret's bytes,
// of "v0:" + timestamp + ":" + body. It never sees the secret: it builds keys with
// signature.NewSecret and signature.HMACKey and computes with Key.AppendHMACSHA256.
type slackScheme struct{}

var _ signature.Scheme = slackScheme{}

func (slackScheme) Name() string { return "slack" }

// ParseKey takes the signing secret as Slack shows it (Basic Information → App
// Credentials): its bytes are the HMAC key, used as given.
func (slackScheme) ParseKey(id, text string) (signature.Key, error) {
	s, err := signature.NewSecret([]byte(text))
	if err != nil {
		return signature.Key{}, err
	}
	return signature.HMACKey(id, s), nil
}

// GenerateKey makes a secret shaped like Slack's: 32 hex digits (16 random bytes).
func (s slackScheme) GenerateKey(id string) (signature.Key, string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	text := hex.EncodeToString(b[:])
	k, err := s.ParseKey(id, text)
	return k, text, err
}

// mac appends the v0 signature of ts and body under k to dst (a [32]byte's [:0]).
func mac(dst []byte, k signature.Key, ts string, body []byte) ([]byte, error) {
	return k.AppendHMACSHA256(dst, []byte("v0:"), []byte(ts), []byte(":"), body)
}

// Sign sets X-Slack-Request-Timestamp and one X-Slack-Signature value per HMAC key (Slack
// itself sends one).
func (slackScheme) Sign(h http.Header, m signature.Message, keys []signature.Key) error {
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	tsText := strconv.FormatInt(ts.Unix(), 10)
	var sigs []string
	for _, k := range keys {
		if k.Kind() != signature.KindHMACSHA256 {
			continue
		}
		var buf [32]byte
		sum, err := mac(buf[:0], k, tsText, m.Body)
		if err != nil {
			return err
		}
		sigs = append(sigs, "v0="+hex.EncodeToString(sum))
	}
	if len(sigs) == 0 {
		return signature.ErrNoKeys
	}
	h[headerTimestamp] = []string{tsText}
	h[headerSignature] = sigs
	return nil
}

// parseTimestamp reads a unix time in seconds: 1 to 12 digits, nothing else.
func parseTimestamp(s string) (time.Time, bool) {
	if s == "" || len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return time.Unix(n, 0), err == nil
}

// Verify keeps signature.Scheme's contract: ErrNoKeys without keys, bounded parsing, one MAC
// per key compared in constant time with every presented signature (no early exit), and
// the tolerance checked with opts.CheckTimestamp once a signature matched.
func (slackScheme) Verify(h http.Header, body []byte, keys []signature.Key, opts signature.VerifyOptions) (signature.Meta, error) {
	if len(keys) == 0 {
		return signature.Meta{}, signature.ErrNoKeys
	}
	vs := h[headerSignature]
	if len(vs) == 0 {
		return signature.Meta{}, signature.ErrNoSignature
	}
	total := 0
	for _, v := range vs {
		total += len(v)
	}
	if len(vs) > signature.MaxSignatures || total > signature.MaxHeaderLen {
		return signature.Meta{}, fmt.Errorf("%w: more than %d signatures or %d bytes", signature.ErrMalformedHeader, signature.MaxSignatures, signature.MaxHeaderLen)
	}
	tsv := h[headerTimestamp]
	if len(tsv) != 1 {
		return signature.Meta{}, fmt.Errorf("%w: missing or repeated x-slack-request-timestamp", signature.ErrMalformedHeader)
	}
	ts, ok := parseTimestamp(tsv[0])
	if !ok {
		return signature.Meta{}, fmt.Errorf("%w: x-slack-request-timestamp is not a unix time in seconds", signature.ErrMalformedHeader)
	}
	// Decode the presented signatures once; a malformed one matches nothing.
	presented := make([][32]byte, 0, len(vs))
	for _, v := range vs {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(v), "v0=")
		var sig [32]byte
		if ok && len(hexSig) == 64 {
			if _, err := hex.Decode(sig[:], []byte(hexSig)); err == nil {
				presented = append(presented, sig)
			}
		}
	}
	if len(presented) == 0 {
		return signature.Meta{}, fmt.Errorf("%w: x-slack-signature must be v0=<64 hex digits>", signature.ErrMalformedHeader)
	}
	matched := -1
	for i, k := range keys {
		if k.Kind() != signature.KindHMACSHA256 {
			continue
		}
		var buf [32]byte
		want, err := mac(buf[:0], k, tsv[0], body)
		if err != nil {
			continue
		}
		found := false
		for _, p := range presented {
			if hmac.Equal(p[:], want) {
				found = true
			}
		}
		if found && matched < 0 {
			matched = i
		}
	}
	if matched < 0 {
		return signature.Meta{}, signature.ErrMismatch
	}
	meta := signature.Meta{Timestamp: ts, KeyID: keys[matched].ID}
	return meta, opts.CheckTimestamp(ts)
}
