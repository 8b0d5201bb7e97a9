package receiver_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// loopbackBench POSTs the same body b.N times over a keep-alive connection to a real
// loopback server running h, with a distinct signed delivery id per request.
func loopbackBench(b *testing.B, size int, h http.Handler) {
	key, _ := newKey(b, "k1", 1)
	body := eventBodyOfSize(b, "envelope-completed", "evt-bench", size)
	headers := make([]http.Header, b.N)
	for i := range headers {
		hd := http.Header{"Content-Type": {"application/json"}}
		if err := signature.Standard().Sign(hd, signature.Message{ID: "msg-" + strconv.Itoa(i), Timestamp: testNow, Body: body}, []signature.Key{key}); err != nil {
			b.Fatal(err)
		}
		headers[i] = hd
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header = headers[i]
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkLoopbackMiddleware is a whole delivery over loopback TCP through the
// middleware (standard scheme, one key, in-memory seen store).
func BenchmarkLoopbackMiddleware(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			key, _ := newKey(b, "k1", 1)
			ks, _ := signature.NewKeySet(key)
			mw, err := receiver.New(receiver.Config{Keys: ks, Now: fixedNow})
			if err != nil {
				b.Fatal(err)
			}
			loopbackBench(b, s.size, mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			})))
		})
	}
}

// BenchmarkLoopbackBare is the same delivery to a handler that only reads the body.
func BenchmarkLoopbackBare(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			loopbackBench(b, s.size, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
			}))
		})
	}
}
