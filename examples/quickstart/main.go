// Command quickstart shows hookkit end to end in one process, on 127.0.0.1:
//
//   - an OAuth2 authorization server (client credentials grant, RS256 JWT access tokens,
//     JWKS) standing in for your identity provider;
//   - a receiver: the hookkit middleware requiring BOTH a valid JWT bearer token (checked
//     against the JWKS: issuer, audience, expiry, scope) AND a valid Standard Webhooks
//     signature, in front of a router that dispatches by event type;
//   - a sender that fetches its token with OAuth2 client credentials, signs every delivery
//     and retries what can be retried.
//
// It publishes a few envelope events, one of them to a listener that fails twice before it
// succeeds, and prints in the order things happen what the receiver accepted or refused and
// each attempt as it finishes (through the sender's DeliveryObserver).
//
// Run it with:
//
//	go run ./examples/quickstart
//
// Everything listens on 127.0.0.1 only. hookkit's sender refuses loopback and private
// destinations by default (a webhook URL typed by a customer must not reach your
// internal network); this demo relaxes that guard explicitly, and only for itself.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

const (
	clientID     = "envelope-service"
	clientSecret = "demo-client-secret-7Hq2kV9s" // from your identity provider's console
	audience     = "https://receiver.example/webhooks"
	scope        = "webhooks:write"
)

// envelope is the data of the demo's events.
type envelope struct {
	EnvelopeID string `json:"envelopeId"`
	Subject    string `json:"subject"`
	Status     string `json:"status"`
}

// trace prints the demo's story; the receiver prints from its own goroutines.
type trace struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *trace) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, format+"\n", args...)
}

func run(ctx context.Context, w io.Writer) error {
	tr := &trace{w: w}

	// 1. The authorization server (your identity provider in real life).
	as, err := newAuthServer(clientID, clientSecret, audience, func(f string, a ...any) { tr.printf("    "+f, a...) })
	if err != nil {
		return err
	}
	asAddr, stopAS, err := serve(as)
	if err != nil {
		return err
	}
	defer stopAS()
	as.issuer = "http://" + asAddr
	tr.printf("authorization server  %s  (token %s, keys %s)", as.issuer, as.tokenURL(), as.jwksURL())

	// 2. The receiver. The signing secret is shared with the sender out of band; keygen (or
	// `hookkit keygen`) makes one in the Standard Webhooks text form, whsec_….
	scheme := signature.Standard()
	key, secretText, err := scheme.GenerateKey("2026-01")
	if err != nil {
		return err
	}
	receiverKeys, err := signature.NewKeySet(key)
	if err != nil {
		return err
	}
	jwtValidator, err := auth.NewJWTValidator(auth.JWTConfig{
		JWKSURL:  as.jwksURL(),
		Issuer:   as.issuer,
		Audience: audience,
		Scopes:   []string{scope},
		// demo only: the default client fetches keys from public addresses only.
		HTTPClient: loopbackClient(),
		AllowHTTP:  true, // demo only: the authorization server is plain http:// on loopback
	})
	if err != nil {
		return err
	}
	verify, err := receiver.New(receiver.Config{
		Keys:        receiverKeys, // a valid signature…
		Credentials: jwtValidator, // …AND a valid JWT bearer token
		Observer: receiver.RequestObserver{Rejected: func(_ context.Context, r receiver.Reason) {
			tr.printf("    receiver: refused (%s, %d)", r, r.Status())
		}},
	})
	if err != nil {
		return err
	}

	var accepted atomic.Int32
	router := receiver.NewRouter(receiver.RouterConfig{})
	handle := func(ctx context.Context, ev *event.Event) error {
		env, err := event.Decode[envelope](ev)
		if err != nil {
			return receiver.Permanent(err) // 422: do not retry a payload we cannot read
		}
		who := "?"
		if p, ok := receiver.PrincipalFrom(ctx); ok {
			who = p.Subject + " via " + p.Method
		}
		accepted.Add(1)
		tr.printf("    receiver: accepted %s for envelope %s %q (id %s, from %s)", ev.Type, env.EnvelopeID, env.Subject, ev.ID, who)
		return nil
	}
	for _, pattern := range []string{"envelope-completed", "envelope-*"} {
		if err := router.Handle(pattern, handle); err != nil {
			return err
		}
	}

	// The flaky listener fails twice (503, "database busy"), then works: the sender retries.
	var flakyCalls atomic.Int32
	flaky := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if n := flakyCalls.Add(1); n <= 2 {
			tr.printf("    flaky listener: database busy, answering 503 (call %d)", n)
			rw.Header().Set("Retry-After", "0")
			http.Error(rw, "busy", http.StatusServiceUnavailable)
			return
		}
		router.ServeHTTP(rw, r)
	})

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", verify(router))
	mux.Handle("POST /flaky-webhooks", verify(flaky))
	rcvAddr, stopRcv, err := serve(mux)
	if err != nil {
		return err
	}
	defer stopRcv()
	base := "http://" + rcvAddr
	tr.printf("receiver              %s/webhooks and %s/flaky-webhooks", base, base)
	tr.printf("                      requires a JWT from the authorization server (aud %s, scope %s)", audience, scope)
	tr.printf("                      AND a Standard Webhooks signature (key %q, a whsec_… secret shared with the sender)", key.ID)

	// 3. The sender: OAuth2 client credentials, the same secret, retries with backoff.
	creds, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
		TokenURL:     as.tokenURL(),
		AllowHTTP:    true, // demo only: the authorization server is plain http:// on loopback
		ClientID:     clientID,
		ClientSecret: auth.NewPassword(clientSecret),
		Scopes:       []string{scope},
		AuthStyle:    auth.AuthStyleHeader,
		HTTPClient:   loopbackClient(),
	})
	if err != nil {
		return err
	}
	senderKey, err := scheme.ParseKey("2026-01", secretText)
	if err != nil {
		return err
	}
	senderKeys, err := signature.NewKeySet(senderKey)
	if err != nil {
		return err
	}
	s, err := sender.New(sender.Config{
		AllowPrivate: true, // demo only: by default the sender refuses loopback addresses
		AllowHTTP:    true, // and plain http://
		Retry:        sender.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxAttempts: 5, MaxElapsedTime: 20 * time.Second},
		// Each attempt is printed as it finishes, after what the receiver printed while
		// handling it: the same hook feeds metrics and tracing in a real service.
		Observer: sender.DeliveryObserver{
			AttemptFinished: func(_ context.Context, _ sender.AttemptInfo, a sender.Attempt) {
				line := fmt.Sprintf("    attempt %d: ", a.Number)
				if a.Status != 0 {
					line += fmt.Sprintf("%d %s", a.Status, http.StatusText(a.Status))
				} else if a.Err != nil {
					line += a.Err.Error()
				}
				tr.printf("%s (%s)", line, a.Class)
			},
		},
	})
	if err != nil {
		return err
	}
	defer s.CloseIdleConnections()
	endpoint := func(path string) sender.Endpoint {
		return sender.Endpoint{ID: strings.TrimPrefix(path, "/"), URL: base + path, Scheme: scheme, Keys: senderKeys, Credentials: creds}
	}
	tr.printf("sender                OAuth2 client %q, retries with exponential backoff\n", clientID)

	// 4. Publish.
	deliveries := []struct {
		path string
		typ  string
		env  envelope
	}{
		{"/webhooks", "envelope-sent", envelope{"e-1001", "Lease renewal 2026", "sent"}},
		{"/webhooks", "envelope-delivered", envelope{"e-1001", "Lease renewal 2026", "delivered"}},
		{"/flaky-webhooks", "envelope-completed", envelope{"e-1001", "Lease renewal 2026", "completed"}},
		{"/webhooks", "envelope-declined", envelope{"e-1002", "NDA — Acme", "declined"}},
	}
	attempts := 0
	for _, d := range deliveries {
		ev, err := event.New(d.typ, d.env)
		if err != nil {
			return err
		}
		ev.APIVersion, ev.URI = "v2.1", "/envelopes/"+d.env.EnvelopeID
		tr.printf("→ %s %s to %s", ev.Type, d.env.EnvelopeID, d.path)
		res, err := s.Send(ctx, endpoint(d.path), ev) // the observer prints each attempt
		if res != nil {
			attempts += len(res.Attempts)
		}
		if err != nil {
			return fmt.Errorf("delivering %s: %w", ev.Type, err)
		}
		if !res.Delivered {
			return fmt.Errorf("%s was not delivered", ev.Type)
		}
		tr.printf("  delivered after %d attempt(s)\n", len(res.Attempts))
	}

	// 5. What the receiver refuses: the token alone or the signature alone is not enough.
	tr.printf("→ a delivery without a token, then one with a token but no signature")
	if err := refusedWithout(ctx, base+"/webhooks", creds, scheme, senderKey); err != nil {
		return err
	}

	tr.printf("\n%d events accepted in %d attempts; %d access token(s) issued", accepted.Load(), attempts, as.issued.Load())
	if int(accepted.Load()) != len(deliveries) || flakyCalls.Load() != 3 {
		return errors.New("the receiver did not accept every event exactly once")
	}
	return nil
}

// refusedWithout posts one request with a signature but no token, and one with a token but
// no signature, and checks that both get 401.
func refusedWithout(ctx context.Context, url string, creds auth.Credentials, scheme signature.Scheme, key signature.Key) error {
	ev, err := event.New("envelope-voided", envelope{EnvelopeID: "e-666", Subject: "forged", Status: "voided"})
	if err != nil {
		return err
	}
	enc, err := ev.Encode()
	if err != nil {
		return err
	}
	body := enc.Body(0)
	for _, withToken := range []bool{false, true} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if withToken {
			if err := creds.Apply(ctx, req); err != nil {
				return err
			}
		} else if err := scheme.Sign(req.Header, signature.Message{ID: ev.ID, Timestamp: time.Now(), Body: body}, []signature.Key{key}); err != nil {
			return err
		}
		resp, err := loopbackClient().Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("an incomplete delivery got %d, want 401", resp.StatusCode)
		}
	}
	return nil
}

// loopbackClient is a plain HTTP client for this demo's loopback servers: it does not
// follow redirects, but unlike hookkit's default client it may reach 127.0.0.1.
func loopbackClient() *http.Client {
	return &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// serve runs h on a free loopback port and returns its host:port and a stop function.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	// A receiver needs every server timeout: ReadHeaderTimeout and ReadTimeout stop a
	// client that sends its headers or body slowly from holding a connection (and the
	// receiver's body buffer) open, WriteTimeout bounds the handler and the answer,
	// IdleTimeout closes idle keep-alive connections.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
