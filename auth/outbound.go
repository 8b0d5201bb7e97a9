package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Credentials attach authentication to an outbound request.
type Credentials interface {
	// Apply sets the request's authentication headers. ctx bounds any work
	// needed to obtain them (such as waiting for a token).
	Apply(ctx context.Context, r *http.Request) error
}

// Invalidator is implemented by credentials that cache a token. After a 401
// response, the caller passes the request that failed so that the token used
// on it is dropped and the next Apply obtains a new one.
type Invalidator interface {
	Invalidate(r *http.Request)
}

var (
	// ErrInsecureTransport is returned by Basic credentials when asked to
	// send a password over a URL that is not https.
	ErrInsecureTransport = errors.New("hookkit/auth: refusing to send credentials over insecure transport")
	// ErrTokenUnavailable is wrapped by every error that comes from failing to
	// obtain an OAuth2 token.
	ErrTokenUnavailable = errors.New("hookkit/auth: token unavailable")
)

// Basic returns credentials that set HTTP Basic authentication. Apply returns
// [ErrInsecureTransport] for a request whose URL scheme is not https, unless
// allowInsecureHTTP is true.
func Basic(user string, password Password, allowInsecureHTTP bool) Credentials {
	return &basicCredentials{user: user, password: password, allowInsecure: allowInsecureHTTP}
}

type basicCredentials struct {
	user          string
	password      Password
	allowInsecure bool
}

func (b *basicCredentials) Apply(_ context.Context, r *http.Request) error {
	if r == nil || r.URL == nil {
		return errors.New("hookkit/auth: nil request")
	}
	if !b.allowInsecure && !strings.EqualFold(r.URL.Scheme, "https") {
		return ErrInsecureTransport
	}
	r.SetBasicAuth(b.user, b.password.Reveal())
	return nil
}

// Format prints the credentials without the password.
func (b *basicCredentials) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "auth.Basic{"+redacted+"}")
}

// Bearer returns credentials that set "Authorization: Bearer <token>".
func Bearer(token Password) Credentials { return &bearerCredentials{token: token} }

type bearerCredentials struct {
	token Password
}

func (b *bearerCredentials) Apply(_ context.Context, r *http.Request) error {
	if r == nil {
		return errors.New("hookkit/auth: nil request")
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Set("Authorization", "Bearer "+b.token.Reveal())
	return nil
}

// Format prints the credentials without the token.
func (b *bearerCredentials) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "auth.Bearer{"+redacted+"}")
}
