package dispatch_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// registryKey returns a new random 32-byte registry key.
func registryKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, dispatch.SpecKeySize)
	_, _ = rand.Read(k)
	return k
}

// secretSpec is a spec with every kind of secret, each a distinct recognisable string.
func secretSpec() dispatch.EndpointSpec {
	return dispatch.EndpointSpec{ID: "acme", URL: "https://hooks.acme.example/path-secret-url",
		Secrets:     []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
		Filter:      []string{"order.*"},
		Ordered:     true,
		MaxInFlight: 3,
		Timeout:     5 * time.Second,
		OAuth2: &dispatch.OAuth2Spec{TokenURL: "https://login.acme.example/token", ClientID: "client-id-1",
			ClientSecret: auth.NewPassword("oauth-client-secret-xyz"), Scopes: []string{"hooks"}},
	}
}

// TestSpecCodecSealsSecrets: with a key, the stored bytes hold none of the spec's
// secrets, nor its URL or client ID; they open with the key (or as an old key) into the
// same spec, not with another key, not as another endpoint's record, not altered. Bearer
// and Basic secrets are sealed too.
func TestSpecCodecSealsSecrets(t *testing.T) {
	key := registryKey(t)
	c := dispatch.SpecCodec{Key: key}
	spec := secretSpec()
	blob, err := c.Seal(spec)
	require.NoError(t, err)
	for _, s := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "oauth-client-secret-xyz",
		"path-secret-url", "client-id-1"} {
		assert.False(t, bytes.Contains(blob, []byte(s)), "%q in the sealed bytes", s)
	}
	again, err := c.Seal(spec)
	require.NoError(t, err)
	assert.NotEqual(t, blob, again, "a fresh nonce per Seal")

	got, err := c.Open("acme", blob)
	require.NoError(t, err)
	assert.Equal(t, spec.URL, got.URL)
	assert.Equal(t, spec.Filter, got.Filter)
	assert.Equal(t, spec.Ordered, got.Ordered)
	assert.Equal(t, spec.MaxInFlight, got.MaxInFlight)
	assert.Equal(t, spec.Timeout, got.Timeout)
	require.Len(t, got.Secrets, 1)
	assert.Equal(t, spec.Secrets[0].Reveal(), got.Secrets[0].Reveal())
	require.NotNil(t, got.OAuth2)
	assert.Equal(t, "oauth-client-secret-xyz", got.OAuth2.ClientSecret.Reveal())
	assert.Equal(t, spec.OAuth2.Scopes, got.OAuth2.Scopes)

	_, err = dispatch.SpecCodec{Key: registryKey(t)}.Open("acme", blob)
	assert.ErrorIs(t, err, dispatch.ErrSpecKey, "another key")
	_, err = dispatch.SpecCodec{}.Open("acme", blob)
	assert.ErrorIs(t, err, dispatch.ErrSpecKey, "no key")
	_, err = c.Open("other", blob)
	assert.ErrorIs(t, err, dispatch.ErrSpecKey, "moved to another endpoint's record")
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	_, err = c.Open("acme", bad)
	assert.ErrorIs(t, err, dispatch.ErrSpecKey, "altered")
	_, err = c.Open("acme", []byte("garbage"))
	assert.ErrorIs(t, err, dispatch.ErrInvalidSpec)
	rotated := dispatch.SpecCodec{Key: registryKey(t), OldKeys: [][]byte{key}}
	got, err = rotated.Open("acme", blob)
	require.NoError(t, err, "an old key opens")
	assert.Equal(t, spec.URL, got.URL)

	creds := dispatch.EndpointSpec{ID: "b", URL: "https://x.example", Bearer: auth.NewPassword("bearer-token-abc")}
	blob, err = c.Seal(creds)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(blob, []byte("bearer-token-abc")))
	basic := dispatch.EndpointSpec{ID: "c", URL: "https://x.example", BasicUser: "u", BasicPassword: auth.NewPassword("basic-pass-abc")}
	blob, err = c.Seal(basic)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(blob, []byte("basic-pass-abc")))
	got, err = c.Open("c", blob)
	require.NoError(t, err)
	assert.Equal(t, "basic-pass-abc", got.BasicPassword.Reveal())

	for _, format := range []string{"%v", "%+v", "%#v"} {
		out := fmt.Sprintf(format, spec) + fmt.Sprintf(format, basic) + fmt.Sprintf(format, *spec.OAuth2)
		for _, secret := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "oauth-client-secret-xyz", "basic-pass-abc"} {
			assert.NotContains(t, out, secret, "a printed spec (%s)", format)
		}
	}
}

// TestSpecCodecWithoutKey: without a key, a spec with any secret is refused
// (ErrSpecSecrets) unless AllowPlaintext; one without secrets is stored in clear.
func TestSpecCodecWithoutKey(t *testing.T) {
	for name, spec := range map[string]dispatch.EndpointSpec{
		"signing": {ID: "a", URL: "https://x.example", Secrets: []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}},
		"bearer":  {ID: "a", URL: "https://x.example", Bearer: auth.NewPassword("t")},
		"basic":   {ID: "a", URL: "https://x.example", BasicUser: "u", BasicPassword: auth.NewPassword("p")},
		"oauth2":  {ID: "a", URL: "https://x.example", OAuth2: &dispatch.OAuth2Spec{ClientSecret: auth.NewPassword("s")}},
	} {
		_, err := dispatch.SpecCodec{}.Seal(spec)
		assert.ErrorIs(t, err, dispatch.ErrSpecSecrets, name)
		blob, err := dispatch.SpecCodec{AllowPlaintext: true}.Seal(spec)
		require.NoError(t, err, name)
		_, err = dispatch.SpecCodec{}.Open("a", blob)
		assert.NoError(t, err, "%s: a clear spec opens with any codec", name)
	}
	blob, err := dispatch.SpecCodec{}.Seal(dispatch.EndpointSpec{ID: "open", URL: "https://x.example/hook"})
	require.NoError(t, err, "nothing secret")
	assert.True(t, bytes.Contains(blob, []byte("https://x.example/hook")))
}

// TestSpecSubscription: a spec builds the subscription it describes (scheme, keys,
// filter, ordering, bound, timeout, credentials); conflicting credentials and bad
// secrets are ErrInvalidSpec errors that name the field and not the value.
func TestSpecSubscription(t *testing.T) {
	spec := secretSpec()
	sub, err := spec.Subscription(dispatch.SpecOptions{})
	require.NoError(t, err)
	assert.Equal(t, "acme", sub.Endpoint.ID)
	assert.Equal(t, "standard", sub.Endpoint.Scheme.Name())
	assert.Equal(t, 1, sub.Endpoint.Keys.Len())
	assert.True(t, sub.Filter.Match("order.paid"))
	assert.False(t, sub.Filter.Match("invoice.paid"))
	assert.True(t, sub.Ordered)
	assert.Equal(t, 3, sub.MaxInFlight)
	assert.Equal(t, 5*time.Second, sub.Endpoint.Timeout)
	assert.IsType(t, &auth.OAuth2{}, sub.Endpoint.Credentials)

	spec.Bearer = auth.NewPassword("t")
	_, err = spec.Subscription(dispatch.SpecOptions{})
	assert.ErrorIs(t, err, dispatch.ErrInvalidSpec, "bearer and oauth2")
	bad := dispatch.EndpointSpec{ID: "x", URL: "https://x.example", Secrets: []auth.Password{auth.NewPassword("not-a-whsec-secret")}}
	_, err = bad.Subscription(dispatch.SpecOptions{})
	require.ErrorIs(t, err, dispatch.ErrInvalidSpec)
	assert.NotContains(t, err.Error(), "not-a-whsec-secret")
	assert.Contains(t, err.Error(), "secrets[0]")
}

// TestRegistryConfig: a registry key of the wrong size is refused; Subscribe on a
// dispatcher with a registry is ErrNotEncodable (custom credentials, like any
// Subscription, cannot be stored); Register without secrets needs no key.
func TestRegistryConfig(t *testing.T) {
	s := dspSender(t)
	_, err := dispatch.New(s, nil, dispatch.Config{Registry: memqueue.NewRegistry(), RegistryKey: make([]byte, 31)})
	assert.ErrorIs(t, err, dispatch.ErrInvalidConfig)
	_, err = dispatch.New(s, nil, dispatch.Config{Registry: memqueue.NewRegistry(), RegistryCache: -1})
	assert.ErrorIs(t, err, dispatch.ErrInvalidConfig)
	d, err := dispatch.New(s, nil, dispatch.Config{Registry: memqueue.NewRegistry()})
	require.NoError(t, err)
	err = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "x", URL: "https://x.example", Credentials: customCreds{}}})
	assert.ErrorIs(t, err, dispatch.ErrNotEncodable)
	err = d.Register(t.Context(), secretSpec())
	assert.ErrorIs(t, err, dispatch.ErrSpecSecrets, "no key, no plaintext opt-in")
	require.NoError(t, d.Register(t.Context(), dispatch.EndpointSpec{ID: "open", URL: "https://x.example/hook"}))
	err = d.Register(t.Context(), dispatch.EndpointSpec{ID: "bad", URL: "ftp://x.example"})
	assert.ErrorIs(t, err, sender.ErrInvalidEndpoint, "Subscribe's checks")
	es, err := d.Registry().GetEndpoints(t.Context(), "open", "bad")
	require.NoError(t, err)
	require.Len(t, es, 1)
}

type customCreds struct{}

func (customCreds) Apply(context.Context, *http.Request) error { return nil }

// TestRegistryTwoDispatchersShareEndpointState: two dispatchers on one store and one
// registry (as two instances on one Postgres). An endpoint registered by the first is
// served by both; when it answers 410, the dispatcher that got the 410 disables it in the
// registry: Publish from either stores nothing more for it, and within one poll interval
// the other dispatcher, handed a delivery of it, dead-letters it without an attempt.
// EnableEndpoint on the second resumes it for the first within a poll interval.
func TestRegistryTwoDispatchersShareEndpointState(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		var gone atomic.Bool
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			if gone.Load() {
				w.WriteHeader(http.StatusGone)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		other := nw.server(status(http.StatusNoContent))
		store, reg := memqueue.New(memqueue.Config{}), memqueue.NewRegistry()
		key := registryKey(t)
		const poll = 10 * time.Second
		states := &dspStates{}
		cfg := dispatch.Config{Registry: reg, RegistryKey: key, PollInterval: poll, Observer: states.hooks()}
		d1 := newDispatcher(t, nw.sender(t), store, cfg)
		d2 := newDispatcher(t, nw.sender(t), store, cfg)
		ctx := context.Background()
		sec := []auth.Password{auth.NewPassword("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
		require.NoError(t, d1.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, Secrets: sec, Filter: []string{"order.*"}}))
		require.NoError(t, d1.Register(ctx, dispatch.EndpointSpec{ID: "other", URL: other.URL, Secrets: sec}))
		recs, err := reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.False(t, bytes.Contains(recs[0].Spec, []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")), "the stored spec is sealed")
		require.NoError(t, d1.Start(ctx))
		require.NoError(t, d2.Start(ctx))

		for range 4 {
			n, err := d2.Publish(ctx, newEvent(t, "order.created"))
			require.NoError(t, err)
			assert.Equal(t, 2, n, "d2 publishes to what d1 registered")
		}
		synctest.Wait()
		assert.Equal(t, 4, srv.Count())
		assert.Equal(t, 4, other.Count())

		gone.Store(true)
		_, err = d1.Publish(ctx, newEvent(t, "order.created"))
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, 5, srv.Count(), "one 410")
		recs, err = reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		assert.Equal(t, queue.EndpointDisabled, recs[0].State, "disabled in the registry")
		assert.Equal(t, "410 Gone", recs[0].Reason)
		for _, d := range []*dispatch.Dispatcher{d1, d2} {
			n, err := d.Publish(ctx, newEvent(t, "order.created"))
			require.NoError(t, err)
			assert.Equal(t, 1, n, "only the other endpoint")
		}
		time.Sleep(poll + time.Second) // both dispatchers have polled the registry
		// A delivery of the disabled endpoint reaches the store anyway (a publisher that
		// had not seen the change); whichever dispatcher leases it makes it a dead letter.
		before := srv.Count()
		ev, err := newEvent(t, "order.created").Encode()
		require.NoError(t, err)
		for i := range 6 {
			require.NoError(t, store.Enqueue(ctx, queue.Delivery{ID: "late-" + string(rune('a'+i)), EndpointID: "ep", Event: ev,
				Created: time.Now(), Due: time.Now()}))
		}
		d1.Notify()
		d2.Notify()
		synctest.Wait()
		assert.Equal(t, before, srv.Count(), "no attempt to a disabled endpoint by either")
		dead, err := listDead(d2, queue.ListFilter{EndpointID: "ep"})
		require.NoError(t, err)
		assert.Len(t, dead, 7, "the delivery that got the 410, and the 6 late ones")
		for _, del := range dead {
			assert.Equal(t, queue.DeadReasonGone, del.DeadReason)
			if del.ID[:5] == "late-" {
				assert.Empty(t, del.Attempts, "no attempt")
			}
		}
		assert.Contains(t, states.States("ep"), dispatch.EndpointDisabled, "reported by the dispatcher that disabled it")

		gone.Store(false)
		require.NoError(t, d2.EnableEndpoint("ep"))
		n, err := d1.Publish(ctx, newEvent(t, "order.created"))
		require.NoError(t, err)
		assert.Equal(t, 2, n, "enabled: published to at once (MatchEndpoints)")
		time.Sleep(poll + time.Second)
		synctest.Wait()
		assert.Equal(t, before+1, srv.Count(), "delivered again")
		st, ok := d1.Endpoint("ep")
		if ok {
			assert.Equal(t, dispatch.EndpointActive, st.State, "d1's cache follows the registry")
		}
		require.NoError(t, d1.Drain(ctx))
	})
}

// TestRegistryBreakerSharedPauseOneProbe: an endpoint failing on two dispatchers pauses
// once in the registry (failures counted across them); during the cool-down neither
// attempts it; after it exactly one probe goes (claimed by compare-and-set), and its
// success resumes the endpoint for both.
func TestRegistryBreakerSharedPauseOneProbe(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		var down atomic.Bool
		down.Store(true)
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			if down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		store, reg := memqueue.New(memqueue.Config{}), memqueue.NewRegistry()
		const poll, coolDown = time.Second, time.Minute
		cfg := dispatch.Config{Registry: reg, RegistryPlaintext: true, PollInterval: poll,
			Breaker: dispatch.BreakerConfig{Threshold: 4, CoolDown: coolDown}}
		retry := &sender.RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Second, RandomizationFactor: -1, MaxAttempts: 100, MaxElapsedTime: time.Hour}
		s := nw.newSender(t, sender.Config{Retry: *retry})
		d1 := newDispatcher(t, s, store, cfg)
		d2 := newDispatcher(t, s, store, cfg)
		ctx := context.Background()
		require.NoError(t, d1.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, MaxInFlight: 1}))
		require.NoError(t, d1.Start(ctx))
		require.NoError(t, d2.Start(ctx))
		for range 8 {
			_, err := d1.Publish(ctx, newEvent(t, "x"))
			require.NoError(t, err)
		}
		time.Sleep(3 * time.Second) // retries 1 s apart: 4 failures in 2 rounds
		synctest.Wait()
		recs, err := reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		require.Equal(t, queue.EndpointPaused, recs[0].State, "paused in the registry")
		pausedAt := recs[0].UpdatedAt
		assert.GreaterOrEqual(t, recs[0].Failures, 4)
		atPause := srv.Count()
		assert.LessOrEqual(t, atPause, 4+2, "at most the threshold plus what each dispatcher had in flight")
		time.Sleep(time.Until(pausedAt.Add(coolDown)) - time.Second)
		synctest.Wait()
		assert.Equal(t, atPause, srv.Count(), "nothing sent during the cool-down, by either")

		down.Store(false)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		recs, err = reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		assert.Equal(t, queue.EndpointActive, recs[0].State, "the probe's success resumes it")
		hits := srv.Hits()
		require.Greater(t, len(hits), atPause)
		probeAt := hits[atPause].At
		for _, h := range hits[atPause+1:] {
			assert.False(t, h.At.Equal(probeAt), "one probe: nothing else was sent at the probe's time")
		}
		require.NoError(t, d1.Drain(ctx))
		dead, err := listDead(d1, queue.ListFilter{})
		require.NoError(t, err)
		assert.Empty(t, dead, "nothing dead-lettered")
		assert.Equal(t, 8, countAcked(srv.Hits()), "every event delivered in the end")
	})
}

// countAcked counts the distinct events among hits made while the endpoint was up.
func countAcked(hits []dspHit) int {
	ids := map[string]bool{}
	for _, h := range hits {
		ids[h.ID] = true
	}
	return len(ids)
}

// TestRegistryStaleSuccessDoesNotResurrect: a dispatcher whose cache says "failing" has
// an attempt in flight when another instance disables the endpoint (written to the
// registry directly). The attempt then succeeds: the dispatcher's write of "active" is
// refused (its version is stale), it decides again from the disabled record, and the
// endpoint stays disabled.
func TestRegistryStaleSuccessDoesNotResurrect(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		var failing atomic.Bool
		failing.Store(true)
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			if failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			started <- struct{}{}
			<-release
			w.WriteHeader(http.StatusNoContent)
		})
		reg := memqueue.NewRegistry()
		retry := &sender.RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Second, RandomizationFactor: -1, MaxAttempts: 10, MaxElapsedTime: time.Hour}
		d := newDispatcher(t, nw.newSender(t, sender.Config{Retry: *retry}), memqueue.New(memqueue.Config{}),
			dispatch.Config{Registry: reg, RegistryPlaintext: true, PollInterval: time.Hour, Breaker: dispatch.BreakerConfig{Threshold: 10}})
		ctx := context.Background()
		require.NoError(t, d.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL, MaxInFlight: 1}))
		require.NoError(t, d.Start(ctx))
		_, err := d.Publish(ctx, newEvent(t, "x"))
		require.NoError(t, err)
		synctest.Wait()
		recs, err := reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		require.Equal(t, queue.EndpointFailing, recs[0].State)
		failing.Store(false)
		time.Sleep(time.Second) // the retry goes, and waits for release
		<-started
		recs, err = reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		_, err = reg.SetEndpointState(ctx, "ep", recs[0].Version, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone elsewhere", UpdatedAt: time.Now()})
		require.NoError(t, err, "another instance disables it")
		close(release)
		synctest.Wait()
		recs, err = reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		assert.Equal(t, queue.EndpointDisabled, recs[0].State, "not resurrected by a success decided on a stale version")
		assert.Equal(t, "410 Gone elsewhere", recs[0].Reason)
		st, ok := d.Endpoint("ep")
		require.True(t, ok)
		assert.Equal(t, dispatch.EndpointDisabled, st.State, "the dispatcher's cache took the current record")
	})
}

// TestRegistryOverflowRereadsBusyEndpoints: more changes between two polls than the cache
// holds (RegistryCache 1) drop the cache; an endpoint with an attempt in flight stays, read
// again: disabled meanwhile by another instance, it is cached as disabled.
func TestRegistryOverflowRereadsBusyEndpoints(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		release := make(chan struct{})
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
			<-release
			w.WriteHeader(http.StatusNoContent)
		})
		reg := memqueue.NewRegistry()
		d := newDispatcher(t, nw.sender(t), memqueue.New(memqueue.Config{}),
			dispatch.Config{Registry: reg, RegistryPlaintext: true, PollInterval: time.Second, RegistryCache: 1})
		ctx := context.Background()
		require.NoError(t, d.Register(ctx, dispatch.EndpointSpec{ID: "ep", URL: srv.URL}))
		require.NoError(t, d.Start(ctx))
		_, err := d.Publish(ctx, newEvent(t, "x"))
		require.NoError(t, err)
		synctest.Wait()
		st, ok := d.Endpoint("ep")
		require.True(t, ok)
		require.Equal(t, 1, st.InFlight)
		for _, id := range []string{"x1", "x2", "x3"} {
			_, err := reg.PutEndpoint(ctx, queue.Endpoint{ID: id, Spec: []byte("P{}"), UpdatedAt: time.Now()})
			require.NoError(t, err)
		}
		recs, err := reg.GetEndpoints(ctx, "ep")
		require.NoError(t, err)
		_, err = reg.SetEndpointState(ctx, "ep", recs[0].Version, queue.StateUpdate{State: queue.EndpointDisabled, UpdatedAt: time.Now()})
		require.NoError(t, err)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		st, ok = d.Endpoint("ep")
		require.True(t, ok, "a busy endpoint stays cached")
		assert.Equal(t, dispatch.EndpointDisabled, st.State, "read again after the overflow")
		close(release)
	})
}
