package signature_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookkit/hookkit/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AppendHMACSHA256 computes, inside the Key, what the built-in HMAC schemes sign: the
// GitHub vector over the body alone, the Standard Webhooks vector over id.timestamp.body
// written as separate parts, and crypto/hmac's own result for the same concatenation.
func TestKeyAppendHMACSHA256MatchesTheSchemes(t *testing.T) {
	gh, err := signature.GitHub("").ParseKey("gh", "It's a Secret to Everybody")
	require.NoError(t, err)
	sum, err := gh.AppendHMACSHA256(nil, []byte("Hello, World!"))
	require.NoError(t, err)
	assert.Equal(t, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", hex.EncodeToString(sum))

	std := signature.Standard()
	key, err := std.ParseKey("k", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	require.NoError(t, std.Sign(h, signature.Message{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp: time.Unix(1614265330, 0), Body: body}, []signature.Key{key}))
	prefix := []byte("scratch")
	out, err := key.AppendHMACSHA256(prefix, []byte("msg_p5jXN8AQM9LWM0D4loKWxJek"), []byte("."), []byte("1614265330"), []byte("."), body)
	require.NoError(t, err)
	require.Len(t, out, len(prefix)+sha256.Size)
	assert.Equal(t, "scratch", string(out[:len(prefix)]), "the MAC is appended to dst")
	assert.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(out[len(prefix):]), h.Get("webhook-signature"))

	// The parts are streamed as if concatenated: any split gives the same MAC, and the same
	// as crypto/hmac over the whole.
	raw := []byte("0123456789abcdef0123456789abcdef")
	s, err := signature.NewSecret(raw)
	require.NoError(t, err)
	k := signature.HMACKey("k", s)
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("v0:1531420618:body"))
	whole := m.Sum(nil)
	for _, parts := range [][][]byte{
		{[]byte("v0:1531420618:body")},
		{[]byte("v0:"), []byte("1531420618"), []byte(":"), []byte("body")},
		{nil, []byte("v0:1531420618:"), {}, []byte("body")},
	} {
		got, err := k.AppendHMACSHA256(nil, parts...)
		require.NoError(t, err)
		assert.True(t, hmac.Equal(whole, got), "%q", parts)
	}
}

// SignEd25519 and VerifyEd25519 do what the standard scheme's v1a does, with the private
// key kept inside the Key; its public half verifies.
func TestKeyEd25519Capabilities(t *testing.T) {
	priv, privText, pubText, err := signature.GenerateEd25519Key("ed")
	require.NoError(t, err)
	pub, err := signature.Standard().ParseKey("ed", pubText)
	require.NoError(t, err)
	require.NotEmpty(t, privText)
	msg := []byte("msg_1.1700000000.{}")
	sig, err := priv.SignEd25519(msg)
	require.NoError(t, err)
	require.Len(t, sig, ed25519.SignatureSize)
	assert.True(t, priv.VerifyEd25519(msg, sig))
	assert.True(t, pub.VerifyEd25519(msg, sig))
	assert.True(t, priv.Public().VerifyEd25519(msg, sig))
	assert.False(t, pub.VerifyEd25519([]byte("msg_1.1700000000.{ }"), sig))
	assert.False(t, pub.VerifyEd25519(msg, sig[:ed25519.SignatureSize-1]))

	// The scheme's v1a signature is exactly SignEd25519's (ed25519 is deterministic).
	h := http.Header{}
	require.NoError(t, signature.Standard().Sign(h, signature.Message{ID: "msg_1", Timestamp: time.Unix(1700000000, 0), Body: []byte("{}")}, []signature.Key{priv}))
	assert.Equal(t, "v1a,"+base64.StdEncoding.EncodeToString(sig), h.Get("webhook-signature"))
}

// Each capability belongs to one kind of key: the others get ErrInvalidKey (or false), and
// the error names the kind, never the material.
func TestKeyCapabilitiesRefuseOtherKinds(t *testing.T) {
	hk := hmacKey(t, "h")
	priv, _, pubText, err := signature.GenerateEd25519Key("ed")
	require.NoError(t, err)
	pub, err := signature.Standard().ParseKey("edp", pubText)
	require.NoError(t, err)

	assert.Equal(t, signature.KindHMACSHA256, hk.Kind())
	assert.Equal(t, signature.KindEd25519Private, priv.Kind())
	assert.Equal(t, signature.KindEd25519Public, pub.Kind())
	assert.Equal(t, signature.KindNone, signature.Key{}.Kind())
	assert.Equal(t, "hmac-sha256 ed25519-private ed25519-public none",
		strings.Join([]string{hk.Kind().String(), priv.Kind().String(), pub.Kind().String(), signature.KindNone.String()}, " "))

	for _, k := range []signature.Key{priv, pub, {}} {
		dst := []byte("kept")
		out, err := k.AppendHMACSHA256(dst, []byte("x"))
		assert.ErrorIs(t, err, signature.ErrInvalidKey, k.String())
		assert.Equal(t, "kept", string(out))
	}
	for _, k := range []signature.Key{hk, pub, {}} {
		sig, err := k.SignEd25519([]byte("x"))
		assert.ErrorIs(t, err, signature.ErrInvalidKey, k.String())
		assert.Nil(t, sig)
	}
	goodSig, err := priv.SignEd25519([]byte("x"))
	require.NoError(t, err)
	for _, k := range []signature.Key{hk, {}} {
		assert.False(t, k.VerifyEd25519([]byte("x"), goodSig), k.String())
	}
	_, err = hk.SignEd25519([]byte("x"))
	assert.Contains(t, err.Error(), "hmac-sha256")
	assert.NotContains(t, err.Error(), "secret-for-h")
}

// CheckTimestamp is the tolerance check the built-in schemes apply, available to schemes
// written elsewhere: 0 means DefaultTolerance, negative means no check.
func TestVerifyOptionsCheckTimestamp(t *testing.T) {
	now := time.Unix(1700000000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		tol  time.Duration
		ts   time.Time
		ok   bool
	}{
		{"now", 0, now, true},
		{"default tolerance, past", 0, now.Add(-signature.DefaultTolerance), true},
		{"default tolerance, future", 0, now.Add(signature.DefaultTolerance), true},
		{"beyond default, past", 0, now.Add(-signature.DefaultTolerance - time.Second), false},
		{"beyond default, future", 0, now.Add(signature.DefaultTolerance + time.Second), false},
		{"own tolerance", time.Minute, now.Add(-2 * time.Minute), false},
		{"negative: no check", -1, now.Add(-1000 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signature.VerifyOptions{Now: clock, Tolerance: tt.tol}.CheckTimestamp(tt.ts)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, signature.ErrTimestamp)
			assert.False(t, errors.Is(err, signature.ErrMismatch))
		})
	}
}
