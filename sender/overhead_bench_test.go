package sender_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// ackTransport answers every request with 204 without touching the network, so the
// benchmarks below measure only what the client side does per delivery.
type ackTransport struct{}

func (ackTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// BenchmarkSendOverhead is the client-side cost of one delivery (encode, sign, build the
// request, classify, record) with the network replaced by an in-memory 204; "raw" is
// http.Client.Do of a prebuilt body over the same transport.
func BenchmarkSendOverhead(b *testing.B) {
	const url = "https://hooks.example.com/webhooks"
	b.Run("raw", func(b *testing.B) {
		ev := sndEvent(b, "envelope-completed")
		enc, _ := ev.Encode()
		body := enc.Body(0)
		client := &http.Client{Transport: ackTransport{}}
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("sender", func(b *testing.B) {
		key, _, _ := signature.Standard().GenerateKey("k1")
		keys, _ := signature.NewKeySet(key)
		s, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: ackTransport{}}, GuardedTransport: true})
		if err != nil {
			b.Fatal(err)
		}
		ep := sender.Endpoint{ID: "bench", URL: url, Keys: keys}
		ev := sndEvent(b, "envelope-completed")
		b.ReportAllocs()
		for b.Loop() {
			res, err := s.Send(context.Background(), ep, ev)
			if err != nil || !res.Delivered {
				b.Fatal(err)
			}
		}
	})
}
