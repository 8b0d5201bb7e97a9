package redisseen_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/redisseen"
)

// Two replicas of a listener share one Redis: a delivery retried onto the second
// replica while the first handles it gets "in flight" (503, the sender retries), and once the
// first committed, "already seen" (204, the handler does not run again). In a program the
// store goes into receiver.Config.Seen, and the receiver makes these calls.
func ExampleNew() {
	ctx := context.Background()
	opts, err := redis.ParseURL(redisURL) // e.g. "redis://127.0.0.1:6379/0"
	if err != nil {
		log.Fatal(err)
	}
	replica1, replica2 := redis.NewClient(opts), redis.NewClient(opts)
	defer replica1.Close()
	defer replica2.Close()
	cfg := redisseen.Config{Prefix: "example:seen:"}
	seen1, err := redisseen.New(replica1, cfg)
	if err != nil {
		log.Fatal(err)
	}
	seen2, err := redisseen.New(replica2, cfg)
	if err != nil {
		log.Fatal(err)
	}
	id := fmt.Sprint("evt_", time.Now().UnixNano()) // the delivery id
	defer replica1.Del(ctx, seen1.Key(id))

	res, token, err := seen1.Reserve(ctx, id, time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replica 1:", res)
	res, _, _ = seen2.Reserve(ctx, id, time.Minute)
	fmt.Println("replica 2 meanwhile:", res)

	// The handler succeeded on replica 1.
	if err := seen1.Commit(ctx, id, token, 10*time.Minute); err != nil {
		log.Fatal(err)
	}
	res, _, _ = seen2.Reserve(ctx, id, time.Minute)
	fmt.Println("replica 2 after the commit:", res)

	_ = receiver.Config{Seen: seen1} // how a receiver is given the store
	// Output:
	// replica 1: reserved
	// replica 2 meanwhile: in-flight
	// replica 2 after the commit: already-seen
}
