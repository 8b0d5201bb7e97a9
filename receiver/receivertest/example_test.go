package receivertest_test

import (
	"context"
	"fmt"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/receivertest"
	"github.com/hookkit/hookkit/signature"
)

// A handler test: the request a sender would deliver goes through the receiver to the
// handler; one signed an hour ago is refused.
func Example() {
	key, err := signature.Standard().ParseKey("2026-01", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
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
	handler := verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := receiver.EventFrom(r.Context())
		fmt.Println("handled", ev.Type)
		w.WriteHeader(http.StatusNoContent)
	}))

	ev, err := event.New("envelope-completed", map[string]string{"envelopeId": "env-1"})
	if err != nil {
		log.Fatal(err)
	}
	for _, signedAt := range []time.Time{{}, time.Now().Add(-time.Hour)} { // zero: now
		req, err := receivertest.NewRequest(context.Background(), ev, receivertest.Options{
			Keys: []signature.Key{key}, Now: signedAt,
		})
		if err != nil {
			log.Fatal(err)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// handled envelope-completed
	// 204
	// 401
}

// Sign signs a body that is not a hookkit event, here a GitHub payload (the example of
// GitHub's documentation), for a request the test builds itself.
func ExampleSign() {
	gh := signature.GitHub("")
	key, err := gh.ParseKey("repo-hook", "It's a Secret to Everybody")
	if err != nil {
		log.Fatal(err)
	}
	body := "Hello, World!"
	h, err := receivertest.Sign([]byte(body), "", receivertest.Options{Scheme: gh, Keys: []signature.Key{key}})
	if err != nil {
		log.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/github", strings.NewReader(body))
	maps.Copy(req.Header, h)
	fmt.Println(req.Header.Get("X-Hub-Signature-256"))

	meta, err := gh.Verify(req.Header, []byte(body), []signature.Key{key}, signature.VerifyOptions{})
	fmt.Println(meta.KeyID, err)
	// Output:
	// sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
	// repo-hook <nil>
}
