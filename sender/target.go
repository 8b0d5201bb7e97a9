package sender

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hookkit/hookkit/signature"
)

// Target is an endpoint prepared for attempts: its settings checked, its URL parsed and
// checked once, its signature scheme and timeout resolved. Send makes one per call;
// Prepare makes one for a caller that makes many attempts to the same endpoint (a
// dispatch.Dispatcher makes one per subscription). A Target is never modified once
// built, so concurrent attempts may share it. Its zero value is not usable: get one from
// Prepare.
type Target struct {
	ep      Endpoint // a copy: a pointer to the caller's would move it to the heap
	dest    destination
	name    string // for results, errors, logs
	scheme  signature.Scheme
	timeout time.Duration
	cause   error // of the attempt context when timeout passes (timeoutCause)
}

// destination is an endpoint URL parsed and checked.
type destination struct {
	url   *url.URL // nil when err is set; every attempt's request gets a copy
	host  string   // url.Host without an empty port: the request's Host
	https bool
	class Class // with err: the class of every attempt
	err   error // why the URL cannot be used
}

// parseDestination parses and checks an endpoint URL. Send does it on every call, Prepare
// once for many attempts: there is no cache to bound or to invalidate. Per Send it
// costs about 0.15-0.3 µs and one allocation (BenchmarkSendOverhead, against the cache
// that was here), under 1 % of a loopback delivery (BenchmarkDeliverPaired), so callers
// need no parsed-endpoint type to keep.
func parseDestination(raw string, allowHTTP bool) destination {
	u, err := url.Parse(raw)
	if err != nil {
		return destination{class: ClassPermanent, err: fmt.Errorf("%w: unparsable url", ErrInvalidEndpoint)}
	}
	d := destination{url: u, host: strings.TrimSuffix(u.Host, ":"), https: u.Scheme == "https"}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		d.class, d.err = ClassPermanent, fmt.Errorf("%w: url scheme must be https or http", ErrInvalidEndpoint)
	case u.Host == "" || u.Hostname() == "":
		d.class, d.err = ClassPermanent, fmt.Errorf("%w: url has no host", ErrInvalidEndpoint)
	case u.User != nil:
		d.class, d.err = ClassPermanent, fmt.Errorf("%w: url must not carry user information (use Credentials)", ErrInvalidEndpoint)
	case u.Scheme == "http" && !allowHTTP:
		d.class, d.err = ClassRefused, errPlainHTTPRemedy
	}
	return d
}

// errPlainHTTPRemedy is ErrPlainHTTP with the setting that lifts it (Config.AllowPrivate
// does not: it admits addresses, not schemes).
var errPlainHTTPRemedy = fmt.Errorf("%w: set Config.AllowHTTP to allow it", ErrPlainHTTP)

// check returns the target of ep, its URL parsed and checked. A target whose dest.err is
// set fails every attempt without sending.
func (s *Sender) check(ep *Endpoint) Target {
	t := Target{ep: *ep, scheme: ep.Scheme, timeout: ep.Timeout, name: ep.ID}
	if t.scheme == nil {
		t.scheme = signature.Standard()
	}
	if t.timeout <= 0 { // a negative timeout is refused by validate before any attempt
		t.timeout = DefaultTimeout
	}
	t.cause = timeoutCause(t.timeout)
	t.dest = parseDestination(ep.URL, s.allowHTTP)
	if t.name == "" {
		if t.dest.url != nil {
			t.name = t.dest.url.Host
		} else {
			t.name = "(invalid url)"
		}
	}
	return t
}

// validate reports the settings of ep that cannot work, apart from its URL: a negative
// Timeout, an invalid Retry policy. The error wraps ErrInvalidEndpoint.
func (ep *Endpoint) validate() error {
	if ep.Timeout < 0 {
		return fmt.Errorf("%w: negative timeout", ErrInvalidEndpoint)
	}
	if ep.Retry != nil {
		if err := ep.Retry.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidEndpoint, err)
		}
	}
	return nil
}

// Prepare checks ep once and returns it prepared for attempts (see Attempt). An endpoint
// that no attempt could use is an error wrapping ErrInvalidEndpoint, where Send would
// instead fail at its first attempt: a URL that is unparsable, not https:// or http://,
// without a host or with user information (ErrInvalidEndpoint), or plain http:// without
// Config.AllowHTTP (that error also matches ErrPlainHTTP); a negative Timeout; an invalid
// Retry policy (that error also matches ErrInvalidPolicy). The endpoint is copied: later
// changes to ep do not reach the Target (its KeySet and Credentials are shared, so
// rotating keys takes effect).
//
// Prepare does not require an ID; a caller that names endpoints by it (a dispatcher)
// checks that itself.
func (s *Sender) Prepare(ep Endpoint) (*Target, error) {
	return s.prepare(&ep)
}

// Endpoint returns the endpoint the target was prepared from (a copy).
func (t *Target) Endpoint() Endpoint { return t.ep }

// Timeout returns the bound on one attempt to the target: Endpoint.Timeout, or
// DefaultTimeout when it is 0.
func (t *Target) Timeout() time.Duration { return t.timeout }

// prepare is Prepare without the copy of its argument.
func (s *Sender) prepare(ep *Endpoint) (*Target, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	t := s.check(ep)
	if err := t.dest.err; err != nil {
		if !errors.Is(err, ErrInvalidEndpoint) {
			err = fmt.Errorf("%w: %w", ErrInvalidEndpoint, err)
		}
		return nil, err
	}
	return &t, nil
}
