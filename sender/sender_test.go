package sender_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/sender"
)

// loopbackPort returns the port of a loopback test server.
func loopbackPort(t testing.TB, srv *httptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	return port
}

// TestGuardRealDials dials real loopback receivers, by address and by a hostname that
// resolves to loopback, under each policy.
func TestGuardRealDials(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	port := loopbackPort(t, rc.Server)
	urls := []string{rc.URL, "http://localhost:" + port + "/hook"}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		rc6 := &sndReceiver{}
		rc6.Server = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
		rc6.Listener = ln
		rc6.Start()
		t.Cleanup(rc6.Close)
		urls = append(urls, rc6.URL)
	}
	cases := []struct {
		name string
		cfg  sender.Config
		ok   bool
	}{
		{"default", sender.Config{AllowHTTP: true}, false},
		{"allow-list elsewhere", sender.Config{AllowHTTP: true, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, false},
		{"AllowPrivate", sender.Config{AllowHTTP: true, AllowPrivate: true}, true},
		{"allow-list", sender.Config{AllowHTTP: true, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, true},
	}
	for _, tc := range cases {
		for _, u := range urls {
			t.Run(tc.name+" "+u, func(t *testing.T) {
				tc.cfg.Retry = *fastRetry(3)
				s, err := sender.New(tc.cfg)
				require.NoError(t, err)
				defer s.CloseIdleConnections()
				before := len(rc.Hits())
				res, err := s.Send(context.Background(), sender.Endpoint{URL: u}, sndEvent(t, "envelope-sent"))
				if tc.ok {
					require.NoError(t, err)
					assert.Len(t, rc.Hits(), before+1)
					return
				}
				require.Error(t, err)
				assert.ErrorIs(t, err, sender.ErrRefusedDestination)
				require.Len(t, res.Attempts, 1, "a refusal is not retried")
				assert.Equal(t, sender.ClassRefused, res.Attempts[0].Class)
				assert.Contains(t, res.Attempts[0].Err.Error(), "loopback")
				assert.Contains(t, res.Attempts[0].Err.Error(), "set Config.AllowPrivate", "the refusal names its remedy")
				assert.Len(t, rc.Hits(), before, "nothing reached the receiver")
			})
		}
	}
}

// fakeNet is an *http.Transport dialer that pretends every connection goes to the IP
// address it is asked for (or to lie, when set), while actually connecting to a loopback
// receiver: the guard's check of custom dialers sees the pretended address, and no
// traffic leaves the machine. It records what it is asked to dial and refuses host names:
// the guard hands a custom dialer IP literals only.
type fakeNet struct {
	target string // loopback host:port really dialled
	lie    netip.Addr
	down   map[netip.Addr]bool // addresses that fail to connect
	mu     sync.Mutex
	asked  []string
}

type fakeConn struct {
	net.Conn
	remote net.Addr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.remote }

// Asked returns the addresses the dialer was asked for, oldest first.
func (f *fakeNet) Asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

func (f *fakeNet) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.asked = append(f.asked, addr)
	f.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("fakeNet: asked to dial %q, not an IP literal", addr)
	}
	if f.down[ap.Addr()] {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", f.target)
	if err != nil {
		return nil, err
	}
	ip := ap.Addr()
	if f.lie.IsValid() {
		ip = f.lie
	}
	return fakeConn{Conn: conn, remote: &net.TCPAddr{IP: ip.AsSlice(), Port: int(ap.Port())}}, nil
}

// TestGuardMatrixThroughSender sends to every address class through the sender (with a
// client whose dialer pretends to reach that address): public ones are delivered, the
// others refused, and AllowPrivate admits all but metadata, multicast, broadcast and
// unspecified addresses.
func TestGuardMatrixThroughSender(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	fn := &fakeNet{target: rc.Listener.Addr().String()}
	resolver := fakeResolver(t, map[string][]netip.Addr{
		"hooks.public.example":    {netip.MustParseAddr("93.184.216.34")},
		"internal.corp.example":   {netip.MustParseAddr("10.1.2.3")}, // a hostname resolving to a private address
		"rebind.attacker.example": {netip.MustParseAddr("169.254.169.254")},
	})
	cases := []struct {
		host    string
		public  bool
		private bool // admitted by AllowPrivate
	}{
		{"hooks.public.example", true, true},
		{"93.184.216.34", true, true},
		{"[2606:4700:4700::1111]", true, true},
		{"[64:ff9b::808:808]", true, true},
		{"internal.corp.example", false, true},
		{"rebind.attacker.example", false, false},
		{"127.0.0.1", false, true},
		{"127.1.2.3", false, true},
		{"[::1]", false, true},
		{"10.0.0.1", false, true},
		{"172.16.5.4", false, true},
		{"192.168.0.10", false, true},
		{"169.254.10.10", false, true},
		{"169.254.169.254", false, false},
		{"100.64.1.1", false, true},
		{"[fd00::1]", false, true},
		{"[fe80::1]", false, true},
		{"[::ffff:127.0.0.1]", false, true},
		{"[::ffff:10.0.0.1]", false, true},
		{"[::ffff:169.254.169.254]", false, false},
		{"[::10.0.0.1]", false, true},
		{"[64:ff9b::a00:1]", false, true},
		{"[64:ff9b::7f00:1]", false, true},
		{"[2002:a00:1::1]", false, true},
		{"[2002:c0a8:101::1]", false, true},
		{"224.0.0.1", false, false},
		{"[ff02::1]", false, false},
		{"0.0.0.0", false, false},
		{"[::]", false, false},
		{"255.255.255.255", false, false},
		{"0.1.2.3", false, true},
		{"192.0.2.1", false, true},
		{"198.18.0.1", false, true},
		{"[2001:db8::1]", false, true},
	}
	for _, allowPrivate := range []bool{false, true} {
		s, err := sender.New(sender.Config{
			HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: fn.DialContext}},
			AllowHTTP:    true,
			AllowPrivate: allowPrivate,
			Resolver:     resolver,
			Retry:        *fastRetry(2),
		})
		require.NoError(t, err)
		for _, tc := range cases {
			t.Run(fmt.Sprintf("AllowPrivate=%v/%s", allowPrivate, tc.host), func(t *testing.T) {
				before := len(rc.Hits())
				res, err := s.Send(context.Background(), sender.Endpoint{URL: "http://" + tc.host + ":8080/hook"}, sndEvent(t, "envelope-sent"))
				want := tc.public || (allowPrivate && tc.private)
				if want {
					require.NoError(t, err)
					assert.Len(t, rc.Hits(), before+1)
					return
				}
				require.Error(t, err)
				assert.ErrorIs(t, err, sender.ErrRefusedDestination)
				assert.Len(t, res.Attempts, 1)
				assert.Equal(t, sender.ClassRefused, res.Attempts[0].Class)
				assert.Len(t, rc.Hits(), before, "no request written")
			})
		}
		s.CloseIdleConnections()
	}
	for _, a := range fn.Asked() {
		_, err := netip.ParseAddrPort(a)
		assert.NoError(t, err, "the dialer is handed IP literals only")
	}
}

func TestHTTPSByDefault(t *testing.T) {
	t.Parallel()
	plain := newSndReceiver(t, nil, nil)
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

	s, err := sender.New(sender.Config{AllowPrefixes: loop})
	require.NoError(t, err)
	res, err := s.Send(context.Background(), sender.Endpoint{URL: plain.URL}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrPlainHTTP)
	assert.ErrorIs(t, err, sender.ErrRefusedDestination)
	assert.Len(t, res.Attempts, 0, "refused before any attempt")
	assert.Empty(t, plain.Hits())

	// https with the server's certificate trusted: the user's TLS settings are kept, the
	// guard is installed in a clone of the transport.
	rcTLS := &sndReceiver{}
	rcTLS.Server = httptest.NewTLSServer(http.HandlerFunc(rcTLS.serve))
	t.Cleanup(rcTLS.Close)
	client := rcTLS.Client()
	userTransport := client.Transport.(*http.Transport)
	userDial := fmt.Sprintf("%p", userTransport.DialContext)
	for _, tc := range []struct {
		prefixes []netip.Prefix
		ok       bool
	}{{nil, false}, {loop, true}} {
		s, err := sender.New(sender.Config{HTTPClient: client, AllowPrefixes: tc.prefixes})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), sender.Endpoint{URL: rcTLS.URL}, sndEvent(t, "envelope-sent"))
		if tc.ok {
			assert.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, sender.ErrRefusedDestination)
		}
		s.CloseIdleConnections()
	}
	assert.Len(t, rcTLS.Hits(), 1)
	assert.Equal(t, userDial, fmt.Sprintf("%p", userTransport.DialContext), "the caller's transport is not modified")
}

func TestBasicOverPlainHTTP(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	pw := auth.NewPassword("hunter2-SECRET")
	cases := []struct {
		name          string
		insecureBasic bool
		authAllows    bool
		ok            bool
	}{
		{"refused by the sender", false, true, false},
		{"refused by auth.Basic", true, false, false},
		{"both allow", true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := loopbackSender(t, sender.Config{AllowInsecureBasic: tc.insecureBasic})
			before := len(rc.Hits())
			res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL, Credentials: auth.Basic("acme", pw, tc.authAllows)}, sndEvent(t, "envelope-sent"))
			if tc.ok {
				require.NoError(t, err)
				user, pass, ok := (&http.Request{Header: rc.Hits()[before].Header}).BasicAuth()
				assert.True(t, ok)
				assert.Equal(t, "acme", user)
				assert.Equal(t, "hunter2-SECRET", pass)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, sender.ErrRefusedDestination)
			assert.Equal(t, []sender.Class{sender.ClassRefused}, classes(res))
			assert.Len(t, rc.Hits(), before)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

type countingRT struct {
	next http.RoundTripper
	n    atomic.Int64
	ctxs sync.Map
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if v := r.Context().Value(obsKey{}); v != nil {
		c.ctxs.Store(v, true)
	}
	return c.next.RoundTrip(r)
}

func TestHTTPClientRules(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, nil)
	ev := sndEvent(t, "envelope-sent")

	t.Run("foreign RoundTripper refused", func(t *testing.T) {
		_, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: &countingRT{next: http.DefaultTransport}}})
		assert.ErrorIs(t, err, sender.ErrUnguardedTransport)
	})
	t.Run("proxy refused", func(t *testing.T) {
		_, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}})
		assert.ErrorIs(t, err, sender.ErrUnguardedTransport)
	})
	t.Run("DialTLSContext refused", func(t *testing.T) {
		_, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: &http.Transport{
			DialTLSContext: func(context.Context, string, string) (net.Conn, error) { return nil, nil }}}})
		assert.ErrorIs(t, err, sender.ErrUnguardedTransport)
	})
	t.Run("WrapTransport wraps the guarded transport", func(t *testing.T) {
		var wrapper *countingRT
		wrap := func(rt http.RoundTripper) http.RoundTripper { wrapper = &countingRT{next: rt}; return wrapper }
		s, err := sender.New(sender.Config{AllowHTTP: true, WrapTransport: wrap})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, ev)
		assert.ErrorIs(t, err, sender.ErrRefusedDestination, "the guard is under the wrapper")
		assert.Equal(t, int64(1), wrapper.n.Load())

		s, err = sender.New(sender.Config{AllowHTTP: true, AllowPrivate: true, WrapTransport: wrap})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, ev)
		assert.NoError(t, err)
		assert.Equal(t, int64(1), wrapper.n.Load())
	})
	t.Run("GuardedTransport on NewTransport", func(t *testing.T) {
		cfg := sender.Config{AllowPrivate: true}
		rt := &countingRT{next: sender.NewTransport(cfg)}
		s, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: rt}, GuardedTransport: true, AllowHTTP: true})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, ev)
		assert.NoError(t, err)
		assert.Equal(t, int64(1), rt.n.Load())

		strict := &countingRT{next: sender.NewTransport(sender.Config{})}
		s, err = sender.New(sender.Config{HTTPClient: &http.Client{Transport: strict}, GuardedTransport: true, AllowHTTP: true})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, ev)
		assert.ErrorIs(t, err, sender.ErrRefusedDestination)
	})
	t.Run("a client that follows redirects does not here", func(t *testing.T) {
		redir := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, rc.URL, http.StatusFound)
		})
		before := len(rc.Hits())
		follow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		s, err := sender.New(sender.Config{HTTPClient: follow, AllowHTTP: true, AllowPrivate: true})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), sender.Endpoint{URL: redir.URL}, ev)
		assert.ErrorIs(t, err, sender.ErrRedirect)
		assert.Len(t, rc.Hits(), before)
		assert.NotNil(t, follow.CheckRedirect, "the caller's client is not modified")
	})
	t.Run("nil Transport: the guarded transport", func(t *testing.T) {
		s, err := sender.New(sender.Config{HTTPClient: &http.Client{Timeout: 5 * time.Second}, AllowHTTP: true})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, ev)
		assert.ErrorIs(t, err, sender.ErrRefusedDestination)
	})
	t.Run("invalid retry policy", func(t *testing.T) {
		_, err := sender.New(sender.Config{Retry: sender.RetryPolicy{MaxAttempts: -1, MaxElapsedTime: -1}})
		assert.ErrorIs(t, err, sender.ErrInvalidPolicy)
		_, err = sender.New(sender.Config{AllowPrefixes: []netip.Prefix{{}}})
		assert.Error(t, err)
	})
}

// obsKey is the context key the test observer adds.
type obsKey struct{}

type recObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *recObserver) add(s string) { o.mu.Lock(); o.events = append(o.events, s); o.mu.Unlock() }

// hooks returns a DeliveryObserver whose every Sender hook records into o.
func (o *recObserver) hooks() sender.DeliveryObserver {
	return sender.DeliveryObserver{
		AttemptStarted: func(ctx context.Context, info sender.AttemptInfo) context.Context {
			o.add(fmt.Sprintf("started %s %d", info.EventType, info.Number))
			return context.WithValue(ctx, obsKey{}, info.Number)
		},
		AttemptFinished: func(ctx context.Context, info sender.AttemptInfo, a sender.Attempt) {
			o.add(fmt.Sprintf("finished %d %d %s ctx=%v", info.Number, a.Status, a.Class, ctx.Value(obsKey{})))
		},
		Delivered: func(_ context.Context, r *sender.Result) {
			o.add(fmt.Sprintf("delivered %s %d", r.Endpoint, len(r.Attempts)))
		},
		Failed: func(_ context.Context, r *sender.Result, err error) {
			o.add(fmt.Sprintf("failed %s %d %v", r.Endpoint, len(r.Attempts), err != nil))
		},
	}
}

func TestObserver(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, statuses(500, 200))
	obs := &recObserver{}
	var wrapper *countingRT
	s := loopbackSender(t, sender.Config{Observer: obs.hooks(), WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
		wrapper = &countingRT{next: rt}
		return wrapper
	}})
	_, err := s.Send(context.Background(), sender.Endpoint{ID: "crm", URL: rc.URL}, sndEvent(t, "envelope-sent"))
	require.NoError(t, err)
	gone := newSndReceiver(t, nil, statuses(410))
	_, err = s.Send(context.Background(), sender.Endpoint{ID: "old", URL: gone.URL}, sndEvent(t, "envelope-sent"))
	require.Error(t, err)
	assert.Equal(t, []string{
		"started envelope-sent 1", "finished 1 500 retryable ctx=1",
		"started envelope-sent 2", "finished 2 200 acknowledged ctx=2",
		"delivered crm 2",
		"started envelope-sent 1", "finished 1 410 gone ctx=1",
		"failed old 1 true",
	}, obs.events)
	for _, n := range []int{1, 2} {
		_, ok := wrapper.ctxs.Load(n)
		assert.True(t, ok, "the request of attempt %d carries the context AttemptStarted returned", n)
	}
}

// TestDeliveryObserverNilHooksAreSkipped: an observer with only some hooks set gets
// those calls, the nil ones are skipped, and an AttemptStarted that returns nil leaves
// the attempt's context as it was.
func TestDeliveryObserverNilHooksAreSkipped(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, statuses(500, 200, 410))
	var finished []int
	var mu sync.Mutex
	s := loopbackSender(t, sender.Config{Observer: sender.DeliveryObserver{
		AttemptStarted: func(context.Context, sender.AttemptInfo) context.Context { return nil },
		AttemptFinished: func(_ context.Context, _ sender.AttemptInfo, a sender.Attempt) {
			mu.Lock()
			finished = append(finished, a.Status)
			mu.Unlock()
		},
	}})
	res, err := s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, sndEvent(t, "envelope-sent"))
	require.NoError(t, err)
	assert.True(t, res.Delivered)
	_, err = s.Send(context.Background(), sender.Endpoint{URL: rc.URL}, sndEvent(t, "envelope-sent"))
	assert.ErrorIs(t, err, sender.ErrGone)
	assert.Equal(t, []int{500, 200, 410}, finished)
}

// TestSecretsNeverLeak fails deliveries in every way with a secret in the URL's query, a
// bearer token and a signing key, and looks for them in errors, results and logs.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	keys := newSndKeys(t, 1)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := loopbackSender(t, sender.Config{Logger: logger})
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	urls := []string{
		newSndReceiver(t, nil, statuses(500)).URL,
		newSndReceiver(t, nil, statuses(403)).URL,
		newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1/?token=SECRET-LOCATION", http.StatusFound)
		}).URL,
		downURL,
	}
	var seen []string
	for _, u := range urls {
		ep := sender.Endpoint{URL: u + "/hook/SECRET-PATH?token=SECRET-QUERY", Keys: keys.set,
			Credentials: auth.Bearer(auth.NewPassword("SECRET-TOKEN")), Retry: fastRetry(2)}
		res, err := s.Send(context.Background(), ep, sndEvent(t, "envelope-sent"))
		require.Error(t, err)
		seen = append(seen, err.Error(), fmt.Sprintf("%+v %#v", res, res), fmt.Sprintf("%+v", err))
		for _, a := range res.Attempts {
			if a.Err != nil {
				seen = append(seen, a.Err.Error())
			}
		}
	}
	// A URL that does not parse.
	_, err := s.Send(context.Background(), sender.Endpoint{URL: "https://exa mple.com/?token=SECRET-BAD"}, sndEvent(t, "envelope-sent"))
	require.Error(t, err)
	seen = append(seen, err.Error())
	logMu.Lock()
	seen = append(seen, logs.String())
	logMu.Unlock()
	assert.Contains(t, seen[len(seen)-1], `"msg":"hookkit: attempt"`, "attempts are logged at debug level")
	for _, text := range seen {
		assert.NotContains(t, text, "SECRET")
		assert.NotContains(t, text, strings.TrimPrefix(keys.texts[0], "whsec_"))
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestDeliveryErrorMessage(t *testing.T) {
	e := &sender.DeliveryError{EventID: "evt1", Endpoint: "crm", Kind: sender.ErrExhausted, Attempts: 3, Status: 503, Err: fmt.Errorf("status 503 Service Unavailable")}
	assert.Equal(t, "hookkit/sender: delivery of event evt1 to crm failed after 3 attempt(s): retries exhausted: status 503 Service Unavailable", e.Error())
	e = &sender.DeliveryError{EventID: "evt1", Endpoint: "crm", Kind: sender.ErrInvalidEvent}
	assert.Equal(t, "hookkit/sender: delivery of event evt1 to crm failed: invalid event", e.Error())
	assert.ErrorIs(t, e, sender.ErrInvalidEvent)
	for c, name := range map[sender.Class]string{sender.ClassAcknowledged: "acknowledged", sender.ClassRetryable: "retryable",
		sender.ClassPermanent: "permanent", sender.ClassGone: "gone", sender.ClassRefused: "refused",
		sender.ClassCredentials: "credentials", sender.ClassRedirect: "redirect", sender.Class(0): "Class(0)"} {
		assert.Equal(t, name, c.String())
	}
	// An endpoint without ID shows as its host, never its path or query.
	s := loopbackSender(t, sender.Config{})
	_, err := s.Send(context.Background(), sender.Endpoint{URL: "ftp://files.example:21/x?k=v"}, sndEvent(t, "envelope-sent"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "to files.example:21 failed")
}
