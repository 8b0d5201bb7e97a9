package sender

import (
	"errors"
	"net/http"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/signature"
)

// Endpoint is one destination of webhooks: where, how signed, how authenticated, and
// optional overrides of the Sender's defaults. Which event types it gets, in which order
// and how many at once are a dispatcher's business: see dispatch.Subscription. Endpoint is a plain
// value; the Sender never modifies it.
type Endpoint struct {
	// ID names the endpoint in results, errors, logs and observer calls (never the URL,
	// which may carry a secret). Optional for Send; "" shows as the URL's host.
	ID string
	// URL is the absolute https:// (or, when allowed by Config, http://) URL the events
	// are POSTed to. It must not carry user information.
	URL string
	// Scheme signs the requests. nil: signature.Standard().
	Scheme signature.Scheme
	// Keys is the key set requests are signed with: every key active at the time of the
	// attempt signs it. nil: requests are not signed (credentials only). A non-nil set with
	// no active key fails the delivery rather than sending it unsigned.
	Keys *signature.KeySet
	// Credentials authenticate the requests (auth.Basic, auth.Bearer, *auth.OAuth2, ...).
	// nil: none. Credentials that implement auth.Invalidator (OAuth2) get their token
	// invalidated after a 401 and the request is retried once with a fresh one.
	Credentials auth.Credentials
	// Timeout bounds one attempt: connecting, obtaining a token, sending, and reading the
	// response. 0 means DefaultTimeout (30 s). A negative timeout has no meaning: Send
	// fails with ErrInvalidEndpoint without sending and Prepare refuses it.
	Timeout time.Duration
	// Retry overrides the Sender's retry policy for this endpoint (its zero fields take
	// the defaults listed on RetryPolicy, not the Sender's values). nil: Config.Retry.
	Retry *RetryPolicy
	// Headers are extra static headers sent with every request. The sender's own headers
	// (Content-Type, User-Agent, the scheme's signature headers, Authorization set by
	// Credentials) take precedence over them.
	Headers http.Header
}

// ErrInvalidEndpoint is the Kind of Send's error for an endpoint that cannot be used, and
// is wrapped by the errors of Prepare (and so of dispatch.Dispatcher.Subscribe).
var ErrInvalidEndpoint = errors.New("hookkit/sender: invalid endpoint")
