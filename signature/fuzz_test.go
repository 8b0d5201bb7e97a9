package signature_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hookkit/hookkit/signature"
)

var sentinels = []error{signature.ErrNoSignature, signature.ErrMalformedHeader, signature.ErrMismatch, signature.ErrTimestamp}

func checkVerifyError(t *testing.T, err error) {
	if err == nil {
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

func fuzzKeys(t testing.TB) []signature.Key {
	k, err := signature.Standard().ParseKey("sw", swSecret)
	if err != nil {
		t.Fatal(err)
	}
	return []signature.Key{k}
}

// FuzzStandardHeaders throws arbitrary id, timestamp and signature headers at the
// standard scheme: no panic, only sentinel errors, and nothing forged is accepted.
func FuzzStandardHeaders(f *testing.F) {
	f.Add(swMsgID, "1614265330", swSignature, swPayload)
	f.Add(swMsgID, "1614265330", "v1, v1,,v1a,xx "+swSignature, swPayload)
	f.Add("a.b", "1.5", "v1,", "")
	f.Add("", "", "", "")
	keys := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, id, ts, sig, body string) {
		h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
		_, err := signature.Standard().Verify(h, []byte(body), keys, signature.VerifyOptions{Tolerance: -1})
		checkVerifyError(t, err)
		if err == nil && !(id == swMsgID && ts == "1614265330" && body == swPayload) {
			t.Fatalf("accepted a forged delivery: %q %q %q", id, ts, sig)
		}
	})
}

// FuzzStripeHeader throws arbitrary Stripe-Signature values at the stripe scheme.
func FuzzStripeHeader(f *testing.F) {
	f.Add("t=1700000000,v1=" + "00")
	f.Add("t=,v1=,v0=,,=,t")
	f.Add("")
	keys := []signature.Key{hmacKey(f, "s")}
	f.Fuzz(func(t *testing.T, hdr string) {
		_, err := signature.Stripe().Verify(http.Header{"Stripe-Signature": {hdr}}, []byte("{}"), keys, signature.VerifyOptions{Now: func() time.Time { return time.Unix(1700000000, 0) }})
		if err == nil {
			t.Fatalf("accepted a forged header %q", hdr)
		}
		checkVerifyError(t, err)
	})
}

// FuzzIndexedHeaders throws arbitrary header names and values at the docusign and github
// schemes.
func FuzzIndexedHeaders(f *testing.F) {
	f.Add("X-Docusign-Signature-1", "abc=")
	f.Add("X-Hub-Signature-256", "sha256=00")
	f.Add("X-Docusign-Signature-01", "")
	keys := []signature.Key{hmacKey(f, "d")}
	f.Fuzz(func(t *testing.T, name, value string) {
		h := http.Header{name: {value}}
		for _, s := range []signature.Scheme{signature.DocuSign(""), signature.GitHub("")} {
			_, err := s.Verify(h, []byte("{}"), keys, signature.VerifyOptions{})
			if err == nil {
				t.Fatalf("%s accepted a forged header %q: %q", s.Name(), name, value)
			}
			checkVerifyError(t, err)
		}
	})
}
