package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/pgseen"
	"github.com/hookkit/hookkit/receiver/redisseen"
)

// seenStoreUsage documents listen's --seen-store.
const seenStoreUsage = "where the ids of handled deliveries are kept, shared by the replicas of a listener: `DSN` " +
	"redis://[:PASS@]HOST:PORT/DB (?hookkit_prefix=P, default hookkit:seen:), " +
	"postgres://USER:PASS@HOST:PORT/DB (?hookkit_schema=NAME, default hookkit); memory: this process only"

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
	case kind == "postgres" || kind == "postgresql":
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, nil, usagef("--seen-store postgres://…: not a valid connection URL")
		}
		password, _ := u.User.Password()
		q := u.Query()
		cfg := pgseen.Config{Schema: q.Get("hookkit_schema")}
		q.Del("hookkit_schema")
		u.RawQuery = q.Encode()
		pc, err := pgxpool.ParseConfig(u.String())
		if err != nil {
			return nil, nil, usagef("--seen-store postgres://…: not a valid connection URL")
		}
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to the seen-id store: %s", redact(err.Error(), password))
		}
		s, err := pgseen.New(ctx, pool, cfg)
		if err != nil {
			pool.Close()
			return nil, nil, fmt.Errorf("opening the seen-id store: %s", redact(err.Error(), password))
		}
		return s, pool.Close, nil
	}
	return nil, nil, usagef("--seen-store: unknown kind of store (want memory, redis://… or postgres://…)")
}
