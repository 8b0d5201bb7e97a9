package redisseen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookkit/hookkit/receiver"
)

// DefaultPrefix is the key prefix of a Store whose Config.Prefix is empty.
const DefaultPrefix = "hookkit:seen:"

// The values a Store writes: a reservation is reservedPrefix followed by its token, a
// committed id is seenValue.
const (
	reservedPrefix = "r:"
	seenValue      = "seen"
)

var (
	// ErrInvalidConfig is returned by New for unusable arguments.
	ErrInvalidConfig = errors.New("hookkit/redisseen: invalid config")
	// ErrUnexpectedValue is returned by Reserve when the key of an id holds a value that no
	// Store writes (another program uses the key prefix): the id is neither seen nor in
	// flight, and the Store will not overwrite what it does not own.
	ErrUnexpectedValue = errors.New("hookkit/redisseen: key holds a value this store did not write")
)

// Config configures New. The zero value is ready to use.
type Config struct {
	// Prefix is put before every id to make its key. "" means DefaultPrefix
	// ("hookkit:seen:"). Receivers that must not see each other's ids (two applications on
	// one Redis) use different prefixes; replicas of one receiver share one.
	Prefix string
}

// Store is a receiver.SeenStore kept in Redis, shared by every process that uses the same
// Redis and key prefix. It is safe for concurrent use. See the package documentation for
// the commands it sends.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ receiver.SeenStore = (*Store)(nil)

// commitScript records KEYS[1] as seen for ARGV[2] ms and returns 1 if the key held
// ARGV[1] (the caller's reservation) before, 0 otherwise.
var commitScript = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'seen', 'PX', ARGV[2])
if old == ARGV[1] then return 1 end
return 0
`)

// releaseScript deletes KEYS[1] if, and only if, it holds ARGV[1] (the caller's
// reservation), and returns the number of keys deleted.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// New returns a Store that keeps its ids in Redis through client: a *redis.Client, a
// *redis.ClusterClient, a failover client, or any other redis.UniversalClient. The client
// stays the caller's: the Store never closes it. A nil client gives an error wrapping
// ErrInvalidConfig.
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: client is nil", ErrInvalidConfig)
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: prefix}, nil
}

// Key returns the Redis key that holds id: the prefix followed by id.
func (s *Store) Key(id string) string { return s.prefix + id }

// Reserve implements receiver.SeenStore with SET key "r:"+token NX PX lease, token being
// 128 random bits. When the key exists, a GET tells a seen id from one in flight; if the
// key expired or was released between the two commands, Reserve tries once more, and
// answers InFlight if that happens again (the id is being reserved and freed right now;
// the sender retries). lease is rounded up to whole milliseconds, at least one.
func (s *Store) Reserve(ctx context.Context, id string, lease time.Duration) (receiver.ReserveResult, string, error) {
	key := s.Key(id)
	px := millis(lease)
	for attempt := 1; ; attempt++ {
		token := newToken()
		set := redis.NewBoolCmd(ctx, "set", key, reservedPrefix+token, "px", px, "nx")
		_ = s.client.Process(ctx, set)
		ok, err := set.Result()
		if err != nil {
			return 0, "", fmt.Errorf("redisseen: reserve %q: %w", id, err)
		}
		if ok {
			return receiver.Reserved, token, nil
		}
		v, err := s.client.Get(ctx, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if attempt < 2 {
				continue
			}
			return receiver.InFlight, "", nil
		case err != nil:
			return 0, "", fmt.Errorf("redisseen: reserve %q: %w", id, err)
		case v == seenValue:
			return receiver.AlreadySeen, "", nil
		case strings.HasPrefix(v, reservedPrefix):
			return receiver.InFlight, "", nil
		}
		return 0, "", fmt.Errorf("%w: key %q", ErrUnexpectedValue, key)
	}
}

// Commit implements receiver.SeenStore with a script (EVALSHA) that GETs the key, SETs it
// to "seen" PX ttl, and reports whether it held the reservation of token: if it did not,
// the id is recorded all the same and Commit returns receiver.ErrLeaseLost. ttl is rounded
// up to whole milliseconds, at least one.
func (s *Store) Commit(ctx context.Context, id, token string, ttl time.Duration) error {
	held, err := commitScript.Run(ctx, s.client, []string{s.Key(id)}, reservedPrefix+token, millis(ttl)).Int()
	if err != nil {
		return fmt.Errorf("redisseen: commit %q: %w", id, err)
	}
	if held != 1 {
		return receiver.ErrLeaseLost
	}
	return nil
}

// Release implements receiver.SeenStore with a script (EVALSHA) that DELetes the key only
// if it holds the reservation of token.
func (s *Store) Release(ctx context.Context, id, token string) error {
	if token == "" {
		return nil // no reservation has the empty token
	}
	if err := releaseScript.Run(ctx, s.client, []string{s.Key(id)}, reservedPrefix+token).Err(); err != nil {
		return fmt.Errorf("redisseen: release %q: %w", id, err)
	}
	return nil
}

// millis returns d in whole milliseconds, rounded up, at least 1: Redis expiry times have
// millisecond resolution, and rounding down could free an id before its lease or
// retention has run.
func millis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond > 0 {
		ms++
	}
	return max(ms, 1)
}

// newToken returns 128 random bits in hex. crypto/rand.Read does not fail (it aborts the
// program when the system's generator is unusable).
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
