package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leak is a marker put in URLs' queries, userinfo and paths, and in secret flags: no error
// may show it. The URLs of these tests name 127.0.0.1 or 127.0.0.2 only, so that even a
// wrong CLI that went on to send would touch loopback only.
const leak = "LEAKMARKER0123"

// testKey is a standard-scheme secret for the CLI tests.
const testKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// A usage error about --url or --token-url never echoes the URL as given: its query
// (tokens), userinfo and path are left out, or the message only says what is wrong.
func TestURLErrorsDoNotEchoTheURL(t *testing.T) {
	send := func(args ...string) []string {
		return append([]string{"send", "--secret", testKey, "--type", "a"}, args...)
	}
	tokenFlags := []string{"--client-id", "c", "--client-secret", "s"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"query on a plain http url", send("--url", "http://127.0.0.1:1/h/"+leak+"?token="+leak), "--url http://127.0.0.1:1/"},
		{"userinfo", send("--url", "https://user:"+leak+"@127.0.0.2:1/h?token="+leak), "--url must not carry credentials"},
		{"userinfo without password", send("--url", "https://"+leak+"@127.0.0.2:1/h"), "--url must not carry credentials"},
		{"wrong scheme", send("--url", "ftp://127.0.0.2:1/h?token="+leak), "--url must be an absolute http(s) URL"},
		{"secret given as url", send("--url", leak+":"+leak), "--url must be an absolute http(s) URL"},
		{"no host", send("--url", "https:///h?token="+leak), "--url must be an absolute http(s) URL"},
		{"relative", send("--url", "/h?token="+leak), "--url must be an absolute http(s) URL"},
		{"invalid port", send("--url", "https://127.0.0.2:1:9x/h?token="+leak), "--url is not a valid URL"},
		{"invalid escape", send("--url", "https://127.0.0.2:1/h%zz"+leak), "--url is not a valid URL"},
		{"control character", send("--url", "https://127.0.0.2:1/h?token="+leak+"\x7f"), "--url is not a valid URL"},
		{"invalid host", send("--url", "https://127.0.0.2 "+leak+"/h"), "--url is not a valid URL"},
		{"plain http token url", send(append([]string{"--url", "https://127.0.0.2:1/h", "--token-url", "http://127.0.0.1:1/token?client_secret=" + leak}, tokenFlags...)...), "--token-url http://127.0.0.1:1/"},
		{"token url with userinfo", send(append([]string{"--url", "https://127.0.0.2:1/h", "--token-url", "https://svc:" + leak + "@127.0.0.2:1/token"}, tokenFlags...)...), "--token-url must not carry credentials"},
		{"invalid token url", send(append([]string{"--url", "https://127.0.0.2:1/h", "--token-url", "https://127.0.0.2:1:x/t?s=" + leak}, tokenFlags...)...), "--token-url is not a valid URL"},
		{"listen plain http jwks url", []string{"listen", "--secret", testKey, "--jwks-url", "http://127.0.0.1:1/jwks?key=" + leak, "--issuer", "i"}, "--jwks-url http://127.0.0.1:1/"},
		{"listen invalid jwks url", []string{"listen", "--secret", testKey, "--jwks-url", "https://127.0.0.2:1:x/jwks?key=" + leak, "--issuer", "i"}, "--jwks-url is not a valid URL"},
		{"listen plain http introspection url", []string{"listen", "--secret", testKey, "--introspect-url", "http://127.0.0.1:1/i?key=" + leak, "--client-id", "c", "--client-secret", "s"}, "--introspect-url http://127.0.0.1:1/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIn(t, "", tt.args...)
			assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tt.want)
			assert.NotContains(t, r.stderr, leak)
			assert.NotContains(t, r.stderr, "LEAKMARKER")
			assert.Empty(t, r.stdout)
		})
	}
}

// Usage errors about the flags that take secrets (and stray arguments, which are often a
// secret given to a flag that takes one value) never echo them.
func TestSecretFlagErrorsDoNotEchoTheSecret(t *testing.T) {
	base := []string{"send", "--url", "https://127.0.0.2:1/h", "--secret", testKey, "--type", "a"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two credentials", append(base, "--bearer", leak, "--basic", "u:"+leak), "exclude each other"},
		{"client secret without token url", append(base, "--client-secret", leak), "need --token-url"},
		{"token url without client id", append(base, "--token-url", "https://127.0.0.2:1/t", "--client-secret", leak), "--client-id"},
		{"param without =", append(base, "--token-url", "https://127.0.0.2:1/t", "--client-id", "c", "--client-secret", "s", "--param", "client_assertion"+leak), "--param"},
		{"basic without colon", append(base, "--basic", leak), "USER:PASS"},
		{"second secret as an argument of send", append(base, leak), "unexpected argument"},
		{"second secret as an argument of listen", []string{"listen", "--secret", testKey, leak}, "unexpected argument"},
		{"argument of keygen", []string{"keygen", leak}, "unexpected argument"},
		{"listen basic without colon", []string{"listen", "--secret", testKey, "--basic", leak}, "USER:PASS"},
		{"listen client secret without introspection", []string{"listen", "--secret", testKey, "--client-secret", leak}, "--introspect-url"},
		{"malformed secret", []string{"sign", "--secret", "whsec_" + leak + "!"}, "not a valid standard secret"},
		{"verify header without colon", []string{"verify", "--secret", testKey, "-H", "Authorization Bearer " + leak}, "-H wants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIn(t, "", tt.args...)
			assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tt.want)
			assert.NotContains(t, r.stderr, leak)
		})
	}
}

// listen's --addr must have a valid port: 99999 is a usage error (exit 2), found before
// anything listens, not a failure to listen (exit 1).
func TestListenAddrWithInvalidPortIsUsageError(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:1x", "[::1]:70000"} {
		t.Run(addr, func(t *testing.T) {
			r := runIn(t, "", "listen", "--secret", testKey, "--addr", addr)
			assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, "--addr")
			assert.Contains(t, r.stderr, "port")
		})
	}
}

// --allow-private admits private and loopback addresses only: a plain http:// URL also
// needs --allow-http, and the error says so.
func TestSendAllowPrivateDoesNotImplyPlainHTTP(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	args := []string{"send", "--url", srv.URL + "/h", "--secret", testKey, "--type", "a", "--max-attempts", "1"}

	r := runIn(t, "", append(args, "--allow-private")...)
	assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "use --allow-http")
	assert.Zero(t, hits.Load(), "nothing was sent")

	r = runIn(t, "", append(args, "--allow-private", "--allow-http")...)
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, int32(1), hits.Load())
}

// A destination refused for being loopback or private says which flag lifts the
// refusal; so does a plain http:// URL.
func TestSendRefusalsHintAtTheFlag(t *testing.T) {
	base := []string{"send", "--secret", testKey, "--type", "a", "--max-attempts", "2", "--quiet"}
	t.Run("plain http", func(t *testing.T) {
		r := runIn(t, "", append(base, "--url", "http://127.0.0.2:1/h")...)
		assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "use --allow-http")
	})
	t.Run("loopback receiver", func(t *testing.T) {
		r := runIn(t, "", append(base, "--url", "http://127.0.0.2:1/h", "--allow-http")...)
		assert.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "refused")
		assert.Contains(t, r.stderr, "use --allow-private")
		assert.Contains(t, r.stdout, `"class":"refused"`)
		assert.Equal(t, 1, strings.Count(r.stdout, `"attempt":`), "a refused destination is not retried")
	})
	t.Run("loopback token endpoint", func(t *testing.T) {
		r := runIn(t, "", append(base, "--url", "http://127.0.0.2:1/h", "--allow-http",
			"--token-url", "http://127.0.0.2:1/token", "--client-id", "c", "--client-secret", leak)...)
		assert.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "use --allow-private")
		assert.NotContains(t, r.stdout+r.stderr, leak)
	})
}
