package signature_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hookkit/hookkit/signature"
)

// v1aBenchKeys returns n ed25519 signing keys and their public halves (what a receiver holds).
func v1aBenchKeys(b *testing.B, n int) (signers, public []signature.Key) {
	signers = make([]signature.Key, n)
	for i := range signers {
		signers[i] = edKey(b, "ed"+strconv.Itoa(i), byte(i+1))
	}
	return signers, publicKeys(signers...)
}

// BenchmarkVerifyV1a is an honest ed25519 delivery: one v1a signature, made with the last of
// the receiver's keys, so every key is tried.
func BenchmarkVerifyV1a(b *testing.B) {
	for _, nkeys := range []int{1, 3} {
		b.Run(fmt.Sprintf("keys=%d", nkeys), func(b *testing.B) {
			signers, keys := v1aBenchKeys(b, nkeys)
			h := v1aHeader(v1aEntries(b, signers[nkeys-1])...)
			opts := signature.VerifyOptions{Now: func() time.Time { return time.Unix(v1aUnix, 0) }}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := signature.Standard().Verify(h, v1aBody, keys, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyStuffedV1a is the attack: as many well-formed decoy v1a signatures as the
// header holds (170) with the valid one last, refused since there are more than the limit;
// and the worst header still within the limit (limit-1 decoys, then the valid one), which is
// accepted. Compare each with BenchmarkVerifyV1a at the same number of keys.
func BenchmarkVerifyStuffedV1a(b *testing.B) {
	for _, nkeys := range []int{1, 3} {
		limit := min(nkeys+2, signature.MaxV1aSignatures)
		for _, decoys := range []int{170, limit - 1} {
			b.Run(fmt.Sprintf("keys=%d/decoys=%d", nkeys, decoys), func(b *testing.B) {
				signers, keys := v1aBenchKeys(b, nkeys)
				h := v1aHeader(append(v1aDecoys(b, decoys), v1aEntries(b, signers[nkeys-1])...)...)
				opts := signature.VerifyOptions{Now: func() time.Time { return time.Unix(v1aUnix, 0) }}
				b.ReportAllocs()
				for b.Loop() {
					// Accepted or refused depending on decoys; the cost is what is measured.
					_, _ = signature.Standard().Verify(h, v1aBody, keys, opts)
				}
			})
		}
	}
}
