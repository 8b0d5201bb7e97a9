package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// testNow is the fixed clock of the table tests.
var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// newKey returns an HMAC key with deterministic secret bytes derived from seed.
func newKey(t testing.TB, id string, seed byte) (signature.Key, []byte) {
	t.Helper()
	raw := bytes.Repeat([]byte{seed}, 32)
	for i := range raw {
		raw[i] ^= byte(i * 7)
	}
	s, err := signature.NewSecret(raw)
	require.NoError(t, err)
	return signature.HMACKey(id, s), raw
}

func newKeySet(t testing.TB, keys ...signature.Key) *signature.KeySet {
	t.Helper()
	ks, err := signature.NewKeySet(keys...)
	require.NoError(t, err)
	return ks
}

// eventBody returns a valid SIM-style event body; pad adds that many bytes of data.
func eventBody(t testing.TB, typ, id string, pad int) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id":                id,
		"event":             typ,
		"apiVersion":        "v2.1",
		"retryCount":        0,
		"configurationId":   42,
		"generatedDateTime": "2026-11-24T12:00:00.1234567Z",
		"data":              map[string]any{"envelopeId": "abc", "pad": strings.Repeat("x", pad)},
	})
	require.NoError(t, err)
	return b
}

// eventBodyOfSize returns a valid event body of exactly n bytes.
func eventBodyOfSize(t testing.TB, typ, id string, n int) []byte {
	t.Helper()
	base := len(eventBody(t, typ, id, 0))
	require.GreaterOrEqual(t, n, base)
	b := eventBody(t, typ, id, n-base)
	require.Len(t, b, n)
	return b
}

// signed returns a POST request for body signed by scheme with keys at ts, id as the
// delivery id.
func signed(t testing.TB, scheme signature.Scheme, keys []signature.Key, id string, ts time.Time, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	require.NoError(t, scheme.Sign(r.Header, signature.Message{ID: id, Timestamp: ts, Body: body}, keys))
	return r
}

// problem is the decoded RFC 9457 body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// assertProblem checks that rec holds the problem document for reason.
func assertProblem(t *testing.T, rec *httptest.ResponseRecorder, reason receiver.Reason) {
	t.Helper()
	assert.Equal(t, reason.Status(), rec.Code, "status for %s", reason)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), rec.Body.String())
	assert.Equal(t, "https://hookkit.dev/problems/"+string(reason), p.Type)
	assert.Equal(t, rec.Code, p.Status)
	assert.NotEmpty(t, p.Title)
	assert.NotEmpty(t, p.Detail)
	low := strings.ToLower(rec.Body.String())
	for _, word := range []string{"key", "secret", "whsec", "hmac"} {
		assert.NotContains(t, low, word, "problem body must not talk about keys")
	}
}

// fakeValidator accepts "Bearer good" (scope webhooks), refuses "Bearer narrow" for scope,
// reports "Bearer down" as unavailable, and rejects anything else.
type fakeValidator struct{ calls atomic.Int64 }

func (f *fakeValidator) Validate(_ context.Context, r *http.Request) (*auth.Principal, error) {
	f.calls.Add(1)
	switch r.Header.Get("Authorization") {
	case "":
		return nil, auth.ErrNoCredentials
	case "Bearer good":
		return &auth.Principal{Subject: "sender-1", Scopes: []string{"webhooks"}, Method: "bearer"}, nil
	case "Bearer narrow":
		return nil, auth.ErrInsufficientScope
	case "Bearer down":
		return nil, auth.ErrValidatorUnavailable
	default:
		return nil, auth.ErrInvalidCredentials
	}
}

// recordingHandler records what reached the application.
type recordingHandler struct {
	mu     sync.Mutex
	calls  int
	bodies [][]byte
	types  []string
	status int // 0: 200
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	ev, ok := receiver.EventFrom(r.Context())
	if !ok {
		http.Error(w, "no event", 500)
		return
	}
	if int64(len(body)) != r.ContentLength {
		http.Error(w, fmt.Sprintf("content length %d != %d", r.ContentLength, len(body)), 500)
		return
	}
	h.mu.Lock()
	h.calls++
	h.bodies = append(h.bodies, body)
	h.types = append(h.types, ev.Type)
	st := h.status
	h.mu.Unlock()
	if st != 0 {
		w.WriteHeader(st)
	}
}

func (h *recordingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// errReader fails after the given bytes.
type errReader struct{ left int }

func (e *errReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), e.left)
	for i := range p[:n] {
		p[i] = '{'
	}
	e.left -= n
	return n, nil
}

// failingStore is a SeenStore that always fails.
type failingStore struct{}

func (failingStore) Reserve(context.Context, string, time.Duration) (receiver.ReserveResult, string, error) {
	return 0, "", io.ErrClosedPipe
}
func (failingStore) Commit(context.Context, string, string, time.Duration) error {
	return io.ErrClosedPipe
}
func (failingStore) Release(context.Context, string, string) error { return io.ErrClosedPipe }

type eventT = event.Event

var parseEvent = event.Parse

// noIDScheme hides the signed delivery id, like schemes without an id header.
type noIDScheme struct{ signature.Scheme }

func (s noIDScheme) Verify(h http.Header, body []byte, keys []signature.Key, o signature.VerifyOptions) (signature.Meta, error) {
	m, err := s.Scheme.Verify(h, body, keys, o)
	m.ID = ""
	return m, err
}
