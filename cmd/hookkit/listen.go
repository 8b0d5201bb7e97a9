package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// shutdownTimeout bounds how long listen waits for deliveries in progress when it stops.
const shutdownTimeout = 10 * time.Second

func runListen(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "listen",
		`hookkit listen --addr HOST:PORT --scheme S --secret K […] [--path P] [--max-body BYTES] [--tolerance DUR]
         [--bearer TOKEN …] [--basic USER:PASS] [--jwks-url URL --issuer ISS [--audience AUD] [--scope S …]]
         [--introspect-url URL --client-id ID --client-secret S] [--allow-http] [--header-name NAME | --header-prefix PREFIX]`,
		`Runs the hookkit receiver middleware on HOST:PORT and PATH: every delivery must carry a
valid signature by one of the --secret keys (and, when credential flags are given, valid
credentials too: any one of --bearer, --basic, a JWT checked against --jwks-url, or a token
accepted by --introspect-url). Each accepted event is printed on stdout as one compact JSON
line; a redelivered event is acknowledged but not printed again. Logs go to stderr, starting
with the "listening" line that gives the address (--addr 127.0.0.1:0 picks a free port).
SIGINT or SIGTERM stops the listener cleanly. Any other path is answered 404 and any
method but POST 405, each with a problem+json body that names what the listener serves,
and logged.

Safety: --jwks-url and --introspect-url must be https:// unless --allow-http is given (over
plain http anyone on the path could substitute signing keys or answer "active").`)
	addr := fs.String("addr", "127.0.0.1:8080", "`HOST:PORT` to listen on (port 0 picks a free one)")
	var sf schemeFlags
	sf.register(fs)
	var secrets secretList
	fs.Var(&secrets, "secret", "verification secret `K` in the scheme's text form (repeat to accept several keys)")
	path := fs.String("path", "/webhooks", "URL path `P` that receives the webhooks")
	maxBody := fs.Int64("max-body", receiver.DefaultMaxBodyBytes, "largest accepted body in `BYTES`")
	tolerance := fs.Duration("tolerance", 0, "accepted age `DUR` of the signed timestamp (standard, stripe); 0: 5m")
	var bearers secretList
	fs.Var(&bearers, "bearer", "accept this bearer `TOKEN` (repeat for several)")
	var basics secretList
	fs.Var(&basics, "basic", "accept HTTP Basic credentials `USER:PASS` (repeat for several users)")
	jwksURL := fs.String("jwks-url", "", "accept JWT bearer tokens signed by a key of this JWKS `URL`")
	issuer := fs.String("issuer", "", "required JWT issuer (`ISS` claim) with --jwks-url")
	audience := fs.String("audience", "", "required JWT audience (`AUD`) with --jwks-url")
	var scopes stringList
	fs.Var(&scopes, "scope", "scope `S` the token must carry (repeat; JWT and introspection)")
	introspectURL := fs.String("introspect-url", "", "accept bearer tokens this RFC 7662 introspection `URL` says are active")
	clientID := fs.String("client-id", "", "client `ID` for --introspect-url")
	var clientSecret secretValue
	fs.Var(&clientSecret, "client-secret", "client secret `S` for --introspect-url")
	allowHTTP := fs.Bool("allow-http", false, "allow plain http:// for --jwks-url and --introspect-url (test servers)")
	seenDSN := fs.String("seen-store", "memory", seenStoreUsage)
	apiKeyDSN := fs.String("apikey-store", "", "accept the bearer tokens of this "+apiKeyStoreUsage+" (see hookkit apikey)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return unexpectedArgument(pos)
	}
	scheme, keys, err := schemeAndKeys(&sf, secrets)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(*path, "/") {
		return usagef("--path must start with /, got %q", *path)
	}
	if *maxBody <= 0 {
		return usagef("--max-body must be positive")
	}
	if *tolerance < 0 {
		return usagef("--tolerance must not be negative")
	}
	if err := checkAddr(ctx, *addr); err != nil {
		return err
	}

	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	var keyStore auth.APIKeyStore
	if *apiKeyDSN != "" {
		s, closeKeys, err := openAPIKeys(ctx, "apikey-store", *apiKeyDSN)
		if err != nil {
			return err
		}
		defer closeKeys()
		keyStore = s
	}
	validator, err := listenValidator(listenAuth{
		keyStore: keyStore, logger: logger,
		bearers: bearers, basics: basics,
		jwksURL: *jwksURL, issuer: *issuer, audience: *audience, scopes: scopes,
		introspectURL: *introspectURL, clientID: *clientID, clientSecret: clientSecret,
		allowHTTP: *allowHTTP,
	})
	if err != nil {
		return err
	}
	ks, err := signature.NewKeySet(keys...)
	if err != nil {
		return usagef("--secret: %v", err)
	}
	seen, closeSeen, err := openSeenStore(ctx, *seenDSN)
	if err != nil {
		return err
	}
	defer closeSeen()
	printer := &eventPrinter{w: e.stdout}
	verify, err := receiver.New(receiver.Config{
		Seen:         seen,
		Scheme:       scheme,
		Keys:         ks,
		Credentials:  validator,
		MaxBodyBytes: *maxBody,
		Tolerance:    *tolerance,
		Logger:       logger,
		Observer: receiver.RequestObserver{
			Duplicate: func(_ context.Context, id string) {
				logger.Info("duplicate acknowledged", "id", id)
			},
		},
	})
	if err != nil {
		return usagef("%v", err)
	}
	handler := verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, ok := receiver.EventFrom(r.Context())
		if !ok {
			http.Error(w, "no event", http.StatusInternalServerError)
			return
		}
		if err := printer.print(ev); err != nil {
			logger.Error("printing event", "id", ev.ID, "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		logger.Info("accepted", "id", ev.ID, "type", ev.Type)
		w.WriteHeader(http.StatusNoContent)
	}))
	routes := servePath(*path, handler, logger)

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           routes,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	bound := ln.Addr().String()
	logger.Info("listening", "addr", bound, "url", "http://"+bound+*path, "scheme", scheme.Name(), "keys", len(keys), "credentials", validator != nil)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// servePath routes POST path to handler, and answers every other request with a
// problem+json document (the shape of the receiver's: type, title, status, detail) that
// names what the listener serves: 404 for another path, 405 with Allow: POST for another
// method on path. Each is logged as one line (method and path, no query: it may carry
// tokens). The receiver middleware answers another method with 405 too, but its detail
// does not name the path.
func servePath(path string, handler http.Handler, logger *slog.Logger) http.Handler {
	serves := "this listener serves POST " + path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != path:
			logger.Info("not found", "method", logPath(r.Method), "path", logPath(r.URL.Path), "serves", "POST "+path)
			writeListenProblem(w, http.StatusNotFound, "not-found", "Not found", serves)
		case r.Method != http.MethodPost:
			logger.Info("method not allowed", "method", logPath(r.Method), "path", path, "serves", "POST "+path)
			w.Header().Set("Allow", http.MethodPost)
			writeListenProblem(w, http.StatusMethodNotAllowed, string(receiver.ReasonMethodNotAllowed), "Method not allowed", serves)
		default:
			handler.ServeHTTP(w, r)
		}
	})
}

// maxLogPath is the most of a request path (or method) the log lines of servePath show.
const maxLogPath = 100

// logPath shortens a client-chosen path or method for the log.
func logPath(p string) string {
	if len(p) > maxLogPath {
		return p[:maxLogPath] + "…"
	}
	return p
}

// writeListenProblem writes an RFC 9457 problem document in the receiver's shape, its type
// under receiver.ProblemTypeBase.
func writeListenProblem(w http.ResponseWriter, status int, reason, title, detail string) {
	body, err := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{receiver.ProblemTypeBase + reason, title, status, detail})
	if err != nil {
		http.Error(w, detail, status) // unreachable: only strings and an int
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// eventPrinter writes events as compact JSON lines, one writer at a time.
type eventPrinter struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *eventPrinter) print(ev any) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err = p.w.Write(append(line, '\n'))
	return err
}

// listenAuth holds the credential flags of listen.
type listenAuth struct {
	keyStore                auth.APIKeyStore // --apikey-store; nil when not given
	logger                  *slog.Logger
	bearers, basics         []string
	jwksURL, issuer         string
	audience                string
	scopes                  []string
	introspectURL, clientID string
	clientSecret            secretValue
	allowHTTP               bool // --allow-http: plain http:// JWKS and introspection URLs
}

// checkAddr validates --addr: HOST:PORT whose port is a number from 0 to 65535 (or a
// service name known to this machine). A bad port is a usage error, found before
// anything listens.
func checkAddr(ctx context.Context, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--addr must be HOST:PORT, got %q", addr)
	}
	if port == "" {
		return nil // as net.Listen: any free port
	}
	if _, err := strconv.ParseUint(port, 10, 16); err == nil {
		return nil
	}
	if isDigits(port) || strings.HasPrefix(port, "-") || strings.HasPrefix(port, "+") {
		return usagef("--addr %q: invalid port (want 0 to 65535)", addr)
	}
	// A service name such as "http": looked up locally (/etc/services).
	if _, err := net.DefaultResolver.LookupPort(ctx, "tcp", port); err != nil {
		return usagef("--addr %q: invalid port (want 0 to 65535, or a known service name)", addr)
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// listenValidator builds the credential validator from the flags: nil when none is given,
// the one validator, or AnyOf them all when several are (a delivery needs one valid
// credential, in addition to the signature).
func listenValidator(a listenAuth) (auth.Validator, error) {
	var vs []auth.Validator
	if a.keyStore != nil {
		v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: a.keyStore, Logger: a.logger})
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	if len(a.bearers) > 0 {
		digests := make([][32]byte, len(a.bearers))
		for i, t := range a.bearers {
			digests[i] = sha256.Sum256([]byte(t))
		}
		v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: auth.NewMemoryAPIKeys(digests...)})
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	if len(a.basics) > 0 {
		users := make(map[string]auth.Password, len(a.basics))
		for _, b := range a.basics {
			user, pass, ok := strings.Cut(b, ":")
			if !ok || user == "" {
				return nil, usagef("--basic wants USER:PASS")
			}
			if _, dup := users[user]; dup {
				return nil, usagef("--basic user %q given twice", user)
			}
			users[user] = auth.NewPassword(pass)
		}
		vs = append(vs, auth.NewBasicValidator(users))
	}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	switch {
	case a.jwksURL != "":
		if _, err := checkURLFlag("jwks-url", a.jwksURL, a.allowHTTP, " (for a test server)"); err != nil {
			return nil, err
		}
		if a.issuer == "" {
			return nil, usagef("--jwks-url needs --issuer")
		}
		v, err := auth.NewJWTValidator(auth.JWTConfig{
			JWKSURL:    a.jwksURL,
			Issuer:     a.issuer,
			Audience:   a.audience,
			Scopes:     a.scopes,
			HTTPClient: client,
			// --audience is optional: without it any audience is accepted.
			AnyAudience: a.audience == "",
			AllowHTTP:   a.allowHTTP,
		})
		if err != nil {
			return nil, usagef("%v", err)
		}
		vs = append(vs, v)
	case a.issuer != "" || a.audience != "":
		return nil, usagef("--issuer and --audience need --jwks-url")
	}
	switch {
	case a.introspectURL != "":
		if _, err := checkURLFlag("introspect-url", a.introspectURL, a.allowHTTP, " (for a test server)"); err != nil {
			return nil, err
		}
		if a.clientID == "" || !a.clientSecret.set {
			return nil, usagef("--introspect-url needs --client-id and --client-secret")
		}
		v, err := auth.NewIntrospectionValidator(auth.IntrospectionConfig{
			URL:          a.introspectURL,
			AllowHTTP:    a.allowHTTP,
			ClientID:     a.clientID,
			ClientSecret: auth.NewPassword(a.clientSecret.v),
			Scopes:       a.scopes,
			HTTPClient:   client,
		})
		if err != nil {
			return nil, usagef("%v", err)
		}
		vs = append(vs, v)
	case a.clientID != "" || a.clientSecret.set:
		return nil, usagef("--client-id and --client-secret need --introspect-url")
	}
	if len(a.scopes) > 0 && a.jwksURL == "" && a.introspectURL == "" {
		return nil, usagef("--scope needs --jwks-url or --introspect-url")
	}
	switch len(vs) {
	case 0:
		return nil, nil
	case 1:
		return vs[0], nil
	}
	return auth.AnyOf(vs...), nil
}
