package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	stripewebhook "github.com/stripe/stripe-go/v82/webhook"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// e2eServer is a real loopback server: middleware + Router recording what it handled.
type e2eServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*event.Event
}

func newE2EServer(t *testing.T, cfg receiver.Config) *e2eServer {
	t.Helper()
	s := &e2eServer{}
	rt := receiver.NewRouter(receiver.RouterConfig{})
	require.NoError(t, rt.Handle("*", func(_ context.Context, ev *event.Event) error {
		s.mu.Lock()
		s.seen = append(s.seen, ev)
		s.mu.Unlock()
		return nil
	}))
	mw, err := receiver.New(cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", mw(rt))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *e2eServer) handled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, ev := range s.seen {
		ids = append(ids, ev.ID)
	}
	return ids
}

// post sends body with the given headers and returns the status and the problem type.
func (s *e2eServer) post(t *testing.T, h http.Header, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/webhooks", body)
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var p problem
	if resp.StatusCode >= 400 {
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	}
	return resp.StatusCode, p.Type
}

func newEvent(t *testing.T, typ string) (*event.Event, []byte) {
	t.Helper()
	ev, err := event.New(typ, map[string]string{"envelopeId": "e-1"})
	require.NoError(t, err)
	enc, err := ev.Encode()
	require.NoError(t, err)
	return ev, enc.Body(0)
}

func signHeaders(t *testing.T, scheme signature.Scheme, id string, ts time.Time, body []byte, keys ...signature.Key) http.Header {
	t.Helper()
	h := http.Header{}
	require.NoError(t, scheme.Sign(h, signature.Message{ID: id, Timestamp: ts, Body: body}, keys))
	return h
}

func generateKeys(t *testing.T, scheme signature.Scheme, n int) []signature.Key {
	t.Helper()
	var keys []signature.Key
	for i := range n {
		k, text, err := scheme.GenerateKey("k" + string(rune('1'+i)))
		require.NoError(t, err)
		require.NotEmpty(t, text)
		keys = append(keys, k)
	}
	return keys
}

func TestEndToEndEachScheme(t *testing.T) {
	schemes := []struct {
		name  string
		s     signature.Scheme
		nkeys int
		timed bool
	}{
		{"standard", signature.Standard(), 1, true},
		{"docusign", signature.DocuSign(""), 2, false},
		{"github", signature.GitHub(""), 1, false},
		{"stripe", signature.Stripe(), 1, true},
	}
	for _, sc := range schemes {
		t.Run(sc.name, func(t *testing.T) {
			keys := generateKeys(t, sc.s, sc.nkeys)
			srv := newE2EServer(t, receiver.Config{Scheme: sc.s, Keys: newKeySet(t, keys...)})

			ev, body := newEvent(t, "envelope-completed")
			h := signHeaders(t, sc.s, ev.ID, time.Now(), body, keys...)
			status, _ := srv.post(t, h, bytes.NewReader(body))
			assert.Equal(t, http.StatusNoContent, status)
			assert.Equal(t, []string{ev.ID}, srv.handled())

			// The same delivery again (a retry or a replay inside the window) is
			// acknowledged and not handled twice.
			status, _ = srv.post(t, h, bytes.NewReader(body))
			assert.Equal(t, http.StatusNoContent, status)
			assert.Len(t, srv.handled(), 1)

			// A tampered body is refused.
			ev2, body2 := newEvent(t, "envelope-completed")
			h2 := signHeaders(t, sc.s, ev2.ID, time.Now(), body2, keys...)
			tampered := bytes.Replace(body2, []byte("e-1"), []byte("e-2"), 1)
			status, typ := srv.post(t, h2, bytes.NewReader(tampered))
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, receiver.ReasonInvalidSignature.TypeURI(), typ)

			// An unsigned request is refused.
			status, typ = srv.post(t, http.Header{}, bytes.NewReader(body2))
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, receiver.ReasonInvalidSignature.TypeURI(), typ)

			if sc.timed {
				// A delivery signed 10 minutes ago is a stale replay.
				ev3, body3 := newEvent(t, "envelope-completed")
				h3 := signHeaders(t, sc.s, ev3.ID, time.Now().Add(-10*time.Minute), body3, keys...)
				status, typ = srv.post(t, h3, bytes.NewReader(body3))
				assert.Equal(t, http.StatusUnauthorized, status)
				assert.Equal(t, receiver.ReasonTimestamp.TypeURI(), typ)
			}
			if sc.nkeys > 1 {
				// Signed with only the second key: still accepted.
				ev4, body4 := newEvent(t, "envelope-completed")
				h4 := signHeaders(t, sc.s, ev4.ID, time.Now(), body4, keys[1])
				status, _ = srv.post(t, h4, bytes.NewReader(body4))
				assert.Equal(t, http.StatusNoContent, status)
			}
		})
	}
}

// TestEndToEndOfficialStandardWebhooks signs with the official Standard Webhooks library and
// receives with hookkit.
func TestEndToEndOfficialStandardWebhooks(t *testing.T) {
	scheme := signature.Standard()
	_, secretText, err := scheme.GenerateKey("k1")
	require.NoError(t, err)
	key, err := scheme.ParseKey("k1", secretText)
	require.NoError(t, err)
	wh, err := standardwebhooks.NewWebhook(secretText)
	require.NoError(t, err)
	srv := newE2EServer(t, receiver.Config{Keys: newKeySet(t, key)})

	official := func(msgID string, ts time.Time, body []byte) http.Header {
		sig, err := wh.Sign(msgID, ts, body)
		require.NoError(t, err)
		h := http.Header{}
		h.Set(standardwebhooks.HeaderWebhookID, msgID)
		h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(standardwebhooks.HeaderWebhookSignature, sig)
		return h
	}

	ev, body := newEvent(t, "envelope-sent")
	h := official("msg_"+ev.ID, time.Now(), body)
	status, _ := srv.post(t, h, bytes.NewReader(body))
	assert.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, []string{ev.ID}, srv.handled())

	// Same message id again inside the window: acknowledged, not re-delivered.
	status, _ = srv.post(t, h, bytes.NewReader(body))
	assert.Equal(t, http.StatusNoContent, status)
	assert.Len(t, srv.handled(), 1)

	// An old delivery replayed: refused on its timestamp.
	ev2, body2 := newEvent(t, "envelope-sent")
	status, typ := srv.post(t, official("msg_"+ev2.ID, time.Now().Add(-time.Hour), body2), bytes.NewReader(body2))
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, receiver.ReasonTimestamp.TypeURI(), typ)
	assert.Len(t, srv.handled(), 1)
}

func TestEndToEndRotationMidStream(t *testing.T) {
	scheme := signature.Standard()
	keys := generateKeys(t, scheme, 2)
	oldKey, newKey := keys[0], keys[1]
	ks := newKeySet(t, oldKey)
	srv := newE2EServer(t, receiver.Config{Keys: ks})

	for i := range 20 {
		switch i {
		case 5: // receiver learns the new key first
			require.NoError(t, ks.Replace(oldKey, newKey))
		case 15: // then drops the old one
			require.NoError(t, ks.Replace(newKey))
		}
		signWith := oldKey
		if i >= 10 { // sender switches in between
			signWith = newKey
		}
		ev, body := newEvent(t, "envelope-sent")
		status, _ := srv.post(t, signHeaders(t, scheme, ev.ID, time.Now(), body, signWith), bytes.NewReader(body))
		assert.Equal(t, http.StatusNoContent, status, "delivery %d", i)
	}
	assert.Len(t, srv.handled(), 20)

	ev, body := newEvent(t, "envelope-sent")
	status, typ := srv.post(t, signHeaders(t, scheme, ev.ID, time.Now(), body, oldKey), bytes.NewReader(body))
	assert.Equal(t, http.StatusUnauthorized, status, "the retired key is refused")
	assert.Equal(t, receiver.ReasonInvalidSignature.TypeURI(), typ)
}

// onlyReader hides the length of a body so the client sends it chunked.
type onlyReader struct{ io.Reader }

func TestEndToEndBodyLimit(t *testing.T) {
	scheme := signature.Standard()
	keys := generateKeys(t, scheme, 1)
	const limit = 8 << 10
	srv := newE2EServer(t, receiver.Config{Keys: newKeySet(t, keys...), MaxBodyBytes: limit})

	atLimit := eventBodyOfSize(t, "envelope-sent", "evt-at-limit", limit)
	status, _ := srv.post(t, signHeaders(t, scheme, "m1", time.Now(), atLimit, keys...), bytes.NewReader(atLimit))
	assert.Equal(t, http.StatusNoContent, status, "a body exactly at the limit is accepted")

	over := eventBodyOfSize(t, "envelope-sent", "evt-over", limit+1)
	status, typ := srv.post(t, signHeaders(t, scheme, "m2", time.Now(), over, keys...), bytes.NewReader(over))
	assert.Equal(t, http.StatusRequestEntityTooLarge, status, "one byte over is refused")
	assert.Equal(t, receiver.ReasonBodyTooLarge.TypeURI(), typ)

	status, typ = srv.post(t, signHeaders(t, scheme, "m3", time.Now(), over, keys...), onlyReader{bytes.NewReader(over)})
	assert.Equal(t, http.StatusRequestEntityTooLarge, status, "one byte over without Content-Length is refused")
	assert.Equal(t, receiver.ReasonBodyTooLarge.TypeURI(), typ)

	chunkedOK := eventBodyOfSize(t, "envelope-sent", "evt-chunked", limit)
	status, _ = srv.post(t, signHeaders(t, scheme, "m4", time.Now(), chunkedOK, keys...), onlyReader{bytes.NewReader(chunkedOK)})
	assert.Equal(t, http.StatusNoContent, status, "a chunked body at the limit is accepted")
	assert.Equal(t, []string{"evt-at-limit", "evt-chunked"}, srv.handled())
}

// TestEndToEndOfficialStripe signs with stripe-go's test helper and receives with hookkit.
func TestEndToEndOfficialStripe(t *testing.T) {
	scheme := signature.Stripe()
	_, secretText, err := scheme.GenerateKey("k1")
	require.NoError(t, err)
	key, err := scheme.ParseKey("k1", secretText)
	require.NoError(t, err)
	srv := newE2EServer(t, receiver.Config{Scheme: scheme, Keys: newKeySet(t, key)})

	send := func(ts time.Time, body []byte) (int, string) {
		sp := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: secretText, Timestamp: ts})
		h := http.Header{}
		h.Set("Stripe-Signature", sp.Header)
		return srv.post(t, h, bytes.NewReader(body))
	}
	ev, body := newEvent(t, "invoice-paid")
	status, _ := send(time.Now(), body)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = send(time.Now(), body)
	assert.Equal(t, http.StatusNoContent, status, "same event id again is a duplicate")
	assert.Equal(t, []string{ev.ID}, srv.handled())

	_, body2 := newEvent(t, "invoice-paid")
	status, typ := send(time.Now().Add(-time.Hour), body2)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, receiver.ReasonTimestamp.TypeURI(), typ)
}

// DocuSign Connect's own messages carry no id and are signed over the body only: a retry
// (same message, higher retryCount) is still recognised as a duplicate, because the event
// id is derived from the fields that do not change between retries.
func TestEndToEndConnectMessagesWithoutID(t *testing.T) {
	key, err := signature.DocuSign("").ParseKey("connect", "0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	ks, err := signature.NewKeySet(key)
	require.NoError(t, err)
	mw, err := receiver.New(receiver.Config{Scheme: signature.DocuSign(""), Keys: ks})
	require.NoError(t, err)
	var handled []string
	var mu sync.Mutex
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := receiver.EventFrom(r.Context())
		mu.Lock()
		handled = append(handled, ev.ID)
		mu.Unlock()
	})))
	t.Cleanup(srv.Close)

	post := func(retry int) int {
		body := []byte(`{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/a1/envelopes/e1",` +
			`"retryCount":` + strconv.Itoa(retry) + `,"configurationId":10541,"generatedDateTime":"2025-05-30T18:03:50.4233752Z",` +
			`"data":{"accountId":"a1","envelopeId":"e1"}}`)
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		require.NoError(t, err)
		require.NoError(t, signature.DocuSign("").Sign(req.Header, signature.Message{Body: body}, []signature.Key{key}))
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, post(0))
	assert.Equal(t, http.StatusNoContent, post(1), "the retry is a duplicate")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, handled, 1)
	assert.True(t, strings.HasPrefix(handled[0], "sha256:"), handled[0])
}
