package sender_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/safenet"
	"github.com/hookkit/hookkit/sender"
)

// countingListener is a net.Listener that reports the remote address of every connection
// it accepts, so that a test can tell whether anything connected at all.
type countingListener struct {
	net.Listener
	accepted chan string
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- c.RemoteAddr().String()
	}
	return c, err
}

// refusedTarget is an HTTP receiver on 127.0.0.2, an address the SSRF guard refuses unless
// AllowPrivate is set, counting the connections it accepts.
type refusedTarget struct {
	srv  *httptest.Server
	ln   *countingListener
	port string
}

func newRefusedTarget(t *testing.T) *refusedTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err, "127.0.0.2 is loopback on Linux")
	cl := &countingListener{Listener: ln, accepted: make(chan string, 64)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return &refusedTarget{srv: srv, ln: cl, port: port}
}

// connections returns how many connections were accepted since the last call. It makes
// one connection of its own and waits until the listener has accepted it: the listener
// accepts in order, so every connection made before has been counted by then.
func (rt *refusedTarget) connections(t *testing.T) int {
	t.Helper()
	c, err := net.Dial("tcp", rt.ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	mine := c.LocalAddr().String()
	n := 0
	for {
		select {
		case a := <-rt.ln.accepted:
			if a == mine {
				return n
			}
			n++
		case <-time.After(10 * time.Second):
			t.Fatal("the listener did not accept the test's own connection")
		}
	}
}

// clientShapes are the ways a caller can hand the sender an HTTP client (or none).
func clientShapes() []struct {
	name    string
	client  func() *http.Client
	guarded bool
} {
	return []struct {
		name    string
		client  func() *http.Client
		guarded bool
	}{
		{"nil client", func() *http.Client { return nil }, false},
		{"client with nil Transport", func() *http.Client { return &http.Client{} }, false},
		{"client with a typed nil *http.Transport", func() *http.Client { return &http.Client{Transport: (*http.Transport)(nil)} }, false},
		{"DefaultTransport clone without proxy", func() *http.Client {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.Proxy = nil
			return &http.Client{Transport: tr}
		}, false},
		{"Transport with a custom DialContext", func() *http.Client {
			return &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
		}, false},
		{"Transport with a custom Dial", func() *http.Client {
			//lint:ignore SA1019 the deprecated field is what this case is about
			return &http.Client{Transport: &http.Transport{Dial: net.Dial}}
		}, false},
		{"GuardedTransport with nil Transport", func() *http.Client { return &http.Client{} }, true},
		{"GuardedTransport with nil client", func() *http.Client { return nil }, true},
	}
}

// TestGuardRefusesBeforeConnectingWhateverTheClient: with every client shape, a refused
// destination is refused before a TCP connection exists (no port scanning through the
// sender: an open and a closed port look the same), once, without retries. With
// AllowPrivate the same destination is reached, so the count does see connections.
func TestGuardRefusesBeforeConnectingWhateverTheClient(t *testing.T) {
	t.Parallel()
	rt := newRefusedTarget(t)
	ev := sndEvent(t, "envelope-sent")
	for _, shape := range clientShapes() {
		t.Run(shape.name, func(t *testing.T) {
			rt.connections(t) // whatever an earlier failed case left
			s, err := sender.New(sender.Config{HTTPClient: shape.client(), GuardedTransport: shape.guarded,
				AllowHTTP: true, Retry: *fastRetry(8)})
			require.NoError(t, err)
			defer s.CloseIdleConnections()
			res, err := s.Send(context.Background(), sender.Endpoint{URL: "http://127.0.0.2:" + rt.port + "/hook"}, ev)
			require.Error(t, err)
			assert.ErrorIs(t, err, sender.ErrRefusedDestination)
			assert.ErrorIs(t, err, safenet.ErrRefused)
			require.Len(t, res.Attempts, 1, "a refusal is not retried")
			assert.Equal(t, sender.ClassRefused, res.Attempts[0].Class)
			assert.Equal(t, 0, rt.connections(t), "nothing connected to the refused address")

			s, err = sender.New(sender.Config{HTTPClient: shape.client(), GuardedTransport: shape.guarded,
				AllowHTTP: true, AllowPrivate: true, Retry: *fastRetry(1)})
			require.NoError(t, err)
			defer s.CloseIdleConnections()
			_, err = s.Send(context.Background(), sender.Endpoint{URL: "http://127.0.0.2:" + rt.port + "/hook"}, ev)
			require.NoError(t, err, "AllowPrivate admits 127.0.0.2")
			assert.Equal(t, 1, rt.connections(t))
		})
	}
}

// TestGuardedTransportWithNilTransportIsGuarded: GuardedTransport with a client whose
// Transport is nil gets the sender's guarded transport (no proxy from the environment, the
// policy of the Config), not http.DefaultTransport.
func TestGuardedTransportWithNilTransportIsGuarded(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	s, err := sender.New(sender.Config{HTTPClient: &http.Client{Timeout: 5 * time.Second}, GuardedTransport: true, AllowHTTP: true})
	require.NoError(t, err)
	defer s.CloseIdleConnections()
	_, err = s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrRefusedDestination)
	assert.Empty(t, rc.Hits())
}

// fakeResolver is a net.Resolver whose DNS server is a tiny one of the test's own on
// 127.0.0.1 (UDP) that answers A and AAAA questions from zone and NXDOMAIN for any other
// name. Names are lower case, without the final dot.
func fakeResolver(t *testing.T, zone map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], zone); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
}

// dnsAnswer is the response to the DNS query q (RFC 1035 §4), nil when q is malformed.
func dnsAnswer(q []byte, zone map[string][]netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	var labels []string
	for {
		if i >= len(q) {
			return nil
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return nil
		}
		labels = append(labels, strings.ToLower(string(q[i:i+l])))
		i += l
	}
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	question := q[12 : i+4]
	addrs, known := zone[strings.Join(labels, ".")]
	var rdata [][]byte
	for _, a := range addrs {
		if (qtype == 1 && a.Is4()) || (qtype == 28 && a.Is6()) {
			rdata = append(rdata, a.AsSlice())
		}
	}
	flags := uint16(0x8000 | 0x0400 | 0x0080) // response, authoritative, recursion available
	flags |= uint16(q[2]&1) << 8              // recursion desired, as asked
	if !known {
		flags |= 3 // NXDOMAIN
	}
	r := append([]byte{}, q[0], q[1])
	r = binary.BigEndian.AppendUint16(r, flags)
	r = binary.BigEndian.AppendUint16(r, 1)
	r = binary.BigEndian.AppendUint16(r, uint16(len(rdata)))
	r = binary.BigEndian.AppendUint32(r, 0) // no authority, no additional records
	r = append(r, question...)
	for _, d := range rdata {
		r = append(r, 0xc0, 12) // the name: a pointer to the question's
		r = binary.BigEndian.AppendUint16(r, qtype)
		r = binary.BigEndian.AppendUint16(r, 1) // class IN
		r = binary.BigEndian.AppendUint32(r, 60)
		r = binary.BigEndian.AppendUint16(r, uint16(len(d)))
		r = append(r, d...)
	}
	return r
}

// TestFakeResolverAnswers pins the test resolver the other tests rely on.
func TestFakeResolverAnswers(t *testing.T) {
	t.Parallel()
	r := fakeResolver(t, map[string][]netip.Addr{"two.hookkit.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}})
	ips, err := r.LookupNetIP(context.Background(), "ip", "two.hookkit.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}, ips)
	_, err = r.LookupNetIP(context.Background(), "ip", "nowhere.hookkit.test")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	assert.True(t, de.IsNotFound)
}

// TestGuardRefusesNameOfRefusedAddressBeforeConnecting: a host name that Config.Resolver
// resolves to a refused address is refused before connecting, with every client shape
// (custom dialers included: the sender resolves the name itself and checks the answer).
func TestGuardRefusesNameOfRefusedAddressBeforeConnecting(t *testing.T) {
	t.Parallel()
	rt := newRefusedTarget(t)
	r := fakeResolver(t, map[string][]netip.Addr{"refused.hookkit.test": {netip.MustParseAddr("127.0.0.2")}})
	url := "http://refused.hookkit.test:" + rt.port + "/hook"
	ev := sndEvent(t, "envelope-sent")
	for _, shape := range clientShapes() {
		t.Run(shape.name, func(t *testing.T) {
			rt.connections(t)
			s, err := sender.New(sender.Config{HTTPClient: shape.client(), GuardedTransport: shape.guarded,
				AllowHTTP: true, Resolver: r, Retry: *fastRetry(8)})
			require.NoError(t, err)
			defer s.CloseIdleConnections()
			res, err := s.Send(context.Background(), sender.Endpoint{URL: url}, ev)
			require.Error(t, err)
			assert.ErrorIs(t, err, sender.ErrRefusedDestination)
			var re *safenet.RefusedError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, netip.MustParseAddr("127.0.0.2"), re.Addr, "the resolved address was refused")
			assert.Len(t, res.Attempts, 1)
			assert.Equal(t, 0, rt.connections(t), "nothing connected to the refused address")

			s, err = sender.New(sender.Config{HTTPClient: shape.client(), GuardedTransport: shape.guarded,
				AllowHTTP: true, AllowPrivate: true, Resolver: r, Retry: *fastRetry(1)})
			require.NoError(t, err)
			defer s.CloseIdleConnections()
			_, err = s.Send(context.Background(), sender.Endpoint{URL: url}, ev)
			require.NoError(t, err, "AllowPrivate admits it, the name resolved by Config.Resolver")
			assert.Equal(t, 1, rt.connections(t))
		})
	}
}

// TestCustomDialerIsHandedOnlyAllowedIPLiterals: a custom dialer is called with IP
// literals only, the allowed addresses of the answer in its order, never the host name
// (it cannot resolve the name again to a different, refused address).
func TestCustomDialerIsHandedOnlyAllowedIPLiterals(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, statuses(200))
	r := fakeResolver(t, map[string][]netip.Addr{
		"mixed.hookkit.test":    {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("93.184.216.35")},
		"internal.hookkit.test": {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::1")},
	})
	fn := &fakeNet{target: rc.Listener.Addr().String(), down: map[netip.Addr]bool{netip.MustParseAddr("93.184.216.34"): true}}
	s, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: fn.DialContext}},
		AllowHTTP: true, Resolver: r, Retry: *fastRetry(1)})
	require.NoError(t, err)
	defer s.CloseIdleConnections()

	_, err = s.Send(context.Background(), sender.Endpoint{URL: "http://mixed.hookkit.test:8080/hook"}, sndEvent(t, "envelope-sent"))
	require.NoError(t, err)
	assert.Equal(t, []string{"93.184.216.34:8080", "93.184.216.35:8080"}, fn.Asked(),
		"the refused address is skipped, the allowed ones are tried in order")
	assert.Len(t, rc.Hits(), 1)

	res, err := s.Send(context.Background(), sender.Endpoint{URL: "http://internal.hookkit.test:8080/hook"}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrRefusedDestination)
	assert.Equal(t, []sender.Class{sender.ClassRefused}, classes(res))
	assert.Len(t, fn.Asked(), 2, "the dialer was not called")
}

// TestCustomDialerEndingElsewhereIsRefused: the remote address of the connection a
// custom dialer returns is checked too, before anything is written on it.
func TestCustomDialerEndingElsewhereIsRefused(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	fn := &fakeNet{target: rc.Listener.Addr().String(), lie: netip.MustParseAddr("10.9.9.9")}
	s, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: fn.DialContext}},
		AllowHTTP: true, Retry: *fastRetry(3)})
	require.NoError(t, err)
	defer s.CloseIdleConnections()
	res, err := s.Send(context.Background(), sender.Endpoint{URL: "http://93.184.216.34:8080/hook"}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrRefusedDestination)
	assert.Equal(t, []sender.Class{sender.ClassRefused}, classes(res))
	assert.Contains(t, err.Error(), "10.9.9.9")
	assert.Empty(t, rc.Hits(), "no request written")
}

// TestCustomDialerUnknownNameIsRetryable: a name the resolver does not know is a network
// error (retried), not a refusal.
func TestCustomDialerUnknownNameIsRetryable(t *testing.T) {
	t.Parallel()
	r := fakeResolver(t, nil)
	fn := &fakeNet{target: "127.0.0.1:1"}
	s, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: fn.DialContext}},
		AllowHTTP: true, Resolver: r, Retry: *fastRetry(2)})
	require.NoError(t, err)
	defer s.CloseIdleConnections()
	res, err := s.Send(context.Background(), sender.Endpoint{URL: "http://nowhere.hookkit.test:8080/hook"}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrExhausted)
	assert.NotErrorIs(t, err, sender.ErrRefusedDestination)
	var de *net.DNSError
	assert.ErrorAs(t, err, &de)
	assert.Equal(t, []sender.Class{sender.ClassRetryable, sender.ClassRetryable}, classes(res))
	assert.Empty(t, fn.Asked())
}

// TestAllowPrivateAndAllowHTTPAreIndependent: AllowPrivate admits private addresses only
// and AllowHTTP plain http:// only; a refusal names the setting that lifts it.
func TestAllowPrivateAndAllowHTTPAreIndependent(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	ev := sndEvent(t, "envelope-sent")
	send := func(t *testing.T, cfg sender.Config) (*sender.Result, error) {
		cfg.Retry = *fastRetry(3)
		s, err := sender.New(cfg)
		require.NoError(t, err)
		defer s.CloseIdleConnections()
		return s.Send(context.Background(), sender.Endpoint{URL: rc.URL + "/hook"}, ev)
	}
	t.Run("AllowPrivate alone refuses http", func(t *testing.T) {
		before := len(rc.Hits())
		res, err := send(t, sender.Config{AllowPrivate: true})
		require.Error(t, err)
		assert.ErrorIs(t, err, sender.ErrPlainHTTP)
		assert.Contains(t, err.Error(), "set Config.AllowHTTP")
		assert.Empty(t, res.Attempts, "refused before any attempt")
		assert.Len(t, rc.Hits(), before)
	})
	t.Run("AllowHTTP alone refuses loopback", func(t *testing.T) {
		before := len(rc.Hits())
		res, err := send(t, sender.Config{AllowHTTP: true})
		require.Error(t, err)
		assert.ErrorIs(t, err, sender.ErrRefusedDestination)
		assert.NotErrorIs(t, err, sender.ErrPlainHTTP)
		assert.Contains(t, err.Error(), "set Config.AllowPrivate")
		var re *safenet.RefusedError
		require.ErrorAs(t, err, &re, "the guard's typed error is still there")
		assert.Equal(t, "loopback", re.Reason)
		require.Len(t, res.Attempts, 1)
		assert.Contains(t, res.Attempts[0].Err.Error(), "set Config.AllowPrivate")
		assert.Len(t, rc.Hits(), before)
	})
	t.Run("both deliver", func(t *testing.T) {
		before := len(rc.Hits())
		_, err := send(t, sender.Config{AllowPrivate: true, AllowHTTP: true})
		require.NoError(t, err)
		assert.Len(t, rc.Hits(), before+1)
	})
}

// TestRefusalNamesTheSettingThatLiftsIt: a private address's refusal says to set
// Config.AllowPrivate, whatever the client shape; a metadata address's, refused under
// AllowPrivate too, does not suggest it. (The custom dialer only pretends to reach the
// addresses, and is not even called: nothing leaves loopback.)
func TestRefusalNamesTheSettingThatLiftsIt(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	fn := &fakeNet{target: rc.Listener.Addr().String()}
	custom := &http.Client{Transport: &http.Transport{DialContext: fn.DialContext}}
	for _, tc := range []struct {
		name   string
		cfg    sender.Config
		host   string
		remedy bool
	}{
		{"loopback, guarded dialer", sender.Config{AllowHTTP: true}, rc.Listener.Addr().String(), true},
		{"private, custom dialer", sender.Config{AllowHTTP: true, HTTPClient: custom}, "10.0.0.1:8080", true},
		{"IPv4-mapped private, custom dialer", sender.Config{AllowHTTP: true, HTTPClient: custom}, "[::ffff:192.168.1.1]:8080", true},
		{"metadata, custom dialer", sender.Config{AllowHTTP: true, AllowPrivate: true, HTTPClient: custom}, "169.254.169.254:80", false},
		{"azure wire server, custom dialer", sender.Config{AllowHTTP: true, HTTPClient: custom}, "168.63.129.16:80", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Retry = *fastRetry(2)
			s, err := sender.New(tc.cfg)
			require.NoError(t, err)
			defer s.CloseIdleConnections()
			_, err = s.Send(context.Background(), sender.Endpoint{URL: "http://" + tc.host + "/hook"}, sndEvent(t, "envelope-sent"))
			require.ErrorIs(t, err, sender.ErrRefusedDestination)
			if tc.remedy {
				assert.Contains(t, err.Error(), "set Config.AllowPrivate")
			} else {
				assert.NotContains(t, err.Error(), "AllowPrivate", "it would not help")
			}
			assert.ErrorAs(t, err, new(*safenet.RefusedError))
		})
	}
	assert.Empty(t, fn.Asked(), "the custom dialer was never called")
	assert.Empty(t, rc.Hits())
}
