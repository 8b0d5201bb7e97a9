package sender_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttemptTimeoutBoundsATokenFetch: an OAuth2 token endpoint that never answers does not
// hold an attempt past the endpoint's Timeout, even when the token client has no timeout of
// its own; the listener is never reached without a token.
func TestAttemptTimeoutBoundsATokenFetch(t *testing.T) {
	stall := make(chan struct{})
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	// Unblock the handler before the server waits for it to return.
	t.Cleanup(tokenSrv.Close)
	t.Cleanup(func() { close(stall) })
	var hits atomic.Int32
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(listener.Close)

	creds, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
		TokenURL: tokenSrv.URL, AllowHTTP: true, ClientID: "svc", ClientSecret: auth.NewPassword("s3cret"),
		AuthStyle:  auth.AuthStyleHeader,
		HTTPClient: &http.Client{}, // no timeout of its own
	})
	require.NoError(t, err)
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true})
	require.NoError(t, err)
	ev, err := event.New("envelope-sent", map[string]string{"envelopeId": "e-1"})
	require.NoError(t, err)

	ep := sender.Endpoint{
		URL: listener.URL, Credentials: creds, Timeout: 200 * time.Millisecond,
		Retry: &sender.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
	}
	start := time.Now()
	res, err := s.Send(context.Background(), ep, ev)
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the attempt's timeout ended the wait for a token")
	assert.Len(t, res.Attempts, 2)
	// Two attempts of 200 ms each; the old code waited for the token fetch (forever here).
	assert.Less(t, elapsed, 5*time.Second, "each attempt ends at its timeout")
	assert.Zero(t, hits.Load(), "nothing is sent without a token")
}
