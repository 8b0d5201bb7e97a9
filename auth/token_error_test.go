package auth_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
)

// oracleSecret is short and appears in none of auth's own message texts, so a
// test can tell whether an error shows it, or shows where it occurs.
const oracleSecret = "Zq"

// assertNoSecretOracle checks that no rendering of err, and no field of a
// *TokenError in it, contains the secret or a redaction marker.
func assertNoSecretOracle(t *testing.T, err error) {
	t.Helper()
	texts := errorStrings(err)
	var te *auth.TokenError
	if errors.As(err, &te) {
		texts = append(texts, fmt.Sprintf("%#v", *te), te.Code)
	}
	for _, s := range texts {
		assert.NotContains(t, s, oracleSecret)
		assert.NotContains(t, s, "REDACTED")
	}
}

func oracleCredentials(t *testing.T, tokenURL string, client *http.Client) *auth.OAuth2 {
	t.Helper()
	o, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
		TokenURL: tokenURL, AllowHTTP: true, ClientID: "svc", ClientSecret: auth.NewPassword(oracleSecret),
		AuthStyle: auth.AuthStyleParams, HTTPClient: client,
	})
	require.NoError(t, err)
	return o
}

func TestTokenErrorDoesNotRevealWhereSecretOccurs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     any
		desc     string
		wantCode string
	}{
		{"description with the secret inside words", "invalid_client", "xZqy and Zq then aZqZqb", "invalid_client"},
		{"code with the secret inside", "xZqy_Zq", "", ""},
		{"registered code, description echoing the request", "invalid_request", "got client_secret=Zq&grant_type=client_credentials", "invalid_request"},
		{"code that is not a string", 7, "Zq", ""},
		{"overlong code", strings.Repeat("invalid_client", 20), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": tc.code, "error_description": tc.desc, "error_uri": "https://as.example/" + oracleSecret})
			}))
			t.Cleanup(s.Close)
			r, err := http.NewRequest(http.MethodPost, "https://receiver.example/hook", nil)
			require.NoError(t, err)
			err = oracleCredentials(t, s.URL, s.Client()).Apply(context.Background(), r)
			require.ErrorIs(t, err, auth.ErrTokenUnavailable)
			var te *auth.TokenError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.wantCode, te.Code)
			assert.Equal(t, http.StatusBadRequest, te.Status)
			assertNoSecretOracle(t, err)
		})
	}
}

// TestTokenFetchErrorDoesNotEchoEndpointText covers failures that are not an
// OAuth2 error response: their message is auth's own, never the endpoint's.
func TestTokenFetchErrorDoesNotEchoEndpointText(t *testing.T) {
	t.Run("malformed status line", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					br := bufio.NewReader(c)
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					_, _ = c.Write([]byte("HTTP/1.1 2" + oracleSecret + " OK " + oracleSecret + "\r\n\r\n"))
				}()
			}
		}()
		r, err := http.NewRequest(http.MethodPost, "https://receiver.example/hook", nil)
		require.NoError(t, err)
		client := &http.Client{Timeout: 10 * time.Second}
		err = oracleCredentials(t, "http://"+ln.Addr().String()+"/token", client).Apply(context.Background(), r)
		require.ErrorIs(t, err, auth.ErrTokenUnavailable)
		assert.Equal(t, "hookkit/auth: token unavailable: token request failed", err.Error())
		assertNoSecretOracle(t, err)
	})
	t.Run("success without access token", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"token_type":"bearer","note":"` + oracleSecret + `"}`))
		}))
		t.Cleanup(s.Close)
		r, err := http.NewRequest(http.MethodPost, "https://receiver.example/hook", nil)
		require.NoError(t, err)
		err = oracleCredentials(t, s.URL, s.Client()).Apply(context.Background(), r)
		require.ErrorIs(t, err, auth.ErrTokenUnavailable)
		assert.Equal(t, "hookkit/auth: token unavailable: token response has no access token", err.Error())
		assertNoSecretOracle(t, err)
	})
	t.Run("malformed json", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(oracleSecret + `{`))
		}))
		t.Cleanup(s.Close)
		r, err := http.NewRequest(http.MethodPost, "https://receiver.example/hook", nil)
		require.NoError(t, err)
		err = oracleCredentials(t, s.URL, s.Client()).Apply(context.Background(), r)
		require.ErrorIs(t, err, auth.ErrTokenUnavailable)
		assert.Equal(t, "hookkit/auth: token unavailable: malformed token response", err.Error())
		assertNoSecretOracle(t, err)
	})
}

// Failures that carry no text of the endpoint keep their local detail.
func TestTokenFetchErrorKeepsLocalDialDetail(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	client := s.Client()
	s.Close() // nothing listens there any more
	r, err := http.NewRequest(http.MethodPost, "https://receiver.example/hook", nil)
	require.NoError(t, err)
	err = oracleCredentials(t, s.URL, client).Apply(context.Background(), r)
	require.ErrorIs(t, err, auth.ErrTokenUnavailable)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Regexp(t, `^hookkit/auth: token unavailable: dial tcp 127\.0\.0\.1:\d+: connect: connection refused$`, err.Error())
	assertNoSecretOracle(t, err)
}
