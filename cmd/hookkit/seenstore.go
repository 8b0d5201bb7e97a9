package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/redisseen"
)

// seenStoreUsage documents listen's --seen-store.
const seenStoreUsage = "where the ids of handled deliveries are kept, shared by the replicas of a listener: `DSN` " +
	"redis://[:PASS@]HOST:PORT/DB (?hookkit_prefix=P, default hookkit:seen:); \"\" or memory: this process only"

// openSeenStore opens the SeenStore a --seen-store DSN names: nil (the receiver's own
// memory store) for "" and "memory". Its errors never echo the DSN, which may carry a
// password.
func openSeenStore(ctx context.Context, dsn string) (receiver.SeenStore, func(), error) {
	kind, _, _ := strings.Cut(dsn, ":")
	switch {
	case dsn == "" || dsn == "memory":
		return nil, func() {}, nil
	case kind == "redis" || kind == "rediss":
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, nil, usagef("--seen-store redis://…: not a valid URL")
		}
		password, _ := u.User.Password()
		q := u.Query()
		prefix := q.Get("hookkit_prefix")
		q.Del("hookkit_prefix")
		u.RawQuery = q.Encode()
		opts, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, nil, usagef("--seen-store redis://…: %s", redact(err.Error(), password))
		}
		client := redis.NewClient(opts)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := client.Ping(pctx).Err(); err != nil {
			_ = client.Close()
			return nil, nil, fmt.Errorf("connecting to the seen-id store: %s", redact(err.Error(), password))
		}
		s, err := redisseen.New(client, redisseen.Config{Prefix: prefix})
		if err != nil {
			_ = client.Close()
			return nil, nil, usagef("--seen-store: %v", err)
		}
		return s, func() { _ = client.Close() }, nil
	}
	return nil, nil, usagef("--seen-store: unknown kind of store (want memory or redis://…)")
}
