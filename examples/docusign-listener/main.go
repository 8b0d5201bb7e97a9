// Command docusign-listener receives DocuSign Connect-style webhooks: JSON "SIM" messages
// (event, apiVersion, uri, retryCount, configurationId, generatedDateTime, data) signed with
// HMAC-SHA256 keys, one X-DocuSign-Signature-N header per active key.
//
// It walks through a key rotation the way an account admin does it in DocuSign: a second
// HMAC key is added (DocuSign then signs with both), the listener trusts both, DocuSign drops
// the old key, and finally the listener drops it too. No delivery is rejected on the way;
// a forged message and one signed with the retired key are.
//
// Run it with:
//
//	go run ./examples/docusign-listener
//
// Everything runs on 127.0.0.1; the "DocuSign" side is simulated by signing the messages
// exactly as Connect does.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "docusign-listener:", err)
		os.Exit(1)
	}
}

// envelopeData is the "data" object of a Connect SIM message (the fields this listener uses).
type envelopeData struct {
	AccountID  string `json:"accountId"`
	UserID     string `json:"userId"`
	EnvelopeID string `json:"envelopeId"`
}

// connect plays DocuSign Connect: it signs each message with every HMAC key configured in
// the account and POSTs it to the listener.
type connect struct {
	url    string
	scheme signature.Scheme
	keys   []signature.Key
	seq    int
}

// deliver posts one envelope event and returns the HTTP status the listener answered.
func (c *connect) deliver(ctx context.Context, typ, envelopeID string, forge bool) (int, error) {
	c.seq++
	// A SIM message as Connect sends it (generatedDateTime carries 7 fractional digits).
	body := fmt.Sprintf(`{"event":%q,"apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/a7f1/envelopes/%s",`+
		`"retryCount":0,"configurationId":10472,"generatedDateTime":"%s",`+
		`"id":"connect-msg-%d","data":{"accountId":"a7f1","userId":"u-31","envelopeId":%q}}`,
		typ, envelopeID, time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z"), c.seq, envelopeID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.scheme.Sign(req.Header, signature.Message{Body: []byte(body), Timestamp: time.Now()}, c.keys); err != nil {
		return 0, err
	}
	if forge {
		// Someone who does not hold a key changes the envelope after it was signed.
		req.Body = io.NopCloser(bytes.NewReader(bytes.Replace([]byte(body), []byte(envelopeID), []byte("e-forged"), 1)))
		req.ContentLength = -1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func run(ctx context.Context, w io.Writer) error {
	var outMu sync.Mutex // the listener prints from its own goroutines
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(w, format+"\n", args...)
	}
	scheme := signature.DocuSign("") // X-DocuSign-Signature-1, -2, …

	// The HMAC keys as the DocuSign admin console shows them (base64 strings; the key is the
	// string's bytes). Real code reads them from a secret store.
	oldKey, err := scheme.ParseKey("connect-key-2025", "Qk1xR3pXb0t4c1ZqN2hZdE5wUmZhTGU0d0RtM1VjSWs=")
	if err != nil {
		return err
	}
	newKey, err := scheme.ParseKey("connect-key-2026", "c1Z0a0Q5bkx3UXhQajJtWWVGcjZUdUJoOEdzM0tjQVo=")
	if err != nil {
		return err
	}

	// The listener: middleware (HMAC signature, de-duplication, SIM decoding) + router.
	keys, err := signature.NewKeySet(oldKey)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var completed []string
	router := receiver.NewRouter(receiver.RouterConfig{})
	if err := router.Handle("envelope-completed", func(_ context.Context, ev *event.Event) error {
		d, err := event.Decode[envelopeData](ev)
		if err != nil {
			return receiver.Permanent(err)
		}
		mu.Lock()
		completed = append(completed, d.EnvelopeID)
		mu.Unlock()
		say("  listener: envelope %s completed — downloading the signed documents", d.EnvelopeID)
		return nil
	}); err != nil {
		return err
	}
	if err := router.Handle("envelope-*", func(_ context.Context, ev *event.Event) error {
		d, err := event.Decode[envelopeData](ev)
		if err != nil {
			return receiver.Permanent(err)
		}
		say("  listener: %s for envelope %s (configuration %d, generated %s)",
			ev.Type, d.EnvelopeID, ev.ConfigurationID, ev.GeneratedDateTime.Format(time.RFC3339))
		return nil
	}); err != nil {
		return err
	}
	verify, err := receiver.New(receiver.Config{Scheme: scheme, Keys: keys})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /docusign/connect", verify(router))
	base, stop, err := serve(mux)
	if err != nil {
		return err
	}
	defer stop()
	say("listener: http://%s/docusign/connect trusts %s", base, oldKey.ID)

	ds := &connect{url: "http://" + base + "/docusign/connect", scheme: scheme}
	expect := func(step, typ, envelopeID string, forge bool, want int) error {
		status, err := ds.deliver(ctx, typ, envelopeID, forge)
		if err != nil {
			return err
		}
		say("  connect: %-18s %-8s signed with %d key(s) → %d %s", typ, envelopeID, len(ds.keys), status, http.StatusText(status))
		if status != want {
			return fmt.Errorf("%s: got %d, want %d", step, status, want)
		}
		return nil
	}

	say("\n1. DocuSign signs with the current key only")
	ds.keys = []signature.Key{oldKey}
	if err := expect("old key", "envelope-sent", "e-1001", false, http.StatusNoContent); err != nil {
		return err
	}

	say("\n2. The admin adds a second HMAC key: DocuSign now signs with both, the listener trusts both")
	ds.keys = []signature.Key{oldKey, newKey}
	if err := keys.Replace(oldKey, newKey); err != nil {
		return err
	}
	if err := expect("both keys", "envelope-delivered", "e-1001", false, http.StatusNoContent); err != nil {
		return err
	}

	say("\n3. The admin removes the old key in DocuSign: messages carry only the new signature")
	ds.keys = []signature.Key{newKey}
	if err := expect("new key", "envelope-completed", "e-1001", false, http.StatusNoContent); err != nil {
		return err
	}

	say("\n4. A forged message (body changed after signing) is refused")
	if err := expect("forged", "envelope-completed", "e-1002", true, http.StatusUnauthorized); err != nil {
		return err
	}

	say("\n5. The listener retires the old key: a message signed only with it is refused")
	if err := keys.Replace(newKey); err != nil {
		return err
	}
	ds.keys = []signature.Key{oldKey}
	if err := expect("retired key", "envelope-voided", "e-1003", false, http.StatusUnauthorized); err != nil {
		return err
	}
	ds.keys = []signature.Key{newKey}
	if err := expect("after rotation", "envelope-completed", "e-1004", false, http.StatusNoContent); err != nil {
		return err
	}

	mu.Lock()
	defer mu.Unlock()
	if len(completed) != 2 {
		return errors.New("the listener did not complete exactly two envelopes")
	}
	out, _ := json.Marshal(completed)
	say("\ncompleted envelopes: %s — rotation done with no genuine message rejected", out)
	return nil
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
