// Package oauth2mock runs a real, third-party OAuth2 authorization server for
// hookkit's end-to-end tests: the npm package oauth2-mock-server
// (github.com/axa-group/oauth2-mock-server), pinned by package-lock.json in this
// directory and driven by server.js.
//
// Install it once with internal/testenv/oauth2mock/install.sh (scripts/test.sh
// does this before `go test`). Then, from a test in any package:
//
//	srv := oauth2mock.Start(t)
//	cfg := clientcredentials.Config{
//		ClientID:       "any-id",     // the mock accepts any client id
//		ClientSecret:   "any-secret", // and any secret
//		TokenURL:       srv.TokenURL(),
//		Scopes:         []string{"webhooks:send"},
//		EndpointParams: url.Values{"audience": {"https://receiver.example"}},
//	}
//
// Access tokens are RS256 JWTs whose header kid names a key served at
// JWKSURL(); their claims are iss (= Server.Issuer), iat, nbf, exp, and, when
// known, scope, aud (from the "aud", "audience" or "resource" token request
// parameter, else Options.Audience), client_id and sub (both the client id, for
// the client_credentials grant).
//
// A token request may set exp_offset, an integer number of seconds (possibly
// negative), to control expiry: the access token's exp becomes now+exp_offset,
// and if that puts iat or nbf after exp, both become exp-3600, so
//
//	EndpointParams: url.Values{"exp_offset": {"-120"}}
//
// yields a token that expired two minutes ago. Invalid values (not a decimal
// integer, or repeated) are ignored. The token response's expires_in stays 3600
// whatever exp_offset is.
//
// If node or the installed package is missing, Start skips the test, except
// when the CI environment variable is true, where it fails it.
package oauth2mock
