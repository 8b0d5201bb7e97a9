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

// signedRequest plays the sender: it signs an event with the standard scheme, id as the
// delivery id (webhook-id), and returns the POST request for url.
func signedRequest(url, id, typ string, data any) *http.Request {
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
	return req
}

// deliver POSTs a signed event (see signedRequest) and returns the status.
func deliver(url, id, typ string, data any) int {
	resp, err := http.DefaultClient.Do(signedRequest(url, id, typ, data))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// exampleKeys is the receiver's key set: the one key of exampleSecret.
func exampleKeys() *signature.KeySet {
	key, err := signature.Standard().ParseKey("k1", exampleSecret)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := signature.NewKeySet(key)
	if err != nil {
		log.Fatal(err)
	}
	return keys
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
	rt := receiver.NewRouter(receiver.RouterConfig{}) // the zero value: unknown types get 204
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

// Rotate keys at run time: the middleware reads Config.Keys on every request, so Replace on
// the key set takes effect with the next delivery, without building a new middleware.
func Example_keyRotation() {
	oldKey, _ := signature.Standard().ParseKey("old", exampleSecret)
	keys, _ := signature.NewKeySet(oldKey)
	verify, err := receiver.New(receiver.Config{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(verify(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
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

// RejectUnknown answers 422 for event types no pattern matches, so the sender stops
// retrying them; without it they are acknowledged with 204 (and logged at Debug level when
// the Router has a Logger).
func ExampleRouterConfig() {
	rt := receiver.NewRouter(receiver.RouterConfig{RejectUnknown: true})
	_ = rt.Handle("envelope-*", func(context.Context, *event.Event) error { return nil })
	verify, err := receiver.New(receiver.Config{Keys: exampleKeys()})
	if err != nil {
		log.Fatal(err)
	}
	h := verify(rt)
	for i, typ := range []string{"envelope-sent", "recipient-declined"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedRequest("/webhooks", fmt.Sprint("msg_", i), typ, map[string]string{}))
		fmt.Println(typ, rec.Code)
	}
	// Output:
	// envelope-sent 204
	// recipient-declined 422
}

// A RequestObserver feeds metrics: set the hooks you need; nil hooks are skipped.
func ExampleRequestObserver() {
	var accepted, duplicates int
	rejected := map[receiver.Reason]int{}
	verify, err := receiver.New(receiver.Config{
		Keys: exampleKeys(),
		Observer: receiver.RequestObserver{
			Accepted:  func(_ context.Context, _ *event.Event, status int) { accepted++ },
			Rejected:  func(_ context.Context, r receiver.Reason) { rejected[r]++ },
			Duplicate: func(_ context.Context, id string) { duplicates++ },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	h := verify(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func(r *http.Request) {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	serve(signedRequest("/webhooks", "msg_1", "envelope-sent", map[string]string{}))
	serve(signedRequest("/webhooks", "msg_1", "envelope-sent", map[string]string{}))
	unsigned := signedRequest("/webhooks", "msg_2", "envelope-sent", map[string]string{})
	unsigned.Header.Del("webhook-signature")
	serve(unsigned)
	fmt.Println("accepted", accepted, "duplicates", duplicates, "rejected", rejected)
	// Output:
	// accepted 1 duplicates 1 rejected map[invalid-signature:1]
}

// The signed delivery id header (webhook-id), not the body's "id", is the de-duplication
// key and DeliveryIDFrom; the body's id is the event's id. Here one event is delivered
// twice under one delivery id, then once under another.
func Example_deliveryID() {
	verify, err := receiver.New(receiver.Config{Keys: exampleKeys()})
	if err != nil {
		log.Fatal(err)
	}
	h := verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := receiver.DeliveryIDFrom(r.Context())
		ev, _ := receiver.EventFrom(r.Context())
		fmt.Println("handled delivery", id, "event id set:", ev.ID != "" && ev.ID != id)
	}))
	for _, id := range []string{"msg_1", "msg_1", "msg_2"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedRequest("/webhooks", id, "envelope-sent", map[string]string{}))
		fmt.Println(id, rec.Code)
	}
	// Output:
	// handled delivery msg_1 event id set: true
	// msg_1 200
	// msg_1 204
	// handled delivery msg_2 event id set: true
	// msg_2 200
}

// Share one seen-id store between middlewares that receive the same deliveries (for
// example two paths of one endpoint); MaxEntries bounds its memory. A negative MaxEntries
// is refused: the store is always bounded.
func ExampleNewMemorySeenStore() {
	seen, err := receiver.NewMemorySeenStore(receiver.MemorySeenStoreConfig{MaxEntries: 10_000})
	if err != nil {
		log.Fatal(err)
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	v1, _ := receiver.New(receiver.Config{Keys: exampleKeys(), Seen: seen})
	v2, _ := receiver.New(receiver.Config{Keys: exampleKeys(), Seen: seen})
	for _, h := range []http.Handler{v1(ok), v2(ok)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedRequest("/webhooks", "msg_1", "envelope-sent", map[string]string{}))
		fmt.Println(rec.Code)
	}

	_, err = receiver.NewMemorySeenStore(receiver.MemorySeenStoreConfig{MaxEntries: -1})
	fmt.Println(errors.Is(err, receiver.ErrInvalidConfig))
	// Output:
	// 200
	// 204
	// true
}

// Credentials only: no signature, a bearer token or other auth.Validator instead. The
// explicit SkipSignature keeps a forgotten Keys field from silently disabling verification.
func ExampleConfig_credentialsOnly() {
	_, err := receiver.New(receiver.Config{SkipSignature: true})
	fmt.Println(errors.Is(err, receiver.ErrInvalidConfig))
	// Output:
	// true
}
