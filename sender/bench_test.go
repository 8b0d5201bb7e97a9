package sender_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/safenet"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// benchReceiver is a loopback receiver that reads the body and answers 204.
func benchReceiver(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// deliverSetup is what the delivery benchmarks share: one loopback receiver, one key,
// one event, and its body for the raw clients.
type deliverSetup struct {
	srv  *httptest.Server
	cfg  sender.Config
	keys *signature.KeySet
	ev   *event.Event
	body []byte
}

func newDeliverSetup(b *testing.B) *deliverSetup {
	d := &deliverSetup{srv: benchReceiver(b), cfg: sender.Config{AllowPrivate: true, AllowHTTP: true}, ev: sndEvent(b, "envelope-completed")}
	key, _, err := signature.Standard().GenerateKey("k1")
	require.NoError(b, err)
	d.keys, err = signature.NewKeySet(key)
	require.NoError(b, err)
	enc, err := d.ev.Encode()
	require.NoError(b, err)
	d.body = enc.Body(0)
	return d
}

// client is a raw http.Client over the transport settings Send uses.
func (d *deliverSetup) client(b *testing.B) *http.Client {
	c := &http.Client{Transport: sender.NewTransport(d.cfg), CheckRedirect: safenet.NoRedirect}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

// sender is a Sender and the endpoint of the receiver, signed with the setup's key.
func (d *deliverSetup) sender(b *testing.B) func() error {
	s, err := sender.New(d.cfg)
	require.NoError(b, err)
	b.Cleanup(s.CloseIdleConnections)
	ep := sender.Endpoint{ID: "bench", URL: d.srv.URL, Keys: d.keys}
	return func() error {
		_, err := s.Send(context.Background(), ep, d.ev)
		return err
	}
}

// post is a raw POST of the prebuilt body; signed adds the User-Agent and signature
// headers Send adds, so that the gap to Send is the sender's own work and not the
// format's extra header bytes.
func (d *deliverSetup) post(client *http.Client, signed bool) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, d.srv.URL, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if signed {
		req.Header.Set("User-Agent", sender.DefaultUserAgent)
		now := time.Now()
		if err := signature.Standard().Sign(req.Header, signature.Message{ID: d.ev.ID, Timestamp: now, Body: d.body}, d.keys.Active(now)); err != nil {
			return err
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// BenchmarkDeliver compares deliveries per second to a loopback receiver: Send (encode,
// sign with one key, bookkeeping) against a raw http.Client POST of the same body over
// the same transport settings (sender.NewTransport). Target: sender ≥ 0.85 × raw.
// raw-signed adds the same signature headers to the raw POST, which separates the cost of
// the format (more header bytes for both ends) from the sender's own work. Each side is
// its own sub-benchmark: compare them with BenchmarkDeliverPaired on a noisy machine.
func BenchmarkDeliver(b *testing.B) {
	d := newDeliverSetup(b)
	for _, parallel := range []bool{false, true} {
		mode := "serial"
		if parallel {
			mode = "parallel"
		}
		b.Run("raw/"+mode, func(b *testing.B) {
			client := d.client(b)
			runBench(b, parallel, func() error { return d.post(client, false) })
		})
		b.Run("raw-signed/"+mode, func(b *testing.B) {
			client := d.client(b)
			runBench(b, parallel, func() error { return d.post(client, true) })
		})
		b.Run("sender/"+mode, func(b *testing.B) {
			runBench(b, parallel, d.sender(b))
		})
	}
}

// BenchmarkDeliverPaired measures the same three sides as BenchmarkDeliver (raw, raw
// with the signature headers, Send) inside one run, alternating blocks of 50 deliveries
// per worker in rotating order, so that every side sees the same machine: on a shared VM
// whose speed drifts by ±20 % within minutes, separate runs compare different machines.
// It reports each side's deliveries/s and the ratios to raw; the target is
// sender/raw ≥ 0.85. b.N is the number of deliveries of each side.
func BenchmarkDeliverPaired(b *testing.B) {
	d := newDeliverSetup(b)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		name := "serial"
		if workers > 1 {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			rawClient, signedClient := d.client(b), d.client(b)
			runPaired(b, workers, []string{"raw", "raw-signed", "sender"}, []func() error{
				func() error { return d.post(rawClient, false) },
				func() error { return d.post(signedClient, true) },
				d.sender(b),
			})
		})
	}
}

// runPaired runs sides in alternating blocks of 50 deliveries per worker, rotating their
// order, until the last side has made b.N deliveries; it reports every side's
// deliveries/s and each side's ratio to the first.
func runPaired(b *testing.B, workers int, names []string, sides []func() error) {
	const block = 50
	elapsed := make([]time.Duration, len(sides))
	done := make([]int, len(sides))
	last := len(sides) - 1
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; done[last] < b.N; i++ {
		for j := range sides {
			side := (i + j) % len(sides)
			start := time.Now()
			if workers == 1 {
				for range block {
					if err := sides[side](); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				inParallel(workers, block, func() {
					if err := sides[side](); err != nil {
						b.Error(err)
					}
				})
			}
			elapsed[side] += time.Since(start)
			done[side] += block * workers
		}
	}
	b.StopTimer()
	rate := make([]float64, len(sides))
	for i := range sides {
		rate[i] = float64(done[i]) / elapsed[i].Seconds()
		b.ReportMetric(rate[i], names[i]+"-deliveries/s")
		if i > 0 {
			b.ReportMetric(rate[i]/rate[0], names[i]+"/"+names[0])
		}
	}
}

func runBench(b *testing.B, parallel bool, f func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := f(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for range b.N {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// tokenServer is a loopback OAuth2 token endpoint (TLS) that counts the tokens it issues.
type tokenServer struct {
	*httptest.Server
	issued atomic.Int64
}

func newTokenServer(tb testing.TB, lifetime time.Duration) *tokenServer {
	tb.Helper()
	ts := &tokenServer{}
	ts.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if id, secret, ok := r.BasicAuth(); !ok || id != "hookkit" || secret != "s3cr3t" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		n := ts.issued.Add(1)
		time.Sleep(5 * time.Millisecond) // a token endpoint is not instant
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, int(lifetime.Seconds()))
	}))
	tb.Cleanup(ts.Close)
	return ts
}

// credentials returns client-credentials OAuth2 for ts, fetching tokens through a guarded
// client that trusts ts's certificate and allows loopback.
func (ts *tokenServer) credentials(tb testing.TB) *auth.OAuth2 {
	tb.Helper()
	tr := safenet.NewTransport(safenet.Policy{AllowPrivate: true})
	tr.TLSClientConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	creds, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
		TokenURL: ts.URL + "/token", ClientID: "hookkit", ClientSecret: auth.NewPassword("s3cr3t"),
		AuthStyle: auth.AuthStyleHeader, HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: safenet.NoRedirect},
	})
	require.NoError(tb, err)
	return creds
}

// sendConcurrently makes n concurrent Sends and returns how many failed.
func sendConcurrently(s *sender.Sender, ep sender.Endpoint, n int, tb testing.TB) int64 {
	ev := sndEvent(tb, "envelope-sent")
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := s.Send(context.Background(), ep, ev); err != nil {
				failed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	return failed.Load()
}

// TestClientCredentialsOneTokenPerLifetime: 1,000 concurrent sends with client
// credentials against a loopback token endpoint make one token request.
func TestClientCredentialsOneTokenPerLifetime(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, time.Hour)
	var authorized atomic.Int64
	rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			authorized.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := loopbackSender(t, sender.Config{})
	failed := sendConcurrently(s, sender.Endpoint{URL: rc.URL, Credentials: ts.credentials(t)}, 1000, t)
	require.Zero(t, failed)
	require.Equal(t, int64(1), ts.issued.Load(), "one token request")
	require.Equal(t, int64(1000), authorized.Load())
}

// BenchmarkTokenPerLifetime runs batches of 1,000 concurrent sends, each batch with new
// client-credentials OAuth2 (a new token lifetime), and reports token requests per batch
// (want 1).
func BenchmarkTokenPerLifetime(b *testing.B) {
	ts := newTokenServer(b, time.Hour)
	srv := benchReceiver(b)
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	require.NoError(b, err)
	defer s.CloseIdleConnections()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		creds := ts.credentials(b)
		b.StartTimer()
		if failed := sendConcurrently(s, sender.Endpoint{URL: srv.URL, Credentials: creds}, 1000, b); failed > 0 {
			b.Fatalf("%d sends failed", failed)
		}
	}
	b.ReportMetric(float64(ts.issued.Load())/float64(b.N), "token-requests/1000-sends")
}
