package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runIn runs the CLI in-process. Its context ends after 30 s, so that a listen that
// should have failed but started listening stops (and fails the test) instead of hanging.
func runIn(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// Every subcommand answers --help (and -h) on stdout with exit 0 and documents every flag
// the issue lists, spelled with "--" (or "-" for the one-letter -H).
func TestHelpListsEveryFlag(t *testing.T) {
	flags := map[string][]string{
		"keygen": {"--scheme", "--ed25519"},
		"sign":   {"--scheme", "--secret", "--id", "--timestamp", "--header-name", "--header-prefix"},
		"verify": {"--scheme", "--secret", "--headers", "-H", "--tolerance", "--now", "--header-name", "--header-prefix"},
		"listen": {"--addr", "--scheme", "--secret", "--path", "--max-body", "--tolerance", "--bearer", "--basic",
			"--jwks-url", "--issuer", "--audience", "--scope", "--introspect-url", "--client-id", "--client-secret",
			"--allow-http", "--header-name", "--header-prefix", "--seen-store", "--apikey-store"},
		"send": {"--url", "--scheme", "--secret", "--type", "--data", "--id", "--basic", "--bearer", "--token-url",
			"--client-id", "--client-secret", "--scope", "--param", "--auth-style", "--max-attempts", "--timeout",
			"--allow-http", "--allow-private", "--allow-insecure-basic", "--header-name", "--header-prefix", "--quiet"},
		"publish":  {"--store", "--endpoints", "--type", "--data", "--id"},
		"worker":   {"--store", "--endpoints", "--workers", "--until-empty", "--allow-private", "--allow-http", "--lease-for"},
		"queue":    {"--store", "--endpoint", "--id"},
		"console":  {"--store", "--endpoints", "--addr", "--public", "--worker", "--workers", "--allow-private", "--allow-http", "--lease-for"},
		"apikey":   {"--store", "--name", "--prefix", "--id"},
		"endpoint": {"--store", "--id", "--endpoints", "--older-than", "--plaintext", "--allow-http", "--allow-private"},
	}
	require.Len(t, flags, len(commands))
	for _, c := range commands {
		for _, help := range []string{"--help", "-h", "-help"} {
			r := runIn(t, "", c.name, help)
			assert.Equal(t, 0, r.code, "%s %s", c.name, help)
			assert.Empty(t, r.stderr)
			assert.Contains(t, r.stdout, "Usage:\n  hookkit "+c.name)
			for _, f := range flags[c.name] {
				assert.Regexp(t, `\n  `+regexp.QuoteMeta(f)+`[ \n]`, r.stdout, "%s --help documents %s", c.name, f)
			}
		}
	}
	for _, help := range []string{"--help", "-h", "help"} {
		r := runIn(t, "", help)
		assert.Equal(t, 0, r.code)
		for _, c := range commands {
			assert.Contains(t, r.stdout, "  "+c.name+" ")
		}
	}
}

// Usage mistakes exit 2 with one line on stderr that names the subcommand, and print nothing
// on stdout.
func TestUsageErrors(t *testing.T) {
	const key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "missing subcommand"},
		{"unknown subcommand", []string{"frobnicate"}, `unknown subcommand "frobnicate"`},
		{"unknown flag", []string{"sign", "--secret", key, "--nope"}, "-nope"},
		{"missing flag value", []string{"sign", "--secret"}, "needs an argument"},
		{"unknown scheme", []string{"keygen", "--scheme", "md5"}, `unknown --scheme "md5"`},
		{"keygen argument", []string{"keygen", "extra"}, `unexpected argument (1 given`},
		{"sign without secret", []string{"sign"}, "--secret is required"},
		{"sign two files", []string{"sign", "--secret", key, "a", "b"}, "at most one FILE"},
		{"sign bad timestamp", []string{"sign", "--secret", key, "--timestamp", "yesterday"}, "--timestamp"},
		{"sign bad id", []string{"sign", "--secret", key, "--id", "a.b"}, "--id"},
		{"sign malformed secret", []string{"sign", "--secret", "whsec_not base64!"}, "not a valid standard secret"},
		{"verify bad header", []string{"verify", "--secret", key, "-H", "no colon"}, "-H wants"},
		{"verify bad tolerance", []string{"verify", "--secret", key, "--tolerance", "5 minutes"}, "-tolerance"},
		{"verify bad now", []string{"verify", "--secret", key, "--now", "-5"}, "--now"},
		{"listen bad path", []string{"listen", "--secret", key, "--path", "hooks"}, "--path"},
		{"listen bad addr", []string{"listen", "--secret", key, "--addr", "8080"}, "--addr"},
		{"listen jwks without issuer", []string{"listen", "--secret", key, "--allow-http", "--jwks-url", "http://127.0.0.1:1/jwks"}, "--issuer"},
		{"listen introspection without client", []string{"listen", "--secret", key, "--allow-http", "--introspect-url", "http://127.0.0.1:1/i"}, "--client-id"},
		{"listen bad basic", []string{"listen", "--secret", key, "--basic", "nocolon"}, "USER:PASS"},
		{"send without url", []string{"send", "--secret", key, "--type", "a"}, "--url is required"},
		{"send relative url", []string{"send", "--url", "/hooks", "--secret", key, "--type", "a"}, "absolute"},
		{"send plain http", []string{"send", "--url", "http://example.com/h", "--secret", key, "--type", "a"}, "--allow-http"},
		{"send without type", []string{"send", "--url", "https://example.com/h", "--secret", key}, "--type is required"},
		{"send bad type", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "has space"}, "--type"},
		{"send data not object", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--data", "[1]"}, "JSON object"},
		{"send data missing file", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--data", "@/nonexistent/file"}, "--data"},
		{"send zero attempts", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--max-attempts", "0"}, "--max-attempts"},
		{"send two credentials", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--bearer", "t", "--basic", "u:p"}, "exclude each other"},
		{"send basic over http", []string{"send", "--url", "http://127.0.0.1:1/h", "--allow-private", "--allow-http", "--secret", key, "--type", "a", "--basic", "u:p"}, "--allow-insecure-basic"},
		{"send token url without client", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--token-url", "https://example.com/token"}, "--client-id"},
		{"send client id without token url", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--client-id", "c"}, "--token-url"},
		{"send bad auth style", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--token-url", "https://example.com/token", "--client-id", "c", "--client-secret", "s", "--auth-style", "cookie"}, "--auth-style"},
		{"send bad param", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--token-url", "https://example.com/token", "--client-id", "c", "--client-secret", "s", "--param", "novalue"}, "--param"},
		{"send plain http token url", []string{"send", "--url", "https://example.com/h", "--secret", key, "--type", "a", "--token-url", "http://example.com/token", "--client-id", "c", "--client-secret", "s"}, "--token-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIn(t, "", tt.args...)
			assert.Equal(t, 2, r.code, "stderr: %s", r.stderr)
			assert.Empty(t, r.stdout)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tt.want)
			assert.NotContains(t, r.stderr, key[6:], "no secret in the message")
		})
	}
}

// Flags may follow the FILE argument, and "--" ends the flags.
func TestFlagsAfterArguments(t *testing.T) {
	const key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	file := writeFile(t, "body.json", sampleBody)
	a := runIn(t, "", "sign", "--timestamp", "1767323045", "--id", "m1", "--secret", key, file)
	b := runIn(t, "", "sign", file, "--secret", key, "--timestamp", "1767323045", "--id", "m1")
	require.Equal(t, 0, a.code, a.stderr)
	assert.Equal(t, a, b)

	c := runIn(t, "", "sign", "--secret", key, "--timestamp", "1767323045", "--id", "m1", "--", file)
	assert.Equal(t, a, c)
}
