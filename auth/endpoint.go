package auth

import (
	"errors"
	"fmt"
	"net/url"
)

// ErrInsecureURL is returned by [NewJWTValidator], [NewClientCredentials] and
// [NewIntrospectionValidator] for a plain http:// endpoint URL when the
// config's AllowHTTP is false: over plain HTTP a network attacker could inject
// signing keys, or read client secrets and tokens.
var ErrInsecureURL = errors.New("hookkit/auth: insecure url")

// checkEndpointURL checks that raw is an absolute http(s) URL, and https
// unless allowHTTP. what names the URL in the error ("jwks url").
func checkEndpointURL(raw, what string, allowHTTP bool) error {
	u, err := url.Parse(raw) // lower-cases the scheme
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("hookkit/auth: %s must be an absolute http(s) url", what)
	}
	if u.Scheme == "http" && !allowHTTP {
		return fmt.Errorf("%w: %s is plain http://; set AllowHTTP to allow it (for loopback test servers)", ErrInsecureURL, what)
	}
	return nil
}
