package signature_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hookkit/hookkit/signature"
)

var benchSizes = []int{20, 1 << 10, 64 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// BenchmarkRawHMAC is the baseline: crypto/hmac SHA-256 over id.timestamp.body, the
// least work any verifier must do.
func BenchmarkRawHMAC(b *testing.B) {
	secret := []byte("secret-for-k0-0123456789abcdef")
	for _, size := range benchSizes {
		body := make([]byte, size)
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				m := hmac.New(sha256.New, secret)
				m.Write([]byte("msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330."))
				m.Write(body)
				_ = m.Sum(nil)
			}
		})
	}
}

func benchKeys(b *testing.B, n int) []signature.Key {
	keys := make([]signature.Key, n)
	for i := range keys {
		keys[i] = hmacKey(b, fmt.Sprintf("k%d", i))
	}
	return keys
}

func BenchmarkVerify(b *testing.B) {
	for _, s := range []signature.Scheme{signature.Standard(), signature.DocuSign(""), signature.GitHub(""), signature.Stripe()} {
		for _, nkeys := range []int{1, 3} {
			for _, size := range benchSizes {
				b.Run(fmt.Sprintf("%s/keys=%d/%s", s.Name(), nkeys, sizeName(size)), func(b *testing.B) {
					keys := benchKeys(b, nkeys)
					body := make([]byte, size)
					h := http.Header{}
					now := time.Now()
					// The signature that matches is made with the last key, so every key is tried.
					if err := s.Sign(h, signature.Message{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp: now, Body: body}, keys[nkeys-1:]); err != nil {
						b.Fatal(err)
					}
					opts := signature.VerifyOptions{Now: func() time.Time { return now }}
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						if _, err := s.Verify(h, body, keys, opts); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func BenchmarkSign(b *testing.B) {
	for _, nkeys := range []int{1, 3} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("standard/keys=%d/%s", nkeys, sizeName(size)), func(b *testing.B) {
				keys := benchKeys(b, nkeys)
				body := make([]byte, size)
				m := signature.Message{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp: time.Now(), Body: body}
				s := signature.Standard()
				h := http.Header{}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := s.Sign(h, m, keys); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
