package receiver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// exampleSecret is the signing secret the sender showed its user, in the Standard Webhooks
// text form. Real code reads it from configuration.
const exampleSecret = "whsec_ZXhhbXBsZS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZiE="

// deliver plays the sender: it signs an event with the standard scheme and POSTs it.
func deliver(url, id, typ string, data any) int {
	scheme := signature.Standard()
	key, err := scheme.ParseKey("k1", exampleSecret)
	if err != nil {
		log.Fatal(err)
	}
	ev, err := event.New(typ, data)
	if err != nil {
		log.Fatal(err)
	}
	enc, err := ev.Encode()
	if err != nil {
		log.Fatal(err)
	}
	body := enc.Body(0)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := scheme.Sign(req.Header, signature.Message{ID: id, Timestamp: time.Now(), Body: body}, []signature.Key{key}); err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Mount the middleware on an http.ServeMux with a Go 1.22 method pattern. The handler
// reads the verified event from the context; a redelivery of the same message is
// acknowledged without reaching it again.
func Example_serveMux() {
	key, err := signature.Standard().ParseKey("k1", exampleSecret)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := signature.NewKeySet(key)
	if err != nil {
		log.Fatal(err)
	}
	verify, err := receiver.New(receiver.Config{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := receiver.EventFrom(r.Context())
		fmt.Println("handled", ev.Type)
		w.WriteHeader(http.StatusOK)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	fmt.Println(deliver(srv.URL+"/webhooks", "msg_1", "envelope-completed", map[string]string{"envelopeId": "e1"}))
	fmt.Println(deliver(srv.URL+"/webhooks", "msg_1", "envelope-completed", map[string]string{"envelopeId": "e1"}))
	// Output:
	// handled envelope-completed
	// 200
	// 204
}

// A Router dispatches verified events by type and turns handler results into statuses
// that senders understand.
func ExampleNewRouter() {
	rt := receiver.NewRouter()
	_ = rt.Handle("envelope-completed", func(ctx context.Context, ev *event.Event) error {
		data, err := event.Decode[struct {
			EnvelopeID string `json:"envelopeId"`
		}](ev)
		if err != nil {
			return receiver.Permanent(err) // 422: the sender must not retry
		}
		fmt.Println("completed", data.EnvelopeID)
		return nil // 204
	})
	_ = rt.Handle("envelope-*", func(ctx context.Context, ev *event.Event) error {
		return receiver.Retryable(errors.New("archive offline"), 30*time.Second) // 503, Retry-After: 30
	})

	key, _ := signature.Standard().ParseKey("k1", exampleSecret)
	keys, _ := signature.NewKeySet(key)
	verify, err := receiver.New(receiver.Config{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(verify(rt))
	defer srv.Close()

	fmt.Println(deliver(srv.URL, "msg_1", "envelope-completed", map[string]string{"envelopeId": "e1"}))
	fmt.Println(deliver(srv.URL, "msg_2", "envelope-voided", map[string]string{"envelopeId": "e2"}))
	fmt.Println(deliver(srv.URL, "msg_3", "recipient-sent", map[string]string{}))
	// Output:
	// completed e1
	// 204
	// 503
	// 204
}

// Rotate keys at run time: the middleware reads the key set on every request.
func ExampleMiddleware_Wrap() {
	oldKey, _ := signature.Standard().ParseKey("old", exampleSecret)
	keys, _ := signature.NewKeySet(oldKey)
	m, err := receiver.NewMiddleware(receiver.Config{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()

	fmt.Println(deliver(srv.URL, "msg_1", "envelope-sent", map[string]string{}))
	newKey, _ := signature.Standard().ParseKey("new", "whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmISE=")
	if err := keys.Replace(newKey); err != nil { // the old secret is no longer accepted
		log.Fatal(err)
	}
	fmt.Println(deliver(srv.URL, "msg_2", "envelope-sent", map[string]string{}))
	// Output:
	// 200
	// 401
}

// Credentials only: no signature, a bearer token or other auth.Validator instead. The
// explicit SkipSignature keeps a forgotten Keys field from silently disabling verification.
func ExampleConfig_credentialsOnly() {
	_, err := receiver.New(receiver.Config{SkipSignature: true})
	fmt.Println(errors.Is(err, receiver.ErrInvalidConfig))
	// Output:
	// true
}
