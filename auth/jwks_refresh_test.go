package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedJWKS is a loopback JWKS endpoint that counts its hits, can answer with
// an error status, and can hold requests until the test releases them.
type gatedJWKS struct {
	*httptest.Server
	hits    atomic.Int32
	status  atomic.Int32  // non-zero: answer with this status instead of the keys
	entered chan struct{} // one value per request that reached a closed gate
	stop    chan struct{} // closed when the test ends: every held request returns

	mu   sync.Mutex
	gate chan struct{} // non-nil: requests wait until it is closed
	set  jose.JSONWebKeySet
}

func newGatedJWKS(t *testing.T, keys ...testKey) *gatedJWKS {
	t.Helper()
	s := &gatedJWKS{entered: make(chan struct{}, 1000), stop: make(chan struct{})}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		if gate != nil {
			s.entered <- struct{}{}
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			case <-s.stop:
				return
			}
		}
		if st := s.status.Load(); st != 0 {
			http.Error(w, "jwks unavailable", int(st))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.set)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.stop) }) // runs first: held handlers return before Close waits for them
	return s
}

func (s *gatedJWKS) setKeys(keys ...testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.Keys = nil
	for _, k := range keys {
		s.set.Keys = append(s.set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
}

// hold makes later requests wait; the returned func lets them through.
func (s *gatedJWKS) hold() (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(gate)
		})
	}
}

// awaitEntered waits until a request has reached the closed gate.
func (s *gatedJWKS) awaitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-s.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no jwks request arrived")
	}
}

// warmJWT returns a validator on clk and its gated JWKS endpoint, serving rk, once the
// validator has accepted a token of rk (its keys cached, after one fetch).
func warmJWT(t *testing.T, clk *clock, rk testKey) (*gatedJWKS, *JWTValidator) {
	t.Helper()
	srv := newGatedJWKS(t, rk)
	v := newGatedJWT(t, srv, clk)
	_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, rk, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
	return srv, v
}

func newGatedJWT(t *testing.T, srv *gatedJWKS, clk *clock, mod ...func(*JWTConfig)) *JWTValidator {
	t.Helper()
	cfg := JWTConfig{
		JWKSURL: srv.URL, AllowHTTP: true, Issuer: testIssuer, Audience: "hookkit",
		HTTPClient: srv.Client(), Now: clk.Now,
	}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := NewJWTValidator(cfg)
	require.NoError(t, err)
	return v
}

// validateAsync runs Validate in a goroutine and returns its error channel.
func validateAsync(ctx context.Context, v *JWTValidator, token string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := v.Validate(ctx, reqWithAuth("Bearer "+token))
		done <- err
	}()
	return done
}

// awaitErr returns the error of a call run in a goroutine (validateAsync, applyAsync),
// failing t when it has not returned within 10 s.
func awaitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return within 10 s")
		return nil
	}
}

func TestJWKSRefreshCompletesWhenClientHangsUp(t *testing.T) {
	rk, ek, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv, v := warmJWT(t, clk, rk)
	require.EqualValues(t, 1, srv.hits.Load())

	// ek is rotated in; an anonymous client names it and hangs up mid-fetch.
	srv.setKeys(rk, ek)
	clk.Add(2 * time.Minute)
	release := srv.hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := validateAsync(ctx, v, sign(t, ek, stdClaims(clk.Now()), nil))
	srv.awaitEntered(t)
	cancel()
	err := awaitErr(t, done)
	assert.ErrorIs(t, err, ErrValidatorUnavailable, "the client that left is told why")
	assert.ErrorIs(t, err, context.Canceled)

	// The fetch goes on without it: the new key is usable at once, with no
	// clock advance and no second fetch.
	release()
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, ek, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.hits.Load())
}

func TestJWKSFailedRefreshDoesNotDelayRotatedKey(t *testing.T) {
	rk, ek, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv, v := warmJWT(t, clk, rk)

	// A refresh for an unknown kid fails (the endpoint answers 500).
	srv.setKeys(rk, ek)
	clk.Add(2 * time.Minute)
	srv.status.Store(http.StatusInternalServerError)
	_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, ek, stdClaims(clk.Now()), nil)))
	require.ErrorIs(t, err, ErrInvalidCredentials)
	require.EqualValues(t, 2, srv.hits.Load())
	// The cached keys still work.
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, rk, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)

	// The endpoint recovers. The failure did not restart MinRefreshInterval
	// (1 minute): after the retry interval the rotated-in key is fetched.
	srv.status.Store(0)
	clk.Add(DefaultJWKSRetryInterval)
	_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+sign(t, ek, stdClaims(clk.Now()), nil)))
	require.NoError(t, err)
	assert.EqualValues(t, 3, srv.hits.Load())
}

func TestJWKSFailingEndpointFetchedOncePerRetryInterval(t *testing.T) {
	rk, ek, _ := testKeys(t)

	t.Run("no keys yet", func(t *testing.T) {
		clk := &clock{t: time.Now()}
		srv := newGatedJWKS(t, rk)
		srv.status.Store(http.StatusInternalServerError)
		v := newGatedJWT(t, srv, clk)
		tok := sign(t, rk, stdClaims(clk.Now()), nil)
		for range 25 { // sequential
			_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
			require.ErrorIs(t, err, ErrValidatorUnavailable)
		}
		var wg sync.WaitGroup
		for range 25 { // concurrent
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
				assert.ErrorIs(t, err, ErrValidatorUnavailable)
			}()
		}
		wg.Wait()
		assert.EqualValues(t, 1, srv.hits.Load(), "50 requests, one fetch")

		clk.Add(DefaultJWKSRetryInterval - time.Second)
		_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
		require.ErrorIs(t, err, ErrValidatorUnavailable)
		assert.EqualValues(t, 1, srv.hits.Load(), "still within the retry interval")

		clk.Add(time.Second)
		_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
		require.ErrorIs(t, err, ErrValidatorUnavailable)
		assert.EqualValues(t, 2, srv.hits.Load(), "one more fetch per retry interval")

		srv.status.Store(0)
		clk.Add(DefaultJWKSRetryInterval)
		_, err = v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
		require.NoError(t, err)
		assert.EqualValues(t, 3, srv.hits.Load())
	})

	t.Run("unknown kids against cached keys", func(t *testing.T) {
		clk := &clock{t: time.Now()}
		srv, v := warmJWT(t, clk, rk)
		clk.Add(2 * time.Minute)
		srv.status.Store(http.StatusInternalServerError)
		tok := sign(t, ek, stdClaims(clk.Now()), nil)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
				assert.ErrorIs(t, err, ErrInvalidCredentials)
			}()
		}
		wg.Wait()
		assert.EqualValues(t, 2, srv.hits.Load(), "50 unknown-kid requests, one refetch")
	})

	t.Run("configured retry interval", func(t *testing.T) {
		clk := &clock{t: time.Now()}
		srv := newGatedJWKS(t, rk)
		srv.status.Store(http.StatusInternalServerError)
		v := newGatedJWT(t, srv, clk, func(c *JWTConfig) { c.RetryInterval = 3 * time.Second })
		tok := sign(t, rk, stdClaims(clk.Now()), nil)
		for i := range 10 { // one request a second for 10 seconds
			_, err := v.Validate(context.Background(), reqWithAuth("Bearer "+tok))
			require.ErrorIs(t, err, ErrValidatorUnavailable, "request %d", i)
			clk.Add(time.Second)
		}
		assert.EqualValues(t, 4, srv.hits.Load(), "fetched at 0, 3, 6 and 9 seconds")
	})
}

func TestJWKSConcurrentUnknownKidShareOneFetch(t *testing.T) {
	rk, ek, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv, v := warmJWT(t, clk, rk)

	srv.setKeys(rk, ek)
	clk.Add(2 * time.Minute)
	release := srv.hold()
	tok := sign(t, ek, stdClaims(clk.Now()), nil)

	// The client whose request started the fetch gives up.
	starterCtx, cancelStarter := context.WithCancel(context.Background())
	starter := validateAsync(starterCtx, v, tok)
	srv.awaitEntered(t)

	const n = 20
	waiters := make([]<-chan error, n)
	for i := range waiters {
		waiters[i] = validateAsync(context.Background(), v, tok)
	}
	// A waiter may stop waiting on its own context; the fetch goes on.
	impatientCtx, cancelImpatient := context.WithCancel(context.Background())
	impatient := validateAsync(impatientCtx, v, tok)
	cancelImpatient()
	err := awaitErr(t, impatient)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrValidatorUnavailable)
	cancelStarter()
	err = awaitErr(t, starter)
	assert.ErrorIs(t, err, context.Canceled)

	release()
	for i, w := range waiters {
		assert.NoError(t, awaitErr(t, w), "waiter %d", i)
	}
	assert.EqualValues(t, 2, srv.hits.Load(), "every waiter shared one fetch")
}

func TestJWKSFetchEndsAtFetchTimeout(t *testing.T) {
	rk, _, _ := testKeys(t)
	clk := &clock{t: time.Now()}
	srv := newGatedJWKS(t, rk)
	_ = srv.hold() // never released: the endpoint stalls until the test ends
	client := srv.Client()
	require.Zero(t, client.Timeout, "precondition: the client alone would wait forever")
	v := newGatedJWT(t, srv, clk, func(c *JWTConfig) { c.FetchTimeout = 200 * time.Millisecond })

	start := time.Now()
	err := awaitErr(t, validateAsync(context.Background(), v, sign(t, rk, stdClaims(clk.Now()), nil)))
	assert.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, ErrValidatorUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 1, srv.hits.Load())
}
