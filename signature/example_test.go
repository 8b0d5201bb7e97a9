package signature_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookkit/hookkit/signature"
)

func ExampleStandard() {
	scheme := signature.Standard()
	key, err := scheme.ParseKey("2026-01", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	_ = scheme.Sign(h, signature.Message{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp: time.Unix(1614265330, 0), Body: body}, []signature.Key{key})
	fmt.Println("webhook-signature:", h.Get("webhook-signature"))

	meta, err := scheme.Verify(h, body, []signature.Key{key}, signature.VerifyOptions{
		Now: func() time.Time { return time.Unix(1614265330, 0) },
	})
	fmt.Println(meta.ID, meta.KeyID, err)

	_, err = scheme.Verify(h, []byte(`{"test": 1}`), []signature.Key{key}, signature.VerifyOptions{})
	fmt.Println(errors.Is(err, signature.ErrMismatch))
	// Output:
	// webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// msg_p5jXN8AQM9LWM0D4loKWxJek 2026-01 <nil>
	// true
}

func ExampleKeySet_Replace() {
	scheme := signature.Standard()
	oldKey, _, _ := scheme.GenerateKey("old")
	newKey, _, _ := scheme.GenerateKey("new")
	ks, _ := signature.NewKeySet(oldKey)

	// Rotation, step 1: sign with both keys while receivers move to the new one.
	_ = ks.Replace(oldKey, newKey)
	h := http.Header{}
	body := []byte(`{}`)
	_ = scheme.Sign(h, signature.Message{ID: "msg_1", Body: body}, ks.Active(time.Now()))

	// A receiver that already has only the new key accepts the delivery.
	meta, err := scheme.Verify(h, body, []signature.Key{newKey}, signature.VerifyOptions{})
	fmt.Println(meta.KeyID, err)
	// Output: new <nil>
}

func ExampleSecret() {
	s, _ := signature.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	fmt.Println(s, fmt.Sprintf("%#v", s))
	// Output: [REDACTED] [REDACTED]
}

func ExampleGitHub() {
	scheme := signature.GitHub("")
	key, _ := scheme.ParseKey("gh", "It's a Secret to Everybody")
	h := http.Header{}
	_ = scheme.Sign(h, signature.Message{Body: []byte("Hello, World!")}, []signature.Key{key})
	fmt.Println(h.Get("X-Hub-Signature-256"))
	// Output: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
}
