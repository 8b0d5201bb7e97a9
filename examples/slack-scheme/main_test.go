package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var docTime = time.Unix(1531420618, 0)

func docClock() time.Time { return docTime }

func docKey(t *testing.T) signature.Key {
	t.Helper()
	k, err := slackScheme{}.ParseKey("docs", docSecret)
	require.NoError(t, err)
	return k
}

// The scheme reproduces the signature Slack publishes for its example, and so does
// crypto/hmac computed here directly from Slack's recipe: the vector is checked against an
// independent computation, not only against the scheme.
func TestSlackDocumentedVector(t *testing.T) {
	m := hmac.New(sha256.New, []byte(docSecret))
	m.Write([]byte("v0:" + docTimestamp + ":" + docBody))
	require.Equal(t, docSignature, "v0="+hex.EncodeToString(m.Sum(nil)), "independent computation")

	h := http.Header{}
	require.NoError(t, slackScheme{}.Sign(h, signature.Message{Body: []byte(docBody), Timestamp: docTime}, []signature.Key{docKey(t)}))
	assert.Equal(t, docSignature, h.Get("X-Slack-Signature"))
	assert.Equal(t, docTimestamp, h.Get("X-Slack-Request-Timestamp"))

	meta, err := slackScheme{}.Verify(h, []byte(docBody), []signature.Key{docKey(t)}, signature.VerifyOptions{Now: docClock})
	require.NoError(t, err)
	assert.Equal(t, "docs", meta.KeyID)
	assert.True(t, docTime.Equal(meta.Timestamp))
	assert.Empty(t, meta.ID, "slack signs no delivery id")
}

func docHeader() http.Header {
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", docTimestamp)
	h.Set("X-Slack-Signature", docSignature)
	return h
}

func TestSlackVerifyRefuses(t *testing.T) {
	other, _, err := slackScheme{}.GenerateKey("other")
	require.NoError(t, err)
	ed, _, _, err := signature.GenerateEd25519Key("ed")
	require.NoError(t, err)
	tests := []struct {
		name string
		mod  func(h http.Header)
		body string
		keys []signature.Key
		now  time.Time
		want error
	}{
		{"no keys", nil, docBody, []signature.Key{}, docTime, signature.ErrNoKeys},
		{"no signature", func(h http.Header) { h.Del("X-Slack-Signature") }, docBody, nil, docTime, signature.ErrNoSignature},
		{"no timestamp", func(h http.Header) { h.Del("X-Slack-Request-Timestamp") }, docBody, nil, docTime, signature.ErrMalformedHeader},
		{"two timestamps", func(h http.Header) { h.Add("X-Slack-Request-Timestamp", docTimestamp) }, docBody, nil, docTime, signature.ErrMalformedHeader},
		{"signed timestamp", func(h http.Header) { h.Set("X-Slack-Request-Timestamp", "+1531420618") }, docBody, nil, docTime, signature.ErrMalformedHeader},
		{"not v0", func(h http.Header) { h.Set("X-Slack-Signature", "v1="+docSignature[3:]) }, docBody, nil, docTime, signature.ErrMalformedHeader},
		{"short hex", func(h http.Header) { h.Set("X-Slack-Signature", docSignature[:60]) }, docBody, nil, docTime, signature.ErrMalformedHeader},
		{"tampered body", nil, docBody + "&x=1", nil, docTime, signature.ErrMismatch},
		{"other timestamp", func(h http.Header) { h.Set("X-Slack-Request-Timestamp", "1531420619") }, docBody, nil, docTime, signature.ErrMismatch},
		{"other secret", nil, docBody, []signature.Key{other}, docTime, signature.ErrMismatch},
		{"ed25519 key only", nil, docBody, []signature.Key{ed}, docTime, signature.ErrMismatch},
		{"stale", nil, docBody, nil, docTime.Add(signature.DefaultTolerance + time.Second), signature.ErrTimestamp},
		{"from the future", nil, docBody, nil, docTime.Add(-signature.DefaultTolerance - time.Second), signature.ErrTimestamp},
		{"too many signatures", func(h http.Header) {
			for range signature.MaxSignatures {
				h.Add("X-Slack-Signature", docSignature)
			}
		}, docBody, nil, docTime, signature.ErrMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := docHeader()
			if tt.mod != nil {
				tt.mod(h)
			}
			keys := tt.keys
			if keys == nil {
				keys = []signature.Key{docKey(t)}
			}
			_, err := slackScheme{}.Verify(h, []byte(tt.body), keys, signature.VerifyOptions{Now: func() time.Time { return tt.now }})
			require.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), docSecret)
			assert.NotContains(t, err.Error(), docSignature[3:])
		})
	}
}

// With several keys (a rotation) Sign adds one signature per key and Verify accepts the
// request with either key alone; without an HMAC key Sign fails closed.
func TestSlackRotation(t *testing.T) {
	oldKey, newKey := docKey(t), func() signature.Key { k, _, _ := slackScheme{}.GenerateKey("new"); return k }()
	h := http.Header{}
	require.NoError(t, slackScheme{}.Sign(h, signature.Message{Body: []byte(docBody), Timestamp: docTime}, []signature.Key{oldKey, newKey}))
	assert.Len(t, h.Values("X-Slack-Signature"), 2)
	for _, k := range []signature.Key{oldKey, newKey} {
		meta, err := slackScheme{}.Verify(h, []byte(docBody), []signature.Key{k}, signature.VerifyOptions{Now: docClock})
		require.NoError(t, err)
		assert.Equal(t, k.ID, meta.KeyID)
	}
	ed, _, _, err := signature.GenerateEd25519Key("ed")
	require.NoError(t, err)
	assert.ErrorIs(t, slackScheme{}.Sign(http.Header{}, signature.Message{Body: []byte("x")}, []signature.Key{ed}), signature.ErrNoKeys)
	_, text, err := slackScheme{}.GenerateKey("g")
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{32}$`, text)
}

// The scheme plugged into the stock receiver middleware (receiver.Config.Scheme): Slack's
// own example request is accepted and reaches the handler as an event; a tampered body, a
// forged signature and a request outside the tolerance are refused with 401 before it.
func TestSlackSchemeInReceiver(t *testing.T) {
	keys, err := signature.NewKeySet(docKey(t))
	require.NoError(t, err)
	var now atomic.Int64 // the receiver's clock, in unix seconds
	now.Store(docTime.Unix())
	verify, err := receiver.New(receiver.Config{Scheme: slackScheme{}, Keys: keys, Decode: decodeSlack,
		Now: func() time.Time { return time.Unix(now.Load(), 0) }})
	require.NoError(t, err)
	var mu sync.Mutex
	var got []string
	handled := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
	srv := httptest.NewServer(verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, ok := receiver.EventFrom(r.Context())
		if !ok {
			http.Error(w, "no event", http.StatusInternalServerError)
			return
		}
		mu.Lock()
		got = append(got, ev.Type+" "+string(ev.Data))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})))
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)

	post := func(body string, h http.Header) int {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		for k, vs := range h {
			req.Header[k] = vs
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	assert.Equal(t, http.StatusOK, post(docBody, docHeader()))
	seen := handled()
	require.Len(t, seen, 1)
	assert.Contains(t, seen[0], `slack.command {`)
	assert.Contains(t, seen[0], `"command":"/webhook-collect"`)
	assert.Contains(t, seen[0], `"user_name":"roadrunner"`)

	assert.Equal(t, http.StatusUnauthorized, post(docBody+"&text=rm", docHeader()), "tampered body")
	forged := docHeader()
	forged.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
	assert.Equal(t, http.StatusUnauthorized, post(docBody, forged), "forged signature")
	assert.Equal(t, http.StatusUnauthorized, post(docBody, http.Header{}), "unsigned")
	now.Store(docTime.Add(signature.DefaultTolerance + time.Second).Unix())
	assert.Equal(t, http.StatusUnauthorized, post(docBody, docHeader()), "outside the tolerance")
	assert.Len(t, handled(), 1, "no refused request reached the handler")
}

// The example runs to completion: Slack's vector verifies, the genuine requests are handled
// once (the event's retry is acknowledged only), the replay, the forgery and the unsigned
// request get 401.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	trace := out.String()
	assert.Contains(t, trace, "Slack's documented example verifies: "+docSignature)
	assert.Equal(t, 1, strings.Count(trace, "receiver: /webhook-collect from roadrunner in #foobar"), trace)
	assert.Equal(t, 1, strings.Count(trace, "receiver: Ev0PV52K21 app_mention"), trace)
	assert.Equal(t, 2, strings.Count(trace, "→ 200"), trace)
	assert.Equal(t, 1, strings.Count(trace, "→ 204"), trace)
	assert.Equal(t, 3, strings.Count(trace, "→ 401"), trace)
}
