package signature_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/signature"
)

const (
	v1aMsgID = "msg_v1a"
	v1aUnix  = 1700000000
)

var v1aBody = []byte(`{"type":"envelope-completed"}`)

// edKey returns a deterministic ed25519 signing key; seed picks which.
func edKey(t testing.TB, id string, seed byte) signature.Key {
	t.Helper()
	k, err := signature.Ed25519PrivateKey(id, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	require.NoError(t, err)
	return k
}

// v1aEntries returns the webhook-signature entries of signing v1aMsgID/v1aBody with each key.
func v1aEntries(t testing.TB, keys ...signature.Key) []string {
	t.Helper()
	h := http.Header{}
	require.NoError(t, signature.Standard().Sign(h, signature.Message{ID: v1aMsgID, Timestamp: time.Unix(v1aUnix, 0), Body: v1aBody}, keys))
	return strings.Fields(h.Get("webhook-signature"))
}

// v1aDecoys returns n well-formed v1a entries that verify under no key of the tests: real
// ed25519 signatures (canonical, so each costs a full verification) by an unrelated key
// over other messages.
func v1aDecoys(t testing.TB, n int) []string {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xdd}, ed25519.SeedSize))
	out := make([]string, n)
	for i := range out {
		out[i] = "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte("decoy-"+strconv.Itoa(i))))
	}
	return out
}

func v1aHeader(entries ...string) http.Header {
	return http.Header{
		"Webhook-Id":        {v1aMsgID},
		"Webhook-Timestamp": {strconv.Itoa(v1aUnix)},
		"Webhook-Signature": {strings.Join(entries, " ")},
	}
}

func publicKeys(keys ...signature.Key) []signature.Key {
	out := make([]signature.Key, len(keys))
	for i, k := range keys {
		out[i] = k.Public()
	}
	return out
}

// A header stuffed with 170 well-formed decoy v1a signatures and the valid one last is
// refused with the ordinary mismatch error, without verifying its way to the end.
func TestStandardV1aStuffedHeaderIsRejected(t *testing.T) {
	key := edKey(t, "ed", 1)
	valid := v1aEntries(t, key)
	require.Len(t, valid, 1)
	keys := publicKeys(key)

	_, err := signature.Standard().Verify(v1aHeader(valid...), v1aBody, keys, at(v1aUnix))
	require.NoError(t, err, "the valid signature alone is accepted")

	h := v1aHeader(append(v1aDecoys(t, 170), valid...)...)
	require.LessOrEqual(t, len(h.Get("webhook-signature")), signature.MaxHeaderLen, "the stuffed header fits the size limit")
	_, err = signature.Standard().Verify(h, v1aBody, keys, at(v1aUnix))
	assert.ErrorIs(t, err, signature.ErrMismatch)
}

// At most min(ed25519 keys + 2, MaxV1aSignatures) v1a entries are checked: a delivery with
// that many is verified (the valid one may be last), one more and it is refused.
func TestStandardV1aChecksAtMostEd25519KeysPlusTwo(t *testing.T) {
	tests := []struct {
		name  string
		nkeys int
		limit int
	}{
		{"one key", 1, 3},
		{"three keys", 3, 5},
		{"many keys hit the absolute cap", 2 * signature.MaxV1aSignatures, signature.MaxV1aSignatures},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signers := make([]signature.Key, tt.nkeys)
			for i := range signers {
				signers[i] = edKey(t, "ed"+strconv.Itoa(i), byte(i+1))
			}
			keys := publicKeys(signers...)
			// The valid entry is by the last key, so every key is tried.
			valid := v1aEntries(t, signers[tt.nkeys-1])

			atLimit := v1aHeader(append(v1aDecoys(t, tt.limit-1), valid...)...)
			meta, err := signature.Standard().Verify(atLimit, v1aBody, keys, at(v1aUnix))
			require.NoError(t, err, "%d v1a entries are within the limit", tt.limit)
			assert.Equal(t, signers[tt.nkeys-1].ID, meta.KeyID)

			over := v1aHeader(append(v1aDecoys(t, tt.limit), valid...)...)
			_, err = signature.Standard().Verify(over, v1aBody, keys, at(v1aUnix))
			assert.ErrorIs(t, err, signature.ErrMismatch, "%d v1a entries are over the limit", tt.limit+1)
		})
	}
}

// The limit applies to the whole header when ed25519 keys verify it: a valid v1 (HMAC)
// signature does not rescue a header stuffed with v1a entries. With no ed25519 key, v1a
// entries are never verified, cost nothing, and are not limited.
func TestStandardV1aLimitAndHMACKeys(t *testing.T) {
	hk := hmacKey(t, "h")
	ed := edKey(t, "ed", 1)
	stuffed := v1aHeader(append(v1aDecoys(t, 170), v1aEntries(t, hk)...)...)

	meta, err := signature.Standard().Verify(stuffed, v1aBody, []signature.Key{hk}, at(v1aUnix))
	require.NoError(t, err, "HMAC-only key set: v1a entries are skipped, not counted")
	assert.Equal(t, "h", meta.KeyID)

	_, err = signature.Standard().Verify(stuffed, v1aBody, []signature.Key{hk, ed.Public()}, at(v1aUnix))
	assert.ErrorIs(t, err, signature.ErrMismatch, "with an ed25519 key the stuffed header is refused")

	// A normal mixed header (one v1, one v1a) verifies with either kind of key.
	mixed := v1aHeader(v1aEntries(t, ed, hk)...)
	for _, keys := range [][]signature.Key{{hk}, {ed.Public()}, {ed.Public(), hk}} {
		_, err := signature.Standard().Verify(mixed, v1aBody, keys, at(v1aUnix))
		assert.NoError(t, err)
	}
}
