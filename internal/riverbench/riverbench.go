// Package riverbench measures hookkit's Postgres store (dispatch/pgqueue) side by side
// with River (github.com/riverqueue/river) on one database, for BENCHMARKS.md (issue 15):
//
//   - Burn-down: Jobs no-op jobs (River) or deliveries (hookkit) are inserted before the
//     clock starts, then a River client, or a hookkit dispatch.Dispatcher, is started and
//     timed until the last one is completed in the database. River's side is set up as
//     its own benchmark (cmd/river bench, "burn down" mode with -n) sets itself up: one
//     queue, a worker that returns nil, FetchCooldown 2 ms and FetchPollInterval 20 ms
//     (its tuned values; the defaults are 100 ms and 1 s), its batch completer (always on
//     in River), completions counted from the client's subscription (an event is sent
//     once the completer has written the batch). hookkit's side is the real dispatcher
//     (the lease loop, its workers, the batched Complete of dispatch.Config.CompleteBatch),
//     its Sender making every attempt through an in-process RoundTripper that answers 204
//     to each request without a socket (see NoopTransport): no HTTP, but every other
//     step of an attempt. Completions are counted by the dispatcher's Delivered hook,
//     called once the store has acknowledged the delivery (deleted it). Both sides have
//     Workers workers and share the caller's pool.
//   - Transactional insert: Publishers goroutines each begin a transaction, insert
//     PerTx jobs in it and commit, until Jobs are stored: pgqueue.Store.EnqueueTx of
//     PerTx deliveries (each a new event encoded and fanned out to one endpoint by
//     dispatch.Dispatcher.FanOut, on the clock) against River's Client.InsertManyTx of
//     PerTx jobs (each args value marshalled by River, on the clock).
//
// Every run uses a new schema of its own (River's tables created by rivermigrate), dropped
// when the run ends, so rounds never see each other's rows. River is a dependency of this
// module only: no other module of hookkit imports it.
package riverbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// Defaults of Config.
const (
	DefaultJobs       = 20_000
	DefaultWorkers    = 100
	DefaultPublishers = 8
	DefaultPerTx      = 100
	// DefaultTimeout bounds one run when Config.Timeout is zero.
	DefaultTimeout = 2 * time.Minute
)

// River's fetch settings for the burn-down, the values of its own benchmark (cmd/river
// bench); River's defaults are FetchCooldownDefault (100 ms) and FetchPollIntervalDefault
// (1 s). hookkit's dispatcher gets the same poll interval (dispatch.Config.PollInterval).
const (
	RiverFetchCooldown     = 2 * time.Millisecond
	RiverFetchPollInterval = 20 * time.Millisecond
)

// ErrIncomplete is returned by a run whose side did not complete (or store) every job
// it was given, or whose database afterwards holds another count than expected.
var ErrIncomplete = errors.New("riverbench: not every job was completed")

// Config configures the runs. The zero value is ready to use: the defaults above.
type Config struct {
	// Jobs is how many jobs a run inserts (and a burn-down completes). 0 means
	// DefaultJobs; negative is an error.
	Jobs int
	// Workers is the number of workers of each side of a burn-down: River's
	// QueueConfig.MaxWorkers, hookkit's dispatch.Config.Workers (with no per-endpoint
	// bound). 0 means DefaultWorkers; negative is an error.
	Workers int
	// CompleteBatch is hookkit's dispatch.Config.CompleteBatch in the burn-down (River's
	// batch completer takes up to 5,000 per statement, and is not configurable). 0 means
	// Workers; negative is an error.
	CompleteBatch int
	// CompleteWindow is hookkit's dispatch.Config.CompleteWindow in the burn-down: how
	// long a batch of outcomes waits for more (River's completer waits for 100 outcomes
	// or its 50 ms tick, whichever comes first; not configurable). 0 means no wait;
	// negative is an error.
	CompleteWindow time.Duration
	// OutcomeBacklog is hookkit's dispatch.Config.OutcomeBacklog in the burn-down: how many
	// outcomes may wait for the store while their workers go on (a River worker's slot is
	// always free once its completion is queued to the batch completer). 0 means none (the
	// dispatcher's default); negative is an error.
	OutcomeBacklog int
	// Publishers is the number of goroutines publishing at once in the transactional
	// insert. 0 means DefaultPublishers; negative is an error.
	Publishers int
	// PerTx is the number of jobs per transaction in the transactional insert. 0 means
	// DefaultPerTx; negative is an error.
	PerTx int
	// Notify is the pgqueue.Config.Notify of hookkit's stores. The zero value, NotifyOn,
	// is pgqueue's default: every transaction of the transactional insert (EnqueueTx)
	// sends a notification; the burn-down's jobs are stored by Enqueue before the clock
	// starts, its notifications sent after the commits and shared (River's client sends at
	// most one per queue per FetchCooldown, 100 ms by default).
	Notify pgqueue.NotifyMode
	// Timeout bounds each run. 0 means DefaultTimeout; negative is an error.
	Timeout time.Duration
	// Logger receives River's log lines at warning level and above, and the
	// dispatcher's. nil: errors only, to standard error.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Jobs < 0 || c.Workers < 0 || c.CompleteBatch < 0 || c.CompleteWindow < 0 || c.OutcomeBacklog < 0 || c.Publishers < 0 || c.PerTx < 0 || c.Timeout < 0 {
		return c, errors.New("riverbench: negative number in Config")
	}
	if c.Jobs == 0 {
		c.Jobs = DefaultJobs
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.CompleteBatch == 0 {
		c.CompleteBatch = c.Workers
	}
	if c.Publishers == 0 {
		c.Publishers = DefaultPublishers
	}
	if c.PerTx == 0 {
		c.PerTx = DefaultPerTx
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	return c, nil
}

// Result is what one run measured.
type Result struct {
	// Jobs is how many jobs the timed part completed (burn-down) or stored (insert).
	Jobs int
	// Elapsed is the time from the start of the timed part to its last completion
	// (burn-down) or commit (insert).
	Elapsed time.Duration
}

// PerSecond is Jobs divided by Elapsed.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Jobs) / r.Elapsed.Seconds()
}

// Bench runs the measurements on one pool. Its methods must not run at once: each run
// has the pool to itself.
type Bench struct {
	pool *pgxpool.Pool
	cfg  Config
	seq  atomic.Int64
	base string
}

// New returns a Bench on pool (which stays the caller's), its runs in schemas named
// prefix followed by a number: prefix must be a lower-case identifier of at most 40
// bytes, and no schema of that name may hold anything needed (each run drops its schema
// first, and when it ends).
func New(pool *pgxpool.Pool, prefix string, cfg Config) (*Bench, error) {
	if pool == nil {
		return nil, errors.New("riverbench: nil pool")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if prefix == "" || len(prefix) > 40 {
		return nil, fmt.Errorf("riverbench: schema prefix %q: 1 to 40 bytes", prefix)
	}
	for i, r := range prefix {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return nil, fmt.Errorf("riverbench: schema prefix %q: a lower-case identifier is needed", prefix)
		}
	}
	return &Bench{pool: pool, cfg: c, base: prefix}, nil
}

// Config returns the configuration in effect, defaults filled in.
func (b *Bench) Config() Config { c := b.cfg; return c }

// schema creates a new empty schema for one run and returns its name and the function
// that drops it.
func (b *Bench) schema(ctx context.Context) (string, func(), error) {
	name := b.base + strconv.FormatInt(b.seq.Add(1), 10)
	q := pgx.Identifier{name}.Sanitize()
	if _, err := b.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+q+" CASCADE; CREATE SCHEMA "+q); err != nil {
		return "", nil, fmt.Errorf("riverbench: create schema: %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = b.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+q+" CASCADE")
	}
	return name, drop, nil
}

// NoopTransport is an http.RoundTripper that answers every request with 204 No Content
// in process, without a socket: the stand-in for an endpoint that does nothing, as
// River's no-op worker does. It closes the request body, as a RoundTripper must.
type NoopTransport struct{}

// RoundTrip implements http.RoundTripper.
func (NoopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusNoContent, Status: "204 No Content", Proto: "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// endpointID is the one endpoint of hookkit's runs (River's: the default queue).
const endpointID = "noop"

// newDispatcher returns a dispatcher on store delivering to one endpoint through
// NoopTransport, not started.
func (b *Bench) newDispatcher(store queue.Store, delivered func()) (*dispatch.Dispatcher, error) {
	// GuardedTransport: NoopTransport dials nothing, so there is nothing for the SSRF
	// guard to refuse; the production transport is untouched.
	s, err := sender.New(sender.Config{HTTPClient: &http.Client{Transport: NoopTransport{}}, GuardedTransport: true})
	if err != nil {
		return nil, err
	}
	cfg := dispatch.Config{Workers: b.cfg.Workers, MaxInFlight: -1, PollInterval: RiverFetchPollInterval,
		CompleteBatch: b.cfg.CompleteBatch, CompleteWindow: b.cfg.CompleteWindow, OutcomeBacklog: b.cfg.OutcomeBacklog,
		Logger: b.cfg.Logger}
	if delivered != nil {
		cfg.Observer.Delivered = func(context.Context, queue.Delivery) { delivered() }
	}
	d, err := dispatch.New(s, store, cfg)
	if err != nil {
		return nil, err
	}
	if err := d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: endpointID, URL: "https://noop.invalid/hook"}}); err != nil {
		return nil, err
	}
	return d, nil
}

// benchData is the data of each job of both sides: River's args, hookkit's event data.
type benchData struct {
	Num int `json:"num"`
}

// deliveries returns n deliveries of new events ("bench-job", data {"num": first+i})
// fanned out by d to its one endpoint.
func deliveries(d *dispatch.Dispatcher, first, n int) ([]queue.Delivery, error) {
	out := make([]queue.Delivery, 0, n)
	for i := range n {
		ev, err := event.New("bench-job", benchData{Num: first + i})
		if err != nil {
			return nil, err
		}
		ds, err := d.FanOut(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// insertBatch is how many jobs one untimed insert of a burn-down stores (River's
// benchmark inserts in batches of 5,000 too).
const insertBatch = 5_000

// HookkitBurnDown stores Jobs deliveries in a new pgqueue schema, then starts a
// dispatcher on it and times it until every delivery is acknowledged.
func (b *Bench) HookkitBurnDown(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	name, drop, err := b.schema(ctx)
	if err != nil {
		return Result{}, err
	}
	defer drop()
	store, err := pgqueue.New(ctx, b.pool, pgqueue.Config{Schema: name, MaxPending: -1, Notify: b.cfg.Notify})
	if err != nil {
		return Result{}, err
	}
	defer store.Close()
	n := b.cfg.Jobs
	var done atomic.Int64
	var last atomic.Int64 // UnixNano of the last acknowledgement
	all := make(chan struct{})
	d, err := b.newDispatcher(store, func() {
		last.Store(time.Now().UnixNano())
		if done.Add(1) == int64(n) {
			close(all)
		}
	})
	if err != nil {
		return Result{}, err
	}
	for first := 0; first < n; first += insertBatch {
		ds, err := deliveries(d, first, min(insertBatch, n-first))
		if err != nil {
			return Result{}, err
		}
		if err := store.Enqueue(ctx, ds...); err != nil {
			return Result{}, err
		}
	}
	start := time.Now()
	if err := d.Start(ctx); err != nil {
		return Result{}, err
	}
	select {
	case <-all:
	case <-ctx.Done():
	}
	shutdownErr := d.Shutdown(context.WithoutCancel(ctx))
	res := Result{Jobs: int(done.Load()), Elapsed: time.Unix(0, last.Load()).Sub(start)}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%w: hookkit: %d of %d acknowledged: %w", ErrIncomplete, res.Jobs, n, err)
	}
	if shutdownErr != nil {
		return res, shutdownErr
	}
	st, err := store.Stats(ctx, time.Now())
	if err != nil {
		return res, err
	}
	if res.Jobs != n || st.Pending != 0 || st.Leased != 0 || st.Dead != 0 {
		return res, fmt.Errorf("%w: hookkit: %d of %d acknowledged, %+v left", ErrIncomplete, res.Jobs, n, st)
	}
	return res, nil
}

// BenchArgs are the args of River's no-op job.
type BenchArgs struct {
	Num int `json:"num"`
}

// Kind implements river.JobArgs.
func (BenchArgs) Kind() string { return "bench-job" }

// NoopWorker is River's worker of BenchArgs: it does nothing.
type NoopWorker struct {
	river.WorkerDefaults[BenchArgs]
}

// Work implements river.Worker.
func (NoopWorker) Work(context.Context, *river.Job[BenchArgs]) error { return nil }

// riverSchema migrates River's tables into a new schema and returns a driver and the
// schema's name and dropper.
func (b *Bench) riverSchema(ctx context.Context) (*riverpgxv5.Driver, string, func(), error) {
	name, drop, err := b.schema(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	drv := riverpgxv5.New(b.pool)
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Schema: name, Logger: b.riverLogger()})
	if err == nil {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		drop()
		return nil, "", nil, fmt.Errorf("riverbench: river migrate: %w", err)
	}
	return drv, name, drop, nil
}

// riverLogger is the logger given to River: warnings and above of Config.Logger's
// handler (River logs every migration and start at info).
func (b *Bench) riverLogger() *slog.Logger {
	h := b.cfg.Logger.Handler()
	return slog.New(levelAtLeast{h, slog.LevelWarn})
}

// levelAtLeast is a slog.Handler passing records of min and above to h.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (l levelAtLeast) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.Handler.Enabled(ctx, lv)
}

// riverCount returns how many jobs of River's table in schema are in state (all when "").
func (b *Bench) riverCount(ctx context.Context, schema, state string) (int, error) {
	var n int
	q := "SELECT count(*) FROM " + pgx.Identifier{schema, "river_job"}.Sanitize() + " WHERE $1 = '' OR state::text = $1"
	if err := b.pool.QueryRow(ctx, q, state).Scan(&n); err != nil {
		return 0, fmt.Errorf("riverbench: count river jobs: %w", err)
	}
	return n, nil
}

// RiverBurnDown inserts Jobs no-op jobs in a new River schema (InsertMany), then starts a
// River client on it and times it until every job is completed.
func (b *Bench) RiverBurnDown(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	drv, name, drop, err := b.riverSchema(ctx)
	if err != nil {
		return Result{}, err
	}
	defer drop()
	workers := river.NewWorkers()
	river.AddWorker(workers, &NoopWorker{})
	client, err := river.NewClient(drv, &river.Config{
		Schema:            name,
		FetchCooldown:     RiverFetchCooldown,
		FetchPollInterval: RiverFetchPollInterval,
		Logger:            b.riverLogger(),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: b.cfg.Workers}},
		Workers:           workers,
	})
	if err != nil {
		return Result{}, err
	}
	n := b.cfg.Jobs
	params := make([]river.InsertManyParams, 0, insertBatch)
	for first := 0; first < n; first += insertBatch {
		params = params[:0]
		for i := range min(insertBatch, n-first) {
			params = append(params, river.InsertManyParams{Args: BenchArgs{Num: first + i}})
		}
		if _, err := client.InsertMany(ctx, params); err != nil {
			return Result{}, err
		}
	}
	// River's own benchmark counts completions from a subscription, whose events come
	// once the completer has written them; a channel big enough never drops one.
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: n + 1000,
		Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled}})
	defer unsubscribe()
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return Result{}, err
	}
	done, failed := 0, 0
	var last time.Time
wait:
	for done+failed < n {
		select {
		case ev := <-events:
			if ev == nil {
				break wait
			}
			last = time.Now()
			if ev.Kind == river.EventKindJobCompleted {
				done++
			} else {
				failed++
			}
		case <-ctx.Done():
			break wait
		}
	}
	stopErr := client.Stop(context.WithoutCancel(ctx))
	res := Result{Jobs: done, Elapsed: last.Sub(start)}
	if done != n {
		return res, fmt.Errorf("%w: river: %d of %d completed, %d failed (%v)", ErrIncomplete, done, n, failed, ctx.Err())
	}
	if stopErr != nil {
		return res, stopErr
	}
	completed, err := b.riverCount(ctx, name, "completed")
	if err != nil {
		return res, err
	}
	if completed != n {
		return res, fmt.Errorf("%w: river: %d of %d completed in the table", ErrIncomplete, completed, n)
	}
	return res, nil
}

// publish runs Publishers goroutines, each calling tx(ctx, first, count) in a
// transaction of its own (begin, tx, commit) for the next PerTx jobs, until Jobs are
// stored; it returns the time from the start to the last commit.
func (b *Bench) publish(ctx context.Context, insert func(ctx context.Context, tx pgx.Tx, first, count int) error) (Result, error) {
	n, per := b.cfg.Jobs, b.cfg.PerTx
	var next, stored atomic.Int64
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	var wg sync.WaitGroup
	for range b.cfg.Publishers {
		wg.Go(func() {
			for {
				first := int(next.Add(int64(per))) - per
				if first >= n || ctx.Err() != nil {
					return
				}
				count := min(per, n-first)
				err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return insert(ctx, tx, first, count) })
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				stored.Add(int64(count))
			}
		})
	}
	wg.Wait()
	res := Result{Jobs: int(stored.Load()), Elapsed: time.Since(start)}
	if firstErr != nil {
		return res, firstErr
	}
	if res.Jobs != n {
		return res, fmt.Errorf("%w: %d of %d stored (%v)", ErrIncomplete, res.Jobs, n, ctx.Err())
	}
	return res, nil
}

// HookkitInsertTx times Publishers goroutines storing Jobs deliveries with
// pgqueue.Store.EnqueueTx, PerTx per transaction, in a new schema: each delivery a new
// event encoded and fanned out to one endpoint (dispatch.Dispatcher.FanOut), on the
// clock.
func (b *Bench) HookkitInsertTx(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	name, drop, err := b.schema(ctx)
	if err != nil {
		return Result{}, err
	}
	defer drop()
	store, err := pgqueue.New(ctx, b.pool, pgqueue.Config{Schema: name, MaxPending: -1, Notify: b.cfg.Notify})
	if err != nil {
		return Result{}, err
	}
	defer store.Close()
	d, err := b.newDispatcher(store, nil)
	if err != nil {
		return Result{}, err
	}
	res, err := b.publish(ctx, func(ctx context.Context, tx pgx.Tx, first, count int) error {
		ds, err := deliveries(d, first, count)
		if err != nil {
			return err
		}
		return store.EnqueueTx(ctx, tx, ds...)
	})
	if err != nil {
		return res, err
	}
	st, err := store.Stats(ctx, time.Now())
	if err != nil {
		return res, err
	}
	if st.Pending != b.cfg.Jobs {
		return res, fmt.Errorf("%w: hookkit: %d of %d pending in the store", ErrIncomplete, st.Pending, b.cfg.Jobs)
	}
	return res, nil
}

// RiverInsertTx times Publishers goroutines storing Jobs River jobs with
// river.Client.InsertManyTx, PerTx per transaction, in a new River schema (an insert-only
// client: no queues).
func (b *Bench) RiverInsertTx(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	drv, name, drop, err := b.riverSchema(ctx)
	if err != nil {
		return Result{}, err
	}
	defer drop()
	// Workers registered, as an application's client has them: River checks each
	// inserted kind against them.
	workers := river.NewWorkers()
	river.AddWorker(workers, &NoopWorker{})
	client, err := river.NewClient(drv, &river.Config{Schema: name, Logger: b.riverLogger(), Workers: workers})
	if err != nil {
		return Result{}, err
	}
	res, err := b.publish(ctx, func(ctx context.Context, tx pgx.Tx, first, count int) error {
		params := make([]river.InsertManyParams, count)
		for i := range params {
			params[i].Args = BenchArgs{Num: first + i}
		}
		_, err := client.InsertManyTx(ctx, tx, params)
		return err
	})
	if err != nil {
		return res, err
	}
	stored, err := b.riverCount(ctx, name, "")
	if err != nil {
		return res, err
	}
	if stored != b.cfg.Jobs {
		return res, fmt.Errorf("%w: river: %d of %d jobs in the table", ErrIncomplete, stored, b.cfg.Jobs)
	}
	return res, nil
}
