package safenet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefused is the error every refusal wraps: the destination is not allowed by the policy.
var ErrRefused = errors.New("hookkit/safenet: refused destination")

// RefusedError says which address was refused and why. It wraps ErrRefused.
type RefusedError struct {
	// Addr is the refused address (invalid when the refusal is not about an address, for
	// example a network other than TCP).
	Addr netip.Addr
	// Reason names the address class, e.g. "loopback", "private-use", "cloud metadata".
	Reason string
	// Private is true when Policy.AllowPrivate would admit the address: it is of a
	// non-public unicast class (loopback, private-use, link-local, ...), not one of the
	// classes refused whatever the policy (cloud metadata, multicast, broadcast,
	// unspecified). A caller can tell its user which setting lifts the refusal.
	Private bool
}

// Error implements error.
func (e *RefusedError) Error() string {
	if !e.Addr.IsValid() {
		return "hookkit/safenet: refused destination: " + e.Reason
	}
	return "hookkit/safenet: refused destination " + e.Addr.String() + ": " + e.Reason
}

// Unwrap returns ErrRefused.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Policy says which destinations may be dialled. The zero value allows public unicast
// addresses only (see the package documentation for the full list of refusals).
type Policy struct {
	// AllowPrivate admits every non-public unicast address (loopback, private-use, CGNAT,
	// link-local, unique-local, documentation, benchmarking, ...). Unspecified, multicast
	// and broadcast addresses and the cloud metadata addresses stay refused.
	AllowPrivate bool
	// Allow admits every address inside these prefixes, whatever its class. An IPv4
	// prefix also matches the IPv4-mapped form of its addresses.
	Allow []netip.Prefix
}

// Check returns nil when ip may be dialled under p, else a *RefusedError.
func (p Policy) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return &RefusedError{Reason: "invalid address"}
	}
	ip = ip.WithZone("")
	for _, pf := range p.Allow {
		if pf.Contains(ip) || (ip.Is4In6() && pf.Contains(ip.Unmap())) {
			return nil
		}
	}
	c := classify(ip)
	switch {
	case c.public:
		return nil
	case c.privateNet && p.AllowPrivate:
		return nil
	}
	return &RefusedError{Addr: ip, Reason: c.reason, Private: c.privateNet}
}

// class is the verdict on one address.
type class struct {
	public     bool   // routable unicast on the public internet
	privateNet bool   // non-public unicast that AllowPrivate admits
	reason     string // why it is not public
}

type rangeClass struct {
	prefix     netip.Prefix
	reason     string
	privateNet bool
}

// metadata are cloud instance metadata and host-agent endpoints: refused even with
// AllowPrivate, and 168.63.129.16 although it is a public address.
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean...
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	netip.MustParseAddr("169.254.170.23"),  // AWS EKS Pod Identity agent
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IPv6 IMDS
	netip.MustParseAddr("fd00:ec2::23"),    // AWS EKS Pod Identity agent, IPv6
	netip.MustParseAddr("fd20:ce::254"),    // GCP metadata, IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("169.254.0.23"),    // Tencent Cloud
	netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud
	netip.MustParseAddr("168.63.129.16"),   // Azure wire server (public address space)
}

// v4Ranges are the IPv4 special-purpose ranges (IANA registry), most specific first where
// they overlap.
var v4Ranges = []rangeClass{
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast", false},
	{netip.MustParsePrefix("0.0.0.0/32"), "unspecified", false},
	{netip.MustParsePrefix("0.0.0.0/8"), "this network", true},
	{netip.MustParsePrefix("10.0.0.0/8"), "private-use", true},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)", true},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback", true},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local", true},
	{netip.MustParsePrefix("172.16.0.0/12"), "private-use", true},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments", true},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation", true},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast", true},
	{netip.MustParsePrefix("192.168.0.0/16"), "private-use", true},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking", true},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation", true},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation", true},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast", false},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved", true},
}

// v6Ranges are the IPv6 special-purpose ranges that do not embed an IPv4 address.
var v6Ranges = []rangeClass{
	{netip.MustParsePrefix("::/128"), "unspecified", false},
	{netip.MustParsePrefix("::1/128"), "loopback", true},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64", true},
	{netip.MustParsePrefix("100::/64"), "discard-only", true},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking", true},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation", true},
	{netip.MustParsePrefix("fc00::/7"), "unique-local", true},
	{netip.MustParsePrefix("fe80::/10"), "link-local", true},
	{netip.MustParsePrefix("fec0::/10"), "site-local", true},
	{netip.MustParsePrefix("ff00::/8"), "multicast", false},
}

var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	compat  = netip.MustParsePrefix("::/96")
	sixToIP = netip.MustParsePrefix("2002::/16")
	teredo  = netip.MustParsePrefix("2001::/32")
)

// classify judges ip (zone removed).
func classify(ip netip.Addr) class {
	for _, m := range metadata {
		if ip == m || (ip.Is4In6() && ip.Unmap() == m) {
			return class{reason: "cloud metadata"}
		}
	}
	if ip.Is4In6() {
		return embedded(ip.Unmap(), "IPv4-mapped ")
	}
	if ip.Is4() {
		for _, r := range v4Ranges {
			if r.prefix.Contains(ip) {
				return class{privateNet: r.privateNet, reason: r.reason}
			}
		}
		return class{public: true}
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(ip) {
			return class{privateNet: r.privateNet, reason: r.reason}
		}
	}
	b := ip.As16()
	switch {
	case compat.Contains(ip): // ::a.b.c.d (deprecated IPv4-compatible)
		return embedded(netip.AddrFrom4([4]byte(b[12:16])), "IPv4-compatible ")
	case nat64.Contains(ip):
		return embedded(netip.AddrFrom4([4]byte(b[12:16])), "NAT64 ")
	case sixToIP.Contains(ip):
		return embedded(netip.AddrFrom4([4]byte(b[2:6])), "6to4 ")
	case teredo.Contains(ip): // client address: the last 32 bits, inverted
		return embedded(netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), "Teredo ")
	}
	if !ip.IsGlobalUnicast() {
		return class{reason: "not global unicast"}
	}
	return class{public: true}
}

// embedded judges an IPv6 address by the IPv4 address it carries.
func embedded(v4 netip.Addr, form string) class {
	c := classify(v4)
	if !c.public {
		c.reason = form + c.reason
	}
	return c
}

// Control is a net.Dialer.Control function: it refuses, before the connection is made,
// any network other than TCP and any address that p does not allow.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return &RefusedError{Reason: "network " + network}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: "unparsable address"}
	}
	return p.Check(ap.Addr())
}

// Dialer returns a net.Dialer with the guard of p in its Control function (30 s connect
// timeout, 30 s keep-alive, as net/http's default transport).
func (p Policy) Dialer() *net.Dialer {
	return p.Guard(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
}

// Guard returns a copy of d whose Control function runs the guard of p first and then
// d's own Control or ControlContext, if any.
func (p Policy) Guard(d *net.Dialer) *net.Dialer {
	g := *d
	ctl, ctlCtx := d.Control, d.ControlContext
	g.Control = nil
	g.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := p.Control(network, address, c); err != nil {
			return err
		}
		switch {
		case ctlCtx != nil:
			return ctlCtx(ctx, network, address, c)
		case ctl != nil:
			return ctl(network, address, c)
		}
		return nil
	}
	return &g
}

// Transport defaults, as net/http's DefaultTransport except for the idle pool, which may
// hold as many connections to one host as to all: a webhook sender often talks to few
// hosts, concurrently (a dispatcher's MaxInFlight attempts to one endpoint at once), and
// each attempt beyond the per-host idle pool would close its connection and dial a new one
// for the next (a TIME_WAIT socket per attempt). With 32 per host, 128 dispatcher workers
// to one endpoint fell from 40,292 to 25,799 deliveries/s end to end (BENCHMARKS.md). The
// pool holds only what was in use at once, and idle connections close after 90 s.
const (
	MaxIdleConns        = 256
	MaxIdleConnsPerHost = MaxIdleConns
)

// NewTransport returns an HTTP transport whose dialer refuses what p does not allow, on
// the resolved address. It uses no proxy; otherwise it has the settings of net/http's
// DefaultTransport (HTTP/2 attempted, 90 s idle timeout, 10 s TLS handshake timeout), with
// MaxIdleConns and MaxIdleConnsPerHost idle connections.
func NewTransport(p Policy) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.Dialer().DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          MaxIdleConns,
		MaxIdleConnsPerHost:   MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// NewClient returns an HTTP client over NewTransport(p) with the given overall timeout
// (http.Client.Timeout: 0 means none, and so does a negative timeout) that never follows
// redirects: a 3xx response is returned to the caller as is.
func NewClient(p Policy, timeout time.Duration) *http.Client {
	return &http.Client{Transport: NewTransport(p), Timeout: timeout, CheckRedirect: NoRedirect}
}

// NoRedirect is an http.Client CheckRedirect function that stops at the first response.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
