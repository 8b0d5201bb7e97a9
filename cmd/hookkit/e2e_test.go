package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookkitBin is the CLI binary built once by TestMain; the end-to-end tests run it as a
// separate process, exactly as users and scripts do.
var hookkitBin string

func TestMain(m *testing.M) {
	if os.Getenv(reserveChildEnv) != "" {
		reserveChild() // a "replica" that reserves an id and waits to be killed
		return
	}
	dir, err := os.MkdirTemp("", "hookkit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	hookkitBin = filepath.Join(dir, "hookkit")
	args := []string{"build", "-o", hookkitBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the CLI:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	// A race-enabled binary sleeps 1 s at exit by default (to flush reports); not needed
	// here, and it would make every run of the CLI a second slower. A race it finds still
	// fails the test: the report goes to stderr and the exit status is 66.
	if err := os.Setenv("GORACE", "atexit_sleep_ms=0"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one run of the binary produced.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs the binary with args and stdin to completion.
func cli(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hookkitBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "running hookkit %v: %v", args, err)
		code = ee.ExitCode()
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// requireOneLineError checks the error contract: exactly one line on stderr, no stack trace.
func requireOneLineError(t *testing.T, r cliResult) {
	t.Helper()
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "stderr must be one line: %q", r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, "hookkit"), "stderr starts with the program name: %q", r.stderr)
	assert.NotContains(t, r.stderr, "goroutine")
	assert.NotContains(t, r.stderr, "panic")
}

// listener is a running `hookkit listen` process.
type listener struct {
	url    string // http://127.0.0.1:PORT/PATH
	addr   string
	cmd    *exec.Cmd
	events chan map[string]any // stdout, one decoded line each
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+) url=(\S+)`)

// startListen starts `hookkit listen --addr 127.0.0.1:0 args...` and waits for its
// "listening" log line. The process is stopped with SIGINT at the end of the test.
func startListen(t *testing.T, args ...string) *listener {
	t.Helper()
	l := &listener{events: make(chan map[string]any, 100), done: make(chan struct{})}
	l.cmd = exec.Command(hookkitBin, append([]string{"listen", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := l.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := l.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, l.cmd.Start())

	ready := make(chan [2]string, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			l.mu.Lock()
			l.stderr.WriteString(line + "\n")
			l.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				ready <- [2]string{m[1], m[2]}
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer close(l.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = map[string]any{"unparsable": sc.Text()}
			}
			l.events <- ev
		}
	}()
	go func() {
		wg.Wait()
		err := l.cmd.Wait()
		l.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			l.code = ee.ExitCode()
		}
		close(l.done)
	}()
	t.Cleanup(func() { l.stop(t) })

	select {
	case a := <-ready:
		l.addr, l.url = a[0], a[1]
	case <-l.done:
		t.Fatalf("hookkit listen exited with %d before listening: %s", l.code, l.logs())
	case <-time.After(15 * time.Second):
		_ = l.cmd.Process.Kill()
		t.Fatalf("hookkit listen did not report its address: %s", l.logs())
	}
	return l
}

func (l *listener) logs() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stderr.String()
}

// stop sends SIGINT and waits for the process; it returns the exit status.
func (l *listener) stop(t *testing.T) int {
	t.Helper()
	select {
	case <-l.done:
		return l.code
	default:
	}
	_ = l.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-l.done:
	case <-time.After(15 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.done
		t.Errorf("hookkit listen did not stop on SIGINT")
	}
	return l.code
}

// next returns the next event printed on stdout.
func (l *listener) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case ev, ok := <-l.events:
		require.True(t, ok, "listener stdout closed; logs: %s", l.logs())
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event printed; logs: %s", l.logs())
		return nil
	}
}

// noMoreEvents checks that nothing else was printed, after the in-flight output settled.
func (l *listener) noMoreEvents(t *testing.T) {
	t.Helper()
	select {
	case ev := <-l.events:
		t.Errorf("unexpected event printed: %v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

var schemes = []string{"standard", "docusign", "github", "stripe"}

// keygen returns a new secret for scheme from the CLI itself.
func keygen(t *testing.T, scheme string) string {
	t.Helper()
	r := cli(t, "", "keygen", "--scheme", scheme)
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	secret := strings.TrimSpace(r.stdout)
	require.NotEmpty(t, secret)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), "keygen prints one line")
	return secret
}

// headerArgs turns the output of sign into -H arguments for verify.
func headerArgs(t *testing.T, signOut string) []string {
	t.Helper()
	var args []string
	for _, line := range strings.Split(strings.TrimSpace(signOut), "\n") {
		require.Contains(t, line, ": ", "sign prints Name: value lines")
		args = append(args, "-H", line)
	}
	return args
}

// headerNames returns the lower-cased header names of sign's output.
func headerNames(signOut string) []string {
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(signOut), "\n") {
		name, _, _ := strings.Cut(line, ":")
		names = append(names, strings.ToLower(name))
	}
	return names
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const sampleBody = `{"id":"evt_e2e_1","event":"envelope-completed","retryCount":0,"configurationId":7,"generatedDateTime":"2026-01-02T03:04:05.1234567Z","data":{"envelopeId":"e-42"}}`

// sign and verify agree with each other for every scheme, including two keys during a
// rotation, and verify refuses wrong keys, changed bodies and missing headers with exit 1.
func TestE2ESignVerify(t *testing.T) {
	wantHeaders := map[string][]string{
		"standard": {"webhook-id", "webhook-timestamp", "webhook-signature"},
		"docusign": {"x-docusign-signature-1", "x-docusign-signature-2"},
		"github":   {"x-hub-signature-256"},
		"stripe":   {"stripe-signature"},
	}
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			oldKey, newKey, otherKey := keygen(t, scheme), keygen(t, scheme), keygen(t, scheme)
			file := writeFile(t, "body.json", sampleBody)

			signed := cli(t, "", "sign", "--scheme", scheme, "--secret", oldKey, "--secret", newKey, file)
			require.Equal(t, 0, signed.code, signed.stderr)
			names := headerNames(signed.stdout)
			if scheme == "github" {
				// GitHub's format has one signature: every key adds a value of the same header.
				assert.Subset(t, wantHeaders[scheme], names)
			} else {
				assert.Equal(t, wantHeaders[scheme], names)
			}
			assert.NotContains(t, signed.stdout, oldKey, "no secret in the output")
			h := headerArgs(t, signed.stdout)

			// Body from stdin signs the same as from the file.
			fromStdin := cli(t, sampleBody, "sign", "--scheme", scheme, "--secret", oldKey, "--secret", newKey, "--timestamp", "1767323045", "--id", "msg_1")
			fromFile := cli(t, "", "sign", "--scheme", scheme, "--secret", oldKey, "--secret", newKey, "--timestamp", "1767323045", "--id", "msg_1", file)
			require.Equal(t, 0, fromStdin.code, fromStdin.stderr)
			assert.Equal(t, fromFile.stdout, fromStdin.stdout, "same body, id and time: same headers")

			for _, key := range []string{oldKey, newKey} {
				ok := cli(t, "", append([]string{"verify", "--scheme", scheme, "--secret", key, file}, h...)...)
				assert.Equal(t, 0, ok.code, ok.stderr)
				assert.Contains(t, ok.stdout, "signature valid")
				assert.Empty(t, ok.stderr)
			}
			both := cli(t, sampleBody, append([]string{"verify", "--scheme", scheme, "--secret", otherKey, "--secret", newKey}, h...)...)
			assert.Equal(t, 0, both.code, "any key verifies: %s", both.stderr)

			wrong := cli(t, "", append([]string{"verify", "--scheme", scheme, "--secret", otherKey, file}, h...)...)
			assert.Equal(t, 1, wrong.code)
			requireOneLineError(t, wrong)
			assert.Contains(t, wrong.stderr, "invalid signature")
			assert.NotContains(t, wrong.stderr, otherKey)

			tampered := cli(t, strings.Replace(sampleBody, "e-42", "e-43", 1),
				append([]string{"verify", "--scheme", scheme, "--secret", newKey}, h...)...)
			assert.Equal(t, 1, tampered.code)
			requireOneLineError(t, tampered)

			none := cli(t, "", "verify", "--scheme", scheme, "--secret", newKey, file)
			assert.Equal(t, 1, none.code)
			requireOneLineError(t, none)
		})
	}
}

// For the schemes with a signed timestamp, verify applies the tolerance, and --now and
// --tolerance move the window.
func TestE2EVerifyTimestamp(t *testing.T) {
	for _, scheme := range []string{"standard", "stripe"} {
		t.Run(scheme, func(t *testing.T) {
			key := keygen(t, scheme)
			file := writeFile(t, "body.json", sampleBody)
			signedAt := time.Now().Add(-time.Hour).Unix()
			signed := cli(t, "", "sign", "--scheme", scheme, "--secret", key, "--timestamp", fmt.Sprint(signedAt), file)
			require.Equal(t, 0, signed.code, signed.stderr)
			h := headerArgs(t, signed.stdout)
			base := append([]string{"verify", "--scheme", scheme, "--secret", key, file}, h...)

			old := cli(t, "", base...)
			assert.Equal(t, 1, old.code, "an hour old is outside the default 5m")
			requireOneLineError(t, old)
			assert.Contains(t, old.stderr, "timestamp")

			then := cli(t, "", append(base, "--now", fmt.Sprint(signedAt+60))...)
			assert.Equal(t, 0, then.code, then.stderr)
			assert.Contains(t, then.stdout, fmt.Sprint(signedAt))

			wide := cli(t, "", append(base, "--tolerance", "2h")...)
			assert.Equal(t, 0, wide.code, wide.stderr)
		})
	}
}

// sendResult is the JSON that send prints.
type sendResult struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Delivered bool   `json:"delivered"`
	Attempts  []struct {
		Attempt  int    `json:"attempt"`
		Status   int    `json:"status"`
		Duration string `json:"duration"`
		Class    string `json:"class"`
		Error    string `json:"error"`
	} `json:"attempts"`
	Duration string `json:"duration"`
	Error    string `json:"error"`
}

// sendCLI runs send and decodes its JSON result (every run that got as far as sending
// prints one).
func sendCLI(t *testing.T, args ...string) (sendResult, cliResult) {
	t.Helper()
	r := cli(t, "", append([]string{"send"}, args...)...)
	var res sendResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), "send stdout %q stderr %q", r.stdout, r.stderr)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), "one JSON line")
	for _, a := range res.Attempts {
		_, err := time.ParseDuration(a.Duration)
		assert.NoError(t, err, "attempt duration %q", a.Duration)
	}
	return res, r
}

// send delivers to listen for every scheme: the event is printed once as JSON, a
// redelivery of the same id is acknowledged without a second line, a wrong key is refused
// (exit 1, no retry of a 401), and SIGINT stops the listener with exit 0.
func TestE2EListenSend(t *testing.T) {
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			oldKey, newKey := keygen(t, scheme), keygen(t, scheme)
			l := startListen(t, "--scheme", scheme, "--secret", oldKey, "--secret", newKey, "--path", "/hooks/"+scheme)
			assert.True(t, strings.HasSuffix(l.url, "/hooks/"+scheme), l.url)

			id := "evt_" + scheme + "_1"
			base := []string{"--url", l.url, "--scheme", scheme, "--type", "envelope-completed",
				"--data", `{"envelopeId":"e-7","signers":[{"name":"Ada"}]}`, "--id", id, "--allow-private", "--allow-http", "--quiet"}
			res, r := sendCLI(t, append(base, "--secret", newKey)...)
			require.Equal(t, 0, r.code, "stderr %s; listener %s", r.stderr, l.logs())
			assert.Empty(t, r.stderr)
			assert.True(t, res.Delivered)
			assert.Equal(t, id, res.ID)
			assert.Equal(t, "envelope-completed", res.Type)
			require.Len(t, res.Attempts, 1)
			assert.Equal(t, 204, res.Attempts[0].Status)
			assert.Equal(t, 1, res.Attempts[0].Attempt)

			ev := l.next(t)
			assert.Equal(t, id, ev["id"])
			assert.Equal(t, "envelope-completed", ev["event"])
			assert.Equal(t, map[string]any{"envelopeId": "e-7", "signers": []any{map[string]any{"name": "Ada"}}}, ev["data"])

			// The same event again, signed with the other key (a rotation in progress):
			// acknowledged, not printed again.
			res, r = sendCLI(t, append(base, "--secret", oldKey)...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.True(t, res.Delivered)
			l.noMoreEvents(t)

			// A key the listener does not know: 401, final, exit 1.
			res, r = sendCLI(t, "--url", l.url, "--scheme", scheme, "--secret", keygen(t, scheme), "--type", "envelope-sent",
				"--max-attempts", "3", "--allow-private", "--allow-http", "--quiet")
			assert.Equal(t, 1, r.code)
			requireOneLineError(t, r)
			assert.False(t, res.Delivered)
			require.Len(t, res.Attempts, 1, "a 401 is not retried")
			assert.Equal(t, 401, res.Attempts[0].Status)
			assert.Contains(t, res.Attempts[0].Error, "Invalid signature", "the listener's problem document says why")
			l.noMoreEvents(t)

			// --data @FILE.
			file := writeFile(t, "data.json", `{"envelopeId":"e-8"}`)
			res, r = sendCLI(t, "--url", l.url, "--scheme", scheme, "--secret", oldKey, "--type", "envelope-sent",
				"--data", "@"+file, "--allow-private", "--allow-http")
			require.Equal(t, 0, r.code, r.stderr)
			ev = l.next(t)
			assert.Equal(t, res.ID, ev["id"])
			assert.Equal(t, map[string]any{"envelopeId": "e-8"}, ev["data"])

			assert.Equal(t, 0, l.stop(t), "SIGINT stops listen cleanly")
			assert.Contains(t, l.logs(), "msg=stopped")
			assert.NotContains(t, l.logs(), oldKey)
			assert.NotContains(t, l.logs(), newKey)
		})
	}
}

// sign's output, given to curl-like clients, is accepted by listen: a hand-built request
// with the headers of `hookkit sign` goes through.
func TestE2ESignThenListen(t *testing.T) {
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key)
	body := fmt.Sprintf(`{"id":"evt_manual","event":"ping","retryCount":0,"configurationId":0,"generatedDateTime":%q,"data":{}}`,
		time.Now().UTC().Format(time.RFC3339))
	signed := cli(t, body, "sign", "--secret", key)
	require.Equal(t, 0, signed.code, signed.stderr)
	status := postWithHeaders(t, l.url, body, signed.stdout)
	assert.Equal(t, 204, status)
	assert.Equal(t, "evt_manual", l.next(t)["id"])

	// Replaying the exact same request is acknowledged once more but not printed.
	assert.Equal(t, 204, postWithHeaders(t, l.url, body, signed.stdout))
	l.noMoreEvents(t)
	// An unsigned request is refused.
	assert.Equal(t, 401, postWithHeaders(t, l.url, body, ""))
}

func postWithHeaders(t *testing.T, url, body, headerLines string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(headerLines), "\n") {
		if name, value, ok := strings.Cut(line, ": "); ok {
			req.Header.Set(name, value)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Credentials on listen: a static bearer token and Basic are required in addition to the
// signature; send without them (or with wrong ones) gets 401 and exit 1.
func TestE2ECredentials(t *testing.T) {
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key, "--bearer", "tok-123-abcdefghijklmnop", "--basic", "connect:s3cret-pass")
	base := []string{"--url", l.url, "--secret", key, "--type", "envelope-sent", "--allow-private", "--allow-http", "--max-attempts", "2"}
	tests := []struct {
		name  string
		creds []string
		code  int
	}{
		{"no credentials", nil, 1},
		{"wrong bearer", []string{"--bearer", "tok-999"}, 1},
		{"wrong password", []string{"--basic", "connect:nope", "--allow-insecure-basic"}, 1},
		{"bearer", []string{"--bearer", "tok-123-abcdefghijklmnop"}, 0},
		{"basic", []string{"--basic", "connect:s3cret-pass", "--allow-insecure-basic"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, r := sendCLI(t, append(base, tt.creds...)...)
			assert.Equal(t, tt.code, r.code, r.stderr)
			if tt.code != 0 {
				require.Len(t, res.Attempts, 1, "401 is final")
				assert.Equal(t, 401, res.Attempts[0].Status)
				l.noMoreEvents(t)
				return
			}
			assert.Equal(t, res.ID, l.next(t)["id"])
		})
	}
	// The right token but no signature is still refused: both are required.
	assert.Equal(t, 401, postWithHeaders(t, l.url, `{"id":"x","event":"a","data":{}}`, "Authorization: Bearer tok-123-abcdefghijklmnop"))
	assert.NotContains(t, l.logs(), "tok-123")
	assert.NotContains(t, l.logs(), "s3cret-pass")
}

// send's safety rules: plain http:// needs --allow-http, and a loopback destination needs
// --allow-private even with --allow-http (the dialer refuses it: nothing reaches the
// listener); --allow-private alone does not allow plain http://. Each refusal names the
// flag that lifts it.
func TestE2ESendSafety(t *testing.T) {
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key)
	base := []string{"--url", l.url, "--secret", key, "--type", "envelope-sent", "--max-attempts", "2", "--quiet"}

	r := cli(t, "", append([]string{"send"}, base...)...)
	assert.Equal(t, 2, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "use --allow-http")

	res, r := sendCLI(t, append(base, "--allow-http")...)
	assert.Equal(t, 1, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "use --allow-private")
	assert.False(t, res.Delivered)
	require.Len(t, res.Attempts, 1, "a refused destination is not retried")
	assert.Contains(t, res.Attempts[0].Error, "refused")
	l.noMoreEvents(t)
	assert.NotContains(t, l.logs(), "accepted")

	r = cli(t, "", append([]string{"send"}, append(base, "--allow-private")...)...)
	assert.Equal(t, 2, r.code, "--allow-private does not imply --allow-http")
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "use --allow-http")

	_, r = sendCLI(t, append(base, "--allow-private", "--allow-http")...)
	assert.Equal(t, 0, r.code, r.stderr)
	l.next(t)
}

// Retries: a receiver that fails twice (503) then acknowledges gets the event on the third
// attempt, and send reports every attempt; with --max-attempts 2 it gives up with exit 1.
func TestE2ESendRetries(t *testing.T) {
	key := keygen(t, "standard")
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n%3 != 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	base := []string{"--url", srv.URL, "--secret", key, "--type", "envelope-sent", "--allow-private", "--allow-http", "--quiet"}

	res, r := sendCLI(t, append(base, "--max-attempts", "3")...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, res.Attempts, 3)
	assert.Equal(t, []int{503, 503, 204}, []int{res.Attempts[0].Status, res.Attempts[1].Status, res.Attempts[2].Status})
	assert.NotEqual(t, res.Attempts[0].Class, res.Attempts[2].Class)

	res, r = sendCLI(t, append(base, "--max-attempts", "2")...)
	assert.Equal(t, 1, r.code)
	requireOneLineError(t, r)
	assert.False(t, res.Delivered)
	assert.Len(t, res.Attempts, 2)
}

// Bad flags exit 2 and --help exits 0 in the real binary too.
func TestE2EExitCodes(t *testing.T) {
	for _, c := range commands {
		r := cli(t, "", c.name, "--help")
		assert.Equal(t, 0, r.code, c.name)
		assert.Contains(t, r.stdout, "Usage:")
		r = cli(t, "", c.name, "--no-such-flag")
		assert.Equal(t, 2, r.code, c.name)
		requireOneLineError(t, r)
	}
	r := cli(t, "", "--help")
	assert.Equal(t, 0, r.code)
	r = cli(t, "")
	assert.Equal(t, 2, r.code)
	requireOneLineError(t, r)

	// listen on a busy port fails (exit 1) with one line.
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key)
	r = cli(t, "", "listen", "--secret", key, "--addr", l.addr)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "address already in use")
}
