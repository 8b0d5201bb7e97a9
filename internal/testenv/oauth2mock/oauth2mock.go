package oauth2mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long Start waits for the server's ready line.
const startTimeout = 20 * time.Second

// stopTimeout bounds how long cleanup waits for the server to exit after its
// stdin is closed before killing it.
const stopTimeout = 5 * time.Second

// Server is a running oauth2-mock-server instance bound to 127.0.0.1.
type Server struct {
	// Issuer is the issuer URL, "http://127.0.0.1:PORT" without a trailing
	// slash; it is the iss claim of every token the server issues.
	Issuer string
	// Port is the TCP port the server listens on.
	Port int
}

// TokenURL returns the token endpoint (POST, form-encoded; grant types
// client_credentials, password, authorization_code, refresh_token).
func (s *Server) TokenURL() string { return s.Issuer + "/token" }

// JWKSURL returns the JSON Web Key Set endpoint (GET) with the public keys
// that sign the server's tokens.
func (s *Server) JWKSURL() string { return s.Issuer + "/jwks" }

// IntrospectionURL returns the RFC 7662 token introspection endpoint (POST).
// Unless Options.StrictIntrospection is set, it answers {"active":true} for any
// request, as oauth2-mock-server does out of the box.
func (s *Server) IntrospectionURL() string { return s.Issuer + "/introspect" }

// DiscoveryURL returns the OpenID Connect discovery document URL.
func (s *Server) DiscoveryURL() string { return s.Issuer + "/.well-known/openid-configuration" }

// Options customizes the server started by StartWithOptions.
type Options struct {
	// Audience is the aud claim of access tokens whose request names no
	// audience ("aud", "audience" or "resource" parameter). Commas separate
	// several audiences. Empty means no aud claim.
	Audience string
	// Scope is the scope claim of access tokens whose request has no scope
	// parameter. Empty means no scope claim.
	Scope string
	// StrictIntrospection makes the introspection endpoint verify the token
	// (signature against the server's keys, iss, exp, nbf) and answer with its
	// claims, or {"active":false}.
	StrictIntrospection bool
}

// Start starts an oauth2-mock-server with default options for the duration
// of t. See StartWithOptions.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWithOptions(t, Options{})
}

// StartWithOptions starts an oauth2-mock-server configured by opts, waits
// until it listens, and stops it when t and its subtests finish. It skips t
// when node or the npm package is not installed (run install.sh), unless the
// CI environment variable is true, in which case it fails t.
func StartWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()

	dir, err := sourceDir()
	if err != nil {
		t.Fatalf("oauth2mock: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node not found in PATH: install Node.js ^20.19 and run internal/testenv/oauth2mock/install.sh")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth2-mock-server", "package.json")); err != nil {
		unavailable(t, "oauth2-mock-server is not installed: run internal/testenv/oauth2mock/install.sh")
	}

	args := []string{filepath.Join(dir, "server.js")}
	if opts.Audience != "" {
		args = append(args, "--audience="+opts.Audience)
	}
	if opts.Scope != "" {
		args = append(args, "--scope="+opts.Scope)
	}
	if opts.StrictIntrospection {
		args = append(args, "--strict-introspection")
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(os.Environ())
	ready := newLineWriter()
	cmd.Stdout = ready
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("oauth2mock: stdin pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("oauth2mock: start %s: %v", node, err)
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var exitErr error
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = stdin.Close() // server.js exits when its stdin closes
		select {
		case exitErr = <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			exitErr = <-exited
		}
	}
	t.Cleanup(func() {
		stop()
		if exitErr != nil {
			t.Logf("oauth2mock: server exited: %v; stderr:\n%s", exitErr, stderr.String())
		}
	})

	var line []byte
	select {
	case line = <-ready.line:
	case exitErr = <-exited:
		stopped = true
		t.Fatalf("oauth2mock: server exited before it was ready: %v; stderr:\n%s", exitErr, stderr.String())
	case <-time.After(startTimeout):
		stop()
		t.Fatalf("oauth2mock: server not ready after %v; stderr:\n%s", startTimeout, stderr.String())
	}

	var hello struct {
		Issuer string `json:"issuer"`
		Port   int    `json:"port"`
	}
	if err := json.Unmarshal(line, &hello); err != nil || hello.Issuer == "" || hello.Port == 0 {
		t.Fatalf("oauth2mock: bad ready line %q (err %v); stderr:\n%s", line, err, stderr.String())
	}
	return &Server{Issuer: strings.TrimSuffix(hello.Issuer, "/"), Port: hello.Port}
}

// unavailable skips t, or fails it when running in CI, where a missing server
// must not silently skip the end-to-end tests.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("oauth2mock: %s (CI is set, refusing to skip)", msg)
	}
	t.Skipf("oauth2mock: %s", msg)
}

// sourceDir returns the directory holding this source file, server.js and
// node_modules, wherever the calling test's package is.
func sourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the oauth2mock source directory")
	}
	return filepath.Dir(file), nil
}

// cleanEnv drops OAUTH2MOCK_* variables so that only Options configure server.js.
func cleanEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "OAUTH2MOCK_") {
			out = append(out, kv)
		}
	}
	return out
}

// lineWriter delivers the first complete line written to it on line and
// discards everything after.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	done bool
	line chan []byte
}

func newLineWriter() *lineWriter { return &lineWriter{line: make(chan []byte, 1)} }

// Write implements io.Writer.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
		w.done = true
		w.line <- bytes.TrimSpace(w.buf[:i])
		w.buf = nil
	}
	return len(p), nil
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns the bytes written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
