package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/sender"
)

// Defaults of Config.
const (
	DefaultWorkers      = 16              // Config.Workers
	DefaultMaxInFlight  = 4               // Config.MaxInFlight
	DefaultLeaseFor     = 2 * time.Minute // Config.LeaseFor
	DefaultPollInterval = time.Second     // Config.PollInterval
	// DefaultCompleteBatch is Config.CompleteBatch's default.
	DefaultCompleteBatch = 64
)

var (
	// ErrClosed is returned by Publish, Start and Subscribe after Shutdown.
	ErrClosed = errors.New("hookkit/dispatch: dispatcher is closed")
	// ErrStarted is returned by a second call to Start.
	ErrStarted = errors.New("hookkit/dispatch: dispatcher already started")
	// ErrEndpointPaused says that an endpoint is paused by its circuit breaker (see
	// BreakerConfig). The Dispatcher no longer records it as the error of a synthetic
	// attempt: a paused endpoint's deliveries wait, unleased and untried. It remains for
	// code that compares its text with queue.Attempt.Error in histories written by
	// earlier versions.
	ErrEndpointPaused = errors.New("hookkit/dispatch: endpoint paused by its circuit breaker")
	// ErrInvalidConfig is wrapped by the errors of New for a configuration that cannot
	// work, such as a negative number where the field gives it no meaning.
	ErrInvalidConfig = errors.New("hookkit/dispatch: invalid configuration")
)

// errStoreResults is logged when a store's Complete breaks its contract.
var errStoreResults = errors.New("hookkit/dispatch: store returned the wrong number of results")

// Config configures a Dispatcher. The zero value is ready to use.
//
// Numbers follow one rule: 0 means the documented default; a negative value means "none"
// where the field says so (MaxInFlight, Breaker.Threshold), and elsewhere has no meaning:
// New returns an error wrapping ErrInvalidConfig.
type Config struct {
	// Workers bounds the attempts in flight at once, over all endpoints.
	// 0 means DefaultWorkers (16); negative is an error.
	Workers int
	// MaxInFlight is the default bound on the attempts in flight at once to one
	// subscription's endpoint, so a slow endpoint holds at most this many workers;
	// Subscription.MaxInFlight overrides it. 0 means DefaultMaxInFlight (4); negative means
	// no bound per subscription (Workers still bounds them all).
	MaxInFlight int
	// LeaseFor is how long a leased delivery stays invisible to other dispatchers sharing
	// the store. It must exceed the longest attempt (endpoint timeout); Subscribe refuses
	// endpoints whose timeout is not shorter. 0 means DefaultLeaseFor (2 minutes);
	// negative is an error.
	LeaseFor time.Duration
	// PollInterval is how often the store is asked for due deliveries when nothing wakes
	// the dispatcher (a Publish or a finished attempt of this dispatcher does, and, with a
	// store implementing queue.NextDuer such as memqueue.Store, the next due time). It
	// bounds how late another process's delivery or an expired lease is picked up.
	// 0 means DefaultPollInterval (1 s); negative is an error.
	PollInterval time.Duration
	// Breaker configures the per-endpoint circuit breaker.
	Breaker BreakerConfig
	// Observer is told about endpoint state changes (its EndpointStateChanged hook) and
	// about every dead letter the store evicts because its bound on dead letters was
	// reached (DeadLetterEvicted; see queue.DeadEvicter). Its attempts are made by its
	// Sender and go to the Sender's Config.Observer (sender.DeliveryObserver). The zero
	// value observes nothing; nil hooks are skipped.
	Observer Observer
	// Logger logs store errors, lost leases and evicted dead letters (one warning each,
	// with the delivery, endpoint and event IDs and the reason). nil: no logging.
	Logger *slog.Logger
	// Now is the clock for due times, cool-downs and dead letters' DeadAt: the dispatcher
	// passes its time to the store (queue.Store's one clock). nil: time.Now.
	Now func() time.Time
	// CompleteBatch bounds how many outcomes of finished attempts (acknowledged,
	// rescheduled, dead-lettered) go to the store in one queue.Store.Complete call.
	// 0 means DefaultCompleteBatch (64); negative is an error.
	CompleteBatch int
	// CompleteWindow is how long a batch of outcomes waits for more after its first one
	// before it is sent (sooner when CompleteBatch outcomes are waiting, or at Shutdown).
	// The worker of each outcome waits for its batch, unless OutcomeBacklog lets it go on.
	// A crash loses nothing: an outcome never stored leaves its lease to expire, and the
	// delivery is attempted again (an ordered endpoint's next delivery waits for it: see
	// queue.Store). Keep it far below LeaseFor: a lease that expires while its outcome
	// waits is lost; New refuses a window longer than a tenth of LeaseFor. 0 means no
	// wait: a batch takes the outcomes already waiting (those that finished while the
	// previous batch was being sent), so that batching costs no latency when the
	// dispatcher is idle and grows with load; a few milliseconds batch more. Negative is
	// an error.
	CompleteWindow time.Duration
	// OutcomeBacklog is how many finished attempts may wait for the store while their
	// workers go on to the next deliveries. 0 means none: a worker waits until the store
	// has its outcome before its next attempt (its next delivery is leased meanwhile), so
	// at any moment at most Workers deliveries have been attempted and not recorded, and a
	// crash repeats at most Workers of them. N > 0 lets the workers make their next
	// attempts while the store commits the last outcomes (as River's completer does): for
	// a store whose commits take about as long as an attempt to a fast endpoint, more
	// deliveries a second (see BENCHMARKS.md), and a crash may repeat up to Workers + N.
	// In either case an outcome waiting for the store no longer counts against Workers or
	// MaxInFlight, so without a backlog up to 2×Workers deliveries may be leased at once
	// (each worker's next one waiting for its last outcome to be stored). Negative is an
	// error.
	OutcomeBacklog int
	// Registry, when not nil, keeps the endpoints and their circuit-breaker state, shared
	// by every dispatcher on it (pgqueue.Store implements it beside its queue; see
	// Register and the package documentation, Many instances): endpoints are added with
	// Register (Subscribe returns ErrNotEncodable), Publish finds them with one indexed
	// lookup, and each dispatcher caches at most RegistryCache of them. nil: the
	// subscriptions and their state are this dispatcher's, in memory.
	Registry queue.Registry
	// RegistryKey is the 32-byte AES-256 key that seals the endpoint specs written to the
	// Registry (SpecCodec.Key): every dispatcher on one registry needs the same key. nil:
	// specs are stored in clear, and one with secrets is refused (ErrSpecSecrets) unless
	// RegistryPlaintext is set. Any other length is an error.
	RegistryKey []byte
	// RegistryOldKeys are earlier registry keys (32 bytes each, SpecCodec.OldKeys): specs
	// sealed under one of them are still opened, while Register and every other write
	// seal with RegistryKey alone. Rotation: give every instance the new RegistryKey with
	// the old key here, re-seal the stored specs ("hookkit endpoint rekey",
	// SpecCodec.Reseal), then drop the old key. nil: only RegistryKey opens sealed specs.
	// A key of any other length is an error.
	RegistryOldKeys [][]byte
	// RegistryPlaintext allows specs with secrets to be stored in clear when there is no
	// RegistryKey (tests; a database protected by other means).
	RegistryPlaintext bool
	// RegistryCache bounds the registry endpoints kept in memory (least recently used
	// evicted first, never one with attempts in flight). 0 means DefaultRegistryCache
	// (10,000); negative is an error.
	RegistryCache int
	// SpecOptions say how the endpoints of the Registry (and of Register without one)
	// build their credentials (OAuth2's token client). The zero value is auth's default.
	SpecOptions SpecOptions
	// NoHandoff turns off the publish-time handoff. By default, with a store that
	// implements queue.LeasingEnqueuer (memqueue, sqlitequeue, pgqueue), Publish
	// and PublishMany store a delivery that is due now, unordered and for an active
	// endpoint already leased to this dispatcher when a worker and a place within the
	// endpoint's MaxInFlight are free, and give it to that worker as soon as the store
	// has committed it (with SQLite's SyncFull, before the fsync Publish waits for, as a
	// Lease may lease a delivery committed and not yet fsynced), instead of storing it
	// pending for the next Lease to find. It is only done while the dispatcher knows of
	// no backlog of the endpoint: its last Lease for the endpoint took fewer than it
	// could, and no delivery has had to wait for a place since. With a Registry, whose
	// Lease is not by endpoint, only while the last Lease took fewer than it asked for
	// and Publish has stored nothing pending since, for an endpoint cached and active. A
	// retry falling due and deliveries written by other processes compete with new
	// publishes for the places that free up until the dispatcher's next Lease takes them:
	// it leases for every endpoint after storing a retry, when a retry falls due
	// (queue.NextDuer), on Notify and at least once every PollInterval. true: every
	// delivery is stored pending and leased by the dispatcher's loop, in the store's
	// earliest-due order.
	NoHandoff bool
}

// Subscription is what a Dispatcher delivers to one endpoint: the endpoint, the event
// types it takes, in which order, and how many at once. The zero values of Filter,
// Ordered and MaxInFlight are: every event type, no ordering, Config.MaxInFlight.
type Subscription struct {
	// Endpoint is where and how the events are delivered (URL, signing, credentials,
	// timeout, retry policy, headers). Its ID names the subscription: required, and
	// unique within the dispatcher. Subscribe parses and checks its URL once.
	Endpoint sender.Endpoint
	// Filter selects the event types published to the endpoint (like DocuSign Connect's
	// "events" list). The zero value matches every type.
	Filter event.Filter
	// Ordered delivers the endpoint's events one at a time, in publish order: the next
	// delivery starts only when the previous one was acknowledged or dead-lettered (its
	// retries included). false: deliveries run concurrently, up to MaxInFlight.
	Ordered bool
	// MaxInFlight bounds the attempts in flight at once to the endpoint. 0 means
	// Config.MaxInFlight; negative means no bound of its own (Workers still
	// bounds every attempt of the dispatcher).
	MaxInFlight int
}

// EndpointStatus is the state of one subscribed endpoint in a Dispatcher.
type EndpointStatus struct {
	// Subscription is the one given to Subscribe, except that MaxInFlight is the bound in
	// effect: Config.MaxInFlight filled in for 0, Config.Workers when
	// there is no bound of its own.
	Subscription Subscription
	// State is the endpoint's circuit-breaker state.
	State EndpointState
	// Failures is the number of consecutive failed attempts.
	Failures int
	// PausedUntil is, while paused, when the probe may go.
	PausedUntil time.Time
	// InFlight is the number of deliveries being handled now.
	InFlight int
}

// target is a subscription's endpoint as Subscribe prepared it. It is never modified, so
// the attempts of one subscription share it.
type target struct {
	t     *sender.Target
	retry sender.RetryPolicy // the endpoint's policy in effect, defaults filled in
}

// subscription is one endpoint served by the dispatcher. Guarded by Dispatcher.mu.
type subscription struct {
	sub         Subscription // MaxInFlight as given
	t           *target      // sub.Endpoint prepared once, by Subscribe; never modified
	maxInFlight int          // the bound in effect
	inflight    int
	br          breaker
	// clear says the dispatcher knows of no backlog of the endpoint in the store: its
	// last Lease for it took fewer than it could, and since then no delivery that could
	// have been handed off had to be stored pending. Only then does Publish hand its
	// deliveries to workers (handoff); otherwise they are stored pending and the pump
	// leases them, earliest due first.
	clear bool
	// stored counts the deliveries Publish stored pending for the endpoint (once the
	// store returned); seen is its value when the endpoint's last Lease began. Those
	// stored since (stored != seen) may have been missed by that Lease: the pump leases
	// them, clear or not (see fill).
	stored, seen uint64
	// catchUp says the endpoint's Lease in flight is for what Publish stored pending
	// while it was clear (fill).
	catchUp bool
}

// route is the part of a subscription that Publish reads without locking.
type route struct {
	id      string
	filter  event.Filter
	ordered bool
}

// Dispatcher delivers events asynchronously: Publish stores one delivery per matching
// endpoint and returns; workers deliver them through the Sender (same signing,
// credentials, classification and safety rules as Send), rescheduling retries in the
// queue.Store instead of sleeping, with a circuit breaker per endpoint and dead letters for what
// cannot be delivered. See the package documentation for the full picture.
//
// A Dispatcher is safe for concurrent use. Create it with New, add endpoints,
// Start it, Publish, and Shutdown when done.
type Dispatcher struct {
	s      *sender.Sender
	store  queue.Store
	cfg    Config
	obs    Observer
	evict  queue.DeadEvicter // the store, when it reports evicted dead letters
	log    *slog.Logger
	now    func() time.Time
	prefix string
	seq    atomic.Uint64
	routes atomic.Pointer[[]route]
	closed atomic.Bool

	mu       sync.Mutex
	subs     map[string]*subscription
	busy     int
	started  bool
	stopping bool
	changes  []EndpointStateChange
	limits   map[string]int // scratch for fill
	taken    map[string]int // scratch for fill
	// pumpHeld is how many worker places the pump's Lease in flight may fill: Publish
	// hands off only into the others.
	pumpHeld int
	// With a Registry, whose Lease takes from every endpoint at once: regClear says the
	// dispatcher knows of no backlog in the store (its last Lease took fewer than it
	// asked for, and Publish has stored nothing pending since, counted by regPending), so
	// that Publish may hand off.
	regClear   bool
	regPending uint64

	obsMu      sync.Mutex
	progress   chan struct{} // closed and replaced when a delivery finishes (Drain); guarded by mu
	wake       chan struct{}
	stop       chan struct{}
	jobs       chan job
	done       chan struct{}
	reg        *registry             // nil without Config.Registry
	leaser     queue.LeasingEnqueuer // the store, for the publish-time handoff; nil: none
	handoffs   sync.WaitGroup        // Publish calls with workers' places reserved
	wakeAll    atomic.Bool           // the next fill leases for every endpoint, clear or not
	outcomes   chan completion       // to the completer
	backlog    chan struct{}         // a token per outcome waiting for the store without its worker (OutcomeBacklog); nil: none
	completed  chan struct{}         // closed when the completer has sent everything
	hardCtx    context.Context
	hardCancel context.CancelFunc
	stopAfter  func() bool
	workers    sync.WaitGroup
}

type job struct {
	d    queue.Delivery
	mode mode
	sub  *subscription
	t    *target // the endpoint as it was when the delivery was leased
}

// counted reports whether j's attempt is counted in its subscription's inflight (and
// recorded in its breaker): a send or a probe of a subscribed endpoint.
func (j *job) counted() bool { return j.sub != nil && (j.mode == modeSend || j.mode == modeProbe) }

// New returns a Dispatcher that delivers through s and keeps deliveries in
// store (nil: a new memqueue.Store with default bounds). It does nothing until Start. A
// configuration that cannot work (see Config), or a nil s, is an error wrapping
// ErrInvalidConfig.
func New(s *sender.Sender, store queue.Store, cfg Config) (*Dispatcher, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil Sender", ErrInvalidConfig)
	}
	switch {
	case cfg.Workers < 0:
		return nil, fmt.Errorf("%w: negative Workers", ErrInvalidConfig)
	case cfg.LeaseFor < 0:
		return nil, fmt.Errorf("%w: negative LeaseFor", ErrInvalidConfig)
	case cfg.PollInterval < 0:
		return nil, fmt.Errorf("%w: negative PollInterval", ErrInvalidConfig)
	case cfg.Breaker.CoolDown < 0:
		return nil, fmt.Errorf("%w: negative Breaker.CoolDown", ErrInvalidConfig)
	case cfg.CompleteBatch < 0:
		return nil, fmt.Errorf("%w: negative CompleteBatch", ErrInvalidConfig)
	case cfg.CompleteWindow < 0:
		return nil, fmt.Errorf("%w: negative CompleteWindow", ErrInvalidConfig)
	case cfg.OutcomeBacklog < 0:
		return nil, fmt.Errorf("%w: negative OutcomeBacklog", ErrInvalidConfig)
	}
	if cfg.CompleteBatch == 0 {
		cfg.CompleteBatch = DefaultCompleteBatch
	}

	if store == nil {
		store = memqueue.New(memqueue.Config{})
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.LeaseFor == 0 {
		cfg.LeaseFor = DefaultLeaseFor
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.CompleteWindow > cfg.LeaseFor/10 {
		return nil, fmt.Errorf("%w: CompleteWindow %v is more than a tenth of LeaseFor (%v): leases would expire while their outcomes wait",
			ErrInvalidConfig, cfg.CompleteWindow, cfg.LeaseFor)
	}
	cfg.Breaker = cfg.Breaker.withDefaults()
	var reg *registry
	if cfg.Registry != nil {
		var err error
		if reg, err = newRegistry(cfg); err != nil {
			return nil, err
		}
	}
	d := &Dispatcher{
		reg:   reg,
		s:     s,
		store: store,
		cfg:   cfg,
		obs:   cfg.Observer,
		log:   cfg.Logger,
		now:   cfg.Now,
		subs:  make(map[string]*subscription),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		jobs:  make(chan job, max(cfg.Workers, 1)), // never full: a job holds one of Workers places
		done:  make(chan struct{}),

		progress:  make(chan struct{}),
		outcomes:  make(chan completion, cfg.CompleteBatch),
		completed: make(chan struct{}),
	}
	if cfg.OutcomeBacklog > 0 {
		d.backlog = make(chan struct{}, cfg.OutcomeBacklog)
	}
	d.evict, _ = store.(queue.DeadEvicter)
	if !cfg.NoHandoff {
		d.leaser, _ = store.(queue.LeasingEnqueuer)
	}
	if d.now == nil {
		d.now = time.Now
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	d.prefix = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]) + "-"
	d.routes.Store(new([]route))
	d.hardCtx, d.hardCancel = context.WithCancel(context.Background())
	return d, nil
}

// Store returns the dispatcher's store.
func (d *Dispatcher) Store() queue.Store { return d.store }

// Subscribe adds a subscription: from now on Publish stores a delivery for its endpoint
// for every event its Filter matches. A subscription with the ID of one already there
// replaces it (the endpoint's breaker state and in-flight deliveries are kept; deliveries
// already leased finish with the endpoint as it was). The endpoint's URL is parsed and
// checked here, once, not at every attempt.
//
// It returns an error wrapping sender.ErrInvalidEndpoint for a subscription it cannot
// serve: an empty Endpoint.ID or URL; an endpoint that sender.Sender.Prepare refuses (a
// URL that is unparsable, not https:// or http://, without a host, with user information,
// or plain http:// without the Sender's Config.AllowHTTP, that error also matching
// sender.ErrPlainHTTP; a negative Endpoint.Timeout; an invalid Endpoint.Retry,
// sender.ErrInvalidPolicy); a Timeout not shorter than Config.LeaseFor. It returns
// ErrClosed after Shutdown.
func (d *Dispatcher) Subscribe(sub Subscription) error {
	if d.reg != nil {
		return ErrNotEncodable
	}
	t, limit, err := d.prepare(sub)
	if err != nil {
		return err
	}
	if d.closed.Load() {
		return ErrClosed
	}
	ep := &sub.Endpoint
	d.mu.Lock()
	if old := d.subs[ep.ID]; old != nil {
		old.sub, old.t, old.maxInFlight = sub, t, limit
	} else {
		s := &subscription{sub: sub, t: t, maxInFlight: limit}
		s.br.cfg = d.cfg.Breaker
		d.subs[ep.ID] = s
	}
	d.rebuildRoutes()
	d.mu.Unlock()
	d.Notify()
	return nil
}

// prepare checks a subscription as Subscribe documents and returns its endpoint
// prepared and the in-flight bound in effect.
func (d *Dispatcher) prepare(sub Subscription) (*target, int, error) {
	ep := &sub.Endpoint
	if ep.ID == "" {
		return nil, 0, fmt.Errorf("%w: empty id", sender.ErrInvalidEndpoint)
	}
	if ep.URL == "" {
		return nil, 0, fmt.Errorf("%w: empty url", sender.ErrInvalidEndpoint)
	}
	tg, err := d.s.Prepare(*ep)
	if err != nil {
		return nil, 0, err
	}
	if tg.Timeout() >= d.cfg.LeaseFor {
		return nil, 0, fmt.Errorf("%w: timeout %v is not shorter than the dispatcher's lease (%v)",
			sender.ErrInvalidEndpoint, tg.Timeout(), d.cfg.LeaseFor)
	}
	limit := sub.MaxInFlight
	if limit == 0 {
		limit = d.cfg.MaxInFlight
	}
	if limit < 0 {
		limit = d.cfg.Workers
	}
	return &target{t: tg, retry: d.s.RetryPolicy(*ep)}, limit, nil
}

// Unsubscribe removes the subscription of the endpoint with the given ID: nothing more is
// published to it, and its pending deliveries become dead letters (reason
// queue.DeadReasonUnsubscribed), so nothing is lost; deliveries in flight finish. It returns
// queue.ErrNotFound for an unknown ID. With a Config.Registry it deletes the endpoint
// there, for every dispatcher.
func (d *Dispatcher) Unsubscribe(ctx context.Context, id string) error {
	if d.reg != nil {
		return d.unregister(ctx, id)
	}
	d.mu.Lock()
	if d.subs[id] == nil {
		d.mu.Unlock()
		return queue.ErrNotFound
	}
	delete(d.subs, id)
	d.rebuildRoutes()
	d.mu.Unlock()
	_, err := d.deadLetterEndpoint(ctx, id, queue.DeadReasonUnsubscribed)
	return err
}

// Endpoint returns the status of the subscribed endpoint with the given ID. With a
// Config.Registry: of an endpoint this dispatcher caches (the registry's
// GetEndpoints has them all).
func (d *Dispatcher) Endpoint(id string) (EndpointStatus, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reg != nil {
		if st := d.registryStatuses(id); len(st) == 1 {
			return st[0], true
		}
		return EndpointStatus{}, false
	}
	sub := d.subs[id]
	if sub == nil {
		return EndpointStatus{}, false
	}
	return sub.status(), true
}

// Endpoints returns the status of every subscribed endpoint, in no particular order.
// With a Config.Registry: of the endpoints this dispatcher caches (the registry's
// ListEndpoints has them all).
func (d *Dispatcher) Endpoints() []EndpointStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reg != nil {
		return d.registryStatuses("")
	}
	out := make([]EndpointStatus, 0, len(d.subs))
	for _, sub := range d.subs {
		out = append(out, sub.status())
	}
	return out
}

func (sub *subscription) status() EndpointStatus {
	st := EndpointStatus{Subscription: sub.sub, State: sub.br.state, Failures: sub.br.failures,
		InFlight: sub.inflight}
	st.Subscription.MaxInFlight = sub.maxInFlight
	if sub.br.state == EndpointPaused {
		st.PausedUntil = sub.br.until
	}
	return st
}

// EnableEndpoint resumes a disabled or paused endpoint: its breaker is reset to active.
// Dead letters stay where they are; Requeue them if they should be sent. With a
// Config.Registry it writes the registry (EnableEndpointContext, bounded by 10 s) and
// every dispatcher on it resumes the endpoint within a poll interval.
func (d *Dispatcher) EnableEndpoint(id string) error {
	if d.reg != nil {
		ctx, cancel := d.storeCtx()
		defer cancel()
		return d.EnableEndpointContext(ctx, id)
	}
	d.mu.Lock()
	sub := d.subs[id]
	if sub == nil {
		d.mu.Unlock()
		return queue.ErrNotFound
	}
	sub.br.failures = 0
	if c := sub.br.change(id, EndpointActive, d.now(), nil); c != nil {
		d.changes = append(d.changes, *c)
	}
	d.rebuildRoutes()
	d.mu.Unlock()
	d.flushChanges()
	d.Notify()
	return nil
}

// rebuildRoutes publishes a new snapshot of the routes Publish reads. Caller holds mu.
func (d *Dispatcher) rebuildRoutes() {
	rs := make([]route, 0, len(d.subs))
	for id, sub := range d.subs {
		if sub.br.state != EndpointDisabled {
			rs = append(rs, route{id: id, filter: sub.sub.Filter, ordered: sub.sub.Ordered})
		}
	}
	d.routes.Store(&rs)
}

// Publish encodes ev once and stores one delivery for every subscription whose Filter
// matches its type (disabled endpoints excluded), then returns how many it stored. It
// does no network I/O. All the deliveries are stored or none: it returns queue.ErrQueueFull
// when the store is full and ErrClosed after Shutdown. Publishing before Start is allowed;
// the deliveries wait in the store. It is FanOut, then the store's Enqueue, then Notify.
func (d *Dispatcher) Publish(ctx context.Context, ev *event.Event) (int, error) {
	ds, err := d.FanOutContext(ctx, ev)
	if err != nil {
		return 0, err
	}
	return d.enqueue(ctx, ds)
}

// enqueue stores ds in one Enqueue and wakes the dispatcher: the second half of Publish
// and PublishMany. With a LeasingEnqueuer it hands off what it can (see
// Config.NoHandoff): it reserves free workers for some of ds, stores those leased and the
// others pending in one EnqueueLeased, and then gives the leased ones to the workers. It
// returns how many it stored.
func (d *Dispatcher) enqueue(ctx context.Context, ds []queue.Delivery) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	var held []*subscription
	if d.leaser != nil {
		held = d.reserve(ds)
	}
	if held == nil {
		if err := d.store.Enqueue(ctx, ds...); err != nil {
			return 0, err
		}
		d.stored(ds)
		return len(ds), nil
	}
	defer d.handoffs.Done()
	handed := false
	err := d.leaser.EnqueueLeased(ctx, ds, func() {
		handed = true
		d.handOff(ds, held)
	})
	if !handed {
		d.unreserve(ds, held)
	}
	if err == nil {
		d.stored(ds)
	}
	d.flushChanges() // those admitting the deliveries handed off made
	if err != nil {
		return 0, err
	}
	return len(ds), nil
}

// reserve takes a worker's place, and one within its endpoint's MaxInFlight, for each
// delivery of ds that can be handed off: due now, unordered, for an active clear endpoint
// (subscription.clear), while places are free beyond those the pump's Lease in flight
// may fill. It sets their LeaseExpires and returns their subscriptions, in the order of
// ds (nil: none reserved). An endpoint whose delivery could have been handed off but for
// want of a place stops being clear: a backlog is forming, which the pump leases.
func (d *Dispatcher) reserve(ds []queue.Delivery) []*subscription {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started || d.stopping {
		return nil
	}
	now := d.now()
	if d.reg != nil {
		return d.reserveRegistry(ds, now)
	}
	free := d.cfg.Workers - d.busy - d.pumpHeld
	var held []*subscription
	for i := range ds {
		del := &ds[i]
		sub := d.subs[del.EndpointID]
		if sub == nil || !sub.clear || del.Ordered || del.Due.After(now) {
			continue
		}
		if d.cfg.Workers-d.busy <= 0 || sub.inflight >= sub.maxInFlight || sub.br.state != EndpointActive {
			sub.clear = false
			continue
		}
		room := sub.maxInFlight - sub.inflight
		if d.pumpHeld > 0 {
			room -= d.limits[del.EndpointID] // the places the pump's Lease may fill
		}
		if free <= 0 || room <= 0 {
			continue // stored pending for the pump, which holds the places
		}
		sub.inflight++
		d.busy++
		free--
		del.LeaseExpires = now.Add(d.cfg.LeaseFor)
		held = append(held, sub)
	}
	if held != nil {
		d.handoffs.Add(1)
	}
	return held
}

// handOff gives the deliveries of ds that reserve held places for, now stored leased,
// to the workers, as fill gives those it leases. It runs as soon as the store has
// committed them (EnqueueLeased's committed), which may be in the store's own goroutine
// and before they are durable (as the pump may lease a delivery committed and not yet
// fsynced): it only takes mu and sends to the jobs channel, which has room for every job.
// The state changes admitting them may make are reported by enqueue, in the publisher's
// goroutine.
func (d *Dispatcher) handOff(ds []queue.Delivery, held []*subscription) {
	d.mu.Lock()
	now := d.now()
	jobs := make([]job, 0, len(held))
	k := 0
	for i := range ds {
		if ds[i].LeaseExpires.IsZero() {
			continue
		}
		sub := held[k]
		k++
		if d.reg != nil {
			jobs = append(jobs, d.admitRegistryJob(ds[i], sub, now))
			continue
		}
		sub.inflight-- // counted again by admitJob, as the delivery is admitted
		jobs = append(jobs, d.admitJob(ds[i], now))
	}
	d.mu.Unlock()
	for _, j := range jobs {
		d.jobs <- j
	}
}

// unreserve frees the places reserve held for ds, which the store did not take.
func (d *Dispatcher) unreserve(ds []queue.Delivery, held []*subscription) {
	d.mu.Lock()
	for _, sub := range held {
		sub.inflight--
		d.busy--
	}
	for i := range ds {
		ds[i].LeaseExpires = time.Time{}
	}
	d.mu.Unlock()
	d.poke()
}

// stored ends a Publish whose deliveries the store took: it counts those stored pending
// (subscription.stored: a Lease begun before they were stored may have missed them) and
// wakes the pump for them. A Publish handed off whole takes no lock here, nor one without
// the handoff (the counts serve it only).
func (d *Dispatcher) stored(ds []queue.Delivery) {
	if d.leaser == nil {
		d.poke()
		return
	}
	locked := false
	for i := range ds {
		if !ds[i].LeaseExpires.IsZero() {
			continue
		}
		if !locked {
			d.mu.Lock()
			locked = true
			d.regPending++ // with a Registry: a backlog may be forming (see regClear)
			d.regClear = false
		}
		if sub := d.subs[ds[i].EndpointID]; sub != nil {
			sub.stored++
		}
	}
	if locked {
		d.mu.Unlock()
		d.poke()
	}
}

// PublishMany is Publish for several events at once: it fans each out as Publish does and
// stores the deliveries of all of them in one Enqueue, in the order of evs (an ordered
// endpoint receives them in that order), then calls Notify. A durable store commits them
// together: one commit, and one fsync with SQLite's SyncFull, for the lot, so that a
// backfill or an import from one goroutine is not held to one commit per event. All the
// deliveries are stored or none (queue.ErrQueueFull when they do not all fit); it returns
// how many it stored. An event that cannot be fanned out (nil, one that does not encode,
// a failed lookup of a Config.Registry) stores nothing: the error is a *FanOutError that
// says which. ErrClosed after Shutdown. Each call is one write of the store, held in
// memory until it commits: split a backfill of millions into calls of some hundreds or
// thousands of events (hookkit publish sends 500 at a time).
func (d *Dispatcher) PublishMany(ctx context.Context, evs ...*event.Event) (int, error) {
	var all []queue.Delivery
	for i, ev := range evs {
		ds, err := d.FanOutContext(ctx, ev)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return 0, err
			}
			return 0, &FanOutError{Index: i, Err: err}
		}
		all = append(all, ds...)
	}
	return d.enqueue(ctx, all)
}

// FanOutError is PublishMany's error for an event it could not fan out: nothing of the
// call was stored.
type FanOutError struct {
	Index int   // the event's position among PublishMany's events
	Err   error // what FanOutContext returned for it
}

// Error implements error.
func (e *FanOutError) Error() string {
	return fmt.Sprintf("hookkit/dispatch: event %d: %v", e.Index, e.Err)
}

// Unwrap returns Err.
func (e *FanOutError) Unwrap() error { return e.Err }

// FanOut returns the deliveries Publish would store for ev, without storing them: one per
// subscription whose Filter matches its type (disabled endpoints excluded), with new IDs,
// due now, the event encoded once and shared by all. It does no I/O. It is the first half
// of publishing inside the caller's own database transaction: pass the deliveries to a
// store's transactional enqueue (an EnqueueTx of the store's own, see package queue), then
// call Notify after the commit. nil (no error) when no subscription matches; ErrClosed
// after Shutdown; an event that does not encode is Encode's error. With a
// Config.Registry it asks the registry (FanOutContext, with context.Background()).
func (d *Dispatcher) FanOut(ev *event.Event) ([]queue.Delivery, error) {
	return d.FanOutContext(context.Background(), ev)
}

// FanOutContext is FanOut with a context for the registry's lookup (MatchEndpoints,
// with a Config.Registry; without one it does no I/O and ignores ctx).
func (d *Dispatcher) FanOutContext(ctx context.Context, ev *event.Event) ([]queue.Delivery, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	if ev == nil {
		return nil, errors.New("hookkit/dispatch: Publish of a nil event")
	}
	if d.reg != nil {
		return d.fanOutRegistry(ctx, ev)
	}
	var ds []queue.Delivery
	rs := *d.routes.Load()
	var enc *event.Encoded
	var now time.Time
	for i := range rs {
		r := &rs[i]
		if !r.filter.Match(ev.Type) {
			continue
		}
		if enc == nil {
			var err error
			if enc, err = ev.Encode(); err != nil {
				return nil, err
			}
			now = d.now()
			// Room for a few: preallocating for every route left would cost
			// ~200 B per subscription on each Publish (205 KB at 1,000 endpoints
			// of which 3 match).
			ds = make([]queue.Delivery, 0, min(len(rs)-i, 8))
		}
		ds = append(ds, queue.Delivery{ID: d.newID(), EndpointID: r.id, Event: enc, Ordered: r.ordered, Created: now, Due: now})
	}
	return ds, nil
}

// Notify wakes the dispatcher to lease at once instead of at its next poll: call it after
// storing deliveries outside Publish (a transactional enqueue, once committed, or another
// program's writes to a shared store). It never blocks.
func (d *Dispatcher) Notify() {
	d.wakeAll.Store(true)
	d.poke()
}

// poke wakes the pump for this dispatcher's own work: a finished attempt, deliveries
// Publish stored pending. Its fill leases only for endpoints that are not clear.
func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// newID returns a delivery ID unique across processes: a random prefix per dispatcher
// and a counter.
func (d *Dispatcher) newID() string {
	var buf [40]byte
	b := append(buf[:0], d.prefix...)
	return string(strconv.AppendUint(b, d.seq.Add(1), 36))
}

// ListDead lists one page of the dead letters f selects (oldest first), each with its
// full attempt history: its queue.Store's ListDead. Pass Page.Next as f.After for the next
// page.
func (d *Dispatcher) ListDead(ctx context.Context, f queue.ListFilter) (queue.Page, error) {
	return d.store.ListDead(ctx, f)
}

// ListPending lists one page of the deliveries f selects that are waiting or in flight
// (earliest due first): its queue.Store's ListPending. Pass Page.Next as f.After for the
// next page.
func (d *Dispatcher) ListPending(ctx context.Context, f queue.ListFilter) (queue.Page, error) {
	return d.store.ListPending(ctx, f)
}

// Requeue makes dead letters pending again, due now: one (queue.Selector.ID), those of an
// endpoint (queue.Selector.EndpointID) or all (zero queue.Selector). Their history is kept and their
// retry policy starts a new round. It returns how many were requeued.
func (d *Dispatcher) Requeue(ctx context.Context, sel queue.Selector) (int, error) {
	n, err := d.store.Requeue(ctx, sel, d.now())
	if n > 0 {
		d.Notify()
	}
	return n, err
}

// Drain returns nil once the store holds nothing pending or leased at the dispatcher's
// clock (queue.Store.Stats): every delivery was acknowledged or became a dead letter.
// Deliveries waiting for a retry, or for a paused endpoint, are pending: Drain waits for
// them too. It checks again whenever one of this dispatcher's deliveries finishes and at
// every Config.PollInterval (for the work of other dispatchers sharing the store), and
// returns the store's error, or ctx's when it ends first. It does not stop the dispatcher:
// call Shutdown after it. A dispatcher that is not started drains only if others do the work.
func (d *Dispatcher) Drain(ctx context.Context) error {
	t := time.NewTimer(d.cfg.PollInterval)
	defer t.Stop()
	for {
		d.mu.Lock()
		progress := d.progress
		d.mu.Unlock()
		st, err := d.store.Stats(ctx, d.now())
		if err != nil {
			return err
		}
		if st.Pending == 0 && st.Leased == 0 {
			return nil
		}
		t.Reset(d.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress:
		case <-t.C:
		}
	}
}

// Start starts the workers. It returns at once. When ctx ends, the dispatcher stops as
// with Shutdown on an expired context: in-flight attempts are cancelled and their leases
// handed back. Call Shutdown in any case to wait for the goroutines to end.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed.Load():
		return ErrClosed
	case d.started:
		return ErrStarted
	}
	d.started = true
	d.workers.Add(d.cfg.Workers)
	for range d.cfg.Workers {
		go d.worker()
	}
	go d.completer()
	go d.pump()
	d.stopAfter = context.AfterFunc(ctx, func() {
		d.beginShutdown()
		d.hardCancel()
	})
	return nil
}

// Shutdown stops the dispatcher: Publish returns ErrClosed from now on, no new delivery is
// leased, and deliveries handed to workers but not started are returned to the store.
// Attempts in flight finish and are recorded. If ctx ends first, they are cancelled and
// their leases handed back (due at once, no attempt recorded); Shutdown then waits for the
// workers to exit and returns ctx.Err(). Deliveries still pending stay in the store.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	started := d.beginShutdown()
	if !started {
		return nil
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		d.hardCancel()
		<-d.done
		return ctx.Err()
	}
}

// beginShutdown closes the dispatcher once and reports whether it had been started.
func (d *Dispatcher) beginShutdown() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed.Store(true)
	if !d.started {
		d.hardCancel()
		return false
	}
	if !d.stopping {
		d.stopping = true
		close(d.stop)
		if d.stopAfter != nil {
			d.stopAfter()
		}
	}
	return true
}

// pump leases what can run and hands it to the workers.
func (d *Dispatcher) pump() {
	defer func() {
		d.handoffs.Wait() // their jobs go to the workers, which hand them back
		close(d.jobs)
		d.workers.Wait()
		close(d.outcomes)
		<-d.completed
		d.hardCancel()
		close(d.done)
	}()
	t := time.NewTimer(d.cfg.PollInterval)
	defer t.Stop()
	nd, _ := d.store.(queue.NextDuer)
	var notified <-chan struct{} // nil (never ready) unless the store notifies
	if n, ok := d.store.(queue.Notifier); ok {
		notified = n.Notifications()
	}
	// all: the next fill leases for every endpoint, clear or not (see fill). So it does
	// at first, when woken by the timer, the store or Notify, and at least once every
	// PollInterval however often this dispatcher's own work wakes it.
	all := true
	var lastAll time.Time
	var next time.Time // the store's NextDue, asked after the last Lease
	nextKnown := false
	for {
		var polled time.Time
		if d.reg != nil {
			polled = d.pollRegistry()
		}
		if now := time.Now(); all || d.wakeAll.Swap(false) || now.Sub(lastAll) >= d.cfg.PollInterval {
			all, lastAll = true, now
		}
		idle, asked := d.fill(all)
		asked = asked || all
		wait := d.cfg.PollInterval
		if d.reg != nil {
			wait = min(wait, max(polled.Sub(d.now()), 0))
		}
		if nd != nil && idle {
			// Wake when the next retry is due, if that is sooner than the poll. A due time
			// already past belongs to an endpoint at its limit: a finishing attempt wakes us.
			// Asked only when fill found nothing to lease (once per idle period, not on
			// every wake-up): after a Lease that took deliveries, their attempts wake the
			// pump when they finish, and the Lease then made takes whatever fell due
			// meanwhile, until one finds nothing and the next due time matters again. A
			// fill for this dispatcher's own work that made no Lease (its endpoints clear,
			// their deliveries handed off) keeps the time last asked: a rescheduled
			// delivery wakes the pump for every endpoint (flush), and that fill asks again.
			if asked || !nextKnown {
				var ok bool
				if next, ok = nd.NextDue(d.hardCtx); !ok {
					next = time.Time{}
				}
				nextKnown = true
			}
			if !next.IsZero() {
				if w := next.Sub(d.now()); w > 0 && w < wait {
					wait = w
				}
			}
		}
		// Wake when a cool-down ends: the paused endpoint's deliveries, long due, wait for it.
		if next, ok := d.nextProbe(); ok {
			if w := next.Sub(d.now()); w < wait {
				wait = max(w, 0)
			}
		}
		all = false
		t.Reset(wait)
		select {
		case <-d.stop:
			return
		case <-d.wake:
		case <-notified:
			all = true
		case <-t.C:
			all = true
		}
	}
}

// nextProbe returns the earliest end of a cool-down still to come, if any.
func (d *Dispatcher) nextProbe() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	var next time.Time
	for _, sub := range d.subs {
		if t, ok := sub.br.probeAt(now); ok && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, !next.IsZero()
}

// fill leases as many deliveries as there are free workers, only for endpoints that
// can take them now. Unless all is set, it leases nothing for a clear endpoint
// (subscription.clear: Publish hands its deliveries off) but what Publish stored pending
// since its last Lease began, and one more to learn whether there is more.
// It reports whether the pump is idle, with nothing handed to the workers to wake it: no
// Lease took anything, and either one was made or no endpoint could take a delivery; and
// whether it made a Lease. With a registry fillRegistry leases, and reports idle the same
// way, unless Publish hands off (regClear) and all is not set: then nothing is leased.
func (d *Dispatcher) fill(all bool) (idle, asked bool) {
	if d.reg != nil {
		if !all && d.leaser != nil {
			// Woken by this dispatcher's own work (a finished attempt) while nothing waits:
			// no Lease (what other instances store comes with a notification or the poll).
			d.mu.Lock()
			clear := d.regClear
			d.mu.Unlock()
			if clear {
				return true, false
			}
		}
		return d.fillRegistry(), true
	}
	idle = true
	for {
		d.mu.Lock()
		free := d.cfg.Workers - d.busy
		if free <= 0 || d.stopping {
			idle = idle && d.busy == 0
			d.mu.Unlock()
			return idle, asked
		}
		now := d.now()
		if d.limits == nil {
			d.limits, d.taken = make(map[string]int), make(map[string]int)
		}
		clear(d.limits)
		want := 0
		for id, sub := range d.subs {
			n := sub.br.capacity(sub.maxInFlight, sub.inflight, now)
			sub.catchUp = n > 0 && sub.clear && !all
			if missed := int(sub.stored - sub.seen); sub.catchUp {
				n = min(n, missed+1) // and one more, to learn whether there is more
				if missed == 0 {
					n = 0
				}
			}
			if n <= 0 {
				continue
			}
			d.limits[id] = n
			want += n
			sub.seen = sub.stored
		}
		if len(d.limits) == 0 {
			d.mu.Unlock()
			return idle, asked
		}
		// The places this Lease may fill are held from Publish's handoff, so the limits
		// can shrink meanwhile only by a worker's failure pausing an endpoint: admit hands
		// those deliveries back.
		most := min(free, want)
		d.pumpHeld = most
		d.mu.Unlock()
		ds, err := d.store.Lease(d.hardCtx, queue.LeaseRequest{Now: now, Max: most, For: d.cfg.LeaseFor, Endpoints: d.limits})
		asked = true
		d.mu.Lock()
		d.pumpHeld = 0
		if err != nil {
			// What Publish stored before the Lease began is still to lease: the next
			// fill leases these endpoints in full.
			for id := range d.limits {
				if sub := d.subs[id]; sub != nil {
					sub.clear = false
				}
			}
			d.mu.Unlock()
			if d.log != nil && d.hardCtx.Err() == nil {
				d.log.Error("hookkit: lease from store failed", "err", err)
			}
			return idle, asked
		}
		if len(ds) > 0 {
			idle = false
		}
		if d.leaser != nil {
			// An endpoint that got fewer than its limit, from a Lease not cut short by
			// Max, had nothing more due: clear. What Publish stored pending once the
			// Lease began is left for the next one. A catch-up Lease leaves clear as it
			// is when it took fewer than it asked for, from a Lease not cut short: what
			// Publish stored since is counted for the next one. One that took its limit,
			// or was cut short, may have left some of what it was to catch up on (its
			// limit is the endpoint's free places, which may be fewer than it missed, and
			// seen counts them all): not clear, so that the next Lease takes them.
			clear(d.taken)
			for i := range ds {
				d.taken[ds[i].EndpointID]++
			}
			for id, n := range d.limits {
				sub := d.subs[id]
				switch {
				case sub == nil:
				case !sub.catchUp:
					sub.clear = len(ds) < most && d.taken[id] < n
				case len(ds) >= most || d.taken[id] >= n:
					sub.clear = false
				}
			}
		}
		jobs := make([]job, 0, len(ds))
		for _, del := range ds {
			d.busy++
			jobs = append(jobs, d.admitJob(del, now))
		}
		d.mu.Unlock()
		d.flushChanges()
		for _, j := range jobs {
			d.jobs <- j
		}
		if len(ds) < most {
			return idle, asked
		}
	}
}

// admitJob returns the job of a delivery leased for this dispatcher, its mode decided by
// its endpoint's breaker (admit), counted in the endpoint's in-flight attempts when it is
// sent. The caller holds mu and counts it in busy.
func (d *Dispatcher) admitJob(del queue.Delivery, now time.Time) job {
	j := job{d: del, mode: modeDisabled}
	sub := d.subs[del.EndpointID]
	if sub == nil {
		j.mode = modeUnsubscribed
		return j
	}
	var c *EndpointStateChange
	j.sub, j.t = sub, sub.t
	if j.mode, c = sub.br.admit(del.EndpointID, now); c != nil {
		d.changes = append(d.changes, *c)
	}
	if j.counted() {
		sub.inflight++
	}
	return j
}

func (d *Dispatcher) worker() {
	defer d.workers.Done()
	for j := range d.jobs {
		d.handle(j)
	}
}

// storeCtx bounds a store call made while finishing a job; it survives the hard stop so
// that leases are handed back.
func (d *Dispatcher) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(d.hardCtx), 10*time.Second)
}

// handle finishes one leased delivery: sends it (or not, by mode), records the outcome in
// the breaker and hands it to the completer, which stores it with the next batch and then
// reports it (see finished). The worker waits for the store, or, with room in the
// OutcomeBacklog, goes on at once: the store's commit then overlaps the next attempts.
func (d *Dispatcher) handle(j job) {
	del := &j.d
	c := completion{del: j.d}
	o, probe := outcomeNone, j.mode == modeProbe
	var sa sender.Attempt // the attempt made, if any
	rescheduled := false  // handed back pending (not acknowledged, not dead)
	handBack := func() {
		rescheduled, c.o = true, queue.Reschedule(del.ID, del.Lease, del.Due)
	}
	d.mu.Lock()
	stopping := d.stopping
	d.mu.Unlock()
	switch j.mode {
	case modeUnsubscribed:
		c.at = d.now()
		c.dead(queue.DeadReasonUnsubscribed)
	case modeDisabled:
		c.at = d.now()
		c.dead(queue.DeadReasonGone)
	case modeRelease:
		handBack()
	default:
		if stopping {
			handBack()
			break
		}
		sa = d.s.Attempt(d.hardCtx, j.t.t, del.Event, len(del.Attempts))
		if d.hardCtx.Err() != nil && sa.Class != sender.ClassAcknowledged {
			// Cancelled by a hard stop: the attempt did not finish; hand the lease back.
			handBack()
			break
		}
		now := d.now()
		var reason string
		o, reason = judge(sa.Class)
		a := record(sa)
		c.at = now
		switch {
		case sa.Class == sender.ClassAcknowledged:
			c.o, c.report = queue.Ack(del.ID, del.Lease), reportDelivered
		case reason != "":
			c.dead(reason, a)
		default:
			if delay, ok := nextDelay(j.t.retry, del, a, now); ok {
				rescheduled, c.o = true, queue.Reschedule(del.ID, del.Lease, now.Add(delay), a)
			} else {
				c.dead(queue.DeadReasonExhausted, a)
			}
		}
		c.del.Attempts = append(c.del.Attempts, a)
	}
	if d.reg != nil {
		if j.counted() {
			d.mu.Lock()
			j.sub.inflight--
			d.mu.Unlock()
		}
		// The breaker's state is recorded before submit frees the worker's place, so that
		// the pump admits the next delivery on it; the sweep waits for the outcome stored.
		sweep := d.finishRegistry(j, o, probe, sa.Err, rescheduled)
		d.submit(&c, sweep)
		if sweep {
			d.sweepEndpoint(del.EndpointID, queue.DeadReasonGone, c.res)
		}
		return
	}
	d.mu.Lock()
	cur := d.subs[del.EndpointID]
	if j.counted() {
		j.sub.inflight--
		if cur == j.sub {
			if ch := j.sub.br.record(del.EndpointID, o, probe, d.now(), sa.Err); ch != nil {
				d.changes = append(d.changes, *ch)
				if ch.To == EndpointDisabled {
					d.rebuildRoutes()
				}
			}
		}
	}
	// Deliveries of a removed or disabled endpoint must not stay pending: if this one is
	// handed back, sweep the endpoint once that is stored (Unsubscribe and the 410 handler
	// sweep too; whichever runs last catches it).
	sweep := ""
	switch {
	case cur == nil && (rescheduled || j.mode == modeUnsubscribed):
		sweep = queue.DeadReasonUnsubscribed
	case cur != nil && cur.br.state == EndpointDisabled && (rescheduled || o == outcomeGone):
		sweep = queue.DeadReasonGone
	}
	d.mu.Unlock()
	d.flushChanges()
	d.submit(&c, sweep != "")
	if sweep != "" {
		d.sweepEndpoint(del.EndpointID, sweep, c.res)
	}
}

// sweepEndpoint makes the pending deliveries of endpoint id dead letters for reason, once
// stored, the store's result for the attempt's outcome, has come (a handed-back delivery
// must be pending by then).
func (d *Dispatcher) sweepEndpoint(id, reason string, stored <-chan error) {
	<-stored
	ctx, cancel := d.storeCtx()
	defer cancel()
	if _, err := d.deadLetterEndpoint(ctx, id, reason); err != nil && d.log != nil {
		d.log.Error("hookkit: dead-lettering an endpoint's deliveries failed", "endpoint", id, "err", err)
	}
}

// submit hands c to the completer and frees the worker's place in Workers, so that the
// pump may lease the worker's next delivery while c is being stored (a store that merges
// concurrent calls, as sqlitequeue does, then takes both in one transaction). Without an
// OutcomeBacklog it returns once the store has c: the worker makes no attempt before its
// last outcome is recorded. With one, it returns once c is queued and holds a place in
// the backlog (waiting for a place first). When result is set, the store's result is
// also sent to c.res, for the caller to wait on.
func (d *Dispatcher) submit(c *completion, result bool) {
	if d.backlog == nil {
		c.res = make(chan error, 1)
		d.outcomes <- *c
		d.release()
		c.res <- <-c.res // stored; kept in c.res for a caller that waits too
		return
	}
	if result {
		c.res = make(chan error, 1)
	}
	d.backlog <- struct{}{}
	c.backlogged = true
	d.outcomes <- *c
	d.release()
}

// release frees a worker's place in Workers and wakes the pump.
func (d *Dispatcher) release() {
	d.mu.Lock()
	d.busy--
	d.mu.Unlock()
	d.poke()
}

// report says which Observer hook a stored outcome is reported to.
type report uint8

const (
	reportNone      report = iota // handed back or rescheduled: not finished
	reportDelivered               // Observer.Delivered
	reportDead                    // Observer.DeadLettered
)

// completion is one outcome on its way to the completer, with what to report once the
// store has it.
type completion struct {
	o      queue.Outcome
	del    queue.Delivery // as leased, with the attempt made (if any) appended
	report report
	reason string     // the dead letter's reason (reportDead)
	at     time.Time  // when the outcome was decided: the dead letter's DeadAt
	res    chan error // when not nil (buffered), the store's result is sent to it too
	// backlogged says c holds a place in the OutcomeBacklog, given back once stored.
	backlogged bool
}

// dead makes c the dead letter of its delivery for reason, with the attempt made, if any.
func (c *completion) dead(reason string, a ...queue.Attempt) {
	c.o, c.report, c.reason = queue.DeadLetter(c.del.ID, c.del.Lease, reason, a...), reportDead, reason
}

// completer collects the outcomes of finished attempts into batches (up to
// Config.CompleteBatch, for up to Config.CompleteWindow, not waiting once the dispatcher
// stops) and sends each to the store in one Complete call. It returns when outcomes is
// closed and drained.
func (d *Dispatcher) completer() {
	defer close(d.completed)
	batch := make([]completion, 0, d.cfg.CompleteBatch)
	for c := range d.outcomes {
		batch = append(batch[:0], c)
		var timeout <-chan time.Time
		var timer *time.Timer
		if d.cfg.CompleteWindow > 0 {
			timer = time.NewTimer(d.cfg.CompleteWindow)
			timeout = timer.C
		}
	collect:
		for len(batch) < d.cfg.CompleteBatch {
			if timeout == nil {
				select {
				case c, ok := <-d.outcomes:
					if !ok {
						break collect
					}
					batch = append(batch, c)
				default:
					break collect
				}
				continue
			}
			select {
			case c, ok := <-d.outcomes:
				if !ok {
					break collect
				}
				batch = append(batch, c)
			case <-timeout:
				break collect
			case <-d.stop:
				timeout = nil // stopping: send what is there now
			}
		}
		if timer != nil {
			timer.Stop()
		}
		d.flush(batch)
		clear(batch)
	}
}

// flush sends one batch of outcomes to the store, then reports each (finished) and wakes
// Drain and the pump.
func (d *Dispatcher) flush(batch []completion) {
	ctx, cancel := d.storeCtx()
	defer cancel()
	os := make([]queue.Outcome, len(batch))
	for i := range batch {
		os[i] = batch[i].o
	}
	var errs []error
	var err error
	if d.evict != nil {
		var evicted []queue.Delivery
		errs, evicted, err = d.evict.CompleteEvicting(ctx, d.now(), os...)
		d.reportEvicted(ctx, evicted)
	} else {
		errs, err = d.store.Complete(ctx, d.now(), os...)
	}
	if err == nil && len(errs) != len(os) {
		err = fmt.Errorf("%w: %d results for %d outcomes", errStoreResults, len(errs), len(os))
	}
	for i := range batch {
		e := err
		if e == nil {
			e = errs[i]
		}
		d.finished(ctx, &batch[i], e)
	}
	d.mu.Lock()
	close(d.progress)
	d.progress = make(chan struct{})
	d.mu.Unlock()
	// What was stored may be leasable now (an ordered endpoint's next delivery, a
	// handed-back one): the pump asks again. A rescheduled delivery, due later, may change
	// the next due time (queue.NextDuer) or be handed back due now: every endpoint then.
	for i := range batch {
		if batch[i].o.Kind == queue.OutcomeReschedule {
			d.wakeAll.Store(true)
			break
		}
	}
	d.poke()
}

// finished reports one outcome the store has answered: to the observer when it was
// stored, to the log when not, and to the worker waiting for it, if any.
func (d *Dispatcher) finished(ctx context.Context, c *completion, err error) {
	if c.res != nil {
		c.res <- err
	}
	if c.backlogged {
		<-d.backlog
	}
	del := &c.del
	if err != nil {
		if d.log != nil {
			lvl := slog.LevelError
			if errors.Is(err, queue.ErrLeaseLost) {
				lvl = slog.LevelWarn
			}
			d.log.Log(ctx, lvl, "hookkit: store update failed", "delivery", del.ID, "endpoint", del.EndpointID, "err", err)
		}
		return
	}
	// The hooks get a context of their own, as EndpointStateChanged does (flushChanges):
	// ctx's deadline bounds the batch's Complete, not up to CompleteBatch hooks after it.
	hookCtx := context.WithoutCancel(d.hardCtx)
	switch {
	case c.report == reportDelivered && d.obs.Delivered != nil:
		d.obs.Delivered(hookCtx, *del)
	case c.report == reportDead && d.obs.DeadLettered != nil:
		del.Lease, del.LeaseExpires = "", time.Time{}
		del.DeadReason, del.DeadAt = c.reason, c.at
		d.obs.DeadLettered(hookCtx, *del)
	}
}

// deadLetterEndpoint makes the pending deliveries of an endpoint dead letters and reports
// the dead letters the store evicted to make room for them.
func (d *Dispatcher) deadLetterEndpoint(ctx context.Context, endpointID, reason string) (int, error) {
	if d.evict == nil {
		return d.store.DeadLetterEndpoint(ctx, d.now(), endpointID, reason)
	}
	n, evicted, err := d.evict.DeadLetterEndpointEvicting(ctx, d.now(), endpointID, reason)
	d.reportEvicted(ctx, evicted)
	return n, err
}

// reportEvicted tells the observer's DeadLetterEvicted hook and the logger about each
// evicted dead letter.
func (d *Dispatcher) reportEvicted(ctx context.Context, evicted []queue.Delivery) {
	for i := range evicted {
		e := &evicted[i]
		if d.obs.DeadLetterEvicted != nil {
			d.obs.DeadLetterEvicted(ctx, *e)
		}
		if d.log != nil {
			evID := ""
			if e.Event != nil {
				evID = e.Event.ID()
			}
			d.log.LogAttrs(ctx, slog.LevelWarn, "hookkit: dead letter evicted, the store's bound on dead letters was reached",
				slog.String("delivery", e.ID), slog.String("endpoint", e.EndpointID), slog.String("event", evID),
				slog.String("reason", e.DeadReason), slog.Int("attempts", len(e.Attempts)))
		}
	}
}

// flushChanges reports queued state changes to the observer's EndpointStateChanged hook,
// in order.
func (d *Dispatcher) flushChanges() {
	if d.obs.EndpointStateChanged == nil {
		d.mu.Lock()
		d.changes = d.changes[:0]
		d.mu.Unlock()
		return
	}
	d.obsMu.Lock()
	defer d.obsMu.Unlock()
	d.mu.Lock()
	cs := d.changes
	d.changes = nil
	d.mu.Unlock()
	for _, c := range cs {
		d.obs.EndpointStateChanged(context.WithoutCancel(d.hardCtx), c)
	}
}
