package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
)

// storeUsage documents --store for every command that takes it.
const storeUsage = "delivery store `DSN`: sqlite:PATH (a file, created if missing; sqlite:PATH?synchronous=normal to fsync less, ?exclusive=true for one process alone) or postgres://USER:PASS@HOST/DB (?hookkit_schema=NAME, default hookkit)"

// openedStore is a store opened from a DSN, and how to close it. Store is a named field,
// not an embedded one: a wrapper that embedded the interface would hide the store's
// optional extensions (queue.Notifier, queue.NextDuer, queue.EndpointCounter,
// queue.Registry...) from the dispatcher and the console, which find them by type
// assertion — so pass st.Store, never st.
type openedStore struct {
	Store queue.Store
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
			case k == "exclusive" && (v == "true" || v == "false"):
				cfg.Exclusive = v == "true"
			case k == "exclusive":
				return nil, usagef("--store sqlite:PATH?exclusive= wants true or false")
			default:
				return nil, usagef("--store sqlite:PATH?…: unknown parameter %q (known: synchronous, exclusive)", k)
			}
		}
		s, err := sqlitequeue.Open(ctx, path, cfg)
		if err != nil {
			return nil, fmt.Errorf("opening the store: %w", err)
		}
		return &openedStore{Store: s, close: s.Close}, nil
	case "postgres", "postgresql":
		return openPostgres(ctx, dsn)
	}
	return nil, usagef("--store: unknown kind of store (want sqlite:PATH or postgres://…)")
}

// openPostgres opens the Postgres store of a postgres:// DSN. The DSN's own query parameter
// hookkit_schema names the schema (the others go to the driver, as libpq reads them).
func openPostgres(ctx context.Context, dsn string) (*openedStore, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" && u.Query().Get("host") == "" {
		return nil, usagef("--store postgres://…: not a valid connection URL (postgres://USER:PASS@HOST:PORT/DB)")
	}
	password, _ := u.User.Password()
	q := u.Query()
	cfg := pgqueue.Config{Schema: q.Get("hookkit_schema")}
	q.Del("hookkit_schema")
	u.RawQuery = q.Encode()
	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, usagef("--store postgres://…: not a valid connection URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connecting to the store: %s", redact(err.Error(), password))
	}
	s, err := pgqueue.New(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		if errors.Is(err, pgqueue.ErrInvalidConfig) {
			return nil, usagef("--store postgres://…?hookkit_schema=: %s", redact(err.Error(), password))
		}
		return nil, fmt.Errorf("opening the store: %s", redact(err.Error(), password))
	}
	return &openedStore{Store: s, close: func() error { s.Close(); pool.Close(); return nil }}, nil
}

// openRegistry opens the store of a DSN that must hold an endpoint registry (a Postgres
// store), for the command or flag who ("--registry", "hookkit endpoint"). It checks the DSN's
// kind before opening anything, so a sqlite: DSN is refused without creating its file,
// then that the opened store is a queue.Registry.
func openRegistry(ctx context.Context, dsn, who string) (*openedStore, queue.Registry, error) {
	if kind, _, _ := strings.Cut(dsn, ":"); dsn != "" && kind != "postgres" && kind != "postgresql" {
		return nil, nil, usagef("%s needs a store with an endpoint registry (postgres://…)", who)
	}
	st, err := openStore(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	reg, ok := st.Store.(queue.Registry)
	if !ok {
		st.close()
		return nil, nil, usagef("%s needs a store with an endpoint registry (postgres://…)", who)
	}
	return st, reg, nil
}

// openStoreFor opens the store of a DSN for worker, console and publish: with --registry
// (fromRegistry) through openRegistry, returning its registry; without, any store and a nil
// registry.
func openStoreFor(ctx context.Context, dsn string, fromRegistry bool) (*openedStore, queue.Registry, error) {
	if fromRegistry {
		return openRegistry(ctx, dsn, "--registry")
	}
	st, err := openStore(ctx, dsn)
	return st, nil, err
}

// endpointSource is what a worker delivers from and to: the store, and the endpoints of
// --endpoints (subs) or those of the store's registry (cfg: the registry, its keys and
// SpecOptions).
type endpointSource struct {
	st   *openedStore
	subs []dispatch.Subscription
	cfg  dispatch.Config
}

// openEndpointSource loads the endpoints of --endpoints FILE, or the registry's keys with
// --registry, then opens the store (worker, console): a bad file or key is reported before
// the store is opened. The caller closes st.
func openEndpointSource(ctx context.Context, storeDSN, endpointsFile string, fromRegistry bool, opt endpointsOptions) (endpointSource, error) {
	var src endpointSource
	var err error
	if fromRegistry {
		src.cfg, err = registryConfig(opt)
	} else {
		src.subs, err = loadEndpoints(endpointsFile, opt)
	}
	if err != nil {
		return endpointSource{}, err
	}
	var reg queue.Registry
	if src.st, reg, err = openStoreFor(ctx, storeDSN, fromRegistry); err != nil {
		return endpointSource{}, err
	}
	src.cfg.Registry = reg
	return src, nil
}

// checkEndpointsSource checks that exactly one of --endpoints FILE and --registry is given
// (worker, console and publish).
func checkEndpointsSource(endpointsFile string, fromRegistry bool) error {
	switch {
	case endpointsFile == "" && !fromRegistry:
		return usagef("--endpoints is required (or --registry)")
	case endpointsFile != "" && fromRegistry:
		return usagef("--endpoints and --registry exclude each other")
	}
	return nil
}

// redact removes a password from an error message (drivers may quote a connection string).
func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "xxxxx")
}
