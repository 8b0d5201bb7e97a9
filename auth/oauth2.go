package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hookkit/hookkit/internal/safenet"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// AuthStyle says how the client authenticates to the token endpoint.
type AuthStyle int

const (
	// AuthStyleUnset is the zero value; NewClientCredentials rejects it so
	// the style is always chosen deliberately.
	AuthStyleUnset AuthStyle = iota
	// AuthStyleHeader sends the client ID and secret with HTTP Basic
	// authentication (RFC 6749 section 2.3.1).
	AuthStyleHeader
	// AuthStyleParams sends client_id and client_secret in the form body.
	AuthStyleParams
)

// DefaultRefreshBefore is how long before expiry a cached token is refreshed
// when ClientCredentialsConfig.RefreshBefore is zero.
const DefaultRefreshBefore = time.Minute

// refreshRetry is the pause before retrying a failed early refresh while the
// cached token is still valid.
const refreshRetry = 5 * time.Second

// ClientCredentialsConfig configures the OAuth2 client credentials grant
// (RFC 6749 section 4.4).
type ClientCredentialsConfig struct {
	TokenURL       string     // token endpoint, absolute http(s) URL
	ClientID       string     // required
	ClientSecret   Password   // the client secret; never printed
	Scopes         []string   // optional scopes to request
	EndpointParams url.Values // extra form parameters (e.g. "audience")
	AuthStyle      AuthStyle  // required: AuthStyleHeader or AuthStyleParams
	// HTTPClient performs token requests. nil: safenet.NewClient(safenet.Policy{},
	// 30*time.Second), which only dials public addresses and never follows redirects.
	HTTPClient *http.Client `json:"-"`
	// RefreshBefore is how long before expiry the token is refreshed.
	// 0: DefaultRefreshBefore (1 minute). For tokens that live shorter than
	// twice this, half the lifetime is used instead. If an early refresh
	// fails, the cached token keeps being used until it expires, and the
	// refresh is retried every few seconds.
	RefreshBefore time.Duration
}

// TokenError is the OAuth2 error response of a token endpoint (RFC 6749
// section 5.2). It wraps [ErrTokenUnavailable].
type TokenError struct {
	Code        string // the "error" parameter, e.g. "invalid_client"
	Description string // the "error_description" parameter
	Status      int    // HTTP status of the response
}

// Error returns a description that contains the error code and status only.
func (e *TokenError) Error() string {
	code := e.Code
	if code == "" {
		code = "unknown error"
	}
	return fmt.Sprintf("hookkit/auth: token unavailable: token endpoint returned %q (http status %d)", code, e.Status)
}

// Unwrap returns [ErrTokenUnavailable].
func (e *TokenError) Unwrap() error { return ErrTokenUnavailable }

// tokenFetchError wraps a non-OAuth2 failure to obtain a token.
type tokenFetchError struct {
	msg string
	err error
}

func (e *tokenFetchError) Error() string   { return e.msg }
func (e *tokenFetchError) Unwrap() []error { return []error{ErrTokenUnavailable, e.err} }

// OAuth2 is a token cache in front of an [oauth2.TokenSource]. It implements
// [Credentials] and [Invalidator] and is safe for concurrent use: however many
// goroutines call Apply at once, at most one token request is in flight.
type OAuth2 struct {
	ts            oauth2.TokenSource
	refreshBefore time.Duration
	now           func() time.Time
	scrub         []string // strings removed from error messages

	sem chan struct{} // held while fetching

	mu        sync.Mutex
	header    string // "Bearer <token>", "" when nothing cached
	refreshAt time.Time
	expiry    time.Time // of the cached token; zero if it has none
	gen       uint64    // number of completed fetches
	lastErr   error     // error of the last fetch, nil if it succeeded
}

// NewClientCredentials returns OAuth2 credentials that obtain tokens with the
// client credentials grant. Token requests never use the context of the
// request being authenticated; they use cfg.HTTPClient and its timeout.
func NewClientCredentials(cfg ClientCredentialsConfig) (*OAuth2, error) {
	u, err := url.Parse(cfg.TokenURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("hookkit/auth: token url must be an absolute http(s) url")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("hookkit/auth: client id is required")
	}
	var style oauth2.AuthStyle
	switch cfg.AuthStyle {
	case AuthStyleHeader:
		style = oauth2.AuthStyleInHeader
	case AuthStyleParams:
		style = oauth2.AuthStyleInParams
	default:
		return nil, errors.New("hookkit/auth: auth style must be AuthStyleHeader or AuthStyleParams")
	}
	if cfg.RefreshBefore < 0 {
		return nil, errors.New("hookkit/auth: refresh before must not be negative")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = safenet.NewClient(safenet.Policy{}, 30*time.Second)
	}
	cc := &clientcredentials.Config{
		ClientID:       cfg.ClientID,
		ClientSecret:   cfg.ClientSecret.Reveal(),
		TokenURL:       cfg.TokenURL,
		Scopes:         append([]string(nil), cfg.Scopes...),
		EndpointParams: cloneValues(cfg.EndpointParams),
		AuthStyle:      style,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	// Config.Token fetches a fresh token on every call (its TokenSource wraps
	// a new ReuseTokenSource each time); caching is done by OAuth2 itself so
	// that Invalidate can drop a token.
	ts := tokenSourceFunc(func() (*oauth2.Token, error) { return cc.Token(ctx) })
	o := newOAuth2(ts, cfg.RefreshBefore)
	if s := cfg.ClientSecret.Reveal(); s != "" {
		o.scrub = []string{s, url.QueryEscape(s)}
	}
	return o, nil
}

// FromTokenSource wraps ts with the same caching, single-flight and
// Invalidate behaviour as [NewClientCredentials]. If ts caches tokens itself
// (like oauth2.ReuseTokenSource), Invalidate cannot make it fetch a new one.
func FromTokenSource(ts oauth2.TokenSource) *OAuth2 {
	return newOAuth2(ts, 0)
}

func newOAuth2(ts oauth2.TokenSource, refreshBefore time.Duration) *OAuth2 {
	if refreshBefore == 0 {
		refreshBefore = DefaultRefreshBefore
	}
	return &OAuth2{ts: ts, refreshBefore: refreshBefore, now: time.Now, sem: make(chan struct{}, 1)}
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// cached returns the cached header if it is still fresh, and the fetch
// generation together with that fetch's error.
func (o *OAuth2) cached() (string, uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.header != "" && o.now().Before(o.refreshAt) {
		return o.header, o.gen, nil
	}
	return "", o.gen, o.lastErr
}

// Token returns the Authorization header value ("Bearer <token>") to use,
// fetching a token if none is cached or the cached one is due for refresh.
func (o *OAuth2) token(ctx context.Context) (string, error) {
	h, gen, _ := o.cached()
	if h != "" {
		return h, nil
	}
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-o.sem }()
	// Another caller may have fetched while we waited: share its token, or
	// its error, so that a failing endpoint is not hit once per waiter.
	h, gen2, lastErr := o.cached()
	if h != "" {
		return h, nil
	}
	if gen2 != gen && lastErr != nil {
		return "", lastErr
	}
	if o.ts == nil {
		return "", &tokenFetchError{msg: "hookkit/auth: token unavailable: no token source", err: errors.New("no token source")}
	}
	tok, err := o.ts.Token()
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("empty access token")
	}
	if err != nil {
		err = o.mapError(err)
		o.mu.Lock()
		defer o.mu.Unlock()
		o.gen++
		o.lastErr = err
		// An early refresh failed but the cached token has not expired: keep
		// using it, and retry the refresh after a short pause.
		if now := o.now(); o.header != "" && !o.expiry.IsZero() && now.Before(o.expiry) {
			o.refreshAt = now.Add(refreshRetry)
			if o.refreshAt.After(o.expiry) {
				o.refreshAt = o.expiry
			}
			o.lastErr = nil
			return o.header, nil
		}
		return "", err
	}
	now := o.now()
	refreshAt := now.Add(100 * 365 * 24 * time.Hour)
	if !tok.Expiry.IsZero() {
		margin := o.refreshBefore
		if life := tok.Expiry.Sub(now); life < 2*margin {
			margin = life / 2
		}
		refreshAt = tok.Expiry.Add(-margin)
	}
	h = "Bearer " + tok.AccessToken
	o.mu.Lock()
	o.header, o.refreshAt, o.expiry = h, refreshAt, tok.Expiry
	o.gen++
	o.lastErr = nil
	o.mu.Unlock()
	return h, nil
}

func (o *OAuth2) mapError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{Code: o.clean(re.ErrorCode), Description: o.clean(re.ErrorDescription)}
		if re.Response != nil {
			te.Status = re.Response.StatusCode
		}
		return te
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	return &tokenFetchError{msg: "hookkit/auth: token unavailable: " + o.clean(msg), err: err}
}

func (o *OAuth2) clean(s string) string {
	for _, sec := range o.scrub {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// Apply sets "Authorization: Bearer <token>" on r, obtaining a token first if
// needed. ctx only bounds waiting; the token request itself is not tied to it.
func (o *OAuth2) Apply(ctx context.Context, r *http.Request) error {
	if r == nil {
		return errors.New("hookkit/auth: nil request")
	}
	h, err := o.token(ctx)
	if err != nil {
		return err
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Set("Authorization", h)
	return nil
}

// Invalidate drops the cached token if it is the one that was used on r (per
// its Authorization header). A burst of 401 responses for the same token thus
// causes a single new token request.
func (o *OAuth2) Invalidate(r *http.Request) {
	if r == nil {
		return
	}
	used := r.Header.Get("Authorization")
	if used == "" {
		return
	}
	o.mu.Lock()
	if o.header == used {
		o.header = ""
		o.refreshAt, o.expiry = time.Time{}, time.Time{}
	}
	o.mu.Unlock()
}

// Format prints the credentials without any secret or token.
func (o *OAuth2) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "auth.OAuth2{"+redacted+"}")
}

var (
	_ Credentials = (*OAuth2)(nil)
	_ Invalidator = (*OAuth2)(nil)
)
