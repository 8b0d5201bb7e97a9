package sender

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hookkit/hookkit/signature"
)

// target is an endpoint checked once for the attempts of a delivery.
type target struct {
	ep      Endpoint // a copy: a pointer to the caller's would move it to the heap
	dest    *destination
	name    string // for results, errors, logs
	scheme  signature.Scheme
	timeout time.Duration
	cause   error // of the attempt context when timeout passes (timeoutCause)
}

// destination is an endpoint URL parsed and checked once. It is shared by every Send to
// that URL (see destinations) and never modified.
type destination struct {
	url   *url.URL // nil when err is set
	host  string   // url.Host without an empty port: the request's Host
	https bool
	class Class // with err: the class of every attempt
	err   error // why the URL cannot be used
}

// maxDestinations bounds the parsed-URL cache; when it is full it starts again empty.
const maxDestinations = 1024

// destinations caches parsed endpoint URLs by their text, so that a Send does not parse
// and check the URL again (url.Parse is about a tenth of Send's own work). A map under a
// read lock, not a sync.Map: its any-typed key would cost an allocation per lookup.
type destinations struct {
	mu sync.RWMutex
	m  map[string]*destination
}

func (c *destinations) get(raw string, allowHTTP bool) *destination {
	c.mu.RLock()
	d, ok := c.m[raw]
	c.mu.RUnlock()
	if ok {
		return d
	}
	d = parseDestination(raw, allowHTTP)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDestinations {
		c.m = make(map[string]*destination)
	}
	c.m[raw] = d
	c.mu.Unlock()
	return d
}

// parseDestination parses and checks an endpoint URL.
func parseDestination(raw string, allowHTTP bool) *destination {
	u, err := url.Parse(raw)
	if err != nil {
		return &destination{class: ClassPermanent, err: fmt.Errorf("%w: unparsable url", ErrInvalidEndpoint)}
	}
	d := &destination{url: u, host: strings.TrimSuffix(u.Host, ":"), https: u.Scheme == "https"}
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

// check returns the target of ep. A target whose dest.err is set fails every attempt
// without sending.
func (s *Sender) check(ep *Endpoint) target {
	t := target{ep: *ep, scheme: ep.Scheme, timeout: ep.Timeout, name: ep.ID}
	if t.scheme == nil {
		t.scheme = signature.Standard()
	}
	if t.timeout <= 0 {
		t.timeout = DefaultTimeout
	}
	t.cause = timeoutCause(t.timeout)
	t.dest = s.dests.get(ep.URL, s.allowHTTP)
	if t.name == "" {
		if t.dest.url != nil {
			t.name = t.dest.url.Host
		} else {
			t.name = "(invalid url)"
		}
	}
	return t
}
