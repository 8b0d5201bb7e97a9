package redisseen_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/receiver/redisseen"
)

// redisURL is the test Redis (services.RedisEnv), for the Example, which cannot ask for it.
var redisURL = os.Getenv(services.RedisEnv)

// TestMain leaves the Examples out when there is no test Redis, as the tests skip then, unless
// CI=true (where the Examples fail, as the tests do) or -run names what to run.
func TestMain(m *testing.M) {
	flag.Parse()
	if redisURL == "" && os.Getenv("CI") != "true" && flag.Lookup("test.run").Value.String() == "" {
		_ = flag.Set("test.run", "^Test")
		fmt.Fprintf(os.Stderr, "redisseen: no %s: the Examples need Redis and are not run\n", services.RedisEnv)
	}
	os.Exit(m.Run())
}

// newClient returns a client of the test Redis, closed at cleanup.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(services.Redis(t))
	require.NoError(t, err)
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err(), "the test Redis answers")
	return c
}

// freshPrefix returns a key prefix no other test uses, whose keys are deleted at cleanup.
func freshPrefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "hookkit-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { deleteKeys(t, c, prefix) })
	return prefix
}

// deleteKeys deletes every key under prefix (a prefix without glob characters).
func deleteKeys(t testing.TB, c *redis.Client, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			require.NoError(t, c.Unlink(ctx, batch...).Err())
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			flush()
		}
	}
	require.NoError(t, iter.Err())
	flush()
}

// newStore returns a Store on c with prefix.
func newStore(t testing.TB, c redis.UniversalClient, prefix string) *redisseen.Store {
	t.Helper()
	s, err := redisseen.New(c, redisseen.Config{Prefix: prefix})
	require.NoError(t, err)
	return s
}
