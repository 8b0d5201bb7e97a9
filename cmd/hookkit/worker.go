package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// workerGrace is how long a stopping worker lets its in-flight attempts finish before it
// cancels them and hands their leases back.
const workerGrace = 30 * time.Second

// finishedJSON is the line worker prints for each finished delivery.
type finishedJSON struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Endpoint string `json:"endpoint"`
	Outcome  string `json:"outcome"` // "delivered" or "dead"
	Reason   string `json:"reason,omitempty"`
	Attempts int    `json:"attempts"`
}

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "worker",
		`hookkit worker --store DSN (--endpoints FILE | --registry) [--workers N] [--until-empty] [--allow-private] [--allow-http] [--lease-for DUR]`,
		`Delivers the deliveries of the store (stored by "hookkit publish" or a program's
dispatcher) to the endpoints of FILE (see "hookkit publish --help" for its format), with
retries, a circuit breaker per endpoint and dead letters, until SIGINT or SIGTERM — or, with
--until-empty, until nothing is pending or leased. Several workers may share one store.

With --registry (a postgres:// store), the endpoints come from the store's registry
instead of a file ("hookkit endpoint import"; secrets opened with the key in
HOOKKIT_REGISTRY_KEY), and their state is shared: an endpoint disabled by one worker (410
Gone) or by "hookkit endpoint disable" is disabled for every worker within a second.

Prints one line of JSON on stdout per finished delivery, once the store has recorded it:
{"id":…,"event":…,"endpoint":…,"outcome":"delivered"|"dead","reason":…,"attempts":N}.
Warnings (store errors, lost leases) go to stderr.

Stopping is graceful: in-flight attempts get 30 s to finish, then they are cancelled and
their leases handed back; nothing is lost (a worker killed outright loses nothing either:
its leases expire and another worker, or the next run, delivers them).

Safety: plain http:// endpoints and token URLs are refused unless --allow-http; private,
loopback and link-local destinations unless --allow-private.`)
	var storeDSN, endpointsFile string
	var workers int
	var leaseFor time.Duration
	var untilEmpty, allowPrivate, allowHTTP, fromRegistry bool
	fs.StringVar(&storeDSN, "store", "", storeUsage)
	fs.StringVar(&endpointsFile, "endpoints", "", "endpoints `FILE` (JSON)")
	fs.BoolVar(&fromRegistry, "registry", false, "serve the endpoints of the store's registry instead of --endpoints (postgres://… only)")
	fs.IntVar(&workers, "workers", dispatch.DefaultWorkers, "attempts in flight at once, over all endpoints (`N` ≥ 1)")
	fs.BoolVar(&untilEmpty, "until-empty", false, "exit once nothing is pending or leased")
	fs.BoolVar(&allowPrivate, "allow-private", false, "allow private, loopback and link-local destinations (plain http:// also needs --allow-http)")
	fs.BoolVar(&allowHTTP, "allow-http", false, "allow plain http:// endpoint and token URLs")
	fs.DurationVar(&leaseFor, "lease-for", dispatch.DefaultLeaseFor, "how long a delivery stays leased to this worker: after a crash, its deliveries are taken up again this long after they were leased (`DUR`, longer than every endpoint's timeout)")
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
	}
	src, err := openEndpointSource(ctx, storeDSN, endpointsFile, fromRegistry, endpointsOptions{allowHTTP: allowHTTP, allowPrivate: allowPrivate})
	if err != nil {
		return err
	}
	defer src.st.close()

	w, err := newWorkerRun(ctx, e, src.st.Store, src.subs, src.cfg, sender.Config{AllowPrivate: allowPrivate, AllowHTTP: allowHTTP}, workers, leaseFor)
	if err != nil {
		return err
	}
	defer w.s.CloseIdleConnections()
	d, out := w.d, w.out
	var runErr error
	if untilEmpty {
		runErr = d.Drain(ctx)
		if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
			runErr = nil // stopped by a signal: a graceful stop, as without --until-empty
		}
	} else {
		<-ctx.Done()
	}
	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), workerGrace)
	defer cancel()
	if err := d.Shutdown(grace); err != nil && runErr == nil {
		runErr = fmt.Errorf("stopping: %w", err)
	}
	if out.err != nil && runErr == nil {
		runErr = out.err
	}
	return runErr
}

// workerRun is a started dispatcher delivering what a store holds, each finished delivery
// reported as a JSON line on stdout: the heart of `hookkit worker`, and of `hookkit console
// --worker`. The caller shuts d down and closes s's idle connections.
type workerRun struct {
	d   *dispatch.Dispatcher
	s   *sender.Sender
	out *lineWriter
}

// newWorkerRun makes the Sender (scfg) and a Dispatcher on st (cfg, with Workers, LeaseFor,
// a warning logger on stderr and the line-per-delivery observer filled in), subscribes subs
// and starts it. st must be the opened store itself (openedStore.Store), so that the
// dispatcher finds its extensions.
func newWorkerRun(ctx context.Context, e *env, st queue.Store, subs []dispatch.Subscription, cfg dispatch.Config,
	scfg sender.Config, workers int, leaseFor time.Duration) (*workerRun, error) {
	s, err := sender.New(scfg)
	if err != nil {
		return nil, err
	}
	out := &lineWriter{e: e}
	report := func(outcome string) func(context.Context, queue.Delivery) {
		return func(_ context.Context, d queue.Delivery) {
			out.write(finishedJSON{ID: d.ID, Event: d.Event.ID(), Endpoint: d.EndpointID, Outcome: outcome,
				Reason: d.DeadReason, Attempts: len(d.Attempts)})
		}
	}
	cfg.Workers, cfg.LeaseFor = workers, leaseFor
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Observer = dispatch.Observer{Delivered: report("delivered"), DeadLettered: report("dead")}
	d, err := dispatch.New(s, st, cfg)
	if err == nil {
		for _, sub := range subs {
			if err = d.Subscribe(sub); err != nil {
				err = usagef("--endpoints: endpoint %q: %v", sub.Endpoint.ID, err)
				break
			}
		}
	}
	if err == nil {
		err = d.Start(context.WithoutCancel(ctx))
	}
	if err != nil {
		s.CloseIdleConnections()
		return nil, err
	}
	return &workerRun{d: d, s: s, out: out}, nil
}

// lineWriter writes one JSON line per call to stdout, each in one Write, from any
// goroutine.
type lineWriter struct {
	e   *env
	mu  sync.Mutex
	err error
}

func (w *lineWriter) write(v any) {
	b, err := json.Marshal(v)
	if err == nil {
		b = append(b, '\n')
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		_, err = w.e.stdout.Write(b)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
}
