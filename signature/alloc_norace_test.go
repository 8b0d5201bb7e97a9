//go:build !race

// The race detector makes sync.Pool drop what is put back, so allocation counts that rely
// on the pooled MAC states are checked without it.

package signature_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With room in dst the MAC costs no allocation: the keyed state is pooled in the Key.
func TestKeyAppendHMACSHA256DoesNotAllocate(t *testing.T) {
	k := hmacKey(t, "k")
	ts := []byte("1531420618")
	body := []byte(strings.Repeat("x", 4096))
	var buf [sha256.Size]byte
	_, err := k.AppendHMACSHA256(buf[:0], ts, body) // warm the pool
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := k.AppendHMACSHA256(buf[:0], ts, body); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
