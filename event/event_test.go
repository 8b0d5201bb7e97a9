package event_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type envelope struct {
	AccountID  string `json:"accountId"`
	EnvelopeID string `json:"envelopeId"`
	Note       string `json:"note,omitempty"`
}

func TestNewFillsIDTimeAndData(t *testing.T) {
	before := time.Now().UTC()
	e, err := event.New("envelope-sent", envelope{AccountID: "a1", EnvelopeID: "e1"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(e.ID, "evt_"), e.ID)
	assert.NoError(t, event.ValidateID(e.ID))
	assert.Equal(t, "envelope-sent", e.Type)
	assert.Empty(t, e.APIVersion)
	assert.Empty(t, e.URI)
	assert.Zero(t, e.ConfigurationID)
	assert.Zero(t, e.RetryCount)
	assert.Equal(t, time.UTC, e.GeneratedDateTime.Location())
	assert.False(t, e.GeneratedDateTime.Before(before))
	assert.JSONEq(t, `{"accountId":"a1","envelopeId":"e1"}`, string(e.Data))
}

func TestNewIDsAreUniqueAndURLSafe(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := event.NewID()
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
		require.NotContains(t, id, ".")
		for _, c := range id {
			require.True(t, c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9', "byte %q in %s", c, id)
		}
	}
}

func TestNewRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		data any
		want error
	}{
		{"empty type", "", nil, event.ErrInvalidType},
		{"wildcard type", "envelope-*", nil, event.ErrInvalidType},
		{"space in type", "envelope sent", nil, event.ErrInvalidType},
		{"type too long", strings.Repeat("a", event.MaxTypeLen+1), nil, event.ErrInvalidType},
		{"array data", "envelope-sent", []int{1}, event.ErrInvalidData},
		{"string data", "envelope-sent", "x", event.ErrInvalidData},
		{"raw non-object", "envelope-sent", json.RawMessage(`42`), event.ErrInvalidData},
		{"raw invalid", "envelope-sent", json.RawMessage(`{"a":`), event.ErrInvalidData},
		{"unmarshalable data", "envelope-sent", map[string]any{"c": make(chan int)}, event.ErrInvalidData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := event.New(tt.typ, tt.data)
			assert.Nil(t, e)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

// The optional fields are set on the event New returns, after New has validated it, so
// Encode (which every sender path calls before signing) must refuse what is invalid.
func TestEncodeRefusesInvalidFieldsSetAfterNew(t *testing.T) {
	tests := []struct {
		name string
		set  func(*event.Event)
		want error
	}{
		{"dot in id", func(e *event.Event) { e.ID = "a.b" }, event.ErrInvalidID},
		{"space in id", func(e *event.Event) { e.ID = "a b" }, event.ErrInvalidID},
		{"empty id", func(e *event.Event) { e.ID = "" }, event.ErrInvalidID},
		{"id too long", func(e *event.Event) { e.ID = strings.Repeat("x", event.MaxIDLen+1) }, event.ErrInvalidID},
		{"wildcard type", func(e *event.Event) { e.Type = "envelope-*" }, event.ErrInvalidType},
		{"negative retry", func(e *event.Event) { e.RetryCount = -1 }, event.ErrMalformed},
		{"array data", func(e *event.Event) { e.Data = json.RawMessage(`[1]`) }, event.ErrInvalidData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := event.New("envelope-sent", nil)
			require.NoError(t, err)
			tt.set(e)
			enc, err := e.Encode()
			assert.Nil(t, enc)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

// A valid id, time and the other optional fields set after New are what Encode writes.
func TestEncodeUsesFieldsSetAfterNew(t *testing.T) {
	e, err := event.New("envelope-sent", nil)
	require.NoError(t, err)
	e.ID = "evt_9"
	e.APIVersion = "v2.1"
	e.URI = "/e/1"
	e.ConfigurationID = 7
	e.GeneratedDateTime = time.Date(2025, 5, 30, 20, 3, 50, 0, time.FixedZone("x", 2*3600))
	enc, err := e.Encode()
	require.NoError(t, err)
	assert.Equal(t, `{"id":"evt_9","event":"envelope-sent","apiVersion":"v2.1","uri":"/e/1","retryCount":0,`+
		`"configurationId":7,"generatedDateTime":"2025-05-30T18:03:50Z","data":{}}`, string(enc.Body(0)))
}

func TestNewAcceptsCommonTypeNames(t *testing.T) {
	for _, typ := range []string{"envelope-completed", "recipient-sent", "invoice.paid", "user:created", "a", "Envelope_Voided", "v2/x"} {
		_, err := event.New(typ, nil)
		assert.NoError(t, err, typ)
	}
}

func TestNilDataIsEmptyObject(t *testing.T) {
	e, err := event.New("envelope-sent", nil)
	require.NoError(t, err)
	assert.Equal(t, "{}", string(e.Data))
}

func TestEncodeBodyChangesOnlyRetryCount(t *testing.T) {
	at := time.Date(2025, 5, 30, 18, 3, 50, 423375200, time.UTC)
	e, err := event.New("envelope-completed", envelope{AccountID: "a", EnvelopeID: "<e&1>", Note: `say "retryCount":7`})
	require.NoError(t, err)
	e.ID, e.GeneratedDateTime, e.ConfigurationID, e.APIVersion, e.URI = "evt_1", at, 10, "v2.1", `/x/"retryCount":9`
	enc, err := e.Encode()
	require.NoError(t, err)
	assert.Equal(t, "evt_1", enc.ID())
	assert.Equal(t, "envelope-completed", enc.Type())

	want0 := `{"id":"evt_1","event":"envelope-completed","apiVersion":"v2.1","uri":"/x/\"retryCount\":9","retryCount":0,` +
		`"configurationId":10,"generatedDateTime":"2025-05-30T18:03:50.4233752Z",` +
		`"data":{"accountId":"a","envelopeId":"<e&1>","note":"say \"retryCount\":7"}}`
	assert.Equal(t, want0, string(enc.Body(0)))
	assert.Equal(t, strings.Replace(want0, `"retryCount":0`, `"retryCount":12`, 1), string(enc.Body(12)))
	for _, n := range []int{0, 1, 9, 10, 99, 1000} {
		body := enc.Body(n)
		assert.Equal(t, enc.Len(n), len(body))
		got, err := event.Parse(body)
		require.NoError(t, err)
		assert.Equal(t, n, got.RetryCount)
		assert.Equal(t, e.ID, got.ID)
		assert.True(t, at.Equal(got.GeneratedDateTime))
	}
	// AppendBody appends after existing bytes.
	assert.Equal(t, "X"+want0, string(enc.AppendBody([]byte("X"), 0)))
}

func TestEncodeIgnoresRetryCountOfEvent(t *testing.T) {
	e, err := event.New("a", nil)
	require.NoError(t, err)
	e.RetryCount = 5
	enc, err := e.Encode()
	require.NoError(t, err)
	assert.Contains(t, string(enc.Body(2)), `"retryCount":2,`)
}

func TestEncodeValidates(t *testing.T) {
	e := &event.Event{ID: "x", Type: "a", Data: json.RawMessage(`[]`)}
	_, err := e.Encode()
	assert.ErrorIs(t, err, event.ErrInvalidData)
}

func TestParseDocuSignSIMMessage(t *testing.T) {
	body := `{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/7d1e/envelopes/93be",
	"retryCount":2,"configurationId":10541,"generatedDateTime":"2025-05-30T18:03:50.4233752Z","id":"b1c2",
	"data":{"accountId":"7d1e","userId":"e6f7","envelopeId":"93be"},"futureField":true}`
	e, err := event.Parse([]byte(body))
	require.NoError(t, err)
	assert.Equal(t, "envelope-completed", e.Type)
	assert.Equal(t, 2, e.RetryCount)
	assert.Equal(t, int64(10541), e.ConfigurationID)
	assert.Equal(t, time.Date(2025, 5, 30, 18, 3, 50, 423375200, time.UTC), e.GeneratedDateTime)
	type data struct{ AccountID, UserID, EnvelopeID string }
	d, err := event.Decode[data](e)
	require.NoError(t, err)
	assert.Equal(t, data{"7d1e", "e6f7", "93be"}, d)
}

// DocuSign Connect's own messages carry no id: Parse derives one from the fields that do
// not change between retries, so a retry is still recognised as a duplicate.
func TestParseDerivesAStableIDWhenTheMessageHasNone(t *testing.T) {
	msg := func(retry int, envelope string) []byte {
		return []byte(`{"event":"envelope-sent","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/a/envelopes/` + envelope +
			`","retryCount":` + strconv.Itoa(retry) + `,"configurationId":10,"generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{"envelopeId":"` + envelope + `"}}`)
	}
	first, err := event.Parse(msg(0, "e1"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(first.ID, "sha256:"), first.ID)
	assert.NoError(t, event.ValidateID(first.ID))
	retry, err := event.Parse(msg(3, "e1"))
	require.NoError(t, err)
	assert.Equal(t, first.ID, retry.ID, "a retry keeps the id")
	other, err := event.Parse(msg(0, "e2"))
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, other.ID)
	assert.Equal(t, first.ID, event.DeriveID(first))

	// An empty or null id is treated as missing; an invalid one is still an error.
	for _, id := range []string{`""`, `null`} {
		e, err := event.Parse([]byte(`{"id":` + id + `,"event":"a","data":{}}`))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(e.ID, "sha256:"))
	}
	_, err = event.Parse([]byte(`{"id":"a.b","event":"a","data":{}}`))
	assert.ErrorIs(t, err, event.ErrInvalidID)
}

func TestParseNormalisesTimeToUTC(t *testing.T) {
	e, err := event.Parse([]byte(`{"id":"a","event":"b","generatedDateTime":"2025-05-30T20:03:50+02:00","data":{}}`))
	require.NoError(t, err)
	assert.Equal(t, time.UTC, e.GeneratedDateTime.Location())
	assert.Equal(t, 18, e.GeneratedDateTime.Hour())
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, body string
		also       error
	}{
		{"empty", ``, nil},
		{"not json", `hello`, nil},
		{"array", `[]`, nil},
		{"missing type", `{"id":"a","data":{}}`, event.ErrInvalidType},
		{"dot in id", `{"id":"a.b","event":"a","data":{}}`, event.ErrInvalidID},
		{"bad type", `{"id":"a","event":"*","data":{}}`, event.ErrInvalidType},
		{"missing type without id", `{"data":{}}`, event.ErrInvalidType},
		{"null type", `{"id":"a","event":null,"data":{}}`, event.ErrInvalidType},
		{"array data", `{"id":"a","event":"a","data":[1]}`, event.ErrInvalidData},
		{"array data without id", `{"event":"a","data":[1]}`, event.ErrInvalidData},
		{"string data", `{"id":"a","event":"a","data":"x"}`, event.ErrInvalidData},
		{"string retry", `{"id":"a","event":"a","retryCount":"1","data":{}}`, nil},
		{"negative retry", `{"id":"a","event":"a","retryCount":-1,"data":{}}`, nil},
		{"bad time", `{"id":"a","event":"a","generatedDateTime":"yesterday","data":{}}`, nil},
		{"trailing garbage", `{"id":"a","event":"a","data":{}} x`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := event.Parse([]byte(tt.body))
			assert.Nil(t, e)
			assert.ErrorIs(t, err, event.ErrMalformed)
			if tt.also != nil {
				assert.ErrorIs(t, err, tt.also)
			}
		})
	}
}

// One rule for a received event: "event" is the only required field. A missing id is
// derived, a missing or null data is the empty object; both may be missing at once.
func TestParseRequiresOnlyTheType(t *testing.T) {
	tests := []struct {
		name, body string
		id         string // "" means derived
		data       string
	}{
		{"everything", `{"id":"a","event":"b","data":{"k":1}}`, "a", `{"k":1}`},
		{"missing id", `{"event":"b","data":{"k":1}}`, "", `{"k":1}`},
		{"missing data", `{"id":"a","event":"b"}`, "a", `{}`},
		{"null data", `{"id":"a","event":"b","data":null}`, "a", `{}`},
		{"null data after data", `{"id":"a","event":"b","data":{"k":1},"data":null}`, "a", `{}`},
		{"missing id and data", `{"event":"b"}`, "", `{}`},
		{"missing id, null data", `{"event":"b","data":null,"configurationId":3}`, "", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := event.Parse([]byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, "b", e.Type)
			if tt.id == "" {
				assert.True(t, strings.HasPrefix(e.ID, "sha256:"), e.ID)
				assert.Equal(t, event.DeriveID(e), e.ID)
			} else {
				assert.Equal(t, tt.id, e.ID)
			}
			assert.Equal(t, tt.data, string(e.Data))
			// What Parse accepts, Encode accepts and Parse reads back the same.
			enc, err := e.Encode()
			require.NoError(t, err)
			again, err := event.Parse(enc.Body(0))
			require.NoError(t, err)
			assert.Equal(t, e.ID, again.ID)
			assert.Equal(t, string(e.Data), string(again.Data))
		})
	}
	// Missing data and empty data are the same event, so their derived ids agree.
	a, err := event.Parse([]byte(`{"event":"b"}`))
	require.NoError(t, err)
	b, err := event.Parse([]byte(`{"event":"b","data":{}}`))
	require.NoError(t, err)
	assert.Equal(t, a.ID, b.ID)
}

func TestParseErrorDoesNotEchoBody(t *testing.T) {
	_, err := event.Parse([]byte(`{"id":"a","event":"a","data":{"secret":"hunter2"`))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestDecodeDataError(t *testing.T) {
	e, err := event.New("a", map[string]int{"n": 1})
	require.NoError(t, err)
	_, err = event.Decode[struct{ N string }](e)
	var te *json.UnmarshalTypeError
	assert.True(t, errors.As(err, &te))
}
