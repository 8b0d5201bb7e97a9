package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/signature"
)

// problemDoc is the problem+json body of the listener and the receiver.
type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// request sends method to url with body and returns the response's status, headers and
// decoded problem document (zero when the body is not JSON).
func request(t *testing.T, method, url, body string) (int, http.Header, problemDoc, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var p problemDoc
	_ = json.Unmarshal(raw, &p)
	return resp.StatusCode, resp.Header, p, string(raw)
}

// waitLog waits until the listener's stderr has a line matching re (the log line is written
// by the request goroutine, possibly after the response reached the client).
func waitLog(t *testing.T, l *listener, re *regexp.Regexp) string {
	t.Helper()
	var line string
	require.Eventually(t, func() bool {
		line = re.FindString(l.logs())
		return line != ""
	}, 10*time.Second, 10*time.Millisecond, "no log line matching %s; logs: %s", re, l.logs())
	return line
}

// A request to a path the listener does not serve gets a 404 problem+json document in the
// receiver's shape whose detail names the path it serves (not Go's plain "404 page not
// found"), and one log line on stderr with the method and path, but not the query.
func TestListenWrongPathAnswersProblemJSONNamingThePath(t *testing.T) {
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key, "--path", "/hooks")
	base := strings.TrimSuffix(l.url, "/hooks")

	for _, method := range []string{http.MethodPost, http.MethodGet} {
		status, h, p, raw := request(t, method, base+"/webhooks?token="+leak, `{}`)
		assert.Equal(t, http.StatusNotFound, status, raw)
		assert.Equal(t, "application/problem+json", h.Get("Content-Type"))
		assert.Equal(t, problemDoc{
			Type:   "https://hookkit.dev/problems/not-found",
			Title:  "Not found",
			Status: 404,
			Detail: "this listener serves POST /hooks",
		}, p, raw)
	}
	line := waitLog(t, l, regexp.MustCompile(`(?m)^.*msg="not found" method=GET path=/webhooks .*$`))
	assert.Contains(t, line, `serves="POST /hooks"`)
	assert.Equal(t, 2, strings.Count(l.logs(), `msg="not found"`), "one line per request: %s", l.logs())
	assert.NotContains(t, l.logs(), leak, "the query is not logged")
	l.noMoreEvents(t)
}

// A method other than POST on the served path gets 405 with Allow: POST and a problem+json
// document naming what the listener serves, and is logged.
func TestListenWrongMethodAnswers405ProblemJSONWithAllow(t *testing.T) {
	key := keygen(t, "standard")
	l := startListen(t, "--secret", key, "--path", "/hooks")

	for _, method := range []string{http.MethodGet, http.MethodPut} {
		status, h, p, raw := request(t, method, l.url, `{}`)
		assert.Equal(t, http.StatusMethodNotAllowed, status, raw)
		assert.Equal(t, "POST", h.Get("Allow"))
		assert.Equal(t, "application/problem+json", h.Get("Content-Type"))
		assert.Equal(t, problemDoc{
			Type:   "https://hookkit.dev/problems/method-not-allowed",
			Title:  "Method not allowed",
			Status: 405,
			Detail: "this listener serves POST /hooks",
		}, p, raw)
	}
	waitLog(t, l, regexp.MustCompile(`msg="method not allowed" method=PUT path=/hooks`))
	l.noMoreEvents(t)
}

// webhookID returns the value of the webhook-id line of sign's output.
func webhookID(t *testing.T, signOut string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Webhook-Id: (.*)$`).FindStringSubmatch(signOut)
	require.NotNil(t, m, "no webhook-id in %q", signOut)
	return m[1]
}

// sign takes the webhook-id from the body's "id" when it has one, so the header id and the
// event id agree; --id still wins, with a warning on stderr when it differs from the
// body's; a body without an id (or with one that cannot be a webhook-id) gets a random id.
func TestSignDefaultsIDToTheBodysID(t *testing.T) {
	signArgs := []string{"sign", "--secret", testKey, "--timestamp", "1767323045"}

	r := runIn(t, sampleBody, signArgs...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "evt_e2e_1", webhookID(t, r.stdout), "the body's id")
	assert.Empty(t, r.stderr)

	r = runIn(t, sampleBody, append(signArgs, "--id", "evt_e2e_1")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "evt_e2e_1", webhookID(t, r.stdout))
	assert.Empty(t, r.stderr, "--id equal to the body's: no warning")

	r = runIn(t, sampleBody, append(signArgs, "--id", "msg_other")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "msg_other", webhookID(t, r.stdout), "--id wins")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	assert.Contains(t, r.stderr, "warning")
	assert.Contains(t, r.stderr, `--id "msg_other" differs from the body's id "evt_e2e_1"`)

	noID := `{"event":"ping","data":{}}`
	a, b := runIn(t, noID, signArgs...), runIn(t, noID, signArgs...)
	require.Equal(t, exitOK, a.code, a.stderr)
	assert.Empty(t, a.stderr)
	assert.NotEqual(t, webhookID(t, a.stdout), webhookID(t, b.stdout), "random when the body has no id")

	r = runIn(t, `{"id":"has.dot","event":"ping"}`, signArgs...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotEqual(t, "has.dot", webhookID(t, r.stdout))
	assert.Contains(t, r.stderr, "not a valid webhook-id")

	// Key matching is encoding/json's (and so the event parser's): "ID" is the id.
	r = runIn(t, `{"ID":"evt_upper"}`, signArgs...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "evt_upper", webhookID(t, r.stdout))
}

// The headers sign prints go to verify through a file (--headers FILE, the body as
// FILE or on stdin) and through stdin (--headers -), for every scheme; the same file
// with a changed body is refused.
func TestSignThenVerifyThroughHeadersFileAndStdin(t *testing.T) {
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			key := keygen(t, scheme)
			dir := t.TempDir()
			body := filepath.Join(dir, "body.json")
			require.NoError(t, os.WriteFile(body, []byte(sampleBody+"\n"), 0o600))

			signed := cli(t, "", "sign", "--scheme", scheme, "--secret", key, body)
			require.Equal(t, 0, signed.code, signed.stderr)
			headers := filepath.Join(dir, "h.txt")
			require.NoError(t, os.WriteFile(headers, []byte(signed.stdout), 0o600))

			verify := []string{"verify", "--scheme", scheme, "--secret", key}
			for name, args := range map[string][]string{
				"file, FILE":       {"--headers", headers, body},
				"file, body stdin": {"--headers", headers},
			} {
				stdin := ""
				if name == "file, body stdin" {
					stdin = sampleBody + "\n"
				}
				r := cli(t, stdin, append(verify, args...)...)
				assert.Equal(t, 0, r.code, "%s: %s", name, r.stderr)
				assert.Contains(t, r.stdout, "signature valid", name)
			}

			r := cli(t, signed.stdout, append(verify, "--headers", "-", body)...)
			assert.Equal(t, 0, r.code, "headers on stdin: %s", r.stderr)
			assert.Contains(t, r.stdout, "signature valid")

			// CRLF line endings (a file saved on Windows) read the same.
			crlf := filepath.Join(dir, "crlf.txt")
			require.NoError(t, os.WriteFile(crlf, []byte(strings.ReplaceAll(signed.stdout, "\n", "\r\n")), 0o600))
			r = cli(t, "", append(verify, "--headers", crlf, body)...)
			assert.Equal(t, 0, r.code, "CRLF: %s", r.stderr)

			tampered := filepath.Join(dir, "tampered.json")
			require.NoError(t, os.WriteFile(tampered, []byte(sampleBody), 0o600), "the newline is signed too")
			r = cli(t, "", append(verify, "--headers", headers, tampered)...)
			assert.Equal(t, 1, r.code)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, "invalid signature")
		})
	}
}

// The round trip of the README works in a real shell: sign > file && verify --headers
// file, and sign | verify --headers -.
func TestSignThenVerifyInAShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "body.json"), []byte(sampleBody+"\n"), 0o600))
	for _, script := range []string{
		`"$HK" sign --secret "$K" body.json > h.txt && "$HK" verify --secret "$K" --headers h.txt body.json`,
		`"$HK" sign --secret "$K" body.json | "$HK" verify --secret "$K" --headers - body.json`,
	} {
		cmd := exec.Command(sh, "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HK="+hookkitBin, "K="+testKey)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", script, out)
		assert.Contains(t, string(out), "signature valid (standard, id evt_e2e_1,", script)
	}
}

// verify's --headers: stdin cannot hold both the headers and the body, a malformed line is
// a usage error that does not echo it, and there is one body at most.
func TestVerifyHeadersUsageErrors(t *testing.T) {
	body := writeFile(t, "body.json", sampleBody)
	bad := writeFile(t, "bad.txt", "Webhook-Id: evt_1\n\nAuthorization Bearer "+leak+"\n")
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"headers and body both on stdin", "x", []string{"--headers", "-"}, "--headers - reads stdin"},
		{"headers and body both on stdin, FILE -", "x", []string{"--headers", "-", "-"}, "--headers - reads stdin"},
		{"malformed line", "", []string{"--headers", bad, body}, "line 3 is not"},
		{"missing file", "", []string{"--headers", "/nonexistent/h.txt", body}, "reading --headers"},
		{"two FILEs", "", []string{"--headers", body, body, body}, "at most one FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIn(t, tt.stdin, append([]string{"verify", "--secret", testKey}, tt.args...)...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tt.want)
			assert.NotContains(t, r.stderr, leak)
		})
	}
}

// keygen --ed25519 prints a labelled whsk_ private key and whpk_ public key; both parse
// with the standard scheme, sign signs with the private one and verify checks with the
// public one (and not with another pair's).
func TestKeygenEd25519KeysSignAndVerify(t *testing.T) {
	pair := func() (string, string) {
		t.Helper()
		r := cli(t, "", "keygen", "--scheme", "standard", "--ed25519")
		require.Equal(t, 0, r.code, r.stderr)
		require.Empty(t, r.stderr)
		m := regexp.MustCompile(`^private: (whsk_\S+)\npublic:  (whpk_\S+)\n$`).FindStringSubmatch(r.stdout)
		require.NotNil(t, m, "two labelled lines: %q", r.stdout)
		return m[1], m[2]
	}
	priv, pub := pair()
	_, otherPub := pair()

	pk, err := signature.Standard().ParseKey("p", priv)
	require.NoError(t, err)
	assert.True(t, pk.CanSign())
	vk, err := signature.Standard().ParseKey("v", pub)
	require.NoError(t, err)
	assert.False(t, vk.CanSign(), "whpk_ is the public half")

	// --scheme standard is the default.
	r := cli(t, "", "keygen", "--ed25519")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^private: whsk_\S+\npublic:  whpk_\S+\n$`, r.stdout)

	body := writeFile(t, "body.json", sampleBody)
	signed := cli(t, "", "sign", "--secret", priv, body)
	require.Equal(t, 0, signed.code, signed.stderr)
	assert.Contains(t, signed.stdout, "Webhook-Signature: v1a,")
	headers := writeFile(t, "h.txt", signed.stdout)

	ok := cli(t, "", "verify", "--secret", pub, "--headers", headers, body)
	assert.Equal(t, 0, ok.code, ok.stderr)
	assert.Contains(t, ok.stdout, "signature valid")

	wrong := cli(t, "", "verify", "--secret", otherPub, "--headers", headers, body)
	assert.Equal(t, 1, wrong.code)
	requireOneLineError(t, wrong)

	// The public key cannot sign: a usage error that says so.
	r = cli(t, "", "sign", "--secret", pub, body)
	assert.Equal(t, 2, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "whpk_ key is public")

	r = cli(t, "", "keygen", "--scheme", "github", "--ed25519")
	assert.Equal(t, 2, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "--ed25519 is for --scheme standard")
}

// --header-name sets the github scheme's signature header, --header-prefix the docusign
// scheme's header prefix, in sign, verify, listen and send alike; the default header name
// is then not accepted.
func TestHeaderNameFlags(t *testing.T) {
	body := writeFile(t, "body.json", sampleBody)
	tests := []struct {
		scheme, flag, value, wantHeader, defaultHeader string
	}{
		{"github", "--header-name", "X-Acme-Signature", "X-Acme-Signature: sha256=", "X-Hub-Signature-256"},
		{"docusign", "--header-prefix", "X-Acme-Signature-", "X-Acme-Signature-1: ", "X-Docusign-Signature-1"},
	}
	for _, tt := range tests {
		t.Run(tt.scheme, func(t *testing.T) {
			key := keygen(t, tt.scheme)
			signed := runIn(t, "", "sign", "--scheme", tt.scheme, tt.flag, tt.value, "--secret", key, body)
			require.Equal(t, exitOK, signed.code, signed.stderr)
			assert.True(t, strings.HasPrefix(signed.stdout, tt.wantHeader), signed.stdout)
			assert.NotContains(t, signed.stdout, tt.defaultHeader)
			headers := writeFile(t, "h.txt", signed.stdout)

			r := runIn(t, "", "verify", "--scheme", tt.scheme, tt.flag, tt.value, "--secret", key, "--headers", headers, body)
			assert.Equal(t, exitOK, r.code, r.stderr)
			r = runIn(t, "", "verify", "--scheme", tt.scheme, "--secret", key, "--headers", headers, body)
			assert.Equal(t, exitFailed, r.code, "the default header is absent")
			assert.Contains(t, r.stderr, "no signature")

			// send puts the signature in the named header.
			var mu sync.Mutex
			var got http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = r.Header.Clone()
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			r = runIn(t, "", "send", "--url", srv.URL, "--allow-private", "--allow-http", "--scheme", tt.scheme, tt.flag, tt.value,
				"--secret", key, "--type", "envelope-sent", "--quiet")
			require.Equal(t, exitOK, r.code, r.stderr)
			mu.Lock()
			name, _, _ := strings.Cut(tt.wantHeader, ":")
			assert.NotEmpty(t, got.Get(name), "send signed in %s: %v", name, got)
			assert.Empty(t, got.Get(tt.defaultHeader))
			mu.Unlock()

			// listen reads the named header, and only it.
			l := startListen(t, "--scheme", tt.scheme, tt.flag, tt.value, "--secret", key)
			res, cr := sendCLI(t, "--url", l.url, "--allow-private", "--allow-http", "--scheme", tt.scheme, tt.flag, tt.value,
				"--secret", key, "--type", "envelope-sent", "--quiet")
			require.Equal(t, 0, cr.code, "stderr %s; listener %s", cr.stderr, l.logs())
			assert.Equal(t, res.ID, l.next(t)["id"])
			res, cr = sendCLI(t, "--url", l.url, "--allow-private", "--allow-http", "--scheme", tt.scheme,
				"--secret", key, "--type", "envelope-sent", "--quiet")
			assert.Equal(t, 1, cr.code, "signed in the default header: refused")
			require.Len(t, res.Attempts, 1)
			assert.Equal(t, 401, res.Attempts[0].Status)
		})
	}
}

// The header flags are usage errors where they do not apply or are not header names.
func TestHeaderNameFlagsUsageErrors(t *testing.T) {
	gh := keygen(t, "github")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"header-name with standard", []string{"sign", "--secret", testKey, "--header-name", "X-Sig"}, "--header-name is for --scheme github"},
		{"header-prefix with github", []string{"verify", "--scheme", "github", "--secret", gh, "--header-prefix", "X-Sig-"}, "--header-prefix is for --scheme docusign"},
		{"header-name not a token", []string{"listen", "--scheme", "github", "--secret", gh, "--header-name", "X Sig"}, "not a valid header name"},
		{"header-prefix not a token", []string{"send", "--url", "https://127.0.0.2:1/h", "--type", "a", "--scheme", "docusign", "--secret", gh, "--header-prefix", "X:Sig-"}, "not a valid header name prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIn(t, "", tt.args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
}

// A signature pasted as --secret is recognised as a signature rather than reported as a
// malformed secret, without echoing it.
func TestSecretThatLooksLikeASignatureSaysSo(t *testing.T) {
	const sig = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
	tests := []struct {
		scheme, secret, want string
	}{
		{"standard", sig, "looks like a signature (v1,…), not a secret"},
		{"standard", "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==", "looks like a signature (v1a,…)"},
		{"standard", "webhook-signature: " + sig, "looks like a signature (v1,…)"},
		{"stripe", "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd", "looks like a signature (t=…,v1=…)"},
		{"github", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "looks like a signature (sha256=…)"},
	}
	for _, tt := range tests {
		t.Run(tt.scheme+" "+tt.want, func(t *testing.T) {
			r := runIn(t, "", "sign", "--scheme", tt.scheme, "--secret", tt.secret)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, "--secret #1 "+tt.want)
			assert.NotContains(t, r.stderr, "not base64")
			assert.NotContains(t, r.stderr, tt.secret[8:20], "the value is not echoed")
		})
	}
	// A real secret of those schemes is still accepted.
	for _, scheme := range schemes {
		r := runIn(t, "x", "sign", "--scheme", scheme, "--secret", keygen(t, scheme))
		assert.Equal(t, exitOK, r.code, "%s: %s", scheme, r.stderr)
	}
}

// An empty secret flag (an unset shell variable) says "--secret is empty", not the flag
// package's "invalid value "" for flag -secret"; other flag errors spell flags with "--".
func TestEmptySecretFlagSaysItIsEmpty(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"sign --secret", []string{"sign", "--secret", ""}, "--secret is empty"},
		{"second --secret", []string{"verify", "--secret", testKey, "--secret", ""}, "--secret is empty"},
		{"listen --bearer", []string{"listen", "--secret", testKey, "--bearer", ""}, "--bearer is empty"},
		{"send --client-secret", []string{"send", "--url", "https://127.0.0.2:1/h", "--type", "a", "--secret", testKey,
			"--token-url", "https://127.0.0.2:1/t", "--client-id", "c", "--client-secret", ""}, "--client-secret is empty"},
		{"missing value", []string{"sign", "--secret"}, "--secret needs an argument"},
		{"unknown flag", []string{"sign", "--secret", testKey, "--nope"}, "unknown flag --nope"},
		{"bad duration", []string{"verify", "--secret", testKey, "--tolerance", "5 minutes"}, `invalid value "5 minutes" for --tolerance`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIn(t, "", tt.args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tt.want)
			assert.NotRegexp(t, `flag -\w`, r.stderr, "Go's flag wording")
		})
	}
}

// lockedBuffer is a bytes.Buffer that a test reads while the CLI writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// send prints each attempt on stderr as it finishes, before the next one starts (the
// receiver sees the earlier attempts' lines when the next request arrives), then the
// error as the last line; --quiet prints only the error.
func TestSendPrintsEachAttemptAsItHappens(t *testing.T) {
	var stderr lockedBuffer
	var mu sync.Mutex
	calls := 0
	var seenBefore []string // stderr as each request arrived
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		seenBefore = append(seenBefore, stderr.String())
		mu.Unlock()
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	args := []string{"send", "--url", srv.URL, "--secret", testKey, "--type", "envelope-sent", "--allow-private", "--allow-http", "--max-attempts", "3"}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout lockedBuffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	assert.Equal(t, exitFailed, code, stderr.String())

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 3, calls)
	attemptRE := regexp.MustCompile(`(?m)^attempt (\d): 503 Service Unavailable \(retryable, [0-9.]+[µmn]?s\)$`)
	for i, before := range seenBefore {
		assert.Len(t, attemptRE.FindAllString(before, -1), i, "request %d: the %d earlier attempts are on stderr already: %q", i+1, i, before)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	require.Len(t, lines, 4, stderr.String())
	for i, line := range lines[:3] {
		m := attemptRE.FindStringSubmatch(line)
		require.NotNil(t, m, line)
		assert.Equal(t, strconv.Itoa(i+1), m[1])
	}
	assert.True(t, strings.HasPrefix(lines[3], "hookkit send: not delivered"), lines[3])

	quiet := runIn(t, "", append(args, "--quiet")...)
	assert.Equal(t, exitFailed, quiet.code)
	requireOneLineError(t, quiet)
	assert.NotContains(t, quiet.stderr, "attempt 1")
	assert.Contains(t, quiet.stdout, `"attempt":3`, "the JSON result still lists every attempt")
}
