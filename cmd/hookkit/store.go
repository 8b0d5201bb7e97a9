package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
)

// storeUsage documents --store for every command that takes it.
const storeUsage = "delivery store `DSN`: sqlite:PATH (a file, created if missing; sqlite:PATH?synchronous=normal to fsync less)"

// openedStore is a store opened from a DSN, and how to close it.
type openedStore struct {
	queue.Store
	close func() error
}

// openStore opens the store a --store DSN names. Its errors never echo the DSN, which may
// carry a password (postgres://user:pass@…).
func openStore(ctx context.Context, dsn string) (*openedStore, error) {
	if dsn == "" {
		return nil, usagef("--store is required (e.g. --store sqlite:hookkit.db)")
	}
	kind, rest, ok := strings.Cut(dsn, ":")
	if !ok {
		return nil, usagef("--store wants KIND:…, e.g. sqlite:PATH")
	}
	switch kind {
	case "sqlite":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return nil, usagef("--store sqlite: needs a PATH (sqlite:hookkit.db)")
		}
		var cfg sqlitequeue.Config
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, usagef("--store sqlite:PATH?…: invalid query")
		}
		for k, vs := range q {
			v := vs[len(vs)-1]
			switch {
			case k == "synchronous" && v == "full":
				cfg.Synchronous = sqlitequeue.SyncFull
			case k == "synchronous" && v == "normal":
				cfg.Synchronous = sqlitequeue.SyncNormal
			case k == "synchronous":
				return nil, usagef("--store sqlite:PATH?synchronous= wants full or normal")
			default:
				return nil, usagef("--store sqlite:PATH?…: unknown parameter %q (known: synchronous)", k)
			}
		}
		s, err := sqlitequeue.Open(ctx, path, cfg)
		if err != nil {
			return nil, fmt.Errorf("opening the store: %w", err)
		}
		return &openedStore{Store: s, close: s.Close}, nil
	case "postgres", "postgresql":
		return nil, usagef("--store %s://…: Postgres stores are not supported yet; use sqlite:PATH", kind)
	}
	return nil, usagef("--store: unknown kind of store (want sqlite:PATH)")
}
