package redisseen_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/redisseen"
	"github.com/hookkit/hookkit/receiver/seentest"
)

func TestConformance(t *testing.T) {
	c := newClient(t)
	seentest.Run(t, func(t *testing.T) receiver.SeenStore {
		return newStore(t, c, freshPrefix(t, c))
	})
}

func TestNew(t *testing.T) {
	_, err := redisseen.New(nil, redisseen.Config{})
	require.ErrorIs(t, err, redisseen.ErrInvalidConfig)

	c := newClient(t)
	s, err := redisseen.New(c, redisseen.Config{})
	require.NoError(t, err)
	id := "redisseen-test-" + freshPrefix(t, c) // under the default prefix: delete it after
	t.Cleanup(func() { _ = c.Del(context.Background(), redisseen.DefaultPrefix+id).Err() })
	assert.Equal(t, "hookkit:seen:"+id, s.Key(id), "the zero Config's prefix")
	res, tok, err := s.Reserve(context.Background(), id, time.Minute)
	require.NoError(t, err)
	require.Equal(t, receiver.Reserved, res)
	assert.Equal(t, "r:"+tok, c.Get(context.Background(), "hookkit:seen:"+id).Val())
}

// TestKeyLayout pins the layout doc.go documents: one key per id, prefix+id, holding
// "r:"+token with the lease as its expiry, then "seen" with the retention.
func TestKeyLayout(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	prefix := freshPrefix(t, c)
	s := newStore(t, c, prefix)
	assert.Equal(t, prefix+"evt/1 ünï", s.Key("evt/1 ünï"), "ids are used verbatim")

	start := time.Now()
	res, tok, err := s.Reserve(ctx, "evt/1 ünï", time.Hour+time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, receiver.Reserved, res)
	assert.Regexp(t, `^[0-9a-f]{32}$`, tok)
	assert.Equal(t, "r:"+tok, c.Get(ctx, prefix+"evt/1 ünï").Val())
	pttl := c.PTTL(ctx, prefix+"evt/1 ünï").Val()
	assert.LessOrEqual(t, pttl, time.Hour+time.Millisecond, "the lease, rounded up")
	assert.Greater(t, pttl, time.Hour+time.Millisecond-time.Since(start)-time.Millisecond)

	start = time.Now()
	require.NoError(t, s.Commit(ctx, "evt/1 ünï", tok, 10*time.Minute))
	assert.Equal(t, "seen", c.Get(ctx, prefix+"evt/1 ünï").Val())
	pttl = c.PTTL(ctx, prefix+"evt/1 ünï").Val()
	assert.LessOrEqual(t, pttl, 10*time.Minute)
	assert.Greater(t, pttl, 10*time.Minute-time.Since(start)-time.Millisecond)

	keys, err := c.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{prefix + "evt/1 ünï"}, keys, "nothing but the id's key")
}

// TestTwoReplicas delivers every id six times at once, three times to each of two replicas
// (two clients with their own connections), as a load balancer spreads a sender's retries;
// the first handler run of every other id fails (the sender retries after a 5xx). Each id's
// handler must succeed exactly once and never run twice at the same time.
func TestTwoReplicas(t *testing.T) {
	const ids, perReplica = 200, 3
	c1, c2 := newClient(t), newClient(t)
	prefix := freshPrefix(t, c1)
	replicas := []*redisseen.Store{newStore(t, c1, prefix), newStore(t, c2, prefix)}

	var (
		running   [ids]atomic.Int32 // handler runs of the id under way
		succeeded [ids]atomic.Int32
		failed    [ids]atomic.Int32
	)
	deadline := time.Now().Add(20 * time.Second)
	deliver := func(s *redisseen.Store, i int) error {
		ctx := context.Background()
		id := fmt.Sprint("evt_", i)
		for time.Now().Before(deadline) {
			res, tok, err := s.Reserve(ctx, id, time.Minute)
			if err != nil {
				return err
			}
			switch res {
			case receiver.AlreadySeen:
				return nil // 204: the sender stops
			case receiver.InFlight:
				time.Sleep(time.Millisecond) // 503 with Retry-After: the sender retries
				continue
			}
			if n := running[i].Add(1); n != 1 {
				return fmt.Errorf("%s: %d handler runs at once", id, n)
			}
			fail := i%2 == 0 && failed[i].Add(1) == 1
			if !fail {
				succeeded[i].Add(1)
			}
			running[i].Add(-1)
			if fail {
				if err := s.Release(ctx, id, tok); err != nil {
					return err
				}
				continue // 500: the sender retries
			}
			return s.Commit(ctx, id, tok, time.Minute)
		}
		return fmt.Errorf("%s: still in flight at the deadline", id)
	}

	var wg sync.WaitGroup
	errs := make(chan error, ids*2*perReplica)
	start := make(chan struct{})
	for i := range ids {
		for _, s := range replicas {
			for range perReplica {
				wg.Go(func() {
					<-start
					if err := deliver(s, i); err != nil {
						errs <- err
					}
				})
			}
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range ids {
		require.EqualValues(t, 1, succeeded[i].Load(), "evt_%d: successful handler runs", i)
		if i%2 == 0 {
			require.GreaterOrEqual(t, failed[i].Load(), int32(1), "evt_%d: the failed run", i)
		}
	}
}

// TestAbandonedReservation: a replica that reserved an id and vanished (its client closed,
// no Commit, no Release) blocks the id only until the lease runs out; another replica then
// reserves and commits it.
func TestAbandonedReservation(t *testing.T) {
	ctx := context.Background()
	const lease = 200 * time.Millisecond
	c1, c2 := newClient(t), newClient(t)
	prefix := freshPrefix(t, c2)
	gone, alive := newStore(t, c1, prefix), newStore(t, c2, prefix)

	start := time.Now()
	res, _, err := gone.Reserve(ctx, "evt_1", lease)
	require.NoError(t, err)
	require.Equal(t, receiver.Reserved, res)
	require.NoError(t, c1.Close()) // the replica dies mid-delivery

	for {
		res, tok, err := alive.Reserve(ctx, "evt_1", time.Minute)
		elapsed := time.Since(start)
		require.NoError(t, err)
		if res == receiver.Reserved {
			require.GreaterOrEqual(t, elapsed, lease-2*time.Millisecond, "reserved again before the lease ran out")
			require.NoError(t, alive.Commit(ctx, "evt_1", tok, time.Minute))
			break
		}
		require.Equal(t, receiver.InFlight, res)
		require.Less(t, elapsed, lease+2*time.Second, "the abandoned reservation outlived its lease")
		time.Sleep(5 * time.Millisecond)
	}
	res, _, err = alive.Reserve(ctx, "evt_1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, receiver.AlreadySeen, res)
}

func TestUnexpectedValue(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	prefix := freshPrefix(t, c)
	s := newStore(t, c, prefix)
	require.NoError(t, c.Set(ctx, prefix+"evt_1", "someone else's", time.Minute).Err())
	res, tok, err := s.Reserve(ctx, "evt_1", time.Minute)
	require.ErrorIs(t, err, redisseen.ErrUnexpectedValue)
	assert.Zero(t, res)
	assert.Empty(t, tok)
	assert.Equal(t, "someone else's", c.Get(ctx, prefix+"evt_1").Val(), "left alone")

	// A key of another type: Redis's error comes back wrapped.
	require.NoError(t, c.RPush(ctx, prefix+"evt_2", "x").Err())
	_, _, err = s.Reserve(ctx, "evt_2", time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WRONGTYPE")
	var redisErr redis.Error
	assert.ErrorAs(t, err, &redisErr)
}

// vanishHook makes the key of an id disappear between Reserve's SET and GET, as an expiring
// or released key does: every time when again is set, else once. Before each of Reserve's
// SETs it puts another delivery's reservation in place, so that the SET fails.
type vanishHook struct {
	other *redis.Client // a client without the hook
	key   string
	again bool

	gets atomic.Int32
}

func (h *vanishHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *vanishHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *vanishHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "set":
			if h.again || h.gets.Load() == 0 {
				if err := h.other.Set(ctx, h.key, "r:another-delivery", time.Minute).Err(); err != nil {
					return err
				}
			}
		case "get":
			h.gets.Add(1)
			if err := h.other.Del(ctx, h.key).Err(); err != nil {
				return err
			}
		}
		return next(ctx, cmd)
	}
}

func TestReserveRetriesWhenTheKeyVanishes(t *testing.T) {
	ctx := context.Background()
	for _, again := range []bool{false, true} {
		t.Run(fmt.Sprint("again=", again), func(t *testing.T) {
			other := newClient(t)
			prefix := freshPrefix(t, other)
			hooked := newClient(t)
			h := &vanishHook{other: other, key: prefix + "evt_1", again: again}
			hooked.AddHook(h)
			s := newStore(t, hooked, prefix)

			res, tok, err := s.Reserve(ctx, "evt_1", time.Minute)
			require.NoError(t, err)
			if !again {
				// Once: the second SET finds the key gone and reserves it.
				assert.Equal(t, receiver.Reserved, res)
				assert.EqualValues(t, 1, h.gets.Load())
				assert.Equal(t, "r:"+tok, other.Get(ctx, prefix+"evt_1").Val())
				return
			}
			// Every time: after one retry the id is reported in flight (the sender retries).
			assert.Equal(t, receiver.InFlight, res)
			assert.Empty(t, tok)
			assert.EqualValues(t, 2, h.gets.Load(), "one retry, no more")
		})
	}
}

// TestErrorsDoNotCarryThePassword: the errors of a client whose URL has a password, against
// a Redis without one and against a closed port, name the operation and wrap go-redis's
// error, and the password appears nowhere.
func TestErrorsDoNotCarryThePassword(t *testing.T) {
	const password = "pw-9f3a1c77e2"
	ctx := context.Background()
	opts, err := redis.ParseURL(strings.Replace(services.Redis(t), "redis://", "redis://someone:"+password+"@", 1))
	require.NoError(t, err)
	closed := closedPort(t)
	for name, addr := range map[string]string{"wrong credentials": opts.Addr, "closed port": closed} {
		t.Run(name, func(t *testing.T) {
			o := *opts
			o.Addr = addr
			o.MaxRetries = -1
			o.DialerRetries = 1
			c := redis.NewClient(&o)
			t.Cleanup(func() { _ = c.Close() })
			s := newStore(t, c, "")
			_, _, err := s.Reserve(ctx, "evt_1", time.Minute)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `redisseen: reserve "evt_1": `)
			errs := []error{err, s.Commit(ctx, "evt_1", "tok", time.Minute), s.Release(ctx, "evt_1", "tok")}
			for _, err := range errs {
				require.Error(t, err)
				t.Log(err)
				assert.NotContains(t, err.Error(), password)
				assert.NotErrorIs(t, err, receiver.ErrLeaseLost)
			}
		})
	}
}

func TestContextIsHonoured(t *testing.T) {
	c := newClient(t)
	s := newStore(t, c, freshPrefix(t, c))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Reserve(ctx, "evt_1", time.Minute)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Commit(ctx, "evt_1", "tok", time.Minute), context.Canceled)
	assert.ErrorIs(t, s.Release(ctx, "evt_1", "tok"), context.Canceled)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
