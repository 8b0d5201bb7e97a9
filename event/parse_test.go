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

// parseReference is what Parse must agree with: encoding/json into Event, then Validate.
func parseReference(body []byte) (*event.Event, error) {
	var e event.Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	if e.ID == "" && len(e.Data) > 0 && e.Data[0] == '{' {
		e.ID = event.DeriveID(&e)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	e.GeneratedDateTime = e.GeneratedDateTime.UTC()
	return &e, nil
}

// comparable reports whether encoding/json and Parse are expected to agree on body:
// Parse keeps invalid UTF-8 in strings as it is and folds key case in ASCII only.
func comparableInput(body []byte) bool {
	return utf8.Valid(body) && !bytes.ContainsRune(body, 'ſ') && !bytes.ContainsRune(body, 'K')
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

// FuzzParseDifferential checks Parse against encoding/json on arbitrary input.
func FuzzParseDifferential(f *testing.F) {
	f.Add([]byte(`{"id":"a","event":"b","retryCount":3,"data":{"x":[1,"\u00e9",{"y":null}]}}`))
	f.Add([]byte(`{"ID":"a","Event":"b","data":{},"x":-1.5E+2}`))
	f.Add([]byte(`{"id":"a","event":"b","generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !comparableInput(body) {
			if _, err := event.Parse(body); err == nil && !json.Valid(body) {
				t.Fatalf("Parse accepted invalid JSON %q", body)
			}
			return
		}
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
	e, err := event.New("envelope-completed", data, event.WithAPIVersion("v2.1"), event.WithConfigurationID(10))
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := e.Encode()
	return enc.Body(0)
}
