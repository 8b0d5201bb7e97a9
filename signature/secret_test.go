package signature_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookkit/hookkit/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const material = "super-secret-material-0123456789"

func TestSecretNeverPrints(t *testing.T) {
	s, err := signature.NewSecret([]byte(material))
	require.NoError(t, err)
	k := signature.HMACKey("k1", s)
	holder := struct {
		S signature.Secret
		K signature.Key
	}{s, k}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "key", k)
	js, err := json.Marshal(holder)
	require.NoError(t, err)
	outputs := []string{
		s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k), fmt.Sprintf("%+v %#v", holder, holder), string(js), logs.String(),
	}
	hexMaterial := fmt.Sprintf("%x", material)
	for _, out := range outputs {
		assert.NotContains(t, out, material)
		assert.NotContains(t, out, hexMaterial)
	}
	assert.Equal(t, "[REDACTED]", s.String())
	assert.Contains(t, logs.String(), "[REDACTED]")
	assert.Contains(t, k.String(), `"k1"`)
	assert.Equal(t, len(material), s.Len())
}

func TestNewSecretRefusesShortSecrets(t *testing.T) {
	_, err := signature.NewSecret(nil)
	assert.ErrorIs(t, err, signature.ErrEmptySecret)
	_, err = signature.NewSecret([]byte("fifteen-bytes!!"))
	assert.ErrorIs(t, err, signature.ErrSecretTooShort)
	_, err = signature.NewSecret([]byte("sixteen-bytes!!!"))
	assert.NoError(t, err)
}

func TestNewSecretCopies(t *testing.T) {
	b := []byte(material)
	s, err := signature.NewSecret(b)
	require.NoError(t, err)
	k := signature.HMACKey("k", s)
	h := httpHeader()
	require.NoError(t, signature.GitHub("").Sign(h, signature.Message{Body: []byte("x")}, []signature.Key{k}))
	b[0] ^= 0xff
	_, err = signature.GitHub("").Verify(h, []byte("x"), []signature.Key{k}, signature.VerifyOptions{})
	assert.NoError(t, err, "changing the caller's slice must not change the key")
}

func TestGenerateSecretIsRandom(t *testing.T) {
	_, a, err := signature.Standard().GenerateKey("a")
	require.NoError(t, err)
	_, b, err := signature.Standard().GenerateKey("b")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.True(t, strings.HasPrefix(a, "whsec_"))
	k, err := signature.Standard().ParseKey("a", a)
	require.NoError(t, err)
	assert.True(t, k.CanSign())
}

func TestKeySetLimitsAndWindows(t *testing.T) {
	keys := make([]signature.Key, signature.MaxKeys+1)
	for i := range keys {
		keys[i] = hmacKey(t, fmt.Sprintf("k%d", i))
	}
	_, err := signature.NewKeySet(keys...)
	assert.ErrorIs(t, err, signature.ErrTooManyKeys)
	ks, err := signature.NewKeySet(keys[:signature.MaxKeys]...)
	require.NoError(t, err)
	assert.Equal(t, signature.MaxKeys, ks.Len())
	_, err = signature.NewKeySet(signature.Key{})
	assert.ErrorIs(t, err, signature.ErrInvalidKey)

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old, cur, next := hmacKey(t, "old"), hmacKey(t, "cur"), hmacKey(t, "next")
	old.Expires = now
	next.NotBefore = now.Add(time.Hour)
	require.NoError(t, ks.Replace(old, cur, next))
	ids := func(ks []signature.Key) (out []string) {
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	assert.Equal(t, []string{"old", "cur"}, ids(ks.Active(now.Add(-time.Second))))
	assert.Equal(t, []string{"cur"}, ids(ks.Active(now)))
	assert.Equal(t, []string{"cur", "next"}, ids(ks.Active(now.Add(time.Hour))))

	var empty signature.KeySet
	assert.Empty(t, empty.Active(now))
	_, err = signature.Standard().Verify(httpHeader(), nil, empty.Active(now), signature.VerifyOptions{})
	assert.ErrorIs(t, err, signature.ErrNoKeys, "an empty key set fails closed")
}

func TestKeySetReplaceIsSafeWithConcurrentReaders(t *testing.T) {
	a, b := hmacKey(t, "a"), hmacKey(t, "b")
	ks, err := signature.NewKeySet(a)
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				keys := ks.Active(time.Now())
				if len(keys) == 0 {
					t.Error("no keys during rotation")
					return
				}
			}
		}()
	}
	for i := range 1000 {
		if i%2 == 0 {
			require.NoError(t, ks.Replace(a, b))
		} else {
			require.NoError(t, ks.Replace(b))
		}
	}
	close(stop)
	wg.Wait()
}

// fmt cannot call the redacting methods of a Secret or Key held in an unexported field (it
// prints such fields by reflection); the material still does not print, in any verb,
// because it sits behind pointers that fmt prints as addresses. The same holds for
// pointers, slices, maps and interfaces of them, and for verbs that are wrong for a
// pointer (%s, %q…), which make fmt expand the pointer it complains about.
func TestSecretInUnexportedFieldDoesNotPrint(t *testing.T) {
	s, err := signature.NewSecret([]byte(material))
	require.NoError(t, err)
	k := signature.HMACKey("k1", s)
	seed := bytes.Repeat([]byte{0xA5, 0x5A, 0xC3}, 11)[:ed25519.SeedSize]
	priv := ed25519.NewKeyFromSeed(seed)
	ek, err := signature.Ed25519PrivateKey("k2", priv)
	require.NoError(t, err)
	type inner struct {
		s  signature.Secret
		ps *signature.Secret
	}
	type holder struct {
		s    signature.Secret
		k    signature.Key
		ek   signature.Key
		ss   []signature.Secret
		m    map[string]signature.Secret
		in   inner
		pin  *inner
		anyS any
		Pub  signature.Secret
	}
	h := holder{s: s, k: k, ek: ek, ss: []signature.Secret{s}, m: map[string]signature.Secret{"a": s},
		in: inner{s: s, ps: &s}, pin: &inner{s: s}, anyS: s, Pub: s}
	var forbidden []string
	for _, b := range [][]byte{[]byte(material), seed, priv} {
		forbidden = append(forbidden,
			string(b),
			fmt.Sprintf("%x", b), fmt.Sprintf("%X", b), fmt.Sprintf("% x", b),
			strings.Trim(fmt.Sprint(b[:8]), "[]"),                // 115 117 112 …
			strings.Trim(fmt.Sprintf("%#v", b[:8]), "[]uint8{}"), // 0x73, 0x75, …
			strings.Trim(fmt.Sprintf("%o", b[:8]), "[]"),
			fmt.Sprintf("%q", b)[1:12],
		)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%c", "%U", "%t", "%e"} {
		for _, v := range []any{h, &h, []holder{h}, inner{s: s}, struct{ s signature.Secret }{s}, struct{ k signature.Key }{ek}} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				require.NotEmpty(t, f)
				assert.NotContains(t, out, f, "%s of %T printed the material: %s", verb, v, out)
			}
		}
	}
	assert.Contains(t, fmt.Sprintf("%+v", h), "Pub:[REDACTED]", "an exported field still prints the redaction")
	assert.Equal(t, len(material), s.Len())
	var zero signature.Secret
	assert.Equal(t, 0, zero.Len())
	assert.Equal(t, "[REDACTED]", fmt.Sprint(zero))
	assert.NotPanics(t, func() { _ = signature.HMACKey("zero", zero).String() })
}
