package sender_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/sender"
)

// TestPrepareRefusesWhatNoAttemptCouldUse: Prepare checks an endpoint once, and an
// endpoint that Send would fail at its first attempt is an error here.
func TestPrepareRefusesWhatNoAttemptCouldUse(t *testing.T) {
	strict, err := sender.New(sender.Config{})
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		ep   sender.Endpoint
		also error
	}{
		{"unparsable url", sender.Endpoint{URL: "https://hooks.example.com/%zz"}, nil},
		{"not https or http", sender.Endpoint{URL: "ftp://hooks.example.com/x"}, nil},
		{"no host", sender.Endpoint{URL: "https:///x"}, nil},
		{"user information", sender.Endpoint{URL: "https://user:secret@hooks.example.com/x"}, nil},
		{"plain http not allowed", sender.Endpoint{URL: "http://hooks.example.com/x"}, sender.ErrPlainHTTP},
		{"negative timeout", sender.Endpoint{URL: "https://hooks.example.com/x", Timeout: -time.Second}, nil},
		{"invalid retry policy", sender.Endpoint{URL: "https://hooks.example.com/x", Retry: &sender.RetryPolicy{Multiplier: 0.5}}, sender.ErrInvalidPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := strict.Prepare(tc.ep)
			assert.Nil(t, tg)
			require.ErrorIs(t, err, sender.ErrInvalidEndpoint)
			if tc.also != nil {
				assert.ErrorIs(t, err, tc.also)
			}
			assert.NotContains(t, err.Error(), "secret", "no credentials in the error")
		})
	}
}

// TestPrepareCopiesAndResolves: the Target keeps a copy of the endpoint and its timeout
// in effect.
func TestPrepareCopiesAndResolves(t *testing.T) {
	s, err := sender.New(sender.Config{})
	require.NoError(t, err)
	ep := sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/x"}
	tg, err := s.Prepare(ep)
	require.NoError(t, err)
	assert.Equal(t, sender.DefaultTimeout, tg.Timeout(), "0 means DefaultTimeout")
	ep.URL = "https://elsewhere.example/"
	assert.Equal(t, "https://hooks.acme.example/x", tg.Endpoint().URL, "a copy")
	ep.Timeout = 3 * time.Second
	tg, err = s.Prepare(ep)
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, tg.Timeout())
}

// TestAttemptMakesExactlyOne: Attempt sends once, whatever the answer, with the body of
// the retry count it is given, and reports the attempt as Send would.
func TestAttemptMakesExactlyOne(t *testing.T) {
	keys := newSndKeys(t, 1)
	rc := newSndReceiver(t, keys, statuses(http.StatusServiceUnavailable, http.StatusNoContent))
	var started, finished atomic.Int32
	s := loopbackSender(t, sender.Config{Observer: sender.DeliveryObserver{
		AttemptStarted:  func(ctx context.Context, _ sender.AttemptInfo) context.Context { started.Add(1); return ctx },
		AttemptFinished: func(context.Context, sender.AttemptInfo, sender.Attempt) { finished.Add(1) },
		Delivered:       func(context.Context, *sender.Result) { t.Error("Attempt is not a Send: no Delivered") },
		Failed:          func(context.Context, *sender.Result, error) { t.Error("Attempt is not a Send: no Failed") },
	}})
	tg, err := s.Prepare(sender.Endpoint{ID: "rc", URL: rc.URL, Keys: keys.set})
	require.NoError(t, err)
	ev := sndEvent(t, "envelope-completed")
	enc, err := ev.Encode()
	require.NoError(t, err)

	a := s.Attempt(context.Background(), tg, enc, 0)
	assert.Equal(t, 1, a.Number)
	assert.Equal(t, http.StatusServiceUnavailable, a.Status)
	assert.Equal(t, sender.ClassRetryable, a.Class)
	require.Error(t, a.Err)
	assert.Len(t, rc.Hits(), 1, "one attempt, no retry")

	a = s.Attempt(context.Background(), tg, enc, 1)
	assert.Equal(t, 2, a.Number)
	assert.Equal(t, sender.ClassAcknowledged, a.Class)
	assert.NoError(t, a.Err)
	hits := rc.Hits()
	require.Len(t, hits, 2)
	assertEveryAttemptSigned(t, ev, hits)
	assert.Equal(t, int32(2), started.Load())
	assert.Equal(t, int32(2), finished.Load())
}

// TestAttemptEndsWithItsContext: a cancelled context ends the attempt at once, retryable.
func TestAttemptEndsWithItsContext(t *testing.T) {
	rc := newSndReceiver(t, nil, nil)
	s := loopbackSender(t, sender.Config{})
	tg, err := s.Prepare(sender.Endpoint{URL: rc.URL})
	require.NoError(t, err)
	enc, err := sndEvent(t, "envelope-completed").Encode()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := s.Attempt(ctx, tg, enc, 0)
	assert.Equal(t, sender.ClassRetryable, a.Class)
	assert.ErrorIs(t, a.Err, context.Canceled)
	assert.Empty(t, rc.Hits())
}

// TestSenderRetryPolicy: the effective policy is the endpoint's, else the Sender's, with
// the defaults filled in.
func TestSenderRetryPolicy(t *testing.T) {
	s, err := sender.New(sender.Config{Retry: sender.RetryPolicy{MaxAttempts: 3}})
	require.NoError(t, err)
	want := sender.RetryPolicy{MaxAttempts: 3}.WithDefaults()
	assert.Equal(t, want, s.RetryPolicy(sender.Endpoint{}))
	own := sender.RetryPolicy{MaxAttempts: 5, InitialInterval: time.Minute}
	assert.Equal(t, own.WithDefaults(), s.RetryPolicy(sender.Endpoint{Retry: &own}))
	assert.Equal(t, sender.DefaultRetryPolicy(), sender.RetryPolicy{}.WithDefaults())
}
