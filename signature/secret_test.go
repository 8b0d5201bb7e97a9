package signature_test

import (
	"bytes"
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
