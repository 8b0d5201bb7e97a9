package event_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/event"
)

func encodedForBinary(t testing.TB) *event.Encoded {
	t.Helper()
	e, err := event.New("envelope-completed", map[string]any{"envelopeId": "e-1", "note": "\"quoted\" \u2028 <tag>"})
	require.NoError(t, err)
	e.ID, e.APIVersion, e.URI, e.ConfigurationID = "evt_01H", "v2.1", "/restapi/v2.1/accounts/a/envelopes/e-1", -42
	e.GeneratedDateTime = time.Date(2025, 5, 30, 18, 3, 50, 423375201, time.UTC)
	enc, err := e.Encode()
	require.NoError(t, err)
	return enc
}

// TestEncodedBinaryRoundTripIsLossless: the Encoded rebuilt from its binary form has the
// same id, type and body, byte for byte, for every retry count.
func TestEncodedBinaryRoundTripIsLossless(t *testing.T) {
	enc := encodedForBinary(t)
	b, err := enc.MarshalBinary()
	require.NoError(t, err)
	var got event.Encoded
	require.NoError(t, got.UnmarshalBinary(b))
	assert.Equal(t, enc.ID(), got.ID())
	assert.Equal(t, enc.Type(), got.Type())
	for _, n := range []int{0, 1, 9, 10, 12345} {
		assert.Equal(t, string(enc.Body(n)), string(got.Body(n)), "retryCount %d", n)
		assert.Equal(t, enc.Len(n), got.Len(n))
	}
	again, err := got.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, b, again, "the binary form is stable")
	app, err := enc.AppendBinary([]byte("prefix"))
	require.NoError(t, err)
	assert.Equal(t, append([]byte("prefix"), b...), app)
}

// TestEncodedUnmarshalBinaryCopiesItsInput: a store may reuse its buffer (database/sql
// does) after UnmarshalBinary returns.
func TestEncodedUnmarshalBinaryCopiesItsInput(t *testing.T) {
	b, err := encodedForBinary(t).MarshalBinary()
	require.NoError(t, err)
	var got event.Encoded
	require.NoError(t, got.UnmarshalBinary(b))
	want := string(got.Body(0))
	for i := range b {
		b[i] = 'x'
	}
	assert.Equal(t, want, string(got.Body(0)))
	assert.Equal(t, "evt_01H", got.ID())
}

// TestEncodedUnmarshalBinaryDoesNotParse: rebuilding costs the Encoded and its copy of the
// body (whose memory the id and type share), not a parse: the count does not grow with the body.
func TestEncodedUnmarshalBinaryDoesNotParse(t *testing.T) {
	e, err := event.New("bulk-export", map[string]any{"rows": bytes.Repeat([]byte("a"), 64<<10)})
	require.NoError(t, err)
	enc, err := e.Encode()
	require.NoError(t, err)
	b, err := enc.MarshalBinary()
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(50, func() {
		var got event.Encoded
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
	})
	assert.Equal(t, 2.0, allocs)
}

// TestEncodedUnmarshalBinaryRefusesWhatEncodeNeverWrote: each damaged form is an error
// wrapping ErrMalformed, never a panic.
func TestEncodedUnmarshalBinaryRefusesWhatEncodeNeverWrote(t *testing.T) {
	good, err := encodedForBinary(t).MarshalBinary()
	require.NoError(t, err)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":             nil,
		"unknown version":   mutate(func(b []byte) []byte { b[0] = 2; return b }),
		"id length too big": mutate(func(b []byte) []byte { b[1] = 0x7f; return b }),
		"truncated":         good[:10],
		"last byte not }":   mutate(func(b []byte) []byte { b[len(b)-1] = ' '; return b }),
		"invalid id":        mutate(func(b []byte) []byte { b[2] = ' '; return b }),
		"retryCount moved": mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"retryCount":0`)) + len(`"retryCount":`)
			b[i] = '1'
			return b
		}),
		"not an event body": mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte(`{"id":`))
			b[i] = '['
			return b
		}),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var got event.Encoded
			err := got.UnmarshalBinary(b)
			require.Error(t, err)
			assert.True(t, errors.Is(err, event.ErrMalformed), "%v", err)
		})
	}
}

// FuzzEncodedUnmarshalBinary: any input is accepted or refused without a panic, and an
// accepted one marshals back to the same bytes.
func FuzzEncodedUnmarshalBinary(f *testing.F) {
	good, err := encodedForBinary(f).MarshalBinary()
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{1, 1, 'a', 1, 'b', 14})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got event.Encoded
		if err := got.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, event.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := got.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the form:\n got %q\nwant %q", again, b)
		}
		_ = got.Body(3)
	})
}
