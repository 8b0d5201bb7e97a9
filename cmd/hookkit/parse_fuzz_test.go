package main

import (
	"errors"
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
