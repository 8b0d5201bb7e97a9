package receiver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// documentedStatuses are all the statuses the middleware answers with on its own, plus the
// 200 of the application handler used below.
var documentedStatuses = map[int]bool{200: true, 204: true, 400: true, 401: true, 403: true, 405: true, 413: true, 503: true}

// FuzzMiddleware throws arbitrary methods, headers and bodies at the middleware (with and
// without credentials) and checks it never panics, answers only documented statuses, and
// answers every rejection with a problem document.
func FuzzMiddleware(f *testing.F) {
	key, _ := newKey(f, "k1", 1)
	body := eventBody(f, "envelope-sent", "evt-1", 0)
	h := http.Header{}
	if err := signature.Standard().Sign(h, signature.Message{ID: "msg-1", Timestamp: testNow, Body: body}, []signature.Key{key}); err != nil {
		f.Fatal(err)
	}
	valid := headerBlob(h) + "Authorization: Bearer good\n"
	f.Add("POST", valid, body)
	f.Add("POST", valid, append([]byte{}, body[:len(body)-1]...))
	f.Add("GET", valid, body)
	f.Add("POST", "", []byte{})
	f.Add("POST", "webhook-id: x\nwebhook-timestamp: 1\nwebhook-signature: v1,AAAA\n", []byte("{}"))
	f.Add("POST", "webhook-id: x\nwebhook-timestamp: 99999999999999999999\nwebhook-signature: v1\n", []byte("{"))
	f.Add("POST", "webhook-signature: v1,"+strings.Repeat("A", 5000)+"\n", bytes.Repeat([]byte("x"), 5000))
	f.Add("POST", "Authorization: Bearer narrow\n", body)
	f.Add("POST", "Authorization: Bearer down\n", body)
	f.Add("POST", "svix-id: a\nsvix-timestamp: 1700000000\nsvix-signature: v1,Zm9v v2,x\n", []byte(`{"id":"a","event":"b","data":{}}`))
	f.Add("DELETE", "Content-Length: 3\n", []byte("abc"))

	mkHandlers := func() []http.Handler {
		var out []http.Handler
		for _, cfg := range []receiver.Config{
			{Keys: newKeySet(f, key), Now: fixedNow, MaxBodyBytes: 4096},
			{Keys: newKeySet(f, key), Now: fixedNow, MaxBodyBytes: 4096, Credentials: &fakeValidator{}},
			{SkipSignature: true, Credentials: &fakeValidator{}, Now: fixedNow, MaxBodyBytes: 4096},
		} {
			mw, err := receiver.New(cfg)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
		}
		return out
	}
	handlers := mkHandlers()

	f.Fuzz(func(t *testing.T, method, headers string, body []byte) {
		if !validMethod(method) {
			method = "POST"
		}
		for _, h := range handlers {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
			r.Method = method
			for _, line := range strings.Split(headers, "\n") {
				k, v, ok := strings.Cut(line, ":")
				if ok && k != "" {
					r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if !documentedStatuses[rec.Code] {
				t.Fatalf("undocumented status %d", rec.Code)
			}
			if rec.Code >= 400 {
				var p problem
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code ||
					!strings.HasPrefix(p.Type, receiver.ProblemTypeBase) {
					t.Fatalf("bad problem document %q for %d", rec.Body.String(), rec.Code)
				}
			}
		}
	})
}

// validMethod reports whether m is an HTTP token (what a server would accept).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}

func headerBlob(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	return b.String()
}
