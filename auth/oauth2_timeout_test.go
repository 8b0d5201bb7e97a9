package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// stallingTokenServer is a loopback token endpoint that holds every request
// until released (or until the test ends), then issues a token.
type stallingTokenServer struct {
	*httptest.Server
	hits    atomic.Int32
	entered chan struct{}
	release func()
}

func newStallingTokenServer(t *testing.T) *stallingTokenServer {
	t.Helper()
	gate, stop := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s := &stallingTokenServer{entered: make(chan struct{}, 100), release: func() { once.Do(func() { close(gate) }) }}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.entered <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		case <-stop:
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"late","token_type":"bearer","expires_in":3600}`))
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(stop) }) // runs first: held handlers return before Close waits
	return s
}

// noTimeoutClient returns a client for s without any timeout of its own.
func noTimeoutClient(s *httptest.Server) *http.Client {
	return &http.Client{Transport: s.Client().Transport}
}

// applyAsync runs Apply in a goroutine; awaitErr waits for it with a guard.
func applyAsync(ctx context.Context, c Credentials) (<-chan error, *http.Request) {
	r, _ := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
	done := make(chan error, 1)
	go func() { done <- c.Apply(ctx, r) }()
	return done, r
}

func TestApplyReturnsWhenCallerContextEnds(t *testing.T) {
	ts := newStallingTokenServer(t)
	o, err := NewClientCredentials(ClientCredentialsConfig{
		TokenURL: ts.URL, AllowHTTP: true, ClientID: "client", ClientSecret: NewPassword(testSecret),
		AuthStyle: AuthStyleHeader, HTTPClient: noTimeoutClient(ts.Server),
	})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	done, r := applyAsync(ctx, o)
	err = awaitErr(t, done)
	assert.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrTokenUnavailable)
	assert.Empty(t, r.Header.Get("Authorization"))
	assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())

	// The shared fetch was not killed by the caller leaving: once the endpoint
	// answers, the token is there without a second request.
	ts.release()
	done, r = applyAsync(context.Background(), o)
	require.NoError(t, awaitErr(t, done))
	assert.Equal(t, "Bearer late", r.Header.Get("Authorization"))
	assert.EqualValues(t, 1, ts.hits.Load())
}

func TestApplyReturnsWhenCallerContextEndsFromTokenSource(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	o := FromTokenSource(tokenSourceFunc(func() (*oauth2.Token, error) {
		<-block
		return &oauth2.Token{AccessToken: "x"}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done, _ := applyAsync(ctx, o)
	cancel()
	err := awaitErr(t, done)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrTokenUnavailable)
}

func TestTokenFetchEndsAtFetchTimeout(t *testing.T) {
	ts := newStallingTokenServer(t)
	client := noTimeoutClient(ts.Server)
	require.Zero(t, client.Timeout, "precondition: the client alone would wait forever")
	o, err := NewClientCredentials(ClientCredentialsConfig{
		TokenURL: ts.URL, AllowHTTP: true, ClientID: "client", ClientSecret: NewPassword(testSecret),
		AuthStyle: AuthStyleHeader, HTTPClient: client, FetchTimeout: 200 * time.Millisecond,
	})
	require.NoError(t, err)

	start := time.Now()
	done, _ := applyAsync(context.Background(), o)
	err = awaitErr(t, done)
	assert.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, ErrTokenUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "hookkit/auth: token unavailable: token request timed out", err.Error())
	assert.EqualValues(t, 1, ts.hits.Load())
}

func TestTokenFetchTimeoutDefault(t *testing.T) {
	o, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: "https://x/t", ClientID: "c", AuthStyle: AuthStyleHeader})
	require.NoError(t, err)
	assert.Equal(t, DefaultTokenFetchTimeout, o.fetchTimeout)
	_, err = NewClientCredentials(ClientCredentialsConfig{TokenURL: "https://x/t", ClientID: "c", AuthStyle: AuthStyleHeader, FetchTimeout: -time.Second})
	require.Error(t, err)
	assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
}
