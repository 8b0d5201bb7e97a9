package event_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookkit/hookkit/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseReference is what Parse must agree with: encoding/json into Event, Parse's rule for
// a missing id and data, then Validate.
func parseReference(body []byte) (*event.Event, error) {
	var e event.Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		e.Data = json.RawMessage("{}")
	}
	if e.ID == "" {
		e.ID = event.DeriveID(&e)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	e.GeneratedDateTime = e.GeneratedDateTime.UTC()
	return &e, nil
}

func assertSameEvent(t *testing.T, want, got *event.Event) {
	t.Helper()
	if want.ID != got.ID || want.Type != got.Type || want.APIVersion != got.APIVersion || want.URI != got.URI ||
		want.RetryCount != got.RetryCount || want.ConfigurationID != got.ConfigurationID ||
		!want.GeneratedDateTime.Equal(got.GeneratedDateTime) {
		t.Fatalf("Parse disagrees with encoding/json:\n got %+v\nwant %+v", got, want)
	}
	var a, b bytes.Buffer
	_ = json.Compact(&a, want.Data)
	_ = json.Compact(&b, got.Data)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("data differs: %s != %s", b.Bytes(), a.Bytes())
	}
}

func TestParseAgreesWithEncodingJSON(t *testing.T) {
	bodies := []string{
		`{"id":"a","event":"a","data":{}}`,
		` { "ID" : "a" , "EVENT":"b", "Data" : { "x" : [1, -2.5e+3, true, false, null, "s\"\\\/\b\f\n\r\t\u00e9"] } } `,
		`{"\u0069d":"a","event":"b","data":{}}`,
		`{"id":"a","id":"b","event":"c","data":{"k":1},"data":{"k":2}}`,
		`{"id":"a","event":"b","retryCount":null,"configurationId":null,"uri":null,"generatedDateTime":null,"data":{}}`,
		`{"id":"a","event":"b","retryCount":-0,"configurationId":9223372036854775807,"data":{}}`,
		`{"id":"a","event":"b","retryCount":1.5,"data":{}}`,
		`{"id":"a","event":"b","retryCount":1e2,"data":{}}`,
		`{"id":"a","event":"b","configurationId":9223372036854775808,"data":{}}`,
		`{"id":"a","event":"b","retryCount":"1","data":{}}`,
		`{"id":"a","event":"b","data":{},"extra":{"deep":[[[{}]]],"n":-0.0e-0}}`,
		`{"id":"a","event":"b","data":{"x":01}}`,
		`{"id":"a","event":"b","data":{"x":1.}}`,
		`{"id":"a","event":"b","data":{"x":"` + "\x01" + `"}}`,
		`{"id":"a","event":"b","data":{"x":"\x"}}`,
		`{"id":"a","event":"b","data":{"x":"\u12"}}`,
		`{"id":"a","event":"b","data":{"x":tru}}`,
		`{"id":"a","event":"b","data":{"x":1,}}`,
		`{"id":"a","event":"b","data":{}}}`,
		`{"id":"a","event":"b","data":{}`,
		`{"id":"a","event":"b","generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{}}`,
		`{"id":"a","event":"b","generatedDateTime":"2025-05-30","data":{}}`,
		`{"id":"a","event":"b","generatedDateTime":5,"data":{}}`,
		`{"id":"a","event":"b","data":[]}`,
		`{"id":5,"event":"b","data":{}}`,
		`{"event":"b"}`, `{"event":"b","data":null}`, `{"id":"a","event":"b","data":{"k":1},"data":null}`,
		`{"event":"b","data":[]}`, `{"event":null}`,
		`{}`, `[]`, `null`, ``, `"x"`, `{"id":"a","event":"b","data":{}} {}`,
	}
	for _, body := range bodies {
		t.Run(body, func(t *testing.T) {
			want, wantErr := parseReference([]byte(body))
			got, err := event.Parse([]byte(body))
			if wantErr != nil {
				assert.Error(t, err, "encoding/json says: %v", wantErr)
				assert.ErrorIs(t, err, event.ErrMalformed)
				return
			}
			require.NoError(t, err)
			assertSameEvent(t, want, got)
		})
	}
}

// Parse decodes the string fields as encoding/json does: every byte that is not valid
// UTF-8 becomes U+FFFD, whether or not the string also has escapes, so that Encode (which
// writes U+FFFD too) and Parse agree on a round trip.
func TestParseReplacesInvalidUTF8InStringFields(t *testing.T) {
	tests := []struct{ body, apiVersion, uri string }{
		{`{"id":"a","event":"b","uri":"\u00e9` + "\xe9" + `","data":{}}`, "", "\u00e9\ufffd"}, // Latin-1 é after an escaped é
		{"{\"id\":\"a\",\"event\":\"b\",\"uri\":\"\x87\",\"data\":{}}", "", "\ufffd"},
		{"{\"id\":\"a\",\"event\":\"b\",\"apiVersion\":\"v\xff\xfe2\",\"data\":{}}", "v\ufffd\ufffd2", ""},
		{"{\"id\":\"a\",\"event\":\"b\",\"uri\":\"\\n\xc3\",\"data\":{}}", "", "\n\ufffd"},
		{"{\"id\":\"a\",\"event\":\"b\",\"uri\":\"\xed\xa0\x80 surrogate\",\"data\":{}}", "", "\ufffd\ufffd\ufffd surrogate"},
		{"{\"id\":\"a\",\"event\":\"b\",\"uri\":\"ok \xe2\x98\x83 \xf0\x9d\x84\x9e\",\"data\":{}}", "", "ok \u2603 \U0001d11e"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			want, err := parseReference([]byte(tt.body))
			require.NoError(t, err)
			got, err := event.Parse([]byte(tt.body))
			require.NoError(t, err)
			assertSameEvent(t, want, got)
			assert.Equal(t, tt.apiVersion, got.APIVersion)
			assert.Equal(t, tt.uri, got.URI)
			assert.True(t, utf8.ValidString(got.APIVersion) && utf8.ValidString(got.URI))

			enc, err := got.Encode()
			require.NoError(t, err)
			again, err := event.Parse(enc.Body(0))
			require.NoError(t, err)
			assertSameEvent(t, got, again)
		})
	}
}

// Keys match field names as encoding/json matches them: exactly, else with
// bytes.EqualFold (Unicode simple folding: ſ U+017F folds to s, K U+212A to k), after
// decoding escapes; dotless ı and dotted İ are not i.
func TestParseFoldsKeysAsEncodingJSONDoes(t *testing.T) {
	tests := []struct{ body, apiVersion, id string }{
		{`{"id":"a","event":"b","apiVerſion":"v1","data":{}}`, "v1", "a"},
		{`{"id":"a","event":"b","APIVERſION":"v1","data":{}}`, "v1", "a"},
		{`{"id":"a","event":"b","apiVer\u017fion":"v1","data":{}}`, "v1", "a"},
		{`{"id":"a","event":"b","apiVersion":"v0","apiVerſion":"v1","data":{}}`, "v1", "a"},
		{`{"id":"a","ıd":"b","İd":"c","event":"b","data":{}}`, "", "a"},
		{`{"id":"a","event":"b","Kind":"x","data":{}}`, "", "a"},
		{`{"id":"a","event":"b","apiVerſion\u0000":"v1","data":{}}`, "", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			want, err := parseReference([]byte(tt.body))
			require.NoError(t, err)
			got, err := event.Parse([]byte(tt.body))
			require.NoError(t, err)
			assertSameEvent(t, want, got)
			assert.Equal(t, tt.apiVersion, got.APIVersion)
			assert.Equal(t, tt.id, got.ID)
		})
	}
}

// Data keeps its bytes as they are, invalid UTF-8 included, as json.RawMessage does with
// encoding/json; Encode writes them unchanged too, so a round trip keeps them.
func TestParseAndEncodeKeepDataBytesAsIs(t *testing.T) {
	body := []byte("{\"id\":\"a\",\"event\":\"b\",\"data\":{\"x\":\"\xff\xc3\",\"\xfe\":1}}")
	want, err := parseReference(body)
	require.NoError(t, err)
	got, err := event.Parse(body)
	require.NoError(t, err)
	assert.Equal(t, string(want.Data), string(got.Data))
	assert.Equal(t, "{\"x\":\"\xff\xc3\",\"\xfe\":1}", string(got.Data))
	enc, err := got.Encode()
	require.NoError(t, err)
	assert.Contains(t, string(enc.Body(0)), "\"data\":{\"x\":\"\xff\xc3\",\"\xfe\":1}}")
	again, err := event.Parse(enc.Body(0))
	require.NoError(t, err)
	assert.Equal(t, string(got.Data), string(again.Data))
}

func TestParseRejectsDeepNesting(t *testing.T) {
	body := `{"id":"a","event":"b","data":{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`
	_, err := event.Parse([]byte(body))
	assert.ErrorIs(t, err, event.ErrMalformed)
}

func TestParseCopiesData(t *testing.T) {
	body := []byte(`{"id":"a","event":"b","data":{"k":"v"}}`)
	e, err := event.Parse(body)
	require.NoError(t, err)
	copy(body, bytes.Repeat([]byte{'x'}, len(body)))
	assert.Equal(t, `{"k":"v"}`, string(e.Data), "the event must not alias the caller's buffer")
}

// FuzzParseDifferential checks Parse against encoding/json on arbitrary input, invalid
// UTF-8 and non-ASCII keys included.
func FuzzParseDifferential(f *testing.F) {
	f.Add([]byte(`{"id":"a","event":"b","retryCount":3,"data":{"x":[1,"\u00e9",{"y":null}]}}`))
	f.Add([]byte(`{"ID":"a","Event":"b","data":{},"x":-1.5E+2}`))
	f.Add([]byte(`{"id":"a","event":"b","generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := parseReference(body)
		got, err := event.Parse(body)
		if (wantErr == nil) != (err == nil) {
			t.Fatalf("Parse error %v, encoding/json error %v, input %q", err, wantErr, body)
		}
		if err == nil {
			assertSameEvent(t, want, got)
		}
	})
}

func BenchmarkParseEncodingJSON(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		body := benchBody(b, size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseReference(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseSizes(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		body := benchBody(b, size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := event.Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchBody is an envelope event of about size bytes with a realistic mix of fields.
func benchBody(b *testing.B, size int) []byte {
	type recipient struct {
		Email, Name, Status string
		RoutingOrder        int
	}
	data := map[string]any{"accountId": "7d1e", "envelopeId": "93be", "status": "completed"}
	var rs []recipient
	for i := 0; ; i++ {
		rs = append(rs, recipient{fmt.Sprintf("signer%d@example.com", i), fmt.Sprintf("Signer \"%d\"", i), "completed", i})
		data["recipients"] = rs
		raw, _ := json.Marshal(data)
		if len(raw) >= size-200 {
			break
		}
	}
	e, err := event.New("envelope-completed", data)
	if err != nil {
		b.Fatal(err)
	}
	e.APIVersion, e.ConfigurationID = "v2.1", 10
	enc, _ := e.Encode()
	return enc.Body(0)
}
