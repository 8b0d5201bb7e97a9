package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/sender"
)

// consoleNoAuth is printed (stderr) by every console at start.
const consoleNoAuth = "the console has no authentication of its own: anyone who can reach it can requeue dead letters and enable or disable endpoints"

func runConsole(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "console",
		`hookkit console --store DSN (--endpoints FILE | --registry) [--addr HOST:PORT] [--public] [--secure-cookies] [--worker [--workers N] [--allow-private] [--allow-http] [--lease-for DUR]]`,
		`Serves the delivery console (package console) on HOST:PORT: the endpoints of FILE (see
"hookkit publish --help" for its format) with their pending, leased and dead deliveries in
the store, each dead letter with its attempt history, and forms to requeue one dead letter or
all of an endpoint's. Pages are server-rendered HTML without JavaScript; every action is a
POST with a CSRF token.

The console has no authentication of its own, so it listens on loopback only
(127.0.0.1:8080 by default) and refuses another address unless --public is given (then put
it behind a proxy that authenticates; --secure-cookies when that proxy terminates TLS).
Logs go to stderr, starting with the "listening" line that gives the URL (--addr
127.0.0.1:0 picks a free port). SIGINT or SIGTERM stops it.

Without --worker the console runs beside the workers ("hookkit worker" processes sharing
the store): requeued deliveries are theirs to deliver; without --registry the endpoints'
circuit-breaker states live in the workers' memory, so the console shows them as unknown
and "enable" says that it cannot reach a worker. With --worker it also runs a worker in its
own process (the flags of "hookkit worker"), whose endpoint states it shows and can
re-enable, and prints one JSON line per finished delivery on stdout, as "hookkit worker"
does.

With --registry (a postgres:// store) the endpoints are those of the store's shared
registry ("hookkit endpoint import"), listed a page at a time, each with its shared state
(active, failing, paused until, probing, disabled), failures and the reason of its last
change; Enable and Disable write the registry, and every "hookkit worker --registry" on
the store follows within its poll interval (Disable also makes the endpoint's pending
deliveries dead letters). Attempts in flight are counted by each worker: shown as unknown
here, unless --worker (then this process's). HOOKKIT_REGISTRY_KEY, the workers' key, lets
the console show each endpoint's host (and the --worker deliver); during a key rotation,
HOOKKIT_REGISTRY_OLD_KEYS as for "hookkit worker" opens the specs not yet re-sealed.`)
	var storeDSN, endpointsFile string
	var workers int
	var leaseFor time.Duration
	var public, withWorker, allowPrivate, allowHTTP, fromRegistry, secureCookies bool
	fs.StringVar(&storeDSN, "store", "", storeUsage)
	fs.StringVar(&endpointsFile, "endpoints", "", "endpoints `FILE` (JSON)")
	addr := fs.String("addr", "127.0.0.1:8080", "`HOST:PORT` to listen on, loopback unless --public (port 0 picks a free one)")
	fs.BoolVar(&public, "public", false, "allow a non-loopback --addr (the console has no authentication: put it behind one)")
	fs.BoolVar(&fromRegistry, "registry", false, "the endpoints and their shared states from the store's registry instead of --endpoints (postgres://… only)")
	fs.BoolVar(&secureCookies, "secure-cookies", false, "mark the cookies Secure on plain HTTP too (behind a proxy that terminates TLS)")
	fs.BoolVar(&withWorker, "worker", false, "also deliver, as \"hookkit worker\" does, in this process")
	fs.IntVar(&workers, "workers", dispatch.DefaultWorkers, "with --worker: attempts in flight at once (`N` ≥ 1)")
	fs.BoolVar(&allowPrivate, "allow-private", false, "with --worker: allow private, loopback and link-local destinations")
	fs.BoolVar(&allowHTTP, "allow-http", false, "with --worker: allow plain http:// endpoint and token URLs")
	fs.DurationVar(&leaseFor, "lease-for", dispatch.DefaultLeaseFor, "with --worker: how long a delivery stays leased to this worker (`DUR`)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return unexpectedArgument(pos)
	}
	if err := checkEndpointsSource(endpointsFile, fromRegistry); err != nil {
		return err
	}
	switch {
	case workers < 1:
		return usagef("--workers must be at least 1")
	case leaseFor <= 0:
		return usagef("--lease-for must be positive")
	case !withWorker && (allowPrivate || allowHTTP):
		return usagef("--allow-private and --allow-http are for --worker (without it the console sends nothing)")
	}
	loopback, err := isLoopbackAddr(*addr)
	if err != nil {
		return err
	}
	if !loopback && !public {
		return usagef("--addr %s is not a loopback address and %s; pass --public to serve it anyway (behind an authenticating proxy)", *addr, consoleNoAuth)
	}
	// Without --worker nothing is sent: every endpoint of the file is shown as it is.
	opt := endpointsOptions{allowHTTP: true, allowPrivate: true}
	if withWorker {
		opt = endpointsOptions{allowHTTP: allowHTTP, allowPrivate: allowPrivate}
	}
	es, err := openEndpointSource(ctx, storeDSN, endpointsFile, fromRegistry, opt)
	if err != nil {
		return err
	}
	defer es.st.close()
	st, subs, dcfg, reg := es.st, es.subs, es.cfg, es.cfg.Registry
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))

	var src console.Source
	ccfg := console.Config{Logger: logger, SecureCookies: secureCookies}
	if fromRegistry {
		ccfg.RegistryKey, ccfg.RegistryOldKeys = dcfg.RegistryKey, dcfg.RegistryOldKeys
		src = console.Registered(st.Store, reg)
	} else {
		src = console.Detached(st.Store, subs)
	}
	var rec *console.Recorder
	var d *dispatch.Dispatcher
	if withWorker {
		rec = console.NewRecorder(0)
		w, err := newWorkerRun(ctx, e, st.Store, subs, dcfg,
			sender.Config{AllowPrivate: allowPrivate, AllowHTTP: allowHTTP, Observer: rec.Observer()}, workers, leaseFor)
		if err != nil {
			return err
		}
		defer w.s.CloseIdleConnections()
		d = w.d
		src = d
	}
	ccfg.Recorder = rec
	c, err := console.New(src, ccfg)
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	bound := ln.Addr().String()
	logger.Warn(consoleNoAuth, "addr", bound)
	logger.Info("listening", "addr", bound, "url", "http://"+bound+"/", "endpoints", len(subs), "registry", fromRegistry, "worker", withWorker)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("stopping: %w", err)
	}
	if runErr == nil {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	} else if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	if d != nil {
		grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), workerGrace)
		defer cancel()
		if err := d.Shutdown(grace); err != nil && runErr == nil {
			runErr = fmt.Errorf("stopping the worker: %w", err)
		}
	}
	return runErr
}

// isLoopbackAddr reports whether HOST:PORT names a loopback address only: 127.0.0.0/8,
// ::1 or localhost. An empty host (every interface) is not one.
func isLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, usagef("--addr wants HOST:PORT, e.g. 127.0.0.1:8080")
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}
