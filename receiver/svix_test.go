package receiver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// svix-* headers are read only without webhook-signature: next to webhook-* headers with a
// wrong signature, a valid svix-* set does not get the delivery through.
func TestSvixHeadersAreIgnoredWhenWebhookHeadersArePresent(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	other, _ := newKey(t, "other", 2)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	body := eventBody(t, "a", "evt-1", 0)

	// svix-* names carry the valid signature; alone they are accepted.
	svixOnly := func(id string) *http.Request {
		r := signed(t, signature.Standard(), []signature.Key{key}, id, testNow, body)
		for _, n := range []string{"Id", "Timestamp", "Signature"} {
			r.Header["Svix-"+n] = r.Header["Webhook-"+n]
			delete(r.Header, "Webhook-"+n)
		}
		return r
	}
	app := &recordingHandler{}
	rec := httptest.NewRecorder()
	mw(app).ServeHTTP(rec, svixOnly("msg-1"))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	// Add webhook-* headers signed with a key the receiver does not have.
	r := svixOnly("msg-2")
	wrong := signed(t, signature.Standard(), []signature.Key{other}, "msg-2", testNow, body)
	for _, n := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		r.Header[n] = wrong.Header[n]
	}
	rec = httptest.NewRecorder()
	mw(app).ServeHTTP(rec, r)
	assertProblem(t, rec, receiver.ReasonInvalidSignature)
	assert.Equal(t, 1, app.count(), "only the svix-only delivery reached the handler")
}
