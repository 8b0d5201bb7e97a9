package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/testenv/services"
	"github.com/hookkit/hookkit/receiver/redisseen"
	"github.com/hookkit/hookkit/signature"
)

// reserveChildEnv makes the test binary a replica that reserves one id in the Redis seen
// store ("URL PREFIX ID"), prints "reserved", and waits to be killed.
const reserveChildEnv = "HOOKKIT_TEST_RESERVE_CHILD"

// reserveChildLease is the lease the killed replica's reservation holds.
const reserveChildLease = 3 * time.Second

func reserveChild() {
	parts := strings.Fields(os.Getenv(reserveChildEnv))
	opts, err := redis.ParseURL(parts[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := redisseen.New(redis.NewClient(opts), redisseen.Config{Prefix: parts[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, _, err := s.Reserve(context.Background(), parts[2], reserveChildLease); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("reserved")
	select {} // until SIGKILL
}

// signedPost posts body to url with the standard scheme's headers for key, and returns
// the status.
func signedPost(t *testing.T, url string, key signature.Key, id string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	require.NoError(t, signature.Standard().Sign(req.Header, signature.Message{ID: id, Timestamp: time.Now(), Body: body}, []signature.Key{key}))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// deliverUntilAcknowledged posts until a 2xx, as a sender retries a 503 (the answer while
// another replica handles the same id); it returns how many 5xx came first.
func deliverUntilAcknowledged(t *testing.T, url string, key signature.Key, id string, body []byte) int {
	t.Helper()
	retries := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		code := signedPost(t, url, key, id, body)
		if code/100 == 2 {
			return retries
		}
		require.Equal(t, http.StatusServiceUnavailable, code, "only 'in progress' is retried")
		require.True(t, time.Now().Before(deadline), "%s never acknowledged", id)
		retries++
		time.Sleep(50 * time.Millisecond) // the sender's backoff
	}
}

// drainEvents collects what a listener printed until it has been quiet for quiet.
func drainEvents(l *listener, quiet time.Duration) []map[string]any {
	var out []map[string]any
	for {
		select {
		case ev, ok := <-l.events:
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-time.After(quiet):
			return out
		}
	}
}

// TestE2EThreeReplicasShareARedisSeenStore: three `hookkit listen` replicas share one Redis
// seen-id store. Every event is delivered to all three at once (and each 503 "in progress"
// retried, as a sender would): each event is printed exactly once across the three. A
// replica killed with SIGKILL while it holds a reservation blocks the id only until its
// lease ends.
func TestE2EThreeReplicasShareARedisSeenStore(t *testing.T) {
	base := services.Redis(t)
	prefix := fmt.Sprintf("hk-e2e-%d-%d:", time.Now().UnixNano(), rand.N(1<<30))
	opts, err := redis.ParseURL(base)
	require.NoError(t, err)
	admin := redis.NewClient(opts)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := admin.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			admin.Del(ctx, keys...)
		}
		_ = admin.Close()
	})
	dsn := base + "?hookkit_prefix=" + prefix
	_, key, replicas := threeReplicasOneEachTime(t, dsn)

	// A replica that dies holding a reservation.
	ev, err := event.New("order-created", map[string]string{"n": "orphan"})
	require.NoError(t, err)
	enc, err := ev.Encode()
	require.NoError(t, err)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), reserveChildEnv+"="+base+" "+prefix+" "+ev.ID)
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "reserved\n", line)
	reservedAt := time.Now()
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	assert.Equal(t, http.StatusServiceUnavailable, signedPost(t, replicas[0].url, key, ev.ID, enc.Body(0)),
		"while the dead replica's lease runs, the id is in progress")
	deliverUntilAcknowledged(t, replicas[0].url, key, ev.ID, enc.Body(0))
	waited := time.Since(reservedAt)
	assert.Less(t, waited, reserveChildLease+2*time.Second, "blocked no longer than the lease")
	assert.GreaterOrEqual(t, waited, reserveChildLease-100*time.Millisecond)
	got := replicas[0].next(t)
	assert.Equal(t, ev.ID, got["id"])
}

// threeReplicasOneEachTime starts three `hookkit listen` replicas on the seen store dsn,
// delivers every event to all three at once (retrying each 503 "in progress", as a sender
// would), and checks that each event was printed exactly once across the three. It returns
// the secret, its key and the replicas.
func threeReplicasOneEachTime(t *testing.T, dsn string) (string, signature.Key, []*listener) {
	t.Helper()
	secret := keygen(t, "standard")
	key, err := signature.Standard().ParseKey("k", secret)
	require.NoError(t, err)
	var replicas []*listener
	for range 3 {
		replicas = append(replicas, startListen(t, "--secret", secret, "--seen-store", dsn))
	}

	const events = 60
	bodies := make(map[string][]byte, events)
	for i := range events {
		ev, err := event.New("order-created", map[string]int{"n": i})
		require.NoError(t, err)
		enc, err := ev.Encode()
		require.NoError(t, err)
		bodies[ev.ID] = enc.Body(0)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	retried := 0
	for id, body := range bodies {
		for _, l := range replicas {
			wg.Go(func() {
				n := deliverUntilAcknowledged(t, l.url, key, id, body)
				mu.Lock()
				retried += n
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	printed := map[string]int{}
	perReplica := make([]int, len(replicas))
	for i, l := range replicas {
		for _, ev := range drainEvents(l, 300*time.Millisecond) {
			printed[fmt.Sprint(ev["id"])]++
			perReplica[i]++
		}
	}
	t.Logf("%d events × 3 replicas: printed per replica %v, %d answers of 503 retried", events, perReplica, retried)
	require.Len(t, printed, events, "every event handled")
	for id, n := range printed {
		assert.Equal(t, 1, n, "%s printed once across the replicas", id)
	}
	return secret, key, replicas

}

// TestE2EThreeReplicasShareAPostgresSeenStore: the same with the Postgres seen store.
func TestE2EThreeReplicasShareAPostgresSeenStore(t *testing.T) {
	threeReplicasOneEachTime(t, storeDSN(t, "postgres"))
}
