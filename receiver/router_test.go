package receiver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

func TestRouterDispatchesByMostSpecificPattern(t *testing.T) {
	var mu sync.Mutex
	var got []string
	route := func(name string) receiver.HandlerFunc {
		return func(_ context.Context, ev *eventT) error {
			mu.Lock()
			got = append(got, name+":"+ev.Type)
			mu.Unlock()
			return nil
		}
	}
	rt := receiver.NewRouter(receiver.RouterConfig{})
	require.NoError(t, rt.Handle("*", route("star")))
	require.NoError(t, rt.Handle("envelope-*", route("envelope")))
	require.NoError(t, rt.Handle("envelope-sent-*", route("envelope-sent")))
	require.NoError(t, rt.Handle("envelope-completed", route("exact")))

	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	h := mw(rt)
	for i, typ := range []string{"envelope-completed", "envelope-voided", "envelope-sent-reminder", "recipient-sent"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m"+string(rune('a'+i)), testNow, eventBody(t, typ, "e", 0)))
		assert.Equal(t, http.StatusNoContent, rec.Code, typ)
	}
	assert.Equal(t, []string{
		"exact:envelope-completed",
		"envelope:envelope-voided",
		"envelope-sent:envelope-sent-reminder",
		"star:recipient-sent",
	}, got)
}

func TestRouterHandleErrors(t *testing.T) {
	rt := receiver.NewRouter(receiver.RouterConfig{})
	ok := func(context.Context, *eventT) error { return nil }
	require.NoError(t, rt.Handle("a", ok))
	assert.ErrorIs(t, rt.Handle("a", ok), receiver.ErrDuplicatePattern)
	require.NoError(t, rt.Handle("a-*", ok))
	assert.ErrorIs(t, rt.Handle("a-*", ok), receiver.ErrDuplicatePattern)
	require.NoError(t, rt.Handle("*", ok))
	assert.ErrorIs(t, rt.Handle("*", ok), receiver.ErrDuplicatePattern)
	assert.Error(t, rt.Handle("", ok), "empty pattern")
	assert.Error(t, rt.Handle("b", nil), "nil handler")
}

func TestRouterStatuses(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	tests := []struct {
		name       string
		cfg        receiver.RouterConfig
		typ        string
		result     error
		wantStatus int
		wantReason receiver.Reason
		retryAfter string
	}{
		{name: "nil is 204", typ: "known", wantStatus: 204},
		{name: "retryable with delay", typ: "known", result: receiver.Retryable(errors.New("db down"), 1500*time.Millisecond), wantReason: receiver.ReasonRetryLater, retryAfter: "2"},
		{name: "retryable without delay", typ: "known", result: receiver.Retryable(errors.New("db down"), 0), wantReason: receiver.ReasonRetryLater},
		{name: "wrapped retryable", typ: "known", result: wrap(receiver.Retryable(nil, time.Second)), wantReason: receiver.ReasonRetryLater, retryAfter: "1"},
		{name: "permanent is 422", typ: "known", result: receiver.Permanent(errors.New("unknown account")), wantReason: receiver.ReasonPermanent},
		{name: "wrapped permanent", typ: "known", result: wrap(receiver.Permanent(nil)), wantReason: receiver.ReasonPermanent},
		{name: "other error is 500", typ: "known", result: errors.New("bug"), wantReason: receiver.ReasonHandlerError},
		{name: "unknown type acknowledged", typ: "other", wantStatus: 204},
		{name: "unknown type rejected on request", cfg: receiver.RouterConfig{RejectUnknown: true}, typ: "other", wantReason: receiver.ReasonUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := receiver.NewRouter(tt.cfg)
			require.NoError(t, rt.Handle("known", func(context.Context, *eventT) error { return tt.result }))
			mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			mw(rt).ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m", testNow, eventBody(t, tt.typ, "e", 0)))
			if tt.wantReason != "" {
				assertProblem(t, rec, tt.wantReason)
				assert.NotContains(t, rec.Body.String(), "db down", "handler errors stay private")
				assert.NotContains(t, rec.Body.String(), "bug")
			} else {
				assert.Equal(t, tt.wantStatus, rec.Code)
				assert.Empty(t, rec.Body.String())
			}
			assert.Equal(t, tt.retryAfter, rec.Header().Get("Retry-After"))
		})
	}
	assert.NotEqual(t, 408, receiver.ReasonPermanent.Status())
	assert.NotEqual(t, 425, receiver.ReasonPermanent.Status())
	assert.NotEqual(t, 429, receiver.ReasonPermanent.Status())
	assert.Equal(t, "retryable: x", receiver.Retryable(errors.New("x"), 0).Error())
	assert.Equal(t, "permanent: x", receiver.Permanent(errors.New("x")).Error())
	inner := errors.New("inner")
	assert.ErrorIs(t, receiver.Retryable(inner, 0), inner)
	assert.ErrorIs(t, receiver.Permanent(inner), inner)
}

func wrap(err error) error { return errors.Join(errors.New("context"), err) }

func TestRouterWithoutMiddlewareRefuses(t *testing.T) {
	called := false
	rt := receiver.NewRouter(receiver.RouterConfig{})
	require.NoError(t, rt.Handle("*", func(context.Context, *eventT) error { called = true; return nil }))
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(eventBody(t, "a", "b", 0))))
	assertProblem(t, rec, receiver.ReasonHandlerError)
	assert.False(t, called, "an unverified body must never reach a handler")
}

func TestFailedRouterHandlerIsRetriedAndSuccessIsDeduplicated(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	calls := 0
	rt := receiver.NewRouter(receiver.RouterConfig{})
	require.NoError(t, rt.Handle("*", func(context.Context, *eventT) error {
		calls++
		if calls == 1 {
			return receiver.Retryable(errors.New("later"), 0)
		}
		return nil
	}))
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	h := mw(rt)
	codes := []int{}
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m", testNow, eventBody(t, "a", "b", 0)))
		codes = append(codes, rec.Code)
	}
	assert.Equal(t, []int{503, 204, 204}, codes)
	assert.Equal(t, 2, calls)
}

// TestRouterUnderRouters mounts middleware+Router under http.ServeMux (Go 1.22 pattern),
// chi, and a bare http.Handler, each behind a real loopback server.
func TestRouterUnderRouters(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mounts := map[string]func(h http.Handler) http.Handler{
		"ServeMux": func(h http.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("POST /webhooks", h)
			return mux
		},
		"chi": func(h http.Handler) http.Handler {
			r := chi.NewRouter()
			r.Method(http.MethodPost, "/webhooks", h)
			return r
		},
		"plain http.Handler": func(h http.Handler) http.Handler { return h },
	}
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			got := make(chan string, 1)
			rt := receiver.NewRouter(receiver.RouterConfig{})
			require.NoError(t, rt.Handle("envelope-*", func(_ context.Context, ev *eventT) error {
				got <- ev.ID
				return nil
			}))
			mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key)})
			require.NoError(t, err)
			srv := httptest.NewServer(mount(mw(rt)))
			defer srv.Close()

			body := eventBody(t, "envelope-sent", "evt-42", 0)
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks", bytes.NewReader(body))
			require.NoError(t, err)
			require.NoError(t, signature.Standard().Sign(req.Header, signature.Message{ID: "msg-42", Timestamp: time.Now(), Body: body}, []signature.Key{key}))
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			select {
			case id := <-got:
				assert.Equal(t, "evt-42", id)
			default:
				t.Fatal("handler not called")
			}

			if name != "plain http.Handler" {
				// The router's method pattern answers 405 before the middleware runs.
				resp, err = srv.Client().Get(srv.URL + "/webhooks")
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
			}
		})
	}
}

func TestRouterLogsErrorsButDoesNotExposeThem(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	var logs bytes.Buffer
	rt := receiver.NewRouter(receiver.RouterConfig{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, rt.Handle("fail", func(context.Context, *eventT) error { return errors.New("disk on fire") }))
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	h := mw(rt)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m1", testNow, eventBody(t, "fail", "e1", 0)))
	assertProblem(t, rec, receiver.ReasonHandlerError)
	assert.NotContains(t, rec.Body.String(), "disk on fire")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m2", testNow, eventBody(t, "other", "e2", 0)))
	assert.Equal(t, 204, rec.Code)
	out := logs.String()
	assert.Contains(t, out, "disk on fire")
	assert.Contains(t, out, "no handler for event type")
	assert.Equal(t, "retryable error", receiver.Retryable(nil, 0).Error())
	assert.Equal(t, "permanent error", receiver.Permanent(nil).Error())
}

// An event type without a handler is acknowledged (204) and logged at Debug, or, with
// RejectUnknown, refused (422) and logged at Info like the middleware's rejections.
func TestRouterLogsUnknownEventTypes(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	tests := []struct {
		name       string
		reject     bool
		wantStatus int
		wantLog    string
	}{
		{"acknowledged at debug", false, http.StatusNoContent, `level=DEBUG msg="hookkit/receiver: no handler for event type, acknowledged" type=other id=e1`},
		{"rejected at info", true, http.StatusUnprocessableEntity, `level=INFO msg="hookkit/receiver: no handler for event type, rejected" type=other id=e1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
				Level:       slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return dropTime(a) },
			}))
			rt := receiver.NewRouter(receiver.RouterConfig{Logger: logger, RejectUnknown: tt.reject})
			require.NoError(t, rt.Handle("known", func(context.Context, *eventT) error { return nil }))
			mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			mw(rt).ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, "m1", testNow, eventBody(t, "other", "e1", 0)))
			assert.Equal(t, tt.wantStatus, rec.Code)
			assert.Equal(t, tt.wantLog+"\n", logs.String())
		})
	}
}

func dropTime(a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
