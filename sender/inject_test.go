package sender_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/sender"
)

type injectCtxKey struct{}

// hostileInject sets every header a hook must not be able to set, besides a traceparent
// it may set.
func hostileInject(_ context.Context, h http.Header) {
	h.Set("Authorization", "Bearer forged")
	h["webhook-signature"] = []string{"v1,Zm9yZ2Vk"}
	h.Set("Webhook-Signature", "v1,Zm9yZ2VkMg==")
	h.Set("Webhook-Id", "msg_forged")
	h.Set("Webhook-Timestamp", "1")
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", "1")
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Host", "evil.example")
	h.Set("User-Agent", "forged")
	h.Set("Cookie", "session=forged")
	h.Set("Connection", "close")
	h.Set("Accept-Encoding", "br")
	h.Set("x-tenant", "forged") // the endpoint's static header, another case
	h["X-Bad\nName"] = []string{"v"}
	h.Set("X-Crlf", "a\r\nInjected: 1")
	h["X-Mixed"] = []string{"good", "bad\x00"}
	h.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
}

// TestInjectHeadersCannotOverwriteSenderHeaders: a hook that tries to set the signature,
// credential, content, framing and endpoint headers changes none of them; the headers it
// may add (traceparent) arrive, invalid names and values are dropped, and the delivery
// still verifies with hookkit's and the official library.
func TestInjectHeadersCannotOverwriteSenderHeaders(t *testing.T) {
	t.Parallel()
	keys := newSndKeys(t, 2)
	rc := newSndReceiver(t, keys, statuses(http.StatusServiceUnavailable, http.StatusNoContent))
	var calls atomic.Int64
	s := loopbackSender(t, sender.Config{Observer: sender.DeliveryObserver{
		AttemptStarted: func(ctx context.Context, _ sender.AttemptInfo) context.Context {
			return context.WithValue(ctx, injectCtxKey{}, "from AttemptStarted")
		},
		InjectHeaders: func(ctx context.Context, h http.Header) {
			calls.Add(1)
			assert.Equal(t, "from AttemptStarted", ctx.Value(injectCtxKey{}), "the context AttemptStarted returned")
			assert.Empty(t, h, "the hook gets a header of its own, empty")
			hostileInject(ctx, h)
		},
	}})
	ep := sender.Endpoint{URL: rc.URL, Keys: keys.set, Credentials: auth.Bearer(auth.NewPassword("tok-123")),
		Headers: http.Header{"X-Tenant": {"acme"}}}
	ev := sndEvent(t, "envelope-sent")
	res, err := s.Send(context.Background(), ep, ev)
	require.NoError(t, err)
	require.Len(t, res.Attempts, 2)
	assert.Equal(t, int64(2), calls.Load(), "once per attempt")

	hits := rc.Hits()
	require.Len(t, hits, 2)
	assertEveryAttemptSigned(t, ev, hits)
	for i, h := range hits {
		assert.Equal(t, []string{"Bearer tok-123"}, h.Header.Values("Authorization"), "attempt %d", i+1)
		assert.Len(t, h.Header.Values("Webhook-Signature"), 1, "one signature header, the sender's")
		assert.NotContains(t, h.Header.Get("Webhook-Signature"), "Zm9yZ2Vk")
		assert.Equal(t, []string{ev.ID}, h.Header.Values("Webhook-Id"))
		assert.NotEqual(t, "1", h.Header.Get("Webhook-Timestamp"))
		assert.Equal(t, []string{"application/json"}, h.Header.Values("Content-Type"))
		assert.Equal(t, []string{sender.DefaultUserAgent}, h.Header.Values("User-Agent"))
		assert.Equal(t, []string{"acme"}, h.Header.Values("X-Tenant"), "the endpoint's header wins")
		assert.Empty(t, h.Header.Values("Cookie"))
		assert.Empty(t, h.Header.Values("Transfer-Encoding"))
		assert.NotEqual(t, []string{"br"}, h.Header.Values("Accept-Encoding"), "the transport's")
		assert.Empty(t, h.Header.Values("X-Crlf"), "a value with CR LF is dropped")
		assert.Empty(t, h.Header.Values("Injected"))
		assert.Equal(t, []string{"good"}, h.Header.Values("X-Mixed"), "only the valid value")
		assert.Equal(t, []string{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, h.Header.Values("Traceparent"))
		for k := range h.Header {
			assert.NotContains(t, k, "Bad", "an invalid header name is dropped")
		}
	}
}

// TestInjectHeadersNoAuthorizationWithoutCredentials: a hook cannot add an Authorization
// header (or a Host) even when the endpoint has no credentials to set one.
func TestInjectHeadersNoAuthorizationWithoutCredentials(t *testing.T) {
	t.Parallel()
	var gotHost string
	rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		w.WriteHeader(http.StatusNoContent)
	})
	s := loopbackSender(t, sender.Config{Observer: sender.DeliveryObserver{InjectHeaders: hostileInject}})
	_, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, sndEvent(t, "envelope-sent"))
	require.NoError(t, err)
	hits := rc.Hits()
	require.Len(t, hits, 1)
	assert.Empty(t, hits[0].Header.Values("Authorization"))
	assert.Empty(t, hits[0].Header.Values("Cookie"))
	assert.Equal(t, strings.TrimPrefix(rc.URL, "http://"), gotHost)
	assert.NotEmpty(t, hits[0].Header.Get("Traceparent"))
}

// TestInjectHeadersNotCalledWhenNothingIsSent: an attempt refused before sending (plain
// http:// not allowed) does not call the hook.
func TestInjectHeadersNotCalledWhenNothingIsSent(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	s, err := sender.New(sender.Config{Observer: sender.DeliveryObserver{
		InjectHeaders: func(context.Context, http.Header) { calls.Add(1) },
	}})
	require.NoError(t, err)
	_, err = s.Send(context.Background(), sender.Endpoint{URL: "http://hooks.example/x"}, sndEvent(t, "envelope-sent"))
	require.ErrorIs(t, err, sender.ErrPlainHTTP)
	assert.Zero(t, calls.Load())
}

// TestAttemptInfoURLIsRedacted: AttemptInfo.URL gives scheme, host and path, never the
// query string or fragment, which may carry a token; an AttemptInfo no Sender made has
// none.
func TestAttemptInfoURLIsRedacted(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	var got []url.URL
	s := loopbackSender(t, sender.Config{Retry: *fastRetry(1), Observer: sender.DeliveryObserver{
		AttemptStarted: func(ctx context.Context, info sender.AttemptInfo) context.Context {
			u, ok := info.URL()
			assert.True(t, ok)
			got = append(got, u)
			return ctx
		},
	}})
	_, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL + "/hooks/in%2Fx?token=s3cr3t#frag"}, sndEvent(t, "a"))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, rc.URL+"/hooks/in%2Fx", got[0].String())
	assert.NotContains(t, got[0].String(), "s3cr3t")

	u, ok := sender.AttemptInfo{}.URL()
	assert.False(t, ok)
	assert.Equal(t, url.URL{}, u)
}
