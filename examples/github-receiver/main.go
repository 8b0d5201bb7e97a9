// Command github-receiver verifies GitHub-style webhooks (X-Hub-Signature-256:
// sha256=<hex HMAC of the raw body>) with the same hookkit receiver middleware that serves
// every other scheme.
//
// It first checks the test vector GitHub publishes in its documentation, then runs a
// listener that accepts push, pull_request and ping deliveries, acknowledges a redelivery
// without handling it twice, and refuses a wrong signature and a missing one.
//
// Run it with:
//
//	go run ./examples/github-receiver
//
// Everything runs on 127.0.0.1; the GitHub side is simulated by signing the payloads
// exactly as GitHub does.
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
		fmt.Fprintln(os.Stderr, "github-receiver:", err)
		os.Exit(1)
	}
}

// GitHub's documented example ("Validating webhook deliveries"): this secret and payload
// give this signature.
const (
	docSecret    = "It's a Secret to Everybody"
	docPayload   = "Hello, World!"
	docSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

// decodeGitHub turns a GitHub payload into an event for the middleware. GitHub bodies are
// not hookkit events: the event name travels in the X-GitHub-Event header, so the type is
// the fixed "github" and the handler reads the header. The id is left empty: the middleware
// then de-duplicates by the SHA-256 of the verified body, which a redelivery repeats.
func decodeGitHub(body []byte) (*event.Event, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("github payload: %w", err)
	}
	return &event.Event{
		Type:              "github",
		GeneratedDateTime: time.Now().UTC(),
		Data:              bytes.Clone(body), // the middleware reuses body's buffer
	}, nil
}

type pushPayload struct {
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Commits []struct {
		Message string `json:"message"`
	} `json:"commits"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

type pullRequestPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Title string `json:"title"`
	} `json:"pull_request"`
}

func run(ctx context.Context, w io.Writer) error {
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(w, format+"\n", args...)
	}
	scheme := signature.GitHub("") // X-Hub-Signature-256

	// 1. The same scheme verifies GitHub's published example.
	docKey, err := scheme.ParseKey("docs", docSecret)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("X-Hub-Signature-256", docSignature)
	if _, err := scheme.Verify(h, []byte(docPayload), []signature.Key{docKey}, signature.VerifyOptions{}); err != nil {
		return fmt.Errorf("GitHub's documented test vector: %w", err)
	}
	say("GitHub's documented test vector verifies: %s", docSignature)

	// 2. The listener. The webhook secret is the string entered in the repository settings.
	key, err := scheme.ParseKey("repo-hook", "c0rrect-h0rse-battery-staple-2026")
	if err != nil {
		return err
	}
	keys, err := signature.NewKeySet(key)
	if err != nil {
		return err
	}
	verify, err := receiver.New(receiver.Config{Scheme: scheme, Keys: keys, Decode: decodeGitHub})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	handled := map[string]int{}
	app := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ev, _ := receiver.EventFrom(r.Context())
		name := r.Header.Get("X-GitHub-Event") // safe to route on: the body it describes is verified
		mu.Lock()
		handled[name]++
		mu.Unlock()
		switch name {
		case "push":
			p, err := event.Decode[pushPayload](ev)
			if err != nil {
				http.Error(rw, "bad push payload", http.StatusUnprocessableEntity)
				return
			}
			say("  receiver: push to %s %s (%d commit(s), head %.7s)", p.Repository.FullName, p.Ref, len(p.Commits), p.After)
		case "pull_request":
			p, err := event.Decode[pullRequestPayload](ev)
			if err != nil {
				http.Error(rw, "bad pull_request payload", http.StatusUnprocessableEntity)
				return
			}
			say("  receiver: pull request #%d %s: %q", p.Number, p.Action, p.PullRequest.Title)
		case "ping":
			say("  receiver: ping — the hook is configured")
		default:
			say("  receiver: ignoring %q", name)
		}
		rw.WriteHeader(http.StatusNoContent)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /github", verify(app))
	base, stop, err := serve(mux)
	if err != nil {
		return err
	}
	defer stop()
	url := "http://" + base + "/github"
	say("receiver: %s", url)

	// 3. Deliveries, signed as GitHub signs them.
	push := `{"ref":"refs/heads/main","after":"9f2c1e7d0b4a5c3e","commits":[{"message":"Fix retry backoff"},{"message":"Add docs"}],"repository":{"full_name":"hookkit/demo"}}`
	pr := `{"action":"opened","number":42,"pull_request":{"title":"Rotate webhook keys"},"repository":{"full_name":"hookkit/demo"}}`
	wrongKey, err := scheme.ParseKey("attacker", "not-the-repository-secret")
	if err != nil {
		return err
	}
	steps := []struct {
		what, event, delivery, body string
		keys                        []signature.Key
		want                        int
	}{
		{"ping", "ping", "d-1", `{"zen":"Design for failure.","hook_id":1}`, []signature.Key{key}, http.StatusNoContent},
		{"push", "push", "d-2", push, []signature.Key{key}, http.StatusNoContent},
		{"pull request", "pull_request", "d-3", pr, []signature.Key{key}, http.StatusNoContent},
		{"redelivery of the push", "push", "d-2", push, []signature.Key{key}, http.StatusNoContent},
		{"wrong secret", "push", "d-4", push, []signature.Key{wrongKey}, http.StatusUnauthorized},
		{"no signature", "push", "d-5", push, nil, http.StatusUnauthorized},
	}
	for _, s := range steps {
		status, err := deliver(ctx, url, s.event, s.delivery, []byte(s.body), scheme, s.keys)
		if err != nil {
			return err
		}
		say("github: %-24s (X-GitHub-Event: %-12s) → %d %s", s.what, s.event, status, http.StatusText(status))
		if status != s.want {
			return fmt.Errorf("%s: got %d, want %d", s.what, status, s.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if handled["push"] != 1 || handled["pull_request"] != 1 || handled["ping"] != 1 {
		return errors.New("each genuine delivery must be handled exactly once")
	}
	say("handled: ping ×1, push ×1 (its redelivery acknowledged, not handled again), pull_request ×1")
	return nil
}

// deliver POSTs body as GitHub does, signed with keys (none: unsigned).
func deliver(ctx context.Context, url, name, delivery string, body []byte, scheme signature.Scheme, keys []signature.Key) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/demo")
	req.Header.Set("X-GitHub-Event", name)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if len(keys) > 0 {
		if err := scheme.Sign(req.Header, signature.Message{Body: body, Timestamp: time.Now()}, keys); err != nil {
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
