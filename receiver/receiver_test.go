package receiver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

func TestNewRejectsUnusableConfig(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	ks := newKeySet(t, key)
	tests := []struct {
		name string
		cfg  receiver.Config
	}{
		{"zero value has nothing to verify with", receiver.Config{}},
		{"skip signature without credentials", receiver.Config{SkipSignature: true}},
		{"skip signature with keys", receiver.Config{SkipSignature: true, Keys: ks, Credentials: &fakeValidator{}}},
		{"negative body limit", receiver.Config{Keys: ks, MaxBodyBytes: -1}},
		{"negative retention", receiver.Config{Keys: ks, Retention: -time.Second}},
		{"negative lease", receiver.Config{Keys: ks, Lease: -time.Second}},
		{"retention shorter than tolerance", receiver.Config{Keys: ks, Tolerance: time.Hour, Retention: time.Minute}},
		{"retention shorter than default tolerance", receiver.Config{Keys: ks, Retention: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := receiver.New(tt.cfg)
			assert.ErrorIs(t, err, receiver.ErrInvalidConfig)
			assert.Nil(t, mw)
		})
	}
}

func TestMiddlewareStatuses(t *testing.T) {
	scheme := signature.Standard()
	key, _ := newKey(t, "k1", 1)
	other, _ := newKey(t, "other", 2)
	const limit = 2048
	good := eventBody(t, "envelope-completed", "evt-1", 0)

	type want struct {
		status int
		reason receiver.Reason // "" for success
		calls  int
	}
	tests := []struct {
		name    string
		cfg     func(*receiver.Config)
		request func(t *testing.T) *http.Request
		want    want
		check   func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{
			name: "valid delivery reaches the handler",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
			},
			want: want{status: 200, calls: 1},
		},
		{
			name: "GET is not allowed",
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Method = http.MethodGet
				return r
			},
			want: want{reason: receiver.ReasonMethodNotAllowed},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.Equal(t, "POST", rec.Header().Get("Allow"))
			},
		},
		{
			name: "PUT is not allowed",
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Method = http.MethodPut
				return r
			},
			want: want{reason: receiver.ReasonMethodNotAllowed},
		},
		{
			name: "declared length over the limit",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, eventBodyOfSize(t, "a", "b", limit+1))
			},
			want: want{reason: receiver.ReasonBodyTooLarge},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.Equal(t, "close", rec.Header().Get("Connection"))
			},
		},
		{
			name: "undeclared length over the limit",
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, eventBodyOfSize(t, "a", "b", limit+1))
				r.ContentLength = -1
				return r
			},
			want: want{reason: receiver.ReasonBodyTooLarge},
		},
		{
			name: "body exactly at the limit",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, eventBodyOfSize(t, "a", "b", limit))
			},
			want: want{status: 200, calls: 1},
		},
		{
			name: "body read fails",
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Body = io.NopCloser(&errReader{left: 10})
				r.ContentLength = -1
				return r
			},
			want: want{reason: receiver.ReasonUnreadableBody},
		},
		{
			name: "no signature headers",
			request: func(t *testing.T) *http.Request {
				return httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(good))
			},
			want: want{reason: receiver.ReasonInvalidSignature},
		},
		{
			name: "signed with an unknown key",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{other}, "msg-1", testNow, good)
			},
			want: want{reason: receiver.ReasonInvalidSignature},
		},
		{
			name: "body changed after signing",
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				tampered := bytes.Replace(good, []byte("abc"), []byte("abd"), 1)
				r.Body = io.NopCloser(bytes.NewReader(tampered))
				return r
			},
			want: want{reason: receiver.ReasonInvalidSignature},
		},
		{
			name: "malformed signature header",
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Header.Set("webhook-timestamp", "yesterday")
				return r
			},
			want: want{reason: receiver.ReasonInvalidSignature},
		},
		{
			name: "stale timestamp",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow.Add(-6*time.Minute), good)
			},
			want: want{reason: receiver.ReasonTimestamp},
		},
		{
			name: "timestamp from the future",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow.Add(6*time.Minute), good)
			},
			want: want{reason: receiver.ReasonTimestamp},
		},
		{
			name: "custom tolerance accepts an older timestamp",
			cfg:  func(c *receiver.Config) { c.Tolerance = time.Hour },
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow.Add(-30*time.Minute), good)
			},
			want: want{status: 200, calls: 1},
		},
		{
			name: "negative tolerance turns the timestamp check off",
			cfg:  func(c *receiver.Config) { c.Tolerance = -1 },
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow.Add(-48*time.Hour), good)
			},
			want: want{status: 200, calls: 1},
		},
		{
			name: "signed body that is not an event",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, []byte(`{"hello":"world"}`))
			},
			want: want{reason: receiver.ReasonInvalidEvent},
		},
		{
			name: "signed body that is not JSON",
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, []byte(`not json`))
			},
			want: want{reason: receiver.ReasonInvalidEvent},
		},
		{
			name: "no active key",
			cfg: func(c *receiver.Config) {
				expired := key
				expired.Expires = testNow.Add(-time.Hour)
				c.Keys = newKeySet(t, expired)
			},
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
			},
			want: want{reason: receiver.ReasonUnavailable},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.Equal(t, "5", rec.Header().Get("Retry-After"))
			},
		},
		{
			name: "seen store fails",
			cfg:  func(c *receiver.Config) { c.Seen = failingStore{} },
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
			},
			want: want{reason: receiver.ReasonUnavailable},
		},
		{
			name: "credentials required and missing",
			cfg:  func(c *receiver.Config) { c.Credentials = &fakeValidator{} },
			request: func(t *testing.T) *http.Request {
				return signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
			},
			want: want{reason: receiver.ReasonInvalidCredentials},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
			},
		},
		{
			name: "credentials invalid",
			cfg:  func(c *receiver.Config) { c.Credentials = &fakeValidator{} },
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Header.Set("Authorization", "Bearer nope")
				return r
			},
			want: want{reason: receiver.ReasonInvalidCredentials},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
			},
		},
		{
			name: "credentials lack scope",
			cfg:  func(c *receiver.Config) { c.Credentials = &fakeValidator{} },
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Header.Set("Authorization", "Bearer narrow")
				return r
			},
			want: want{reason: receiver.ReasonInsufficientScope},
		},
		{
			name: "credential validator unavailable",
			cfg:  func(c *receiver.Config) { c.Credentials = &fakeValidator{} },
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Header.Set("Authorization", "Bearer down")
				return r
			},
			want: want{reason: receiver.ReasonAuthUnavailable},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.NotEmpty(t, rec.Header().Get("Retry-After"))
			},
		},
		{
			name: "credentials valid but signature missing: both are required",
			cfg:  func(c *receiver.Config) { c.Credentials = &fakeValidator{} },
			request: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(good))
				r.Header.Set("Authorization", "Bearer good")
				return r
			},
			want: want{reason: receiver.ReasonInvalidSignature},
		},
		{
			name: "credentials and signature both valid",
			cfg:  func(c *receiver.Config) { c.Credentials = &fakeValidator{} },
			request: func(t *testing.T) *http.Request {
				r := signed(t, scheme, []signature.Key{key}, "msg-1", testNow, good)
				r.Header.Set("Authorization", "Bearer good")
				return r
			},
			want: want{status: 200, calls: 1},
		},
		{
			name: "credentials only (SkipSignature): valid credentials, no signature",
			cfg: func(c *receiver.Config) {
				c.Credentials, c.Keys, c.SkipSignature = &fakeValidator{}, nil, true
			},
			request: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(good))
				r.Header.Set("Authorization", "Bearer good")
				return r
			},
			want: want{status: 200, calls: 1},
		},
		{
			name: "credentials only (SkipSignature): no credentials",
			cfg: func(c *receiver.Config) {
				c.Credentials, c.Keys, c.SkipSignature = &fakeValidator{}, nil, true
			},
			request: func(t *testing.T) *http.Request {
				return httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(good))
			},
			want: want{reason: receiver.ReasonInvalidCredentials},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, MaxBodyBytes: limit}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			mw, err := receiver.New(cfg)
			require.NoError(t, err)
			app := &recordingHandler{}
			rec := httptest.NewRecorder()
			mw(app).ServeHTTP(rec, tt.request(t))
			if tt.want.reason != "" {
				assertProblem(t, rec, tt.want.reason)
			} else {
				assert.Equal(t, tt.want.status, rec.Code, rec.Body.String())
			}
			assert.Equal(t, tt.want.calls, app.count(), "handler calls")
			if tt.check != nil {
				tt.check(t, rec)
			}
		})
	}
}

func TestOversizedDeclaredBodyIsNotRead(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, MaxBodyBytes: 100})
	require.NoError(t, err)
	cr := &countingReader{r: bytes.NewReader(make([]byte, 10_000))}
	r := httptest.NewRequest(http.MethodPost, "/", cr)
	r.ContentLength = 10_000
	rec := httptest.NewRecorder()
	mw(&recordingHandler{}).ServeHTTP(rec, r)
	assertProblem(t, rec, receiver.ReasonBodyTooLarge)
	assert.Zero(t, cr.n.Load(), "nothing may be read when Content-Length is over the limit")
}

func TestUndeclaredBodyIsReadAtMostOnePastTheLimit(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, MaxBodyBytes: 100})
	require.NoError(t, err)
	cr := &countingReader{r: bytes.NewReader(make([]byte, 1<<20))}
	r := httptest.NewRequest(http.MethodPost, "/", cr)
	r.ContentLength = -1
	rec := httptest.NewRecorder()
	mw(&recordingHandler{}).ServeHTTP(rec, r)
	assertProblem(t, rec, receiver.ReasonBodyTooLarge)
	assert.LessOrEqual(t, cr.n.Load(), int64(101))
}

func TestCredentialsAreCheckedBeforeTheBodyIsRead(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	v := &fakeValidator{}
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Credentials: v, Now: fixedNow})
	require.NoError(t, err)
	cr := &countingReader{r: bytes.NewReader(eventBody(t, "a", "b", 0))}
	r := httptest.NewRequest(http.MethodPost, "/", cr)
	rec := httptest.NewRecorder()
	mw(&recordingHandler{}).ServeHTTP(rec, r)
	assertProblem(t, rec, receiver.ReasonInvalidCredentials)
	assert.Zero(t, cr.n.Load())
	assert.EqualValues(t, 1, v.calls.Load())
}

func TestNextHandlerSeesEventPrincipalAndExactBody(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Credentials: &fakeValidator{}, Now: fixedNow})
	require.NoError(t, err)
	body := eventBody(t, "envelope-sent", "evt-77", 100)
	var gotBody, again []byte
	var gotEv, gotPrincipal, gotID bool
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		again, _ = io.ReadAll(r.Body) // drained: a second read returns nothing
		ev, ok := receiver.EventFrom(r.Context())
		gotEv = ok && ev.ID == "evt-77" && ev.Type == "envelope-sent"
		p, ok := receiver.PrincipalFrom(r.Context())
		gotPrincipal = ok && p.Subject == "sender-1"
		id, ok := receiver.DeliveryIDFrom(r.Context())
		gotID = ok && id == "msg-9"
		assert.Equal(t, int64(len(body)), r.ContentLength)
		w.WriteHeader(http.StatusAccepted)
	})
	r := signed(t, signature.Standard(), []signature.Key{key}, "msg-9", testNow, body)
	r.Header.Set("Authorization", "Bearer good")
	rec := httptest.NewRecorder()
	mw(next).ServeHTTP(rec, r)
	assert.Equal(t, http.StatusAccepted, rec.Code)
	assert.Equal(t, body, gotBody)
	assert.Empty(t, again)
	assert.True(t, gotEv, "event in context")
	assert.True(t, gotPrincipal, "principal in context")
	assert.True(t, gotID, "delivery id in context")
}

func TestAccessorsOnAPlainContext(t *testing.T) {
	_, ok := receiver.EventFrom(context.Background())
	assert.False(t, ok)
	_, ok = receiver.PrincipalFrom(context.Background())
	assert.False(t, ok)
	_, ok = receiver.DeliveryIDFrom(context.Background())
	assert.False(t, ok)
}

func TestPrincipalAbsentWithoutCredentials(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	var has bool
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, has = receiver.PrincipalFrom(r.Context()) })
	rec := httptest.NewRecorder()
	mw(next).ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m", testNow, eventBody(t, "a", "b", 0)))
	assert.Equal(t, 200, rec.Code)
	assert.False(t, has)
}

func TestDuplicatesAreAcknowledgedWithoutReachingTheHandler(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	var dups []string
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow,
		Observer: receiver.RequestObserver{Duplicate: func(_ context.Context, id string) { dups = append(dups, id) }}})
	require.NoError(t, err)
	app := &recordingHandler{}
	h := mw(app)
	body := eventBody(t, "a", "evt-1", 0)
	for i := range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body))
		if i == 0 {
			assert.Equal(t, http.StatusOK, rec.Code)
		} else {
			assert.Equal(t, http.StatusNoContent, rec.Code, "duplicate is acknowledged")
		}
	}
	assert.Equal(t, 1, app.count())
	assert.Equal(t, []string{"msg-1", "msg-1"}, dups)

	// A different delivery id is a different delivery.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-2", testNow, body))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, 2, app.count())
}

func TestFailedHandlerLetsTheRetryThrough(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	app := &recordingHandler{status: http.StatusInternalServerError}
	h := mw(app)
	body := eventBody(t, "a", "evt-1", 0)
	send := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body))
		return rec.Code
	}
	assert.Equal(t, 500, send())
	assert.Equal(t, 500, send())
	app.mu.Lock()
	app.status = 0
	app.mu.Unlock()
	assert.Equal(t, 200, send())
	assert.Equal(t, 204, send(), "after success the id is seen")
	assert.Equal(t, 3, app.count(), "the duplicate does not reach the handler")
}

func TestPanickingHandlerReleasesTheID(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	store := newSeenStore(t, receiver.MemorySeenStoreConfig{})
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, Seen: store})
	require.NoError(t, err)
	body := eventBody(t, "a", "evt-1", 0)
	boom := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	assert.PanicsWithValue(t, "boom", func() {
		boom.ServeHTTP(httptest.NewRecorder(), signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body))
	})
	res, _, err := store.Reserve(context.Background(), "msg-1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.Reserved, res, "the panicking delivery must not keep the id")
}

func TestIDFallsBackToEventIDThenBodyHash(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	var ids []string
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, Scheme: noIDScheme{signature.Standard()}})
	require.NoError(t, err)
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := receiver.DeliveryIDFrom(r.Context())
		ids = append(ids, id)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, eventBody(t, "a", "evt-5", 0)))
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, []string{"evt-5"}, ids, "without a signed id the event id is used")

	// With a decoder that leaves the id empty, the body hash is the id.
	mw2, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, Scheme: noIDScheme{signature.Standard()},
		Decode: func(b []byte) (*eventT, error) {
			ev, err := parseEvent(b)
			if err == nil {
				ev.ID = ""
			}
			return ev, err
		}})
	require.NoError(t, err)
	h2 := mw2(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := receiver.DeliveryIDFrom(r.Context())
		ids = append(ids, id)
	}))
	body := eventBody(t, "a", "evt-6", 0)
	for range 2 {
		rec = httptest.NewRecorder()
		h2.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body))
	}
	assert.Equal(t, 204, rec.Code, "same body again is a duplicate")
	require.Len(t, ids, 2)
	assert.True(t, strings.HasPrefix(ids[1], "sha256:"), ids[1])
	assert.Len(t, ids[1], len("sha256:")+64)
}

func TestDecoderFailuresAreInvalidEvents(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	for name, dec := range map[string]func([]byte) (*eventT, error){
		"error":    func([]byte) (*eventT, error) { return nil, errors.New("nope") },
		"nil":      func([]byte) (*eventT, error) { return nil, nil },
		"panicked": func([]byte) (*eventT, error) { panic("decoder bug") },
	} {
		t.Run(name, func(t *testing.T) {
			mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, Decode: dec})
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			mw(&recordingHandler{}).ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m", testNow, eventBody(t, "a", "b", 0)))
			assertProblem(t, rec, receiver.ReasonInvalidEvent)
		})
	}
}

func TestInFlightDuplicateGets503AndRetryAfter(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	body := eventBody(t, "a", "evt-1", 0)
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body))
		done <- rec.Code
	}()
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body))
	assertProblem(t, rec, receiver.ReasonInFlight)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	close(release)
	assert.Equal(t, 200, <-done)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body))
	assert.Equal(t, 204, rec.Code, "the retry after completion is a duplicate")
}

func TestObserverAndLoggerSeeEveryOutcome(t *testing.T) {
	key, raw := newKey(t, "k1", 1)
	var mu sync.Mutex
	var accepted []int
	var rejected []receiver.Reason
	var logs bytes.Buffer
	mw, err := receiver.New(receiver.Config{
		Keys: newKeySet(t, key), Now: fixedNow, Credentials: &fakeValidator{},
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer: receiver.RequestObserver{
			Accepted: func(_ context.Context, _ *eventT, st int) { mu.Lock(); accepted = append(accepted, st); mu.Unlock() },
			Rejected: func(_ context.Context, r receiver.Reason) { mu.Lock(); rejected = append(rejected, r); mu.Unlock() },
		},
	})
	require.NoError(t, err)
	h := mw(&recordingHandler{})
	body := eventBody(t, "a", "b", 0)

	r := signed(t, signature.Standard(), []signature.Key{key}, "m1", testNow, body)
	r.Header.Set("Authorization", "Bearer good")
	h.ServeHTTP(httptest.NewRecorder(), r)
	r = signed(t, signature.Standard(), []signature.Key{key}, "m2", testNow.Add(-time.Hour), body)
	r.Header.Set("Authorization", "Bearer good")
	h.ServeHTTP(httptest.NewRecorder(), r)
	r = signed(t, signature.Standard(), []signature.Key{key}, "m3", testNow, body)
	h.ServeHTTP(httptest.NewRecorder(), r)

	assert.Equal(t, []int{200}, accepted)
	assert.Equal(t, []receiver.Reason{receiver.ReasonTimestamp, receiver.ReasonInvalidCredentials}, rejected)
	out := logs.String()
	assert.Contains(t, out, `"reason":"timestamp-out-of-tolerance"`)
	assert.Contains(t, out, `"reason":"invalid-credentials"`)
	assert.Contains(t, out, "delivery handled")
	assert.NotContains(t, out, string(raw))
	assert.NotContains(t, out, "Bearer good")
}

func TestFlushAndResponseControllerReachTheServerWriter(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key)}) // real clock: real server
	require.NoError(t, err)
	var flusher, rcErr bool
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, flusher = w.(http.Flusher)
		rcErr = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)) != nil
		_, _ = w.Write([]byte("ok"))
		http.NewResponseController(w).Flush()
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := signed(t, signature.Standard(), []signature.Key{key}, "m", time.Now(), eventBody(t, "a", "b", 0))
	req, err := http.NewRequest(http.MethodPost, srv.URL, r.Body)
	require.NoError(t, err)
	req.Header = r.Header
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", string(got))
	assert.True(t, flusher)
	assert.False(t, rcErr, "SetWriteDeadline must reach the server's writer through Unwrap")
}

// ttlStore records the ttl of every Commit.
type ttlStore struct {
	*receiver.MemorySeenStore
	mu   sync.Mutex
	ttls []time.Duration
	fail bool
}

func (s *ttlStore) Commit(ctx context.Context, id, token string, ttl time.Duration) error {
	s.mu.Lock()
	s.ttls = append(s.ttls, ttl)
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("store down")
	}
	return s.MemorySeenStore.Commit(ctx, id, token, ttl)
}

// noMetaScheme hides id and timestamp, like docusign and github.
type noMetaScheme struct{ signature.Scheme }

func (s noMetaScheme) Verify(h http.Header, body []byte, keys []signature.Key, o signature.VerifyOptions) (signature.Meta, error) {
	_, err := s.Scheme.Verify(h, body, keys, o)
	return signature.Meta{}, err
}

func TestRetentionDefaults(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	tests := []struct {
		name string
		cfg  receiver.Config
		want time.Duration
	}{
		{"default tolerance gives the 10 minute floor", receiver.Config{}, 10 * time.Minute},
		{"twice a longer tolerance", receiver.Config{Tolerance: 15 * time.Minute}, 30 * time.Minute},
		{"no timestamp check", receiver.Config{Tolerance: -1}, 24 * time.Hour},
		{"scheme without timestamp", receiver.Config{Scheme: noMetaScheme{signature.Standard()}}, 24 * time.Hour},
		{"explicit retention", receiver.Config{Retention: 3 * time.Hour}, 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &ttlStore{MemorySeenStore: newSeenStore(t, receiver.MemorySeenStoreConfig{})}
			cfg := tt.cfg
			cfg.Keys, cfg.Now, cfg.Seen = newKeySet(t, key), fixedNow, store
			mw, err := receiver.New(cfg)
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			mw(&recordingHandler{}).ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m", testNow, eventBody(t, "a", "b", 0)))
			require.Equal(t, 200, rec.Code)
			assert.Equal(t, []time.Duration{tt.want}, store.ttls)
		})
	}
}

func TestCommitFailureIsLoggedAndTheRetryGetsThrough(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	store := &ttlStore{MemorySeenStore: newSeenStore(t, receiver.MemorySeenStoreConfig{}), fail: true}
	var logs bytes.Buffer
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, Seen: store,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	app := &recordingHandler{}
	h := mw(app)
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m", testNow, eventBody(t, "a", "b", 0)))
		assert.Equal(t, 200, rec.Code)
	}
	assert.Equal(t, 2, app.count(), "an id that could not be committed is not held in flight")
	assert.Contains(t, logs.String(), "seen store commit failed")
}

func TestBodylessRequestIsAnInvalidSignature(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Body = nil
	rec := httptest.NewRecorder()
	mw(&recordingHandler{}).ServeHTTP(rec, r)
	assertProblem(t, rec, receiver.ReasonInvalidSignature)
}

// keyStore records the id of every Reserve: the key the middleware de-duplicates by.
type keyStore struct {
	*receiver.MemorySeenStore
	mu   sync.Mutex
	keys []string
}

func (s *keyStore) Reserve(ctx context.Context, id string, lease time.Duration) (receiver.ReserveResult, string, error) {
	s.mu.Lock()
	s.keys = append(s.keys, id)
	s.mu.Unlock()
	return s.MemorySeenStore.Reserve(ctx, id, lease)
}

// When the signed header id (webhook-id) and the body's "id" differ, the header id is the
// SeenStore key and DeliveryIDFrom; the body id is only EventFrom(ctx).ID.
func TestHeaderIDNotBodyIDIsTheDeduplicationKey(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	store := &keyStore{MemorySeenStore: newSeenStore(t, receiver.MemorySeenStoreConfig{Now: fixedNow})}
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow, Seen: store})
	require.NoError(t, err)
	var handled []string // "delivery id/event id"
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := receiver.DeliveryIDFrom(r.Context())
		require.True(t, ok)
		ev, ok := receiver.EventFrom(r.Context())
		require.True(t, ok)
		handled = append(handled, id+"/"+ev.ID)
	}))
	send := func(headerID, bodyID string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, headerID, testNow, eventBody(t, "a", bodyID, 0)))
		return rec.Code
	}
	assert.Equal(t, 200, send("msg-1", "evt-A"))
	assert.Equal(t, 204, send("msg-1", "evt-B"), "same header id, other body id: a duplicate")
	assert.Equal(t, 200, send("msg-2", "evt-A"), "other header id, same body id: a new delivery")
	assert.Equal(t, []string{"msg-1/evt-A", "msg-2/evt-A"}, handled)
	assert.Equal(t, []string{"msg-1", "msg-1", "msg-2"}, store.keys, "the seen store is keyed by the header id, verbatim")
}
