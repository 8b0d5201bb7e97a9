package redisseen_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// clients is the number of keep-alive clients of BenchmarkReceiverThroughput.
const clients = 64

// BenchmarkReceiverThroughput is a listener under concurrency: 64 keep-alive clients post
// 1 KiB events, each with a new signed delivery id, to one loopback server, whose handler
// is, by sub-benchmark: bare (reads the body, 204), the middleware with the in-memory seen
// store, and the middleware with the Redis seen store. It reports requests/s; the ratios
// middleware/bare are taken from rounds that alternate the three (-count 1, repeated), and
// the Redis cost per request against BenchmarkRedisPing of the same run.
func BenchmarkReceiverThroughput(b *testing.B) {
	key, _, err := signature.Standard().GenerateKey("k1")
	if err != nil {
		b.Fatal(err)
	}
	ks, err := signature.NewKeySet(key)
	if err != nil {
		b.Fatal(err)
	}
	ev, err := event.New("envelope-completed", map[string]string{"pad": strings.Repeat("x", 1024-170)})
	if err != nil {
		b.Fatal(err)
	}
	enc, err := ev.Encode()
	if err != nil {
		b.Fatal(err)
	}
	body := enc.Body(0)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	c := newClient(b)
	redisStore := newStore(b, c, freshPrefix(b, c))
	memStore, err := receiver.NewMemorySeenStore(receiver.MemorySeenStoreConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		seen receiver.SeenStore // nil: bare
	}{{"handler=bare", nil}, {"handler=middleware-memory", memStore}, {"handler=middleware-redis", redisStore}} {
		b.Run(tc.name, func(b *testing.B) {
			h := http.Handler(bare)
			if tc.seen != nil {
				mw, err := receiver.New(receiver.Config{Keys: ks, Seen: tc.seen})
				if err != nil {
					b.Fatal(err)
				}
				h = mw(ok)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var next atomic.Int64
			b.SetParallelism((clients + 1) / 2) // × GOMAXPROCS (2 here) goroutines
			b.SetBytes(int64(len(body)))
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					id := "msg-" + strconv.FormatInt(next.Add(1), 10)
					if err := signature.Standard().Sign(req.Header, signature.Message{ID: id, Timestamp: time.Now(), Body: body}, []signature.Key{key}); err != nil {
						b.Error(err)
						return
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
		})
	}
}
