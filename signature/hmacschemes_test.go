package signature_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookkit/hookkit/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v82/webhook"
)

// GitHub's documented test vector (docs: "Validating webhook deliveries").
func TestGitHubDocumentedVector(t *testing.T) {
	key, err := signature.GitHub("").ParseKey("gh", "It's a Secret to Everybody")
	require.NoError(t, err)
	h := http.Header{}
	require.NoError(t, signature.GitHub("").Sign(h, signature.Message{Body: []byte("Hello, World!")}, []signature.Key{key}))
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	assert.Equal(t, want, h.Get("X-Hub-Signature-256"))

	for _, tt := range []struct {
		name, value, body string
		want              error
	}{
		{"valid", want, "Hello, World!", nil},
		{"upper-case hex", "sha256=" + strings.ToUpper(strings.TrimPrefix(want, "sha256=")), "Hello, World!", nil},
		{"tampered body", want, "Hello, World?", signature.ErrMismatch},
		{"sha1 prefix", "sha1=" + strings.TrimPrefix(want, "sha256="), "Hello, World!", signature.ErrMalformedHeader},
		{"short hex", want[:70], "Hello, World!", signature.ErrMalformedHeader},
		{"not hex", "sha256=" + strings.Repeat("z", 64), "Hello, World!", signature.ErrMalformedHeader},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"X-Hub-Signature-256": {tt.value}}
			_, err := signature.GitHub("").Verify(h, []byte(tt.body), []signature.Key{key}, signature.VerifyOptions{})
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
	_, err = signature.GitHub("").Verify(http.Header{}, nil, []signature.Key{key}, signature.VerifyOptions{})
	assert.ErrorIs(t, err, signature.ErrNoSignature)
}

func TestGitHubCustomHeaderAndRotation(t *testing.T) {
	s := signature.GitHub("X-Gitea-Signature-256")
	a, b := hmacKey(t, "a"), hmacKey(t, "b")
	h := http.Header{}
	require.NoError(t, s.Sign(h, signature.Message{Body: []byte("x")}, []signature.Key{a, b}))
	assert.Len(t, h.Values("X-Gitea-Signature-256"), 2)
	meta, err := s.Verify(h, []byte("x"), []signature.Key{b}, signature.VerifyOptions{})
	require.NoError(t, err)
	assert.Equal(t, "b", meta.KeyID)
}

// A LINE-style vector for the indexed scheme: base64 HMAC-SHA256 of the raw body keyed
// with the secret string's bytes. Computed independently with
// printf '%s' BODY | openssl dgst -sha256 -hmac SECRET -binary | base64
func TestDocuSignVector(t *testing.T) {
	const (
		secret = "8c570fa6dd201bb328f1c1eac23a96d8"
		body   = `{"destination":"U8189cf6745fc0d808977bdb0b9f22995","events":[]}`
		want   = "Nc4YoyTdl6FZCXLX7HWKW0ljjdsTdWdmCZR6UyAO/A0="
	)
	line := signature.DocuSign("X-Line-Signature-")
	key, err := line.ParseKey("line", secret)
	require.NoError(t, err)
	h := http.Header{}
	require.NoError(t, line.Sign(h, signature.Message{Body: []byte(body)}, []signature.Key{key}))
	assert.Equal(t, want, h.Get("X-Line-Signature-1"))
	_, err = line.Verify(h, []byte(body), []signature.Key{key}, signature.VerifyOptions{})
	assert.NoError(t, err)
}

func TestDocuSignRotation(t *testing.T) {
	ds := signature.DocuSign("")
	k1, k2, k3 := hmacKey(t, "k1"), hmacKey(t, "k2"), hmacKey(t, "k3")
	h := http.Header{}
	body := []byte(`{"event":"envelope-sent"}`)
	require.NoError(t, ds.Sign(h, signature.Message{Body: body}, []signature.Key{k1, k2}))
	assert.NotEmpty(t, h.Get("X-DocuSign-Signature-1"))
	assert.NotEmpty(t, h.Get("X-DocuSign-Signature-2"))
	assert.Empty(t, h.Get("X-DocuSign-Signature-3"))
	for _, keys := range [][]signature.Key{{k1}, {k2}, {k3, k2}} {
		_, err := ds.Verify(h, body, keys, signature.VerifyOptions{})
		assert.NoError(t, err)
	}
	_, err := ds.Verify(h, body, []signature.Key{k3}, signature.VerifyOptions{})
	assert.ErrorIs(t, err, signature.ErrMismatch)
	_, err = ds.Verify(h, append(body, ' '), []signature.Key{k1}, signature.VerifyOptions{})
	assert.ErrorIs(t, err, signature.ErrMismatch)
	_, err = ds.Verify(http.Header{"X-Docusign-Signature-0": {"x"}, "X-Docusign-Signature-x": {"x"}}, body, []signature.Key{k1}, signature.VerifyOptions{})
	assert.ErrorIs(t, err, signature.ErrNoSignature)
	many := http.Header{}
	for i := 1; i <= signature.MaxSignatures+1; i++ {
		many.Set("X-DocuSign-Signature-"+strconv.Itoa(i), "x")
	}
	_, err = ds.Verify(many, body, []signature.Key{k1}, signature.VerifyOptions{})
	assert.ErrorIs(t, err, signature.ErrMalformedHeader)
}

// stripe-go is the judge for the stripe scheme.
func TestStripeInteropWithStripeGo(t *testing.T) {
	st := signature.Stripe()
	key, text, err := st.GenerateKey("s")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(text, "whsec_"))
	body := []byte(`{"id":"evt_1","object":"event"}`)

	h := http.Header{}
	require.NoError(t, st.Sign(h, signature.Message{Timestamp: time.Now(), Body: body}, []signature.Key{key}))
	assert.NoError(t, webhook.ValidatePayload(body, h.Get("Stripe-Signature"), text), "stripe-go rejects our signature")

	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: text, Timestamp: time.Now()})
	h2 := http.Header{"Stripe-Signature": {signed.Header}}
	meta, err := st.Verify(h2, body, []signature.Key{key}, signature.VerifyOptions{})
	require.NoError(t, err, "we reject stripe-go's signature")
	assert.Equal(t, signed.Timestamp.Unix(), meta.Timestamp.Unix())

	// Stripe's own header format with a v0 decoy and the real v1 last.
	ts := time.Unix(1700000000, 0)
	sig := webhook.ComputeSignature(ts, body, text)
	hdr := "t=1700000000,v0=deadbeef,v1=" + strings.Repeat("00", 32) + ",v1=" + hexOf(sig)
	_, err = st.Verify(http.Header{"Stripe-Signature": {hdr}}, body, []signature.Key{key}, at(1700000000))
	assert.NoError(t, err)
	_, err = st.Verify(http.Header{"Stripe-Signature": {hdr}}, body, []signature.Key{key}, at(1700000000+301))
	assert.ErrorIs(t, err, signature.ErrTimestamp)
	_, err = st.Verify(http.Header{"Stripe-Signature": {hdr}}, body, []signature.Key{key}, at(1700000000-301))
	assert.ErrorIs(t, err, signature.ErrTimestamp)

	for _, bad := range []struct {
		hdr  string
		want error
	}{
		{"v1=" + hexOf(sig), signature.ErrMalformedHeader},
		{"t=1700000000", signature.ErrNoSignature},
		{"t=1700000000,t=1700000000,v1=" + hexOf(sig), signature.ErrMalformedHeader},
		{"t=17e8,v1=" + hexOf(sig), signature.ErrMalformedHeader},
		{"t=1700000000,v1=", signature.ErrMismatch},
	} {
		_, err = st.Verify(http.Header{"Stripe-Signature": {bad.hdr}}, body, []signature.Key{key}, at(1700000000))
		assert.ErrorIs(t, err, bad.want, bad.hdr)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestSchemeByName(t *testing.T) {
	for _, name := range signature.SchemeNames() {
		s, err := signature.SchemeByName(name)
		require.NoError(t, err)
		assert.Equal(t, name, s.Name())
		key, text, err := s.GenerateKey("k")
		require.NoError(t, err)
		parsed, err := s.ParseKey("k", text)
		require.NoError(t, err)
		h := http.Header{}
		body := []byte(`{"x":1}`)
		require.NoError(t, s.Sign(h, signature.Message{ID: "m1", Timestamp: time.Now(), Body: body}, []signature.Key{key}))
		_, err = s.Verify(h, body, []signature.Key{parsed}, signature.VerifyOptions{})
		assert.NoError(t, err, name)
		_, err = s.ParseKey("k", "c2hvcnQ=") // "short" in base64
		assert.ErrorIs(t, err, signature.ErrSecretTooShort, name)
	}
	_, err := signature.SchemeByName("sha1")
	assert.ErrorIs(t, err, signature.ErrUnknownScheme)
}
