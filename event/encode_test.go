package event_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encodeReference is encoding/json's rendering of the event with retryCount 0 and no
// HTML escaping: Encode must produce exactly these bytes.
func encodeReference(t testing.TB, e event.Event) []byte {
	e.RetryCount = 0
	e.GeneratedDateTime = e.GeneratedDateTime.UTC()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&e); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "v2.1", `"quoted" \ back`, "tab\tnl\ncr\rbs\bff\f\x00\x1f\x7f", "<html>&amp;", "é ☃ 𝄞", "\u2028\u2029", "bad\xffutf8\xc3"} {
		e, err := event.New("envelope-sent", map[string]string{"k": s})
		require.NoError(t, err)
		e.ID, e.APIVersion, e.URI, e.ConfigurationID = "evt_1", s, s, -7
		e.GeneratedDateTime = time.Date(2025, 5, 30, 18, 3, 50, 423375200, time.FixedZone("x", 3600))
		enc, err := e.Encode()
		require.NoError(t, err)
		assert.Equal(t, string(encodeReference(t, *e)), string(enc.Body(0)), "%q", s)
	}
}

func TestEncodeRefusesYearsJSONCannotHold(t *testing.T) {
	e, err := event.New("a", nil)
	require.NoError(t, err)
	e.GeneratedDateTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = e.Encode()
	assert.ErrorIs(t, err, event.ErrMalformed)
}

// FuzzEncode checks Encode against encoding/json for arbitrary text fields.
func FuzzEncode(f *testing.F) {
	f.Add("v2.1", "/restapi/x", int64(10), int64(1700000000))
	f.Add("\x00\"\\\u2028", "\xff", int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, apiVersion, uri string, cfg, unix int64) {
		ts := time.Unix(unix%253402300799, 0)
		e, err := event.New("envelope-sent", nil)
		if err != nil {
			t.Fatal(err)
		}
		e.ID, e.APIVersion, e.URI, e.ConfigurationID, e.GeneratedDateTime = "evt_1", apiVersion, uri, cfg, ts
		enc, err := e.Encode()
		if ts.UTC().Year() < 0 {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeReference(t, *e); !bytes.Equal(want, enc.Body(0)) {
			t.Fatalf("Encode differs from encoding/json:\n got %s\nwant %s", enc.Body(0), want)
		}
	})
}

// TestEncodeAllocatesOnce: the body buffer is sized right the first time, even with every
// optional field set and the widest configurationId and time.
func TestEncodeAllocatesOnce(t *testing.T) {
	e, err := event.New("envelope-completed", map[string]any{"envelopeId": "e-1"})
	require.NoError(t, err)
	e.APIVersion, e.URI, e.ConfigurationID = "v2.1", "/restapi/v2.1/accounts/a/envelopes/e-1", -9223372036854775808
	e.GeneratedDateTime = time.Date(2025, 5, 30, 18, 3, 50, 423375201, time.FixedZone("", 0))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := e.Encode(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Equal(t, 2.0, allocs, "the body buffer and the Encoded")
}

// TestEncodedView: View gives the same bytes as Body for every retry count; for the first
// attempt it copies nothing, and appending to what it returns cannot change the Encoded.
func TestEncodedView(t *testing.T) {
	e, err := event.New("envelope-completed", map[string]any{"envelopeId": "e-1"})
	require.NoError(t, err)
	e.APIVersion = "v2.1"
	enc, err := e.Encode()
	require.NoError(t, err)
	for _, n := range []int{0, 1, 9, 10, 12345} {
		assert.Equal(t, string(enc.Body(n)), string(enc.View(n)), "retryCount %d", n)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = enc.View(0) }), "the first attempt's body is not copied")
	v := enc.View(0)
	_ = append(v, "trailing garbage"...)
	assert.Equal(t, string(enc.Body(0)), string(enc.View(0)))
	assert.Equal(t, string(enc.Body(7)), string(enc.AppendBody(nil, 7)))
}
