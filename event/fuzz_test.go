package event_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hookkit/hookkit/event"
)

// FuzzParse checks that Parse never panics, fails only with ErrMalformed, and that what it
// accepts survives Encode and Parse again with every field intact.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"a","event":"envelope-sent","retryCount":1,"configurationId":2,"generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{"k":[1,2]}}`))
	f.Add([]byte(`{"id":"a","event":"a","data":{}}`))
	f.Add([]byte(`{"id":"a","event":"a","data":{"x":"\u003c"},"uri":"\"retryCount\":1"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := event.Parse(body)
		if err != nil {
			if !errors.Is(err, event.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("parsed event does not encode: %v", err)
		}
		again, err := event.Parse(enc.Body(e.RetryCount))
		if err != nil {
			t.Fatalf("encoded event does not parse: %v", err)
		}
		if again.ID != e.ID || again.Type != e.Type || again.RetryCount != e.RetryCount ||
			again.URI != e.URI || again.APIVersion != e.APIVersion || again.ConfigurationID != e.ConfigurationID ||
			!again.GeneratedDateTime.Equal(e.GeneratedDateTime) {
			t.Fatalf("round trip changed the event: %+v != %+v", again, e)
		}
		var a, b bytes.Buffer
		_ = compact(&a, e.Data)
		_ = compact(&b, again.Data)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("round trip changed data: %s != %s", a.Bytes(), b.Bytes())
		}
	})
}

// FuzzParsePattern checks that ParsePattern never panics and that a parsed pattern
// matches its own prefix-or-name consistently.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"*", "envelope-*", "envelope-sent", "**", "a*b"} {
		f.Add(s, "envelope-sent")
	}
	f.Fuzz(func(t *testing.T, pattern, typ string) {
		p, err := event.ParsePattern(pattern)
		if err != nil {
			if !errors.Is(err, event.ErrInvalidPattern) {
				t.Fatalf("error does not wrap ErrInvalidPattern: %v", err)
			}
			return
		}
		if !p.IsWildcard() && p.Match(typ) != (pattern == typ) {
			t.Fatalf("exact pattern %q matched %q wrongly", pattern, typ)
		}
		fl, err := event.NewFilter(pattern)
		if err != nil || fl.Match(typ) != p.Match(typ) {
			t.Fatalf("filter and pattern disagree on %q / %q", pattern, typ)
		}
	})
}
