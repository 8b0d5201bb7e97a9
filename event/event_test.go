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
	e, err := event.New("envelope-sent", envelope{AccountID: "a1", EnvelopeID: "e1"},
		event.WithAPIVersion("v2.1"), event.WithURI("/restapi/v2.1/accounts/a1/envelopes/e1"),
		event.WithConfigurationID(10))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(e.ID, "evt_"), e.ID)
	assert.NoError(t, event.ValidateID(e.ID))
	assert.Equal(t, "envelope-sent", e.Type)
	assert.Equal(t, "v2.1", e.APIVersion)
	assert.Equal(t, int64(10), e.ConfigurationID)
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
		opts []event.Option
		want error
	}{
		{"empty type", "", nil, nil, event.ErrInvalidType},
		{"wildcard type", "envelope-*", nil, nil, event.ErrInvalidType},
		{"space in type", "envelope sent", nil, nil, event.ErrInvalidType},
		{"type too long", strings.Repeat("a", event.MaxTypeLen+1), nil, nil, event.ErrInvalidType},
		{"array data", "envelope-sent", []int{1}, nil, event.ErrInvalidData},
		{"string data", "envelope-sent", "x", nil, event.ErrInvalidData},
		{"raw non-object", "envelope-sent", json.RawMessage(`42`), nil, event.ErrInvalidData},
		{"raw invalid", "envelope-sent", json.RawMessage(`{"a":`), nil, event.ErrInvalidData},
		{"unmarshalable data", "envelope-sent", map[string]any{"c": make(chan int)}, nil, event.ErrInvalidData},
		{"dot in id", "envelope-sent", nil, []event.Option{event.WithID("a.b")}, event.ErrInvalidID},
		{"space in id", "envelope-sent", nil, []event.Option{event.WithID("a b")}, event.ErrInvalidID},
		{"id too long", "envelope-sent", nil, []event.Option{event.WithID(strings.Repeat("x", event.MaxIDLen+1))}, event.ErrInvalidID},
		{"negative retry", "envelope-sent", nil, []event.Option{event.WithRetryCount(-1)}, event.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := event.New(tt.typ, tt.data, tt.opts...)
			assert.Nil(t, e)
			assert.ErrorIs(t, err, tt.want)
		})
	}
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
	e, err := event.New("envelope-completed", envelope{AccountID: "a", EnvelopeID: "<e&1>", Note: `say "retryCount":7`},
		event.WithID("evt_1"), event.WithTime(at), event.WithConfigurationID(10), event.WithAPIVersion("v2.1"), event.WithURI(`/x/"retryCount":9`))
	require.NoError(t, err)
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
	e, err := event.New("a", nil, event.WithRetryCount(5))
	require.NoError(t, err)
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
		{"missing data", `{"id":"a","event":"a"}`, event.ErrInvalidData},
		{"array data", `{"id":"a","event":"a","data":[1]}`, event.ErrInvalidData},
		{"null data", `{"id":"a","event":"a","data":null}`, event.ErrInvalidData},
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
