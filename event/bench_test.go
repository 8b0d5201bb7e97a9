package event_test

import (
	"strings"
	"testing"

	"github.com/hookkit/hookkit/event"
)

func benchEvent(b *testing.B) *event.Event {
	e, err := event.New("envelope-completed", map[string]string{
		"accountId": "7d1e", "envelopeId": "93be", "note": strings.Repeat("x", 512)})
	if err != nil {
		b.Fatal(err)
	}
	e.APIVersion, e.ConfigurationID = "v2.1", 10541
	return e
}

func BenchmarkEncode(b *testing.B) {
	e := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBody(b *testing.B) {
	enc, _ := benchEvent(b).Encode()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = enc.AppendBody(buf[:0], i&7)
	}
}

func BenchmarkParse(b *testing.B) {
	enc, _ := benchEvent(b).Encode()
	body := enc.Body(3)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterMatch(b *testing.B) {
	f := event.MustFilter("envelope-sent", "envelope-completed", "recipient-*", "template-*")
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match("recipient-delivered") {
			b.Fatal("no match")
		}
	}
}
