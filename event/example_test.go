package event_test

import (
	"fmt"
	"time"

	"github.com/hookkit/hookkit/event"
)

func ExampleNew() {
	e, err := event.New("envelope-completed",
		map[string]string{"envelopeId": "93be"},
		event.WithID("evt_1"),
		event.WithTime(time.Date(2025, 5, 30, 18, 3, 50, 423375200, time.UTC)),
		event.WithConfigurationID(10),
	)
	if err != nil {
		panic(err)
	}
	enc, _ := e.Encode()
	fmt.Println(string(enc.Body(0)))
	fmt.Println(string(enc.Body(1)))
	// Output:
	// {"id":"evt_1","event":"envelope-completed","retryCount":0,"configurationId":10,"generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{"envelopeId":"93be"}}
	// {"id":"evt_1","event":"envelope-completed","retryCount":1,"configurationId":10,"generatedDateTime":"2025-05-30T18:03:50.4233752Z","data":{"envelopeId":"93be"}}
}

// View serves the first attempt from the Encoded's own bytes (read-only) and builds any
// later attempt's body fresh; both carry the same bytes Body would.
func ExampleEncoded_View() {
	e, _ := event.New("envelope-sent", map[string]string{"envelopeId": "93be"},
		event.WithID("evt_2"), event.WithTime(time.Date(2025, 5, 30, 18, 3, 50, 0, time.UTC)))
	enc, _ := e.Encode()
	fmt.Println(string(enc.View(0)))
	fmt.Println(string(enc.View(3)))
	// Output:
	// {"id":"evt_2","event":"envelope-sent","retryCount":0,"configurationId":0,"generatedDateTime":"2025-05-30T18:03:50Z","data":{"envelopeId":"93be"}}
	// {"id":"evt_2","event":"envelope-sent","retryCount":3,"configurationId":0,"generatedDateTime":"2025-05-30T18:03:50Z","data":{"envelopeId":"93be"}}
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
