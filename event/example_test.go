package event_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookkit/hookkit/event"
)

// New generates the id and takes the current time; the optional fields are set on the
// returned event before it is encoded.
func ExampleNew() {
	e, err := event.New("envelope-completed", map[string]string{"envelopeId": "93be"})
	if err != nil {
		panic(err)
	}
	e.ID = "evt_1"
	e.GeneratedDateTime = time.Date(2025, 5, 30, 18, 3, 50, 423375200, time.UTC)
	e.ConfigurationID = 10
	enc, err := e.Encode()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(enc.Body(0)))
	fmt.Println(string(enc.Body(1)))
	// Output:
	// {"id":"evt_1","event":"envelope-completed","retryCount":0,"configurationId":10,"generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{"envelopeId":"93be"}}
	// {"id":"evt_1","event":"envelope-completed","retryCount":1,"configurationId":10,"generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{"envelopeId":"93be"}}
}

// Encode validates every field, so an invalid id set after New is refused before anything
// is signed or sent.
func ExampleEvent_Encode() {
	e, _ := event.New("envelope-sent", nil)
	e.ID = "evt.1" // ids never contain '.': the standard scheme signs "id.timestamp.body"
	_, err := e.Encode()
	fmt.Println(errors.Is(err, event.ErrInvalidID))
	// Output: true
}

// View serves the first attempt from the Encoded's own bytes (read-only) and builds any
// later attempt's body fresh; both carry the same bytes Body would.
func ExampleEncoded_View() {
	e, _ := event.New("envelope-sent", map[string]string{"envelopeId": "93be"})
	e.ID = "evt_2"
	e.GeneratedDateTime = time.Date(2025, 5, 30, 18, 3, 50, 0, time.UTC)
	enc, _ := e.Encode()
	fmt.Println(string(enc.View(0)))
	fmt.Println(string(enc.View(3)))
	// Output:
	// {"id":"evt_2","event":"envelope-sent","retryCount":0,"configurationId":0,"generatedDateTime":"2025-05-30T18:03:50Z","data":{"envelopeId":"93be"}}
	// {"id":"evt_2","event":"envelope-sent","retryCount":3,"configurationId":0,"generatedDateTime":"2025-05-30T18:03:50Z","data":{"envelopeId":"93be"}}
}

// A received event needs only its type: a missing id is derived from the fields a retry
// does not change, and a missing (or null) data is the empty object.
func ExampleParse() {
	e, err := event.Parse([]byte(`{"event":"envelope-voided","generatedDateTime":"2025-05-30T18:03:50Z"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Type, e.ID == event.DeriveID(e), string(e.Data))
	// Output: envelope-voided true {}
}

func ExampleDecode() {
	e, _ := event.Parse([]byte(`{"id":"b1","event":"envelope-sent","data":{"envelopeId":"93be","status":"sent"}}`))
	type envelope struct {
		EnvelopeID string `json:"envelopeId"`
		Status     string `json:"status"`
	}
	env, err := event.Decode[envelope](e)
	fmt.Println(env.EnvelopeID, env.Status, err)
	// Output: 93be sent <nil>
}

func ExampleNewFilter() {
	f, _ := event.NewFilter("envelope-completed", "recipient-*")
	for _, typ := range []string{"envelope-completed", "envelope-sent", "recipient-delivered"} {
		fmt.Println(typ, f.Match(typ))
	}
	// Output:
	// envelope-completed true
	// envelope-sent false
	// recipient-delivered true
}
