package main

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseHeaders checks the -H parser of verify: no panic, a usage error for anything
// that is not "Name: value", and for the rest a header whose value is the trimmed text
// after the first colon.
func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"Webhook-Id: msg_1", "x:", ":x", "a b: c", "Stripe-Signature: t=1,v1=ab", "\t:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		h, err := parseHeaders([]string{line})
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("not a usage error: %v", err)
			}
			return
		}
		name, value, _ := strings.Cut(line, ":")
		if got := h.Get(strings.TrimSpace(name)); got != strings.TrimSpace(value) {
			t.Fatalf("parseHeaders(%q): value %q, want %q", line, got, strings.TrimSpace(value))
		}
	})
}

// FuzzHeaderLines checks the --headers parser of verify: no panic, a usage error for a
// non-blank line that is not "Name: value", and for the rest every line's value under its
// name, in order.
func FuzzHeaderLines(f *testing.F) {
	for _, s := range []string{"Webhook-Id: msg_1\nWebhook-Timestamp: 1\nWebhook-Signature: v1,x\n", "a: b\r\n\r\nc: d", "x", "\n\n", ": v", "A: 1\nA: 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		h := http.Header{}
		err := addHeaderLines(h, strings.Split(text, "\n"))
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("not a usage error: %v", err)
			}
			return
		}
		want := http.Header{}
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if strings.TrimSpace(line) == "" {
				continue
			}
			name, value, _ := strings.Cut(line, ":")
			want.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		if !reflect.DeepEqual(h, want) {
			t.Fatalf("addHeaderLines(%q) = %v, want %v", text, h, want)
		}
	})
}

func TestParseUnixRefusesNonSeconds(t *testing.T) {
	for _, s := range []string{"", "-1", "1.5", "1e9", "tomorrow"} {
		if _, err := parseUnix("now", s); err == nil {
			t.Errorf("parseUnix(%q) accepted", s)
		}
	}
	if ts, err := parseUnix("now", " 1700000000 "); err != nil || ts.Unix() != 1700000000 {
		t.Errorf("parseUnix: %v %v", ts, err)
	}
}
