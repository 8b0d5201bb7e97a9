package receiver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// benchRequests returns one request whose body reader is reset each iteration, and the
// header sets to use: b.N of them with distinct delivery ids when distinct is true (so no
// iteration of the middleware is a duplicate), one otherwise.
func benchRequests(b *testing.B, size int, distinct bool) (*http.Request, *bytes.Reader, []http.Header) {
	b.Helper()
	key, _ := newKey(b, "k1", 1)
	body := eventBodyOfSize(b, "envelope-completed", "evt-bench", size)
	n := 1
	if distinct {
		n = b.N
	}
	headers := make([]http.Header, n)
	for i := range headers {
		h := http.Header{}
		if err := signature.Standard().Sign(h, signature.Message{ID: "msg-" + strconv.Itoa(i), Timestamp: testNow, Body: body}, []signature.Key{key}); err != nil {
			b.Fatal(err)
		}
		h.Set("Content-Type", "application/json")
		headers[i] = h
	}
	br := bytes.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "/webhooks", br)
	return r, br, headers
}

func runBench(b *testing.B, size int, distinct bool, h http.Handler) {
	r, br, headers := benchRequests(b, size, distinct)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br.Seek(0, io.SeekStart)
		r.Body = io.NopCloser(br)
		r.Header = headers[i%len(headers)]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkMiddleware is a full request through the middleware (standard scheme, one key,
// default in-memory seen store) to a handler that reads the restored body.
func BenchmarkMiddleware(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			key, _ := newKey(b, "k1", 1)
			ks, _ := signature.NewKeySet(key)
			mw, err := receiver.New(receiver.Config{Keys: ks, Now: fixedNow})
			if err != nil {
				b.Fatal(err)
			}
			runBench(b, s.size, true, mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			})))
		})
	}
}

// BenchmarkBareReadAll is the baseline: a handler that only reads the body with io.ReadAll.
func BenchmarkBareReadAll(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			runBench(b, s.size, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
			}))
		})
	}
}

// BenchmarkBarePooledRead is the baseline with the same pooled read the middleware uses.
func BenchmarkBarePooledRead(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			pool := sync.Pool{New: func() any { return new(bytes.Buffer) }}
			runBench(b, s.size, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				buf := pool.Get().(*bytes.Buffer)
				_, _ = buf.ReadFrom(r.Body)
				buf.Reset()
				pool.Put(buf)
			}))
		})
	}
}

// BenchmarkBareVerifyAndParse is the work any receiver must do by hand: read, verify the
// signature with signature.Standard and decode with event.Parse — no limits, credentials,
// de-duplication or context. The middleware's own overhead is the gap to this line.
func BenchmarkBareVerifyAndParse(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			key, _ := newKey(b, "k1", 1)
			keys := []signature.Key{key}
			scheme := signature.Standard()
			runBench(b, s.size, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if _, err := scheme.Verify(r.Header, body, keys, signature.VerifyOptions{Now: fixedNow}); err != nil {
					panic(err)
				}
				if _, err := event.Parse(body); err != nil {
					panic(fmt.Sprint(err))
				}
			}))
		})
	}
}
