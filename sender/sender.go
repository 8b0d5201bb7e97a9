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
	// (CheckRedirect is replaced) and the SSRF guard is installed in the transport, so
	// that a refused address is refused before any connection to it is made:
	//   - nil Transport: the transport of NewTransport (not http.DefaultTransport: no
	//     proxy from the environment);
	//   - *http.Transport without DialContext and Dial: a clone whose dialer is a guarded
	//     net.Dialer (using Resolver);
	//   - *http.Transport with a custom DialContext or Dial (http.DefaultTransport's
	//     clones have one): a clone whose dialer resolves the host itself with Resolver,
	//     checks every address it gets and calls the custom dialer with an allowed IP
	//     literal ("ip:port"), trying the allowed addresses in order; the custom dialer
	//     never sees a host name, so it cannot resolve it again to somewhere else (DNS
	//     rebinding). The remote address of the connection it returns is checked as well
	//     before any byte is sent. A custom dialer that resolves names its own way (e.g.
	//     through service discovery) therefore needs Resolver to resolve them too;
	//   - *http.Transport with a Proxy or DialTLS/DialTLSContext: it cannot be guarded
	//     (the dial would go to the proxy, or the TLS dialer takes the host name): New
	//     returns ErrUnguardedTransport. A clone of http.DefaultTransport has a Proxy:
	//     set it to nil;
	//   - any other RoundTripper (e.g. an OpenTelemetry wrapper): New returns
	//     ErrUnguardedTransport, unless GuardedTransport is set.
	// To instrument the transport, prefer WrapTransport, which wraps the guarded one.
	HTTPClient *http.Client
	// GuardedTransport tells New that HTTPClient's transport already refuses internal
	// destinations: it is built on NewTransport (e.g. otelhttp.NewTransport(
	// sender.NewTransport(cfg))), or goes through an egress proxy that does (such as
	// Smokescreen). The transport is then used as is and AllowPrivate, AllowPrefixes and
	// Resolver do not apply to it. Redirects are still not followed. When HTTPClient or
	// its Transport is nil there is nothing to trust: the sender uses NewTransport(cfg),
	// guarded by this Config, never http.DefaultTransport.
	GuardedTransport bool
	// WrapTransport, when set, wraps the guarded transport, e.g. with
	// otelhttp.NewTransport; requests go through the wrapper, dials through the guard.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Resolver resolves endpoint host names for the guarded dialers (see HTTPClient).
	// nil: net.DefaultResolver.
	Resolver *net.Resolver

	// AllowPrivate lets the sender deliver to loopback, private-use (RFC 1918), CGNAT,
	// link-local, unique-local and other non-public addresses. Cloud metadata and
	// host-agent addresses (169.254.169.254, 168.63.129.16, ...), multicast, broadcast and
	// unspecified addresses stay refused unless listed in AllowPrefixes. AllowPrivate
	// admits addresses only: a plain http:// endpoint also needs AllowHTTP.
	AllowPrivate bool
	// AllowPrefixes admits every address inside these prefixes, whatever its class,
	// e.g. 10.20.0.0/16 for one internal network.
	AllowPrefixes []netip.Prefix
	// AllowHTTP allows plain http:// endpoints (the SSRF guard still applies: a private
	// address also needs AllowPrivate or AllowPrefixes). By default only https:// is
	// allowed.
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
	// Observer is told about attempts and outcomes: the Sender calls its AttemptStarted
	// and AttemptFinished hooks around every attempt (those of Attempt, which a
	// dispatch.Dispatcher makes through it, included) and its Delivered or Failed hook at
	// the end of each Send. The zero value observes nothing; nil hooks are skipped.
	Observer DeliveryObserver
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
	client *http.Client
	// direct is the client's transport when the client adds nothing to it (no Jar, no
	// Timeout): requests then skip http.Client's redirect and header-copy bookkeeping,
	// which matters nothing here since redirects are never followed.
	direct             http.RoundTripper
	retry              RetryPolicy // defaults filled in
	ua                 string
	log                *slog.Logger
	observer           DeliveryObserver
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
		retry:              cfg.Retry.WithDefaults(),
		ua:                 cfg.UserAgent,
		log:                cfg.Logger,
		observer:           cfg.Observer,
		now:                cfg.Now,
		policy:             cfg.policy(),
		allowHTTP:          cfg.AllowHTTP,
		allowInsecureBasic: cfg.AllowInsecureBasic,
	}
	if client.Jar == nil && client.Timeout == 0 && client.Transport != nil {
		s.direct = client.Transport
	}
	if s.ua == "" {
		s.ua = DefaultUserAgent
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// CloseIdleConnections closes the connections of the Sender's transport that are idle
// now, as http.Client.CloseIdleConnections does. It interrupts nothing in flight and the
// Sender stays usable: later attempts open new connections. A Sender holds no other
// resource, so there is nothing else to release.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }

// NewTransport returns the guarded transport New builds when Config.HTTPClient is nil:
// the SSRF guard of cfg (AllowPrivate, AllowPrefixes, Resolver; the other fields do not
// matter) in the dialer, on the resolved address, no proxy, otherwise net/http's default
// settings with a larger idle pool (256 connections, all of which may be to one host).
// Wrap it (e.g. with OpenTelemetry) and set Config.GuardedTransport, or use
// Config.WrapTransport.
func NewTransport(cfg Config) *http.Transport { return newGuardedTransport(&cfg) }

// newGuardedTransport is NewTransport(*cfg).
func newGuardedTransport(cfg *Config) *http.Transport {
	t := safenet.NewTransport(cfg.policy())
	t.DialContext = guardedDialer(cfg)
	return t
}

// dialFunc is the type of http.Transport.DialContext.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// guardedDialer is a net.Dialer with the guard of cfg in its Control function and
// cfg.Resolver, whose refusals name the Config field that lifts them.
func guardedDialer(cfg *Config) dialFunc {
	d := cfg.policy().Dialer()
	d.Resolver = cfg.Resolver
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, withRemedy(err)
		}
		return c, nil
	}
}

// buildClient returns the client the Sender uses, following the rules on
// Config.HTTPClient.
func buildClient(cfg *Config) (*http.Client, error) {
	var c http.Client
	if cfg.HTTPClient != nil {
		c = *cfg.HTTPClient
	}
	c.CheckRedirect = safenet.NoRedirect
	if rt, ok := c.Transport.(*http.Transport); ok && rt == nil {
		c.Transport = nil // a typed nil: no transport either
	}
	switch rt := c.Transport.(type) {
	case nil: // no client, or a client on http.DefaultTransport: never that one, unguarded
		c.Transport = newGuardedTransport(cfg)
	case *http.Transport:
		if cfg.GuardedTransport {
			break
		}
		if rt.Proxy != nil {
			return nil, fmt.Errorf("%w: it uses a proxy, which hides the destination from the guard (set Proxy to nil, or GuardedTransport if the proxy refuses internal destinations)", ErrUnguardedTransport)
		}
		//lint:ignore SA1019 DialTLS is deprecated but a caller's transport may still set it
		if rt.DialTLSContext != nil || rt.DialTLS != nil {
			return nil, fmt.Errorf("%w: it sets DialTLS/DialTLSContext", ErrUnguardedTransport)
		}
		t := rt.Clone()
		guardTransport(t, cfg)
		c.Transport = t
	default:
		if !cfg.GuardedTransport {
			return nil, fmt.Errorf("%w: %T is not an *http.Transport (build it on sender.NewTransport and set GuardedTransport, or use WrapTransport)", ErrUnguardedTransport, rt)
		}
	}
	if cfg.WrapTransport != nil {
		c.Transport = cfg.WrapTransport(c.Transport)
	}
	return &c, nil
}

// guardTransport installs the guard of cfg in t's dialer.
func guardTransport(t *http.Transport, cfg *Config) {
	dial := t.DialContext
	//lint:ignore SA1019 Dial is deprecated but a caller's transport may still set it
	if d := t.Dial; dial == nil && d != nil {
		dial = func(_ context.Context, network, addr string) (net.Conn, error) { return d(network, addr) }
	}
	//lint:ignore SA1019 cleared: the guarded DialContext replaces it
	t.Dial = nil
	if dial == nil {
		t.DialContext = guardedDialer(cfg)
		return
	}
	r := cfg.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	t.DialContext = guardDial(cfg.policy(), r.LookupNetIP, dial)
}

// lookupFunc is the type of net.Resolver.LookupNetIP.
type lookupFunc = func(ctx context.Context, network, host string) ([]netip.Addr, error)

// guardDial wraps a custom dialer: the host is resolved with lookup and every address
// checked against p before dial is called, with an allowed IP literal only, the allowed
// addresses tried in order; the connection dial returns must end at an allowed address
// too (a second line: the dialer might go elsewhere than it was told).
func guardDial(p safenet.Policy, lookup lookupFunc, dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var ipNet string
		switch network {
		case "tcp":
			ipNet = "ip"
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		default:
			return nil, refusedOp(network, &safenet.RefusedError{Reason: "network " + network})
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, refusedOp(network, &safenet.RefusedError{Reason: "unparsable address"})
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if ips, err = lookup(ctx, ipNet, host); err != nil {
			return nil, err
		} else if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var refused, dialErr error
		for _, ip := range ips {
			if ip.Is4In6() && network != "tcp6" {
				ip = ip.Unmap()
			}
			if err := p.Check(ip); err != nil {
				if refused == nil {
					refused = err
				}
				continue
			}
			conn, err := dial(ctx, network, net.JoinHostPort(ip.String(), port))
			if err != nil {
				if dialErr == nil {
					dialErr = err
				}
				if ctx.Err() != nil {
					break
				}
				continue
			}
			if err := checkConn(p, conn); err != nil {
				conn.Close()
				return nil, refusedOp(network, err)
			}
			return conn, nil
		}
		if dialErr != nil {
			return nil, dialErr
		}
		return nil, refusedOp(network, refused)
	}
}

// refusedOp is the dial error of a refusal, as net.Dialer would return it, with the
// remedy named.
func refusedOp(network string, err error) error {
	return withRemedy(&net.OpError{Op: "dial", Net: network, Err: err})
}

// remedyError is a refusal of the SSRF guard with the Config field that lifts it.
type remedyError struct {
	err    error
	remedy string
}

func (e *remedyError) Error() string { return e.err.Error() + " (" + e.remedy + ")" }
func (e *remedyError) Unwrap() error { return e.err }

// privateRemedy is what the refusal of an address that AllowPrivate admits adds.
const privateRemedy = "set Config.AllowPrivate to deliver to private addresses, or list the address in Config.AllowPrefixes"

// withRemedy adds to the guard's refusal of a private address the Config field that lifts
// it; other errors (metadata, multicast, ... addresses included: AllowPrivate would not
// help) are returned as they are.
func withRemedy(err error) error {
	var re *safenet.RefusedError
	if !errors.As(err, &re) || !re.Private {
		return err
	}
	const remedy = privateRemedy
	if oe, ok := err.(*net.OpError); ok {
		c := *oe
		c.Err = &remedyError{err: oe.Err, remedy: remedy}
		return &c
	}
	return &remedyError{err: err, remedy: remedy}
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
