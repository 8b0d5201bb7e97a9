package sender

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hookkit/hookkit/signature"
)

// target is an endpoint checked once for the attempts made to it: by Send for the
// attempts of one call, by Subscribe for every attempt of the subscription. It is not
// modified once built, so the Dispatcher shares one between concurrent attempts.
type target struct {
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

// parseDestination parses and checks an endpoint URL. Send does it on every call, a
// Dispatcher once per Subscribe: there is no cache to bound or to invalidate. Per Send it
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
func (s *Sender) check(ep *Endpoint) target {
	t := target{ep: *ep, scheme: ep.Scheme, timeout: ep.Timeout, name: ep.ID}
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

// checkEndpoint is check for Subscribe: an endpoint that cannot be used is an error
// (wrapping ErrInvalidEndpoint), not a target whose attempts fail.
func (s *Sender) checkEndpoint(ep *Endpoint) (*target, error) {
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
