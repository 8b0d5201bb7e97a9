package safenet_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/safenet"
)

// verdict of one address under the default policy and under AllowPrivate.
type verdict int

const (
	public        verdict = iota // allowed by default
	privateNet                   // refused by default, allowed by AllowPrivate
	alwaysRefused                // refused even with AllowPrivate
)

func TestCheckMatrix(t *testing.T) {
	cases := []struct {
		addr   string
		want   verdict
		reason string
	}{
		// public
		{"8.8.8.8", public, ""},
		{"1.1.1.1", public, ""},
		{"93.184.216.34", public, ""},
		{"2606:4700:4700::1111", public, ""},
		{"2001:4860:4860::8888", public, ""},
		{"64:ff9b::8.8.8.8", public, ""},  // NAT64 of a public address
		{"2002:0808:0808::1", public, ""}, // 6to4 of 8.8.8.8
		{"::ffff:8.8.8.8", public, ""},    // IPv4-mapped public
		{"172.32.0.1", public, ""},        // just outside 172.16/12
		{"100.128.0.1", public, ""},       // just outside 100.64/10
		{"11.0.0.1", public, ""},          // just outside 10/8
		{"169.255.0.1", public, ""},       // just outside link-local
		// loopback
		{"127.0.0.1", privateNet, "loopback"},
		{"127.255.255.254", privateNet, "loopback"},
		{"::1", privateNet, "loopback"},
		{"::ffff:127.0.0.1", privateNet, "IPv4-mapped loopback"},
		{"::127.0.0.1", privateNet, "IPv4-compatible loopback"},
		// RFC 1918
		{"10.0.0.1", privateNet, "private-use"},
		{"10.255.255.255", privateNet, "private-use"},
		{"172.16.0.1", privateNet, "private-use"},
		{"172.31.255.254", privateNet, "private-use"},
		{"192.168.1.1", privateNet, "private-use"},
		{"::ffff:10.0.0.1", privateNet, "IPv4-mapped private-use"},
		{"::ffff:192.168.0.1", privateNet, "IPv4-mapped private-use"},
		{"::10.0.0.1", privateNet, "IPv4-compatible private-use"},
		// link-local and metadata
		{"169.254.1.1", privateNet, "link-local"},
		{"fe80::1", privateNet, "link-local"},
		{"fe80::1%eth0", privateNet, "link-local"},
		{"169.254.169.254", alwaysRefused, "cloud metadata"},
		{"::ffff:169.254.169.254", alwaysRefused, "cloud metadata"},
		{"169.254.170.2", alwaysRefused, "cloud metadata"},
		{"fd00:ec2::254", alwaysRefused, "cloud metadata"},
		{"100.100.100.200", alwaysRefused, "cloud metadata"},
		{"64:ff9b::169.254.169.254", alwaysRefused, "NAT64 cloud metadata"},
		// CGNAT
		{"100.64.0.1", privateNet, "shared address space (CGNAT)"},
		{"100.127.255.254", privateNet, "shared address space (CGNAT)"},
		// IPv6 unique-local, site-local
		{"fc00::1", privateNet, "unique-local"},
		{"fd12:3456:789a::1", privateNet, "unique-local"},
		{"fec0::1", privateNet, "site-local"},
		// NAT64, 6to4, Teredo holding private IPv4
		{"64:ff9b::10.0.0.1", privateNet, "NAT64 private-use"},
		{"64:ff9b::127.0.0.1", privateNet, "NAT64 loopback"},
		{"64:ff9b::192.168.1.1", privateNet, "NAT64 private-use"},
		{"64:ff9b:1::a00:1", privateNet, "local-use NAT64"},
		{"2002:0a00:0001::1", privateNet, "6to4 private-use"},
		{"2002:7f00:0001::1", privateNet, "6to4 loopback"},
		{"2002:c0a8:0101::1", privateNet, "6to4 private-use"},
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", privateNet, "Teredo private-use"}, // client 10.0.0.1
		// multicast, unspecified, broadcast, this network
		{"224.0.0.1", alwaysRefused, "multicast"},
		{"239.255.255.250", alwaysRefused, "multicast"},
		{"ff02::1", alwaysRefused, "multicast"},
		{"ff05::1:3", alwaysRefused, "multicast"},
		{"::ffff:224.0.0.1", alwaysRefused, "IPv4-mapped multicast"},
		{"0.0.0.0", alwaysRefused, "unspecified"},
		{"::", alwaysRefused, "unspecified"},
		{"::ffff:0.0.0.0", alwaysRefused, "IPv4-mapped unspecified"},
		{"255.255.255.255", alwaysRefused, "broadcast"},
		{"0.1.2.3", privateNet, "this network"},
		// documentation, benchmarking, reserved, discard
		{"192.0.2.1", privateNet, "documentation"},
		{"198.51.100.1", privateNet, "documentation"},
		{"203.0.113.1", privateNet, "documentation"},
		{"2001:db8::1", privateNet, "documentation"},
		{"198.18.0.1", privateNet, "benchmarking"},
		{"198.19.255.254", privateNet, "benchmarking"},
		{"2001:2::1", privateNet, "benchmarking"},
		{"192.0.0.8", privateNet, "IETF protocol assignments"},
		{"192.88.99.1", privateNet, "6to4 relay anycast"},
		{"240.0.0.1", privateNet, "reserved"},
		{"100::1", privateNet, "discard-only"},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tc.addr)
			def := safenet.Policy{}.Check(ip)
			priv := safenet.Policy{AllowPrivate: true}.Check(ip)
			switch tc.want {
			case public:
				assert.NoError(t, def)
				assert.NoError(t, priv)
				return
			case privateNet:
				assert.NoError(t, priv, "AllowPrivate admits it")
			case alwaysRefused:
				assert.ErrorIs(t, priv, safenet.ErrRefused, "AllowPrivate does not admit it")
			}
			require.ErrorIs(t, def, safenet.ErrRefused)
			var re *safenet.RefusedError
			require.ErrorAs(t, def, &re)
			assert.Equal(t, tc.reason, re.Reason)
			assert.Equal(t, ip.WithZone(""), re.Addr)
			assert.Contains(t, def.Error(), tc.reason)

			// An allow-list prefix admits it whatever its class.
			bits := 32
			if ip.Is6() {
				bits = 128
			}
			allow := safenet.Policy{Allow: []netip.Prefix{netip.PrefixFrom(ip.WithZone(""), bits)}}
			assert.NoError(t, allow.Check(ip))
		})
	}
}

// TestMetadataAddressesRefusedEvenWithAllowPrivate: the instance metadata and host-agent
// addresses of the big clouds are refused by default and under AllowPrivate, in their
// IPv4-mapped and NAT64 forms too; only an Allow prefix admits them. The Azure wire server
// is a public address, refused all the same; its neighbours stay public.
func TestMetadataAddressesRefusedEvenWithAllowPrivate(t *testing.T) {
	for _, a := range []string{
		"169.254.170.23", "::ffff:169.254.170.23", "64:ff9b::169.254.170.23", // AWS EKS Pod Identity agent
		"fd00:ec2::23",                                                 // the same, IPv6
		"fd20:ce::254",                                                 // GCP metadata, IPv6
		"169.254.0.23", "::ffff:169.254.0.23", "64:ff9b::169.254.0.23", // Tencent Cloud
		"192.0.0.192", "::ffff:192.0.0.192", "64:ff9b::192.0.0.192", // Oracle Cloud
		"168.63.129.16", "::ffff:168.63.129.16", "64:ff9b::168.63.129.16", // Azure wire server
	} {
		t.Run(a, func(t *testing.T) {
			ip := netip.MustParseAddr(a)
			for _, p := range []safenet.Policy{{}, {AllowPrivate: true}} {
				err := p.Check(ip)
				require.ErrorIs(t, err, safenet.ErrRefused, "AllowPrivate=%v", p.AllowPrivate)
				var re *safenet.RefusedError
				require.ErrorAs(t, err, &re)
				assert.Contains(t, re.Reason, "cloud metadata")
				assert.False(t, re.Private, "AllowPrivate would not admit it")
			}
			v4 := ip
			if v4.Is4In6() {
				v4 = v4.Unmap()
			}
			bits := v4.BitLen()
			assert.NoError(t, safenet.Policy{Allow: []netip.Prefix{netip.PrefixFrom(v4, bits)}}.Check(ip), "an Allow prefix admits it")
		})
	}
	for _, a := range []string{"168.63.129.15", "168.63.129.17", "::ffff:168.63.129.17"} {
		assert.NoError(t, safenet.Policy{}.Check(netip.MustParseAddr(a)), a)
	}
}

// TestRefusedErrorSaysWhetherAllowPrivateWouldAdmit: Private is set on the refusal of a
// non-public unicast address, and only there.
func TestRefusedErrorSaysWhetherAllowPrivateWouldAdmit(t *testing.T) {
	for a, private := range map[string]bool{"127.0.0.2": true, "10.0.0.1": true, "::ffff:192.168.0.1": true, "fe80::1": true,
		"169.254.169.254": false, "224.0.0.1": false, "0.0.0.0": false, "::": false} {
		var re *safenet.RefusedError
		require.ErrorAs(t, safenet.Policy{}.Check(netip.MustParseAddr(a)), &re, a)
		assert.Equal(t, private, re.Private, a)
	}
	var re *safenet.RefusedError
	require.ErrorAs(t, safenet.Policy{}.Control("udp", "8.8.8.8:53", nil), &re)
	assert.False(t, re.Private)
}

func TestAllowList(t *testing.T) {
	p := safenet.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	assert.NoError(t, p.Check(netip.MustParseAddr("10.1.2.3")))
	assert.NoError(t, p.Check(netip.MustParseAddr("::ffff:10.1.2.3")), "IPv4 prefix matches the mapped form")
	assert.ErrorIs(t, p.Check(netip.MustParseAddr("10.2.0.1")), safenet.ErrRefused, "outside the prefix")
	assert.ErrorIs(t, p.Check(netip.MustParseAddr("127.0.0.1")), safenet.ErrRefused)
	assert.ErrorIs(t, p.Check(netip.Addr{}), safenet.ErrRefused, "invalid address")
}

func TestControl(t *testing.T) {
	p := safenet.Policy{}
	assert.NoError(t, p.Control("tcp4", "8.8.8.8:443", nil))
	assert.NoError(t, p.Control("tcp6", "[2606:4700:4700::1111]:443", nil))
	assert.ErrorIs(t, p.Control("tcp4", "127.0.0.1:80", nil), safenet.ErrRefused)
	assert.ErrorIs(t, p.Control("tcp6", "[fe80::1%eth0]:80", nil), safenet.ErrRefused)
	assert.ErrorIs(t, p.Control("udp4", "8.8.8.8:53", nil), safenet.ErrRefused, "only TCP")
	assert.ErrorIs(t, p.Control("tcp", "nonsense", nil), safenet.ErrRefused)
}

func TestGuardChainsControl(t *testing.T) {
	var called []string
	d := &net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		called = append(called, address)
		return nil
	}}
	g := safenet.Policy{}.Guard(d)
	require.NotNil(t, g.ControlContext)
	assert.ErrorIs(t, g.ControlContext(context.Background(), "tcp4", "10.0.0.1:80", nil), safenet.ErrRefused)
	assert.Empty(t, called, "own Control not run for a refused address")
	assert.NoError(t, g.ControlContext(context.Background(), "tcp4", "8.8.8.8:80", nil))
	assert.Equal(t, []string{"8.8.8.8:80"}, called)

	boom := errors.New("boom")
	d2 := &net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error { return boom }}
	assert.ErrorIs(t, safenet.Policy{}.Guard(d2).ControlContext(context.Background(), "tcp4", "8.8.8.8:80", nil), boom)
	assert.Nil(t, d2.Control, "the original dialer is not modified")
}

// TestClientRefusesLoopback dials real loopback servers: by IP, by a hostname that resolves
// to loopback ("localhost") and through IPv6, with the default policy (refused before any
// byte is sent) and with the guard relaxed (served).
func TestClientRefusesLoopback(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits++
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	urls := []string{srv.URL, "http://localhost:" + port + "/"}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			c := safenet.NewClient(safenet.Policy{}, 5*time.Second)
			resp, err := c.Get(u)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, safenet.ErrRefused)
			var re *safenet.RefusedError
			require.ErrorAs(t, err, &re)
			assert.True(t, re.Addr.IsLoopback(), "refused the resolved address %v", re.Addr)

			for _, p := range []safenet.Policy{
				{AllowPrivate: true},
				{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			} {
				before := hits
				resp, err = safenet.NewClient(p, 5*time.Second).Get(u)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusNoContent, resp.StatusCode)
				assert.Equal(t, before+1, hits)
			}
		})
	}
	assert.Equal(t, 4, hits, "the refused requests never reached the server")

	// IPv6 loopback, when the machine has it.
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		srv6 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		srv6.Listener = ln
		srv6.Start()
		defer srv6.Close()
		resp, err := safenet.NewClient(safenet.Policy{}, 5*time.Second).Get(srv6.URL)
		if resp != nil {
			resp.Body.Close()
		}
		assert.ErrorIs(t, err, safenet.ErrRefused)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	internal := 0
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { internal++ }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer srv.Close()
	resp, err := safenet.NewClient(safenet.Policy{AllowPrivate: true}, 5*time.Second).Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, 0, internal)
}

func TestNewTransportSettings(t *testing.T) {
	tr := safenet.NewTransport(safenet.Policy{})
	assert.Nil(t, tr.Proxy, "no proxy: it would hide the destination from the guard")
	assert.True(t, tr.ForceAttemptHTTP2)
	assert.Equal(t, safenet.MaxIdleConnsPerHost, tr.MaxIdleConnsPerHost)
	assert.True(t, strings.HasPrefix((&safenet.RefusedError{Reason: "x"}).Error(), "hookkit/safenet: refused destination"))
}

// BenchmarkCheck measures the guard on the dial path.
func BenchmarkCheck(b *testing.B) {
	addrs := []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("2606:4700:4700::1111"), netip.MustParseAddr("10.0.0.1")}
	p := safenet.Policy{}
	b.ReportAllocs()
	for i := range b.N {
		_ = p.Check(addrs[i%len(addrs)])
	}
}
