package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

// DefaultTokenFetchTimeout bounds each token request when
// ClientCredentialsConfig.FetchTimeout is zero.
const DefaultTokenFetchTimeout = 30 * time.Second

// ClientCredentialsConfig configures the OAuth2 client credentials grant
// (RFC 6749 section 4.4). Its zero durations mean the documented defaults; a
// negative one means "none" where the field's doc says so (RefreshBefore) and
// is refused by [NewClientCredentials] everywhere else.
type ClientCredentialsConfig struct {
	// TokenURL is the token endpoint: an absolute https URL (or http with
	// AllowHTTP).
	TokenURL string
	// AllowHTTP: a plain http:// TokenURL is allowed; for loopback test
	// servers. false: it is refused with [ErrInsecureURL], since the client
	// secret would cross the network in clear. It does not change which
	// addresses the client may dial (see HTTPClient).
	AllowHTTP      bool
	ClientID       string     // required
	ClientSecret   Password   // the client secret; never printed
	Scopes         []string   // optional scopes to request
	EndpointParams url.Values // extra form parameters (e.g. "audience")
	AuthStyle      AuthStyle  // required: AuthStyleHeader or AuthStyleParams
	// HTTPClient performs token requests. nil: safenet.NewClient(safenet.Policy{},
	// 30*time.Second), which only dials public addresses and never follows redirects.
	HTTPClient *http.Client `json:"-"`
	// RefreshBefore is how long before expiry the token is refreshed.
	// 0 means DefaultRefreshBefore (1 minute); negative means no early
	// refresh: the token is used until it expires and a new one is fetched
	// by the first request after that (a 401 still drops it sooner, see
	// [Invalidator]). For tokens that live shorter than twice RefreshBefore,
	// half the lifetime is used instead. If an early refresh fails, the
	// cached token keeps being used until it expires, and the refresh is
	// retried every few seconds.
	RefreshBefore time.Duration
	// FetchTimeout bounds each token request, even when HTTPClient has no
	// timeout of its own. 0 means DefaultTokenFetchTimeout (30 seconds);
	// negative is refused: every caller waiting for a token shares the one
	// request, and an unbounded one that hangs would keep the next one from
	// ever starting.
	FetchTimeout time.Duration
}

// TokenError is the OAuth2 error response of a token endpoint (RFC 6749
// section 5.2). It wraps [ErrTokenUnavailable]. It keeps no free-form text of
// the response (error_description, error_uri, body): a token endpoint may
// echo the request, client secret included.
type TokenError struct {
	// Code is the "error" parameter when it is one of the registered OAuth2
	// error codes (e.g. "invalid_client", "invalid_scope"); "" when the
	// response has none, or another one.
	Code   string
	Status int // HTTP status of the response
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

// registeredTokenErrors are the OAuth2 error codes a token endpoint may
// answer with (RFC 6749 sections 4.1.2.1 and 5.2, RFC 6750, RFC 7009,
// RFC 8628, RFC 8693, RFC 8707, RFC 9396, RFC 9449). [TokenError] keeps
// only these: any other code could be text chosen by the endpoint.
var registeredTokenErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"access_denied": true, "unsupported_response_type": true, "server_error": true,
	"temporarily_unavailable": true, "invalid_token": true, "insufficient_scope": true,
	"unsupported_token_type": true, "authorization_pending": true, "slow_down": true,
	"expired_token": true, "invalid_target": true, "invalid_authorization_details": true,
	"invalid_dpop_proof": true, "use_dpop_nonce": true,
}

// tokenFetchError is a failure to obtain a token other than an OAuth2 error
// response. msg is auth's own text; errs are the sentinels and causes that
// errors.Is and errors.As find.
type tokenFetchError struct {
	msg  string
	errs []error
}

func (e *tokenFetchError) Error() string   { return e.msg }
func (e *tokenFetchError) Unwrap() []error { return e.errs }

func newTokenFetchError(msg string, causes ...error) error {
	errs := []error{ErrTokenUnavailable}
	for _, c := range causes {
		if c != nil {
			errs = append(errs, c)
		}
	}
	return &tokenFetchError{msg: "hookkit/auth: token unavailable: " + msg, errs: errs}
}

// OAuth2 is a token cache in front of an [oauth2.TokenSource]. It implements
// [Credentials] and [Invalidator] and is safe for concurrent use: however many
// goroutines call Apply at once, at most one token request is in flight, and
// each caller stops waiting for it when its own context ends.
type OAuth2 struct {
	// fetch obtains a token; ctx bounds it if the source can be bounded.
	fetch         func(ctx context.Context) (*oauth2.Token, error)
	fetchTimeout  time.Duration         // 0: the fetch is not bounded by auth
	mapErr        func(err error) error // turns a fetch error into the error callers see
	refreshBefore time.Duration
	now           func() time.Time

	mu        sync.Mutex
	header    string // "Bearer <token>", "" when nothing cached
	refreshAt time.Time
	expiry    time.Time  // of the cached token; zero if it has none
	call      *tokenCall // the fetch in flight, or nil
}

// tokenCall is one token fetch that any number of callers wait for.
type tokenCall struct {
	done   chan struct{} // closed when the fetch has ended
	header string        // the result; written before done is closed
	err    error
}

// NewClientCredentials returns OAuth2 credentials that obtain tokens with the
// client credentials grant. Token requests never use the context of the
// request being authenticated: each runs on its own, bounded by
// cfg.FetchTimeout, and callers of Apply wait for it only as long as their
// context allows.
func NewClientCredentials(cfg ClientCredentialsConfig) (*OAuth2, error) {
	if err := checkEndpointURL(cfg.TokenURL, "token url", cfg.AllowHTTP); err != nil {
		return nil, err
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
	if cfg.FetchTimeout < 0 {
		return nil, errors.New("hookkit/auth: client credentials FetchTimeout must not be negative (0 means the default)")
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
	o := newOAuth2(cfg.RefreshBefore)
	// Config.Token fetches a fresh token on every call (its TokenSource wraps
	// a new ReuseTokenSource each time); caching is done by OAuth2 itself so
	// that Invalidate can drop a token.
	o.fetch = func(ctx context.Context) (*oauth2.Token, error) {
		return cc.Token(context.WithValue(ctx, oauth2.HTTPClient, client))
	}
	o.fetchTimeout = cfg.FetchTimeout
	if o.fetchTimeout == 0 {
		o.fetchTimeout = DefaultTokenFetchTimeout
	}
	o.mapErr = endpointError
	return o, nil
}

// FromTokenSource wraps ts with the same caching, single-flight and
// Invalidate behaviour as [NewClientCredentials]. If ts caches tokens itself
// (like oauth2.ReuseTokenSource), Invalidate cannot make it fetch a new one.
// ts.Token takes no context, so auth cannot bound it: callers of Apply stop
// waiting when their context ends, but a call that never returns keeps the
// next fetch from starting. Errors of ts are reported with their own text.
func FromTokenSource(ts oauth2.TokenSource) *OAuth2 {
	o := newOAuth2(0)
	if ts != nil {
		o.fetch = func(context.Context) (*oauth2.Token, error) { return ts.Token() }
	}
	o.mapErr = sourceError
	return o
}

// newOAuth2 returns an OAuth2 with refreshBefore as ClientCredentialsConfig
// documents it: 0 is DefaultRefreshBefore, negative is no early refresh.
func newOAuth2(refreshBefore time.Duration) *OAuth2 {
	switch {
	case refreshBefore == 0:
		refreshBefore = DefaultRefreshBefore
	case refreshBefore < 0:
		refreshBefore = 0
	}
	return &OAuth2{refreshBefore: refreshBefore, now: time.Now}
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

// token returns the Authorization header value ("Bearer <token>") to use,
// fetching a token if none is cached or the cached one is due for refresh.
// The fetch is shared by every caller that needs it while it runs; a caller
// whose ctx ends stops waiting, and the fetch goes on for the others.
func (o *OAuth2) token(ctx context.Context) (string, error) {
	o.mu.Lock()
	if o.header != "" && o.now().Before(o.refreshAt) {
		h := o.header
		o.mu.Unlock()
		return h, nil
	}
	c := o.call
	if c == nil {
		c = &tokenCall{done: make(chan struct{})}
		o.call = c
		go o.runFetch(c)
	}
	o.mu.Unlock()
	select {
	case <-c.done:
		return c.header, c.err
	case <-ctx.Done():
		select {
		case <-c.done: // the fetch ended too: use its result
			return c.header, c.err
		default:
		}
		return "", newTokenFetchError("gave up waiting for a token: "+ctx.Err().Error(), ctx.Err(), context.Cause(ctx))
	}
}

// runFetch performs the fetch of c, stores its result and wakes the waiters.
func (o *OAuth2) runFetch(c *tokenCall) {
	defer close(c.done)
	tok, err := o.fetchOnce()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.call = nil
	now := o.now()
	if err != nil {
		// An early refresh failed but the cached token has not expired: keep
		// using it, and retry the refresh after a short pause.
		if o.header != "" && !o.expiry.IsZero() && now.Before(o.expiry) {
			o.refreshAt = now.Add(refreshRetry)
			if o.refreshAt.After(o.expiry) {
				o.refreshAt = o.expiry
			}
			c.header = o.header
			return
		}
		c.err = err
		return
	}
	refreshAt := now.Add(100 * 365 * 24 * time.Hour)
	if !tok.Expiry.IsZero() {
		margin := o.refreshBefore
		if life := tok.Expiry.Sub(now); life < 2*margin {
			margin = life / 2
		}
		refreshAt = tok.Expiry.Add(-margin)
	}
	o.header, o.refreshAt, o.expiry = "Bearer "+tok.AccessToken, refreshAt, tok.Expiry
	c.header = o.header
}

// fetchOnce obtains one token, bounded by fetchTimeout when there is one.
func (o *OAuth2) fetchOnce() (*oauth2.Token, error) {
	if o.fetch == nil {
		return nil, newTokenFetchError("no token source")
	}
	ctx := context.Background()
	if o.fetchTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.fetchTimeout)
		defer cancel()
	}
	tok, err := o.fetch(ctx)
	if err != nil {
		return nil, o.mapErr(err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, newTokenFetchError("empty access token")
	}
	return tok, nil
}

// endpointError maps an error of a token request to one whose text is auth's
// own: nothing the token endpoint sent is repeated (it may echo the client
// secret), and nothing is redacted (where a redaction marker appears would
// tell the endpoint where the secret occurs in its text). Causes that carry
// no text of the endpoint stay reachable for errors.Is and errors.As.
func endpointError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{}
		if registeredTokenErrors[re.ErrorCode] {
			te.Code = re.ErrorCode
		}
		if re.Response != nil {
			te.Status = re.Response.StatusCode
		}
		return te
	}
	var (
		ue  *url.Error
		ref *safenet.RefusedError
		op  *net.OpError
		ne  net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return newTokenFetchError("token request timed out", context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return newTokenFetchError("token request canceled", context.Canceled)
	case errors.As(err, &ref): // the address and its class, as resolved here
		return newTokenFetchError(ref.Error(), ref)
	case errors.As(err, &op) && op.Op == "dial": // addresses and the local OS error
		return newTokenFetchError(op.Error(), op)
	case errors.As(err, &ue):
		return newTokenFetchError("token request failed")
	case strings.Contains(err.Error(), "missing access_token"):
		return newTokenFetchError("token response has no access token")
	case strings.HasPrefix(err.Error(), "oauth2: cannot parse"):
		return newTokenFetchError("malformed token response")
	}
	return newTokenFetchError("token request failed")
}

// sourceError maps an error of a caller's TokenSource: its text is the
// caller's own, minus the URL of a *url.Error, which may carry credentials.
func sourceError(err error) error {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	return newTokenFetchError(msg, err)
}

// Apply sets "Authorization: Bearer <token>" on r, obtaining a token first if
// needed. ctx only bounds waiting: when it ends first, Apply returns an error
// that wraps [ErrTokenUnavailable] and ctx.Err(), and the token request goes
// on for other callers.
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
