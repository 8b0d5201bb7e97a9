package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// authServer is a tiny OAuth2 authorization server, just enough for the demo: the client
// credentials grant (RFC 6749 §4.4) at /token, issuing RS256 JWT access tokens (RFC 9068
// claims), and its public keys as a JWK Set at /jwks.json. In production this is your
// identity provider (Keycloak, Auth0, Okta, Entra ID…); nothing else in the demo knows
// that it runs in the same process.
type authServer struct {
	issuer       string // the server's base URL, the "iss" of every token
	clientID     string
	clientSecret string
	audience     string // the "aud" of every token: the receiver's identifier
	signer       jose.Signer
	jwks         jose.JSONWebKeySet
	tokenTTL     time.Duration
	issued       atomic.Int64
	log          func(format string, args ...any)
}

func newAuthServer(clientID, clientSecret, audience string, log func(string, ...any)) (*authServer, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	const kid = "demo-key-1"
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"),
	)
	if err != nil {
		return nil, err
	}
	return &authServer{
		clientID:     clientID,
		clientSecret: clientSecret,
		audience:     audience,
		signer:       signer,
		jwks: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig",
		}}},
		tokenTTL: 5 * time.Minute,
		log:      log,
	}, nil
}

func (a *authServer) jwksURL() string  { return a.issuer + "/jwks.json" }
func (a *authServer) tokenURL() string { return a.issuer + "/token" }

// ServeHTTP routes /token and /jwks.json.
func (a *authServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/jwks.json" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(a.jwks)
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		a.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

// token implements the client credentials grant.
func (a *authServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	// Client authentication: HTTP Basic with form-urlencoded id and secret (RFC 6749
	// §2.3.1), or the client_id/client_secret form parameters.
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(a.clientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(a.clientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	scope := r.PostForm.Get("scope")
	now := time.Now()
	n := a.issued.Add(1)
	claims := jwt.Claims{
		Issuer:    a.issuer,
		Subject:   id,
		Audience:  jwt.Audience{a.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(a.tokenTTL)),
		ID:        fmt.Sprintf("token-%d", n),
	}
	token, err := jwt.Signed(a.signer).Claims(claims).
		Claims(map[string]any{"client_id": id, "scope": scope}).Serialize()
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	a.log("auth server: issued access token #%d to %q (scope %q, RS256 JWT, expires in %s)",
		n, id, strings.TrimSpace(scope), a.tokenTTL)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int(a.tokenTTL.Seconds()),
		"scope":        scope,
	})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
