package dispatch_test

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/sender"
)

// TestSubscribeRejectsUnusableEndpoints: Subscribe parses and checks the endpoint once
// and refuses what no attempt could use, rather than dead-lettering every delivery later;
// its errors carry no credentials.
func TestSubscribeRejectsUnusableEndpoints(t *testing.T) {
	dspNoLeaks(t)
	strict, err := sender.New(sender.Config{AllowPrivate: true}) // https:// only
	require.NoError(t, err)
	d := newDispatcher(t, strict, nil, dispatch.Config{})
	for name, tc := range map[string]struct {
		ep   sender.Endpoint
		also error
	}{
		"unparsable url":               {ep: sender.Endpoint{URL: "https://hooks.example.com/%zz"}},
		"scheme not http(s)":           {ep: sender.Endpoint{URL: "ftp://hooks.example.com/x"}},
		"no host":                      {ep: sender.Endpoint{URL: "https:///x"}},
		"user information":             {ep: sender.Endpoint{URL: "https://user:pass@hooks.example.com/x"}},
		"plain http without AllowHTTP": {ep: sender.Endpoint{URL: "http://127.0.0.1:1/"}, also: sender.ErrPlainHTTP},
		"negative timeout":             {ep: sender.Endpoint{URL: "https://hooks.example.com/x", Timeout: -time.Second}},
		"invalid retry policy": {ep: sender.Endpoint{URL: "https://hooks.example.com/x", Retry: &sender.RetryPolicy{Multiplier: 0.5}},
			also: sender.ErrInvalidPolicy},
	} {
		tc.ep.ID = "x"
		err := d.Subscribe(dispatch.Subscription{Endpoint: tc.ep})
		require.ErrorIs(t, err, sender.ErrInvalidEndpoint, name)
		if tc.also != nil {
			assert.ErrorIs(t, err, tc.also, name)
		}
		assert.NotContains(t, err.Error(), "pass", name)
	}
	assert.Empty(t, d.Endpoints(), "nothing was subscribed")
	require.NoError(t, d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "ok", URL: "https://hooks.example.com/x"}}))
}

// TestNegativeMaxInFlightMeansNoBoundPerSubscription: a negative MaxInFlight, on the
// subscription or as Config's default, lets one endpoint use every worker.
func TestNegativeMaxInFlightMeansNoBoundPerSubscription(t *testing.T) {
	for name, tc := range map[string]struct{ dispatcher, sub int }{
		"Subscription.MaxInFlight": {dispatcher: 0, sub: -1},
		"Config.MaxInFlight":       {dispatcher: -1, sub: 0},
	} {
		t.Run(name, func(t *testing.T) {
			dspBubble(t, func(t *testing.T, nw *dspNet) {
				const workers = 6
				release := make(chan struct{})
				slow := nw.server(func(w http.ResponseWriter, _ dspHit, _ int) {
					<-release
					w.WriteHeader(http.StatusNoContent)
				})
				d := newDispatcher(t, nw.sender(t), nil, dispatch.Config{Workers: workers, MaxInFlight: tc.dispatcher})
				t.Cleanup(func() { close(release) }) // before the dispatcher's shutdown
				sub := dspSub(t, "slow", slow.URL, nil)
				sub.MaxInFlight = tc.sub
				require.NoError(t, d.Subscribe(sub))
				st, _ := d.Endpoint("slow")
				assert.Equal(t, workers, st.Subscription.MaxInFlight, "the bound in effect is the pool's")
				for range 2 * workers {
					_, err := d.Publish(bg, newEvent(t, "order-created"))
					require.NoError(t, err)
				}
				require.NoError(t, d.Start(bg))
				synctest.Wait()
				assert.Equal(t, int32(workers), slow.inflight.Load(), "every worker on the one endpoint")
				assert.Equal(t, int32(workers), slow.maxIn.Load())
			})
		})
	}
}

// TestDispatcherRefusesMeaninglessNegativeNumbers: a negative Workers, LeaseFor,
// PollInterval or Breaker.CoolDown has no meaning and New says so, instead of
// taking the default; the negatives that mean "none" are accepted.
func TestDispatcherRefusesMeaninglessNegativeNumbers(t *testing.T) {
	s := dspSender(t)
	for name, cfg := range map[string]dispatch.Config{
		"Workers":          {Workers: -1},
		"LeaseFor":         {LeaseFor: -time.Second},
		"PollInterval":     {PollInterval: -time.Second},
		"Breaker.CoolDown": {Breaker: dispatch.BreakerConfig{CoolDown: -time.Second}},
		"CompleteBatch":    {CompleteBatch: -1},
		"CompleteWindow":   {CompleteWindow: -time.Millisecond},
		// A window that lets leases expire while outcomes wait (issue 14).
		"CompleteWindow 2s": {CompleteWindow: 2 * time.Second, LeaseFor: 10 * time.Second}, // more than a tenth of LeaseFor
	} {
		d, err := dispatch.New(s, nil, cfg)
		assert.ErrorIs(t, err, dispatch.ErrInvalidConfig, name)
		assert.ErrorContains(t, err, name, "the error names the field")
		assert.Nil(t, d, name)
	}
	d, err := dispatch.New(nil, nil, dispatch.Config{})
	assert.ErrorIs(t, err, dispatch.ErrInvalidConfig, "a nil Sender")
	assert.Nil(t, d)
	for name, cfg := range map[string]dispatch.Config{
		"MaxInFlight: no bound per subscription": {MaxInFlight: -1},
		"Breaker.Threshold: never pause":         {Breaker: dispatch.BreakerConfig{Threshold: -1}},
		"CompleteWindow a tenth of LeaseFor":     {CompleteWindow: time.Second, LeaseFor: 10 * time.Second},
	} {
		_, err := dispatch.New(s, nil, cfg)
		assert.NoError(t, err, name)
	}
}
