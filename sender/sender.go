package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/hookkit/hookkit/internal/safenet"
)

// DefaultTimeout bounds one attempt when Endpoint.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is the User-Agent header when Config.UserAgent is "".
const DefaultUserAgent = "hookkit-webhooks/1 (+https://github.com/hookkit/hookkit)"

// maxResponseBody is how much of a response body is read (and discarded) so that the
// connection can be reused; a longer body closes the connection instead.
const maxResponseBody = 64 << 10

// ErrUnguardedTransport is returned by New for an HTTPClient whose transport the SSRF
// guard cannot be installed in (see Config.HTTPClient).
var ErrUnguardedTransport = errors.New("hookkit/sender: cannot install the SSRF guard in the HTTP client's transport")

// Config configures a Sender. The zero value is ready to use: public https:// endpoints
// only, DefaultRetryPolicy, no logging.
type Config struct {
	// HTTPClient is the client requests are made with. nil: a client over NewTransport.
	//
	// A client given here keeps its settings (Jar, Timeout) and its RoundTripper, but the
	// sender still enforces its rules on a copy of it: redirects are never followed
	// (CheckRedirect is replaced) and the SSRF guard is installed in the transport:
	//   - nil Transport: a clone of http.DefaultTransport without proxy, guarded;
	//   - *http.Transport: a clone whose dialer is guarded (a nil DialContext gets
	//     a guarded net.Dialer; a custom DialContext is wrapped and its connection's
	//     remote address checked before any byte is sent). A transport with a Proxy or
	//     DialTLS/DialTLSContext cannot be guarded: New returns ErrUnguardedTransport;
	//   - any other RoundTripper (e.g. an OpenTelemetry wrapper): New returns
	//     ErrUnguardedTransport, unless GuardedTransport is set.
	// To instrument the transport, prefer WrapTransport, which wraps the guarded one.
	HTTPClient *http.Client
	// GuardedTransport tells New that HTTPClient's transport already refuses internal
	// destinations: it is built on NewTransport (e.g. otelhttp.NewTransport(
	// sender.NewTransport(cfg))), or goes through an egress proxy that does (such as
	// Smokescreen). The transport is then used as is and AllowPrivate and AllowPrefixes
	// do not apply to it. Redirects are still not followed.
	GuardedTransport bool
	// WrapTransport, when set, wraps the guarded transport, e.g. with
	// otelhttp.NewTransport; requests go through the wrapper, dials through the guard.
	WrapTransport func(http.RoundTripper) http.RoundTripper

	// AllowPrivate lets the sender deliver to loopback, private-use (RFC 1918), CGNAT,
	// link-local, unique-local and other non-public addresses. Cloud metadata addresses
	// (169.254.169.254, ...), multicast, broadcast and unspecified addresses stay refused
	// unless listed in AllowPrefixes. AllowPrivate also allows plain http:// endpoints,
	// as AllowHTTP does: receivers inside a private network often have no certificate.
	AllowPrivate bool
	// AllowPrefixes admits every address inside these prefixes, whatever its class,
	// e.g. 10.20.0.0/16 for one internal network.
	AllowPrefixes []netip.Prefix
	// AllowHTTP allows plain http:// endpoints (the SSRF guard still applies).
	// By default only https:// is allowed.
	AllowHTTP bool
	// AllowInsecureBasic allows Basic credentials over plain http://, where anyone on the
	// path can read the password. auth.Basic must be allowed to as well.
	AllowInsecureBasic bool

	// Retry is the default retry policy; Endpoint.Retry overrides it. Zero fields take
	// the defaults documented on RetryPolicy.
	Retry RetryPolicy
	// UserAgent is the User-Agent header of every request. "": DefaultUserAgent.
	UserAgent string
	// Logger receives a debug record per attempt, an info record per delivery and a
	// warning per failed delivery. nil: no logging. Records never contain URLs,
	// secrets or tokens.
	Logger *slog.Logger
	// Observer is told about attempts and outcomes. nil: NopObserver.
	Observer Observer
	// Now is the clock for signature timestamps, attempt times and Retry-After dates.
	// nil: time.Now.
	Now func() time.Time
}

// policy is the SSRF guard's policy for cfg.
func (cfg *Config) policy() safenet.Policy {
	return safenet.Policy{AllowPrivate: cfg.AllowPrivate, Allow: cfg.AllowPrefixes}
}

// Sender delivers events to endpoints: it signs, authenticates, POSTs, classifies the
// response and retries. A Sender is safe for concurrent use; create it with New.
type Sender struct {
	dests  destinations // endpoint URLs parsed once
	client *http.Client
	// direct is the client's transport when the client adds nothing to it (no Jar, no
	// Timeout): requests then skip http.Client's redirect and header-copy bookkeeping,
	// which matters nothing here since redirects are never followed.
	direct             http.RoundTripper
	retry              RetryPolicy // defaults filled in
	ua                 string
	log                *slog.Logger
	observer           Observer
	now                func() time.Time
	policy             safenet.Policy
	allowHTTP          bool
	allowInsecureBasic bool
}

// New returns a Sender configured by cfg.
func New(cfg Config) (*Sender, error) {
	if err := cfg.Retry.Validate(); err != nil {
		return nil, err
	}
	for _, p := range cfg.AllowPrefixes {
		if !p.IsValid() {
			return nil, errors.New("hookkit/sender: invalid prefix in Config.AllowPrefixes")
		}
	}
	client, err := buildClient(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Sender{
		client:             client,
		retry:              cfg.Retry.withDefaults(),
		ua:                 cfg.UserAgent,
		log:                cfg.Logger,
		observer:           cfg.Observer,
		now:                cfg.Now,
		policy:             cfg.policy(),
		allowHTTP:          cfg.AllowHTTP || cfg.AllowPrivate,
		allowInsecureBasic: cfg.AllowInsecureBasic,
	}
	if client.Jar == nil && client.Timeout == 0 && client.Transport != nil {
		s.direct = client.Transport
	}
	if s.ua == "" {
		s.ua = DefaultUserAgent
	}
	if s.observer == nil {
		s.observer = NopObserver{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Close closes the idle connections of the Sender's transport. The Sender stays usable.
func (s *Sender) Close() { s.client.CloseIdleConnections() }

// NewTransport returns the guarded transport New builds when Config.HTTPClient is nil:
// the SSRF guard of cfg (AllowPrivate, AllowPrefixes; the other fields do not matter) in
// the dialer, on the resolved address, no proxy, otherwise net/http's default settings
// with a larger idle pool (256, 32 per host). Wrap it (e.g. with OpenTelemetry) and set
// Config.GuardedTransport, or use Config.WrapTransport.
func NewTransport(cfg Config) *http.Transport { return safenet.NewTransport(cfg.policy()) }

// buildClient returns the client the Sender uses, following the rules on
// Config.HTTPClient.
func buildClient(cfg *Config) (*http.Client, error) {
	var c http.Client
	if cfg.HTTPClient != nil {
		c = *cfg.HTTPClient
	}
	c.CheckRedirect = safenet.NoRedirect
	p := cfg.policy()
	switch {
	case cfg.HTTPClient == nil:
		c.Transport = safenet.NewTransport(p)
	case cfg.GuardedTransport:
		if c.Transport == nil {
			c.Transport = http.DefaultTransport
		}
	default:
		var t *http.Transport
		switch rt := c.Transport.(type) {
		case nil:
			dt, ok := http.DefaultTransport.(*http.Transport)
			if !ok {
				return nil, fmt.Errorf("%w: http.DefaultTransport is not an *http.Transport", ErrUnguardedTransport)
			}
			t = dt.Clone()
			t.Proxy = nil
		case *http.Transport:
			if rt.Proxy != nil {
				return nil, fmt.Errorf("%w: it uses a proxy, which hides the destination from the guard (set GuardedTransport if the proxy refuses internal destinations)", ErrUnguardedTransport)
			}
			//lint:ignore SA1019 DialTLS is deprecated but a caller's transport may still set it
			if rt.DialTLSContext != nil || rt.DialTLS != nil {
				return nil, fmt.Errorf("%w: it sets DialTLS/DialTLSContext", ErrUnguardedTransport)
			}
			t = rt.Clone()
		default:
			return nil, fmt.Errorf("%w: %T is not an *http.Transport (build it on sender.NewTransport and set GuardedTransport, or use WrapTransport)", ErrUnguardedTransport, rt)
		}
		guardTransport(t, p)
		c.Transport = t
	}
	if cfg.WrapTransport != nil {
		c.Transport = cfg.WrapTransport(c.Transport)
	}
	return &c, nil
}

// guardTransport installs the guard of p in t's dialer.
func guardTransport(t *http.Transport, p safenet.Policy) {
	dial := t.DialContext
	//lint:ignore SA1019 Dial is deprecated but a caller's transport may still set it
	if d := t.Dial; dial == nil && d != nil {
		dial = func(_ context.Context, network, addr string) (net.Conn, error) { return d(network, addr) }
	}
	//lint:ignore SA1019 cleared: the guarded DialContext replaces it
	t.Dial = nil
	if dial == nil {
		t.DialContext = p.Dialer().DialContext
		return
	}
	// A custom dialer: check where its connection went before anything is written on it.
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := checkConn(p, conn); err != nil {
			conn.Close()
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return conn, nil
	}
}

// checkConn applies p to the remote address of conn.
func checkConn(p safenet.Policy, conn net.Conn) error {
	ta, ok := conn.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return &safenet.RefusedError{Reason: "not a TCP connection"}
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	return p.Check(ip)
}
