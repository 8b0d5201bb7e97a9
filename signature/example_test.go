package signature_test

import (
	"crypto/hmac"
	"encoding/hex"
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

// A scheme written outside this package signs with the Key's capabilities and never sees
// the secret. This computes Slack's signature (v0= and the hex HMAC-SHA256 of
// "v0:" + timestamp + ":" + body) for the example in Slack's "Verifying requests from
// Slack", and checks a presented signature in constant time.
func ExampleKey_AppendHMACSHA256() {
	secret, _ := signature.NewSecret([]byte("8f742231b10e8888abcd99yyyzzz85a5"))
	key := signature.HMACKey("slack", secret)
	timestamp := "1531420618"
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"

	var buf [32]byte
	mac, err := key.AppendHMACSHA256(buf[:0], []byte("v0:"), []byte(timestamp), []byte(":"), []byte(body))
	if err != nil {
		panic(err)
	}
	fmt.Println("v0=" + hex.EncodeToString(mac))

	presented, _ := hex.DecodeString("a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	fmt.Println(hmac.Equal(mac, presented))
	// Output:
	// v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503
	// true
}
