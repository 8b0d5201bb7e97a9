package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

type tokenServer struct {
	*httptest.Server
	hits      atomic.Int32
	expiresIn int
	delay     time.Duration
	fail      bool
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	ts := &tokenServer{expiresIn: expiresIn}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.hits.Add(1)
		time.Sleep(ts.delay)
		w.Header().Set("Content-Type", "application/json")
		if ts.fail {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad client"}`))
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			_ = r.ParseForm()
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "client" || secret != testSecret || r.PostFormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": "tok" + strconv.Itoa(int(n)),
			"token_type":   "bearer",
			"expires_in":   ts.expiresIn,
		})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func newCC(t *testing.T, ts *tokenServer, style AuthStyle) *OAuth2 {
	o, err := NewClientCredentials(ClientCredentialsConfig{
		TokenURL: ts.URL, AllowHTTP: true, ClientID: "client", ClientSecret: NewPassword(testSecret),
		Scopes: []string{"hooks"}, AuthStyle: style, HTTPClient: ts.Client(),
	})
	require.NoError(t, err)
	return o
}

func applyHeader(t *testing.T, c Credentials) (*http.Request, error) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
	require.NoError(t, err)
	err = c.Apply(context.Background(), r)
	return r, err
}

func TestClientCredentialsStyles(t *testing.T) {
	for _, style := range []AuthStyle{AuthStyleHeader, AuthStyleParams} {
		t.Run(fmt.Sprint(int(style)), func(t *testing.T) {
			ts := newTokenServer(t, 3600)
			o := newCC(t, ts, style)
			r, err := applyHeader(t, o)
			require.NoError(t, err)
			assert.Equal(t, "Bearer tok1", r.Header.Get("Authorization"))
			r, err = applyHeader(t, o)
			require.NoError(t, err)
			assert.Equal(t, "Bearer tok1", r.Header.Get("Authorization"))
			assert.EqualValues(t, 1, ts.hits.Load())
		})
	}
}

func TestNewClientCredentialsConfigErrors(t *testing.T) {
	good := ClientCredentialsConfig{TokenURL: "https://x/t", ClientID: "c", AuthStyle: AuthStyleHeader}
	tests := []struct {
		name string
		mod  func(*ClientCredentialsConfig)
	}{
		{"unset style", func(c *ClientCredentialsConfig) { c.AuthStyle = AuthStyleUnset }},
		{"bad style", func(c *ClientCredentialsConfig) { c.AuthStyle = 7 }},
		{"relative url", func(c *ClientCredentialsConfig) { c.TokenURL = "/token" }},
		{"no client", func(c *ClientCredentialsConfig) { c.ClientID = "" }},
		{"negative fetch timeout", func(c *ClientCredentialsConfig) { c.FetchTimeout = -1 }},
	}
	_, err := NewClientCredentials(good)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			_, err := NewClientCredentials(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "hookkit/auth: ")
		})
	}
}

func TestClientCredentialsSingleFlight(t *testing.T) {
	ts := newTokenServer(t, 3600)
	ts.delay = 50 * time.Millisecond
	o := newCC(t, ts, AuthStyleHeader)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := http.NewRequest(http.MethodPost, "https://example.com", nil)
			if err := o.Apply(context.Background(), r); err != nil {
				errs <- err
				return
			}
			if got := r.Header.Get("Authorization"); got != "Bearer tok1" {
				errs <- errors.New("unexpected header " + got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, ts.hits.Load())
}

func TestClientCredentialsRefreshAhead(t *testing.T) {
	ts := newTokenServer(t, 3600)
	o := newCC(t, ts, AuthStyleHeader)
	offset := time.Duration(0)
	o.now = func() time.Time { return time.Now().Add(offset) }

	_, err := applyHeader(t, o)
	require.NoError(t, err)
	offset = 58 * time.Minute // still more than 1m before expiry
	r, err := applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok1", r.Header.Get("Authorization"))
	offset = 59*time.Minute + 30*time.Second // within RefreshBefore
	r, err = applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok2", r.Header.Get("Authorization"))
	assert.EqualValues(t, 2, ts.hits.Load())
}

func TestClientCredentialsInvalidate(t *testing.T) {
	ts := newTokenServer(t, 3600)
	o := newCC(t, ts, AuthStyleHeader)
	var used []*http.Request
	for range 5 {
		r, err := applyHeader(t, o)
		require.NoError(t, err)
		used = append(used, r)
	}
	// A burst of 401s for tok1: only the first invalidation drops anything.
	for _, r := range used {
		o.Invalidate(r)
	}
	r, err := applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok2", r.Header.Get("Authorization"))
	for _, old := range used { // late 401s for tok1 must not drop tok2
		o.Invalidate(old)
	}
	r, err = applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok2", r.Header.Get("Authorization"))
	assert.EqualValues(t, 2, ts.hits.Load())
	o.Invalidate(nil)
	o.Invalidate(&http.Request{Header: http.Header{}})
}

func TestClientCredentialsTokenError(t *testing.T) {
	for _, style := range []AuthStyle{AuthStyleHeader, AuthStyleParams} {
		ts := newTokenServer(t, 3600)
		ts.fail = true
		o := newCC(t, ts, style)
		_, err := applyHeader(t, o)
		require.Error(t, err)
		require.ErrorIs(t, err, ErrTokenUnavailable)
		var te *TokenError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "invalid_client", te.Code)
		assert.NotContains(t, fmt.Sprintf("%#v %+v", *te, err), "bad client", "the endpoint's free text is not kept")
		assert.Equal(t, http.StatusUnauthorized, te.Status)
		for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assert.NotContains(t, s, testSecret)
		}
		assert.Regexp(t, `^hookkit/auth: [a-z]`, err.Error())
	}
}

func TestClientCredentialsNetworkError(t *testing.T) {
	ts := newTokenServer(t, 3600)
	o := newCC(t, ts, AuthStyleParams)
	ts.Close()
	_, err := applyHeader(t, o)
	require.ErrorIs(t, err, ErrTokenUnavailable)
	assert.NotContains(t, fmt.Sprintf("%+v", err), testSecret)
	var te *TokenError
	assert.False(t, errors.As(err, &te))
}

func TestClientCredentialsDefaultClientRefusesLoopback(t *testing.T) {
	ts := newTokenServer(t, 3600)
	o, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: ts.URL, AllowHTTP: true, ClientID: "client", ClientSecret: NewPassword(testSecret), AuthStyle: AuthStyleHeader})
	require.NoError(t, err)
	_, err = applyHeader(t, o)
	require.ErrorIs(t, err, ErrTokenUnavailable)
	assert.EqualValues(t, 0, ts.hits.Load())
}

type countingSource struct {
	n   atomic.Int32
	exp time.Duration
}

func (c *countingSource) Token() (*oauth2.Token, error) {
	n := c.n.Add(1)
	tok := &oauth2.Token{AccessToken: "ts" + strconv.Itoa(int(n)), TokenType: "Bearer"}
	if c.exp != 0 {
		tok.Expiry = time.Now().Add(c.exp)
	}
	return tok, nil
}

func TestFromTokenSource(t *testing.T) {
	src := &countingSource{}
	o := FromTokenSource(src)
	r, err := applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer ts1", r.Header.Get("Authorization"))
	_, err = applyHeader(t, o)
	require.NoError(t, err)
	assert.EqualValues(t, 1, src.n.Load())
	o.Invalidate(r)
	r, err = applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer ts2", r.Header.Get("Authorization"))

	// Short-lived tokens are refreshed at half their lifetime, not every call.
	short := &countingSource{exp: 10 * time.Second}
	o = FromTokenSource(short)
	for range 3 {
		_, err = applyHeader(t, o)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, short.n.Load())
}

func TestOAuth2ApplyContextCancelled(t *testing.T) {
	block := make(chan struct{}) // a fetch in progress that does not end
	defer close(block)
	o := FromTokenSource(tokenSourceFunc(func() (*oauth2.Token, error) { <-block; return nil, errors.New("late") }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, _ := http.NewRequest(http.MethodGet, "https://x", nil)
	require.ErrorIs(t, o.Apply(ctx, r), context.Canceled)
}

func TestClientCredentialsFailureShared(t *testing.T) {
	ts := newTokenServer(t, 3600)
	ts.fail = true
	ts.delay = 100 * time.Millisecond
	o := newCC(t, ts, AuthStyleHeader)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := applyHeader(t, o)
			assert.ErrorIs(t, err, ErrTokenUnavailable)
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, ts.hits.Load(), int32(2))
	// A later call tries again.
	before := ts.hits.Load()
	_, err := applyHeader(t, o)
	require.ErrorIs(t, err, ErrTokenUnavailable)
	assert.Equal(t, before+1, ts.hits.Load())
}

func TestFromTokenSourceEmptyToken(t *testing.T) {
	o := FromTokenSource(tokenSourceFunc(func() (*oauth2.Token, error) { return &oauth2.Token{}, nil }))
	_, err := applyHeader(t, o)
	require.ErrorIs(t, err, ErrTokenUnavailable)
	assert.Equal(t, "hookkit/auth: token unavailable: empty access token", err.Error())
}

func TestClientCredentialsRefreshFailureKeepsValidToken(t *testing.T) {
	ts := newTokenServer(t, 3600)
	o := newCC(t, ts, AuthStyleHeader)
	offset := time.Duration(0)
	o.now = func() time.Time { return time.Now().Add(offset) }
	_, err := applyHeader(t, o)
	require.NoError(t, err)

	ts.fail = true
	offset = 59*time.Minute + 30*time.Second
	r, err := applyHeader(t, o)
	require.NoError(t, err)
	assert.Equal(t, "Bearer tok1", r.Header.Get("Authorization"))
	_, err = applyHeader(t, o) // within the retry pause: no new request
	require.NoError(t, err)
	assert.EqualValues(t, 2, ts.hits.Load())

	offset = 61 * time.Minute // expired: the failure is reported
	_, err = applyHeader(t, o)
	require.ErrorIs(t, err, ErrTokenUnavailable)
	assert.EqualValues(t, 3, ts.hits.Load())
}
