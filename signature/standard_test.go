package signature_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookkit/hookkit/signature"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Vector from the official Standard Webhooks Go library's TestWebhookSign.
const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTimestamp = 1614265330
	swPayload   = `{"test": 2432232314}`
	swSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func swKey(t testing.TB) signature.Key {
	t.Helper()
	k, err := signature.Standard().ParseKey("sw", swSecret)
	require.NoError(t, err)
	return k
}

func at(unix int64) signature.VerifyOptions {
	return signature.VerifyOptions{Now: func() time.Time { return time.Unix(unix, 0) }}
}

func TestStandardSignMatchesPublishedVector(t *testing.T) {
	h := http.Header{}
	err := signature.Standard().Sign(h, signature.Message{ID: swMsgID, Timestamp: time.Unix(swTimestamp, 0), Body: []byte(swPayload)}, []signature.Key{swKey(t)})
	require.NoError(t, err)
	assert.Equal(t, swSignature, h.Get("webhook-signature"))
	assert.Equal(t, swMsgID, h.Get("webhook-id"))
	assert.Equal(t, strconv.Itoa(swTimestamp), h.Get("webhook-timestamp"))
}

func TestStandardParseKeyAcceptsPaddedUnpaddedAndBare(t *testing.T) {
	raw := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) // ends in '='
	for _, text := range []string{"whsec_" + raw, "whsec_" + strings.TrimRight(raw, "="), raw, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		k, err := signature.Standard().ParseKey("k", text)
		require.NoError(t, err, text)
		assert.True(t, k.CanSign())
	}
	for _, text := range []string{"whsec_", "", "whsec_!!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, err := signature.Standard().ParseKey("k", text)
		assert.Error(t, err, text)
	}
}

func TestStandardVerifyHeaderVariants(t *testing.T) {
	key := swKey(t)
	base := func() http.Header {
		return http.Header{
			"Webhook-Id":        {swMsgID},
			"Webhook-Timestamp": {strconv.Itoa(swTimestamp)},
			"Webhook-Signature": {swSignature},
		}
	}
	valid := strings.TrimPrefix(swSignature, "v1,")
	tests := []struct {
		name   string
		mutate func(h http.Header)
		now    int64
		body   string
		want   error
	}{
		{"valid", func(http.Header) {}, swTimestamp, swPayload, nil},
		{"svix header names", func(h http.Header) {
			for _, n := range []string{"Id", "Timestamp", "Signature"} {
				h["Svix-"+n] = h["Webhook-"+n]
				delete(h, "Webhook-"+n)
			}
		}, swTimestamp, swPayload, nil},
		{"decoys before and after", func(h http.Header) {
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+swSignature+" v2,abc v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
		}, swTimestamp, swPayload, nil},
		{"no signature", func(h http.Header) { h.Del("webhook-signature") }, swTimestamp, swPayload, signature.ErrNoSignature},
		{"bare v1,", func(h http.Header) { h.Set("webhook-signature", "v1,") }, swTimestamp, swPayload, signature.ErrMismatch},
		{"wrong version", func(h http.Header) { h.Set("webhook-signature", "v2,"+valid) }, swTimestamp, swPayload, signature.ErrMismatch},
		{"signature without version", func(h http.Header) { h.Set("webhook-signature", valid) }, swTimestamp, swPayload, signature.ErrMismatch},
		{"only decoys", func(h http.Header) {
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
		}, swTimestamp, swPayload, signature.ErrMismatch},
		{"tampered body", func(http.Header) {}, swTimestamp, `{"test": 2432232315}`, signature.ErrMismatch},
		{"tampered id", func(h http.Header) { h.Set("webhook-id", "msg_other") }, swTimestamp, swPayload, signature.ErrMismatch},
		{"missing id", func(h http.Header) { h.Del("webhook-id") }, swTimestamp, swPayload, signature.ErrMalformedHeader},
		{"dot in id", func(h http.Header) { h.Set("webhook-id", "msg.1") }, swTimestamp, swPayload, signature.ErrMalformedHeader},
		{"repeated id", func(h http.Header) { h.Add("webhook-id", "x") }, swTimestamp, swPayload, signature.ErrMalformedHeader},
		{"dot in timestamp", func(h http.Header) { h.Set("webhook-timestamp", "1614265330.0") }, swTimestamp, swPayload, signature.ErrMalformedHeader},
		{"signed timestamp", func(h http.Header) { h.Set("webhook-timestamp", "+1614265330") }, swTimestamp, swPayload, signature.ErrMalformedHeader},
		{"missing timestamp", func(h http.Header) { h.Del("webhook-timestamp") }, swTimestamp, swPayload, signature.ErrMalformedHeader},
		{"301 s in the past", func(http.Header) {}, swTimestamp + 301, swPayload, signature.ErrTimestamp},
		{"301 s in the future", func(http.Header) {}, swTimestamp - 301, swPayload, signature.ErrTimestamp},
		{"300 s in the past", func(http.Header) {}, swTimestamp + 300, swPayload, nil},
		{"300 s in the future", func(http.Header) {}, swTimestamp - 300, swPayload, nil},
		{"huge header", func(h http.Header) {
			h.Set("webhook-signature", strings.Repeat("v1,x ", signature.MaxHeaderLen/5+1)+swSignature)
		}, swTimestamp, swPayload, signature.ErrMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base()
			tt.mutate(h)
			meta, err := signature.Standard().Verify(h, []byte(tt.body), []signature.Key{key}, at(tt.now))
			if tt.want == nil {
				require.NoError(t, err)
				assert.Equal(t, swMsgID, meta.ID)
				assert.Equal(t, int64(swTimestamp), meta.Timestamp.Unix())
				assert.Equal(t, "sw", meta.KeyID)
				return
			}
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

// The dot-framing attack: moving bytes between id and timestamp must not keep a
// signature valid. With '.' refused in ids, "a.1.body" has exactly one framing.
func TestStandardRefusesDotFraming(t *testing.T) {
	key := hmacKey(t, "k")
	err := signature.Standard().Sign(http.Header{}, signature.Message{ID: "msg.1614265330", Body: []byte("x")}, []signature.Key{key})
	assert.ErrorIs(t, err, signature.ErrMalformedHeader)
	err = signature.Standard().Sign(http.Header{}, signature.Message{ID: "", Body: []byte("x")}, []signature.Key{key})
	assert.ErrorIs(t, err, signature.ErrMalformedHeader)
}

func TestStandardToleranceOptions(t *testing.T) {
	key := hmacKey(t, "k")
	h := http.Header{}
	signed := time.Unix(1700000000, 0)
	require.NoError(t, signature.Standard().Sign(h, signature.Message{ID: "m1", Timestamp: signed, Body: []byte("b")}, []signature.Key{key}))
	day := func() time.Time { return signed.Add(24 * time.Hour) }
	_, err := signature.Standard().Verify(h, []byte("b"), []signature.Key{key}, signature.VerifyOptions{Now: day})
	assert.ErrorIs(t, err, signature.ErrTimestamp)
	_, err = signature.Standard().Verify(h, []byte("b"), []signature.Key{key}, signature.VerifyOptions{Now: day, Tolerance: 25 * time.Hour})
	assert.NoError(t, err)
	_, err = signature.Standard().Verify(h, []byte("b"), []signature.Key{key}, signature.VerifyOptions{Now: day, Tolerance: -1})
	assert.NoError(t, err, "negative tolerance disables the check")
}

func TestStandardRotationSignsWithEveryKeyAndVerifiesWithAny(t *testing.T) {
	oldKey, newKey, other := hmacKey(t, "old"), hmacKey(t, "new"), hmacKey(t, "other")
	h := http.Header{}
	now := time.Now()
	require.NoError(t, signature.Standard().Sign(h, signature.Message{ID: "m", Timestamp: now, Body: []byte("b")}, []signature.Key{oldKey, newKey}))
	assert.Len(t, strings.Fields(h.Get("webhook-signature")), 2)
	for _, keys := range [][]signature.Key{{oldKey}, {newKey}, {other, newKey}} {
		meta, err := signature.Standard().Verify(h, []byte("b"), keys, signature.VerifyOptions{})
		require.NoError(t, err)
		assert.Equal(t, keys[len(keys)-1].ID, meta.KeyID)
	}
	_, err := signature.Standard().Verify(h, []byte("b"), []signature.Key{other}, signature.VerifyOptions{})
	assert.ErrorIs(t, err, signature.ErrMismatch)
}

// The official library is the judge: what we sign it accepts, what it signs we accept,
// at sizes up to 1 MiB.
func TestStandardInteropWithOfficialLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 20, 1 << 10, 256 << 10, 1 << 20} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(rng.UintN(256))
		}
		_, text, err := signature.Standard().GenerateKey("k")
		require.NoError(t, err)
		key, err := signature.Standard().ParseKey("k", text)
		require.NoError(t, err)
		official, err := standardwebhooks.NewWebhook(text)
		require.NoError(t, err)

		h := http.Header{}
		require.NoError(t, signature.Standard().Sign(h, signature.Message{ID: "msg_" + strconv.Itoa(size), Timestamp: time.Now(), Body: body}, []signature.Key{key}))
		assert.NoError(t, official.Verify(body, h), "official library rejects our signature at %d bytes", size)

		ts := time.Now()
		sig, err := official.Sign("msg_x", ts, body)
		require.NoError(t, err)
		h2 := http.Header{}
		h2.Set("webhook-id", "msg_x")
		h2.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h2.Set("webhook-signature", sig)
		_, err = signature.Standard().Verify(h2, body, []signature.Key{key}, signature.VerifyOptions{})
		assert.NoError(t, err, "we reject the official signature at %d bytes", size)
	}
}

func TestStandardEd25519V1a(t *testing.T) {
	priv, privText, pubText, err := signature.GenerateEd25519Key("ed")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(privText, "whsk_"))
	assert.True(t, strings.HasPrefix(pubText, "whpk_"))
	pub, err := signature.Standard().ParseKey("ed", pubText)
	require.NoError(t, err)
	assert.False(t, pub.CanSign())
	parsedPriv, err := signature.Standard().ParseKey("ed", privText)
	require.NoError(t, err)
	assert.True(t, parsedPriv.CanSign())

	body := []byte(`{"a":1}`)
	ts := time.Unix(1700000000, 0)
	h := http.Header{}
	require.NoError(t, signature.Standard().Sign(h, signature.Message{ID: "msg_1", Timestamp: ts, Body: body}, []signature.Key{priv, hmacKey(t, "h")}))
	sigs := strings.Fields(h.Get("webhook-signature"))
	require.Len(t, sigs, 2)
	require.True(t, strings.HasPrefix(sigs[0], "v1a,"))
	require.True(t, strings.HasPrefix(sigs[1], "v1,"))

	// Check against crypto/ed25519 directly: the signature is over id.timestamp.body.
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sigs[0], "v1a,"))
	require.NoError(t, err)
	pubRaw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(pubText, "whpk_"))
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(pubRaw, []byte("msg_1.1700000000."+string(body)), raw))

	opts := at(1700000000)
	meta, err := signature.Standard().Verify(h, body, []signature.Key{pub}, opts)
	require.NoError(t, err)
	assert.Equal(t, "ed", meta.KeyID)
	_, err = signature.Standard().Verify(h, []byte(`{"a":2}`), []signature.Key{pub}, opts)
	assert.ErrorIs(t, err, signature.ErrMismatch)
	// A v1 (HMAC) entry must not be checked as v1a and vice versa.
	h.Set("webhook-signature", "v1,"+strings.TrimPrefix(sigs[0], "v1a,"))
	_, err = signature.Standard().Verify(h, body, []signature.Key{pub}, opts)
	assert.ErrorIs(t, err, signature.ErrMismatch)

	// whsk_ holding a 32-byte seed is accepted too.
	seed := bytes.Repeat([]byte{9}, ed25519.SeedSize)
	k, err := signature.Standard().ParseKey("seed", "whsk_"+base64.StdEncoding.EncodeToString(seed))
	require.NoError(t, err)
	assert.True(t, k.CanSign())
	_, err = signature.Standard().ParseKey("bad", "whpk_"+base64.StdEncoding.EncodeToString(seed[:10]))
	assert.ErrorIs(t, err, signature.ErrInvalidKey)
}

func TestSignWithoutKeysFailsClosed(t *testing.T) {
	pubOnly, err := signature.Ed25519PublicKey("p", make([]byte, ed25519.PublicKeySize))
	require.NoError(t, err)
	for _, s := range []signature.Scheme{signature.Standard(), signature.DocuSign(""), signature.GitHub(""), signature.Stripe()} {
		err := s.Sign(http.Header{}, signature.Message{ID: "m", Body: []byte("b")}, nil)
		assert.ErrorIs(t, err, signature.ErrNoKeys, s.Name())
		err = s.Sign(http.Header{}, signature.Message{ID: "m", Body: []byte("b")}, []signature.Key{pubOnly})
		assert.ErrorIs(t, err, signature.ErrNoKeys, s.Name())
		_, err = s.Verify(http.Header{}, []byte("b"), nil, signature.VerifyOptions{})
		assert.ErrorIs(t, err, signature.ErrNoKeys, s.Name())
	}
}

// The svix-* names are a fallback, not a second chance: when webhook-signature is present the
// webhook-* headers alone decide, svix-* headers are ignored even when they would verify, and
// the two sets are never mixed.
func TestStandardIgnoresSvixHeadersWhenWebhookSignatureIsPresent(t *testing.T) {
	key := swKey(t)
	svix := func() http.Header {
		return http.Header{
			"Svix-Id":        {swMsgID},
			"Svix-Timestamp": {strconv.Itoa(swTimestamp)},
			"Svix-Signature": {swSignature},
		}
	}
	_, err := signature.Standard().Verify(svix(), []byte(swPayload), []signature.Key{key}, at(swTimestamp))
	require.NoError(t, err, "svix-* alone verify")

	tests := []struct {
		name   string
		mutate func(h http.Header)
		want   error
	}{
		{"wrong webhook-signature beside a valid svix-signature", func(h http.Header) {
			h.Set("webhook-id", swMsgID)
			h.Set("webhook-timestamp", strconv.Itoa(swTimestamp))
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
		}, signature.ErrMismatch},
		{"webhook-signature without webhook-id does not borrow svix-id", func(h http.Header) {
			h.Set("webhook-timestamp", strconv.Itoa(swTimestamp))
			h.Set("webhook-signature", swSignature)
		}, signature.ErrMalformedHeader},
		{"empty webhook-signature still shadows svix-signature", func(h http.Header) {
			h.Set("webhook-id", swMsgID)
			h.Set("webhook-timestamp", strconv.Itoa(swTimestamp))
			h["Webhook-Signature"] = []string{""}
		}, signature.ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := svix()
			tt.mutate(h)
			_, err := signature.Standard().Verify(h, []byte(swPayload), []signature.Key{key}, at(swTimestamp))
			assert.ErrorIs(t, err, tt.want)
		})
	}
}
