// Command slack-scheme plugs a signature scheme that hookkit does not ship, Slack's
// request signing, into the hookkit receiver middleware.
//
// The scheme (scheme.go) is written outside package signature and never sees the signing
// secret: it turns the secret into a signature.Key and signs and verifies with the key's
// capability, Key.AppendHMACSHA256. The program first checks the example Slack publishes
// in "Verifying requests from Slack", then runs a receiver with receiver.Config.Scheme set
// to the Slack scheme and sends it a slash command and an Events API event, a retry of the
// event, a stale replay, a forged request and an unsigned one.
//
// Run it with:
//
//	go run ./examples/slack-scheme
//
// Everything runs on 127.0.0.1; the Slack side is simulated by signing requests exactly as
// Slack does.
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
	"net/url"
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
		fmt.Fprintln(os.Stderr, "slack-scheme:", err)
		os.Exit(1)
	}
}

// Slack's documented example ("Verifying requests from Slack"): this signing secret,
// timestamp and slash-command body give this signature.
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = "1531420618"
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

// decodeSlack turns a Slack request body into an event for the middleware. Events API
// bodies are JSON: the type is "slack.<type>" and the id Slack's event_id, which a retry
// repeats, so a retry is acknowledged without reaching the handler again. Slash commands
// and interactions are form-encoded: the type is "slack.command" and the data the form's
// fields; the id is left empty, so the middleware de-duplicates by the body's SHA-256.
func decodeSlack(body []byte) (*event.Event, error) {
	if len(body) > 0 && body[0] == '{' {
		var env struct {
			Type    string `json:"type"`
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Type == "" {
			return nil, errors.New("slack events api body without a type")
		}
		return &event.Event{ID: env.EventID, Type: "slack." + env.Type, GeneratedDateTime: time.Now().UTC(),
			Data: bytes.Clone(body)}, nil // the middleware reuses body's buffer
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("slack body is neither json nor a form")
	}
	fields := make(map[string]string, len(form))
	for k := range form {
		fields[k] = form.Get(k)
	}
	data, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return &event.Event{Type: "slack.command", GeneratedDateTime: time.Now().UTC(), Data: data}, nil
}

func run(ctx context.Context, w io.Writer) error {
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(w, format+"\n", args...)
	}
	scheme := slackScheme{}

	// 1. The scheme verifies Slack's published example (at the example's own time: the
	// timestamp is from 2018, far outside the tolerance today).
	docKey, err := scheme.ParseKey("docs", docSecret)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set(headerTimestamp, docTimestamp)
	h.Set(headerSignature, docSignature)
	at := time.Unix(1531420618, 0)
	if _, err := scheme.Verify(h, []byte(docBody), []signature.Key{docKey}, signature.VerifyOptions{Now: func() time.Time { return at }}); err != nil {
		return fmt.Errorf("slack's documented example: %w", err)
	}
	say("Slack's documented example verifies: %s", docSignature)

	// 2. The receiver: the stock middleware with the Slack scheme plugged in.
	key, _, err := scheme.GenerateKey("slack-app")
	if err != nil {
		return err
	}
	keys, err := signature.NewKeySet(key)
	if err != nil {
		return err
	}
	verify, err := receiver.New(receiver.Config{Scheme: scheme, Keys: keys, Decode: decodeSlack})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	handled := map[string]int{}
	app := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ev, _ := receiver.EventFrom(r.Context())
		mu.Lock()
		handled[ev.Type]++
		mu.Unlock()
		switch ev.Type {
		case "slack.command":
			c, err := event.Decode[struct {
				Command  string `json:"command"`
				UserName string `json:"user_name"`
				Channel  string `json:"channel_name"`
			}](ev)
			if err != nil {
				http.Error(rw, "bad command", http.StatusUnprocessableEntity)
				return
			}
			say("  receiver: %s from %s in #%s", c.Command, c.UserName, c.Channel)
		case "slack.event_callback":
			cb, err := event.Decode[struct {
				Event struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"event"`
			}](ev)
			if err != nil {
				http.Error(rw, "bad event", http.StatusUnprocessableEntity)
				return
			}
			say("  receiver: %s %s: %q", ev.ID, cb.Event.Type, cb.Event.Text)
		default:
			say("  receiver: ignoring %s", ev.Type)
		}
		rw.WriteHeader(http.StatusOK) // Slack wants a 2xx within 3 seconds
	})
	mux := http.NewServeMux()
	mux.Handle("POST /slack", verify(app))
	base, stop, err := serve(mux)
	if err != nil {
		return err
	}
	defer stop()
	target := "http://" + base + "/slack"
	say("receiver: %s (scheme %q)", target, scheme.Name())

	// 3. Requests, signed as Slack signs them.
	mention := `{"type":"event_callback","event_id":"Ev0PV52K21","event":{"type":"app_mention","text":"<@U0LAN0Z89> is it everything a river should be?"}}`
	forger, _, err := scheme.GenerateKey("forger")
	if err != nil {
		return err
	}
	now := time.Now()
	steps := []struct {
		what, body string
		signedAt   time.Time
		keys       []signature.Key
		want       int
	}{
		{"slash command", docBody, now, []signature.Key{key}, http.StatusOK},
		{"app_mention event", mention, now, []signature.Key{key}, http.StatusOK},
		{"its retry (re-signed)", mention, now.Add(time.Second), []signature.Key{key}, http.StatusNoContent},
		{"replay 10 minutes old", docBody, now.Add(-10 * time.Minute), []signature.Key{key}, http.StatusUnauthorized},
		{"wrong secret", docBody, now, []signature.Key{forger}, http.StatusUnauthorized},
		{"no signature", docBody, now, nil, http.StatusUnauthorized},
	}
	for _, s := range steps {
		status, err := deliver(ctx, target, []byte(s.body), s.signedAt, s.keys)
		if err != nil {
			return err
		}
		say("slack: %-24s → %d %s", s.what, status, http.StatusText(status))
		if status != s.want {
			return fmt.Errorf("%s: got %d, want %d", s.what, status, s.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if handled["slack.command"] != 1 || handled["slack.event_callback"] != 1 {
		return errors.New("each genuine request must be handled exactly once")
	}
	say("handled: slash command ×1, app_mention ×1 (its retry acknowledged, not handled again)")
	return nil
}

// deliver POSTs body as Slack does, signed at signedAt with keys (none: unsigned).
func deliver(ctx context.Context, target string, body []byte, signedAt time.Time, keys []signature.Key) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if len(body) > 0 && body[0] == '{' {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	if len(keys) > 0 {
		if err := (slackScheme{}).Sign(req.Header, signature.Message{Body: body, Timestamp: signedAt}, keys); err != nil {
			return 0, err
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
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
