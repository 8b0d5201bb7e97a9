package dispatch

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// DefaultRegistryCache is Config.RegistryCache's default: the endpoints a dispatcher with
// a registry keeps in memory.
const DefaultRegistryCache = 10_000

// registry is a dispatcher's view of its Config.Registry. Guarded by Dispatcher.mu,
// except r and codec, which never change.
type registry struct {
	r       queue.Registry
	codec   SpecCodec
	opts    SpecOptions
	size    int
	entries map[string]*regEntry
	lru     list.List // of *regEntry, most recently used first
	cursor  uint64
	polled  bool      // cursor is one EndpointChanges returned
	next    time.Time // when the next poll is due
}

// regEntry is one cached endpoint.
type regEntry struct {
	id   string
	rec  queue.Endpoint // as last read (Spec included)
	sub  subscription   // built from rec: the prepared target, the bound, the breaker
	err  error          // the spec could not be opened or prepared: deliveries wait
	elem *list.Element
}

func newRegistry(cfg Config) (*registry, error) {
	size := cfg.RegistryCache
	switch {
	case size < 0:
		return nil, fmt.Errorf("%w: negative RegistryCache", ErrInvalidConfig)
	case size == 0:
		size = DefaultRegistryCache
	}
	if cfg.RegistryKey != nil {
		if _, err := newGCM(cfg.RegistryKey); err != nil {
			return nil, err
		}
	}
	for i, k := range cfg.RegistryOldKeys {
		if len(k) != SpecKeySize {
			return nil, fmt.Errorf("%w: RegistryOldKeys[%d] is %d bytes, not %d", ErrInvalidConfig, i, len(k), SpecKeySize)
		}
	}
	codec := SpecCodec{Key: cfg.RegistryKey, OldKeys: cfg.RegistryOldKeys, AllowPlaintext: cfg.RegistryPlaintext}
	return &registry{r: cfg.Registry, codec: codec,
		opts: cfg.SpecOptions, size: size, entries: make(map[string]*regEntry)}, nil
}

// Registry returns the dispatcher's Config.Registry (nil without one).
func (d *Dispatcher) Registry() queue.Registry {
	if d.reg == nil {
		return nil
	}
	return d.reg.r
}

// Register makes the endpoint the spec describes a subscription. With a Config.Registry
// it is written there (sealed: see SpecCodec) for every dispatcher on the registry, its
// state kept if it was there already (registering again never enables a disabled
// endpoint: EnableEndpoint does); without one it is Subscribe of spec.Subscription. Its
// errors are those of EndpointSpec.Subscription, Subscribe's checks (the URL, the
// timeout), ErrSpecSecrets, and the registry's.
func (d *Dispatcher) Register(ctx context.Context, spec EndpointSpec) error {
	if d.reg == nil {
		sub, err := spec.Subscription(d.cfg.SpecOptions)
		if err != nil {
			return err
		}
		return d.Subscribe(sub)
	}
	e, err := d.registryRecord(spec)
	if err != nil {
		return err
	}
	if d.closed.Load() {
		return ErrClosed
	}
	rec, err := d.reg.r.PutEndpoint(ctx, e)
	if err != nil {
		return err
	}
	d.registered(rec)
	return nil
}

// RegisterMany is Register of each of specs, in order. Every spec is checked first: one
// that Register would refuse is a *RegisterError naming it, and nothing is registered.
// With a Config.Registry that writes many at once (queue.EndpointsPutter: pgqueue,
// memqueue) they are written in one transaction, all or none, in a few round trips (an
// import of thousands of endpoints takes seconds, not minutes); with another registry
// one PutEndpoint each, so that a failure of the registry may leave the first ones
// written. Without a registry it subscribes each (only a Shutdown meanwhile can stop it
// part way: ErrClosed).
func (d *Dispatcher) RegisterMany(ctx context.Context, specs ...EndpointSpec) error {
	if d.reg == nil {
		subs := make([]Subscription, len(specs))
		for i, spec := range specs {
			sub, err := spec.Subscription(d.cfg.SpecOptions)
			if err == nil {
				_, _, err = d.prepare(sub)
			}
			if err != nil {
				return &RegisterError{Index: i, ID: spec.ID, Err: err}
			}
			subs[i] = sub
		}
		for i, sub := range subs {
			if err := d.Subscribe(sub); err != nil {
				return &RegisterError{Index: i, ID: sub.Endpoint.ID, Err: err}
			}
		}
		return nil
	}
	es := make([]queue.Endpoint, len(specs))
	for i, spec := range specs {
		e, err := d.registryRecord(spec)
		if err != nil {
			return &RegisterError{Index: i, ID: spec.ID, Err: err}
		}
		es[i] = e
	}
	if d.closed.Load() {
		return ErrClosed
	}
	if p, ok := d.reg.r.(queue.EndpointsPutter); ok {
		recs, err := p.PutEndpoints(ctx, es)
		if err != nil {
			return err
		}
		d.registered(recs...)
		return nil
	}
	for _, e := range es {
		rec, err := d.reg.r.PutEndpoint(ctx, e)
		if err != nil {
			return err
		}
		d.registered(rec)
	}
	return nil
}

// RegisterError is RegisterMany's error for a spec that Register would refuse: nothing of
// the call was registered.
type RegisterError struct {
	Index int    // the spec's position among RegisterMany's
	ID    string // its endpoint ID
	Err   error
}

func (e *RegisterError) Error() string { return fmt.Sprintf("endpoint %q: %v", e.ID, e.Err) }

// Unwrap returns the reason.
func (e *RegisterError) Unwrap() error { return e.Err }

// registryRecord checks spec as Register does (its Subscription, and the endpoint as
// Subscribe checks it) and returns the record to write: the spec sealed, its patterns.
func (d *Dispatcher) registryRecord(spec EndpointSpec) (queue.Endpoint, error) {
	sub, err := spec.Subscription(d.reg.opts)
	if err != nil {
		return queue.Endpoint{}, err
	}
	if _, _, err := d.prepare(sub); err != nil {
		return queue.Endpoint{}, err
	}
	blob, err := d.reg.codec.Seal(spec)
	if err != nil {
		return queue.Endpoint{}, err
	}
	return queue.Endpoint{ID: spec.ID, Spec: blob, Patterns: queue.PatternsOf(sub.Filter),
		Ordered: spec.Ordered, MaxInFlight: max(spec.MaxInFlight, 0), UpdatedAt: d.now()}, nil
}

// registered updates the cached endpoints among recs, just written, and wakes the
// dispatchers.
func (d *Dispatcher) registered(recs ...queue.Endpoint) {
	d.mu.Lock()
	for _, rec := range recs {
		if e := d.reg.entries[rec.ID]; e != nil {
			d.applyRecord(e, rec)
		}
	}
	d.mu.Unlock()
	d.Notify()
}

// unregister is Unsubscribe with a registry.
func (d *Dispatcher) unregister(ctx context.Context, id string) error {
	if err := d.reg.r.DeleteEndpoint(ctx, d.now(), id); err != nil {
		return err
	}
	d.mu.Lock()
	if e := d.reg.entries[id]; e != nil {
		d.dropEntry(e)
	}
	d.mu.Unlock()
	_, err := d.deadLetterEndpoint(ctx, id, queue.DeadReasonUnsubscribed)
	return err
}

// EnableEndpointContext is EnableEndpoint with a context for the registry's writes.
// Without a registry it is EnableEndpoint.
func (d *Dispatcher) EnableEndpointContext(ctx context.Context, id string) error {
	if d.reg == nil {
		return d.EnableEndpoint(id)
	}
	_, err := d.setState(ctx, id, nil, func(queue.Endpoint) (queue.StateUpdate, bool) {
		return queue.StateUpdate{State: queue.EndpointActive, Reason: "enabled", UpdatedAt: d.now()}, true
	})
	return err
}

// DisableEndpoint disables an endpoint as a 410 Gone does: nothing more is published to
// it and its pending deliveries become dead letters ("endpoint gone"); EnableEndpoint
// resumes it. With a registry, for every dispatcher on it.
func (d *Dispatcher) DisableEndpoint(ctx context.Context, id string) error {
	if d.reg == nil {
		d.mu.Lock()
		sub := d.subs[id]
		if sub == nil {
			d.mu.Unlock()
			return queue.ErrNotFound
		}
		if c := sub.br.change(id, EndpointDisabled, d.now(), nil); c != nil {
			d.changes = append(d.changes, *c)
		}
		d.rebuildRoutes()
		d.mu.Unlock()
		d.flushChanges()
	} else if _, err := d.setState(ctx, id, nil, func(queue.Endpoint) (queue.StateUpdate, bool) {
		return queue.StateUpdate{State: queue.EndpointDisabled, Reason: "disabled", UpdatedAt: d.now()}, true
	}); err != nil {
		return err
	}
	_, err := d.deadLetterEndpoint(ctx, id, queue.DeadReasonGone)
	return err
}

// setState writes the state decide returns for the endpoint's current record
// (queue.UpdateEndpointState: compare-and-set, deciding again after a conflict, from the
// cached record if there is one), updates the cache and reports the change (caused by
// cause, if any); decide returns false to write nothing.
func (d *Dispatcher) setState(ctx context.Context, id string, cause error, decide func(queue.Endpoint) (queue.StateUpdate, bool)) (queue.Endpoint, error) {
	var cached *queue.Endpoint
	d.mu.Lock()
	if e := d.reg.entries[id]; e != nil {
		rec := e.rec // perhaps stale: a conflict returns the current one
		cached = &rec
	}
	d.mu.Unlock()
	var prev queue.Endpoint // the record the last decision was made from
	wrote := false
	next, err := queue.UpdateEndpointState(ctx, d.reg.r, id, queue.StateCAS{From: cached,
		Decide: func(cur queue.Endpoint) (queue.StateUpdate, bool) {
			prev = cur
			st, ok := decide(cur)
			wrote = ok
			return st, ok
		},
		Seen: func(rec queue.Endpoint) {
			d.mu.Lock()
			if e := d.reg.entries[id]; e != nil {
				d.applyRecord(e, rec)
			}
			d.mu.Unlock()
		}})
	if err != nil || !wrote {
		return next, err
	}
	if from, to := brState(prev.State), brState(next.State); from != to {
		if to == EndpointActive {
			cause = nil // a recovery has no error
		}
		d.mu.Lock()
		d.changes = append(d.changes, EndpointStateChange{EndpointID: id, From: from, To: to,
			Failures: next.Failures, Until: pausedUntil(next), Err: cause, Time: next.UpdatedAt})
		d.mu.Unlock()
		d.flushChanges()
	}
	d.Notify()
	return next, nil
}

// brState is the breaker state of a stored state.
func brState(s queue.EndpointState) EndpointState {
	switch s {
	case queue.EndpointFailing:
		return EndpointFailing
	case queue.EndpointPaused:
		return EndpointPaused
	case queue.EndpointProbing:
		return EndpointProbing
	case queue.EndpointDisabled:
		return EndpointDisabled
	}
	return EndpointActive
}

// storedState is the stored state of a breaker state.
func storedState(s EndpointState) queue.EndpointState {
	switch s {
	case EndpointFailing:
		return queue.EndpointFailing
	case EndpointPaused:
		return queue.EndpointPaused
	case EndpointProbing:
		return queue.EndpointProbing
	case EndpointDisabled:
		return queue.EndpointDisabled
	}
	return queue.EndpointActive
}

func pausedUntil(rec queue.Endpoint) time.Time {
	if rec.State == queue.EndpointPaused {
		return rec.PausedUntil
	}
	return time.Time{}
}

// applyRecord updates a cached endpoint from a record read later. Caller holds mu.
func (d *Dispatcher) applyRecord(e *regEntry, rec queue.Endpoint) {
	if rec.Version < e.rec.Version {
		return // older than what is cached
	}
	if string(rec.Spec) != string(e.rec.Spec) || e.sub.t == nil && e.err == nil {
		d.buildEntry(e, rec)
	}
	e.rec = rec
	e.sub.br.state, e.sub.br.failures, e.sub.br.until = brState(rec.State), rec.Failures, rec.PausedUntil
}

// buildEntry opens and prepares the spec of rec into e. Caller holds mu (it does no I/O).
func (d *Dispatcher) buildEntry(e *regEntry, rec queue.Endpoint) {
	e.err = nil
	spec, err := d.reg.codec.Open(rec.ID, rec.Spec)
	if err == nil {
		var sub Subscription
		if sub, err = spec.Subscription(d.reg.opts); err == nil {
			var t *target
			var limit int
			if t, limit, err = d.prepare(sub); err == nil {
				e.sub.sub, e.sub.t, e.sub.maxInFlight = sub, t, limit
			}
		}
	}
	if err != nil {
		e.err = err
		if d.log != nil {
			d.log.Error("hookkit: registry endpoint cannot be used; its deliveries wait", "endpoint", rec.ID, "err", err)
		}
	}
}

// dropEntry removes e from the cache. Caller holds mu.
func (d *Dispatcher) dropEntry(e *regEntry) {
	if d.reg.entries[e.id] == e {
		delete(d.reg.entries, e.id)
		d.reg.lru.Remove(e.elem)
	}
}

// cached returns the cached entry of id, marking it used. Caller holds mu.
func (d *Dispatcher) cached(id string) *regEntry {
	e := d.reg.entries[id]
	if e != nil {
		d.reg.lru.MoveToFront(e.elem)
	}
	return e
}

// cache adds the endpoints of recs to the cache (those already there are updated) and
// evicts the least recently used idle ones beyond the bound. Caller holds mu.
func (d *Dispatcher) cache(recs []queue.Endpoint) {
	for _, rec := range recs {
		if e := d.reg.entries[rec.ID]; e != nil {
			d.applyRecord(e, rec)
			continue
		}
		e := &regEntry{id: rec.ID}
		e.sub.br.cfg = d.cfg.Breaker
		d.applyRecord(e, rec)
		e.elem = d.reg.lru.PushFront(e)
		d.reg.entries[rec.ID] = e
	}
	for el := d.reg.lru.Back(); el != nil && len(d.reg.entries) > d.reg.size; {
		prev := el.Prev()
		if e := el.Value.(*regEntry); e.sub.inflight == 0 {
			d.dropEntry(e)
		}
		el = prev
	}
}

// pollRegistry reads the registry's changes once per poll interval and refreshes the
// cached endpoints; it returns when the next poll is due.
func (d *Dispatcher) pollRegistry() time.Time {
	d.mu.Lock()
	now := d.now()
	if now.Before(d.reg.next) {
		next := d.reg.next
		d.mu.Unlock()
		return next
	}
	since, limit := d.reg.cursor, d.reg.size
	if !d.reg.polled {
		limit = 0 // the first poll only takes the cursor: the cache is empty
	}
	d.reg.next = now.Add(d.cfg.PollInterval)
	next := d.reg.next
	d.mu.Unlock()
	ch, err := d.reg.r.EndpointChanges(d.hardCtx, since, limit)
	if err != nil {
		if d.log != nil && d.hardCtx.Err() == nil {
			d.log.Error("hookkit: reading the registry's changes failed", "err", err)
		}
		return next
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reg.cursor, d.reg.polled = ch.Next, true
	if ch.Overflow {
		// Too many changes to follow: forget the idle endpoints (read again when needed)
		// and read the busy ones again now.
		var busy []string
		for _, e := range d.reg.entries {
			if e.sub.inflight == 0 {
				d.dropEntry(e)
			} else {
				busy = append(busy, e.id)
			}
		}
		if len(busy) > 0 {
			d.mu.Unlock()
			recs, err := d.reg.r.GetEndpoints(d.hardCtx, busy...)
			d.mu.Lock()
			if err != nil {
				d.reg.cursor = since // follow the changes again from where they overflowed
				d.reg.next = d.now()
				return d.reg.next
			}
			found := make(map[string]bool, len(recs))
			for _, rec := range recs {
				found[rec.ID] = true
				if e := d.reg.entries[rec.ID]; e != nil {
					d.applyRecord(e, rec)
				}
			}
			for _, id := range busy {
				if e := d.reg.entries[id]; e != nil && !found[id] {
					d.dropEntry(e)
				}
			}
		}
		return next
	}
	for _, rec := range ch.Endpoints {
		e := d.reg.entries[rec.ID]
		switch {
		case e == nil:
		case rec.Deleted:
			d.dropEntry(e)
		default:
			d.applyRecord(e, rec)
		}
	}
	return next
}

// resolve returns the entries of the endpoints of ds (nil for those the registry does
// not have), reading the ones not cached in one GetEndpoints; ok is false when that
// read failed.
func (d *Dispatcher) resolve(ds []queue.Delivery) (map[string]*regEntry, bool) {
	out := make(map[string]*regEntry, len(ds))
	var missing []string
	d.mu.Lock()
	for _, del := range ds {
		if _, done := out[del.EndpointID]; done {
			continue
		}
		e := d.cached(del.EndpointID)
		out[del.EndpointID] = e
		// Read again what is not cached, and what is cached as disabled: dead-lettering is
		// not undone, so it is never decided on a cache that may be a poll interval old
		// (the endpoint enabled meanwhile by another instance).
		if e == nil || e.sub.br.state == EndpointDisabled {
			missing = append(missing, del.EndpointID)
		}
	}
	d.mu.Unlock()
	if len(missing) == 0 {
		return out, true
	}
	recs, err := d.reg.r.GetEndpoints(d.hardCtx, missing...)
	if err != nil {
		if d.log != nil && d.hardCtx.Err() == nil {
			d.log.Error("hookkit: reading endpoints from the registry failed", "err", err)
		}
		return out, false
	}
	d.mu.Lock()
	d.cache(recs)
	found := make(map[string]bool, len(recs))
	for _, rec := range recs {
		found[rec.ID] = true
	}
	for _, id := range missing {
		if e := d.reg.entries[id]; e != nil && !found[id] {
			d.dropEntry(e) // deleted meanwhile
		}
		out[id] = d.reg.entries[id] // nil: not in the registry
	}
	d.mu.Unlock()
	return out, true
}

// fillRegistry is fill with a registry: lease without endpoint limits, then decide each
// delivery from its endpoint's cached state (see "Many instances, one registry"). It
// reports whether the pump is idle, as fill does. With the publish-time handoff, a Lease
// that takes fewer than it asked for tells Publish that nothing waits (regClear), unless
// Publish stored something pending meanwhile.
func (d *Dispatcher) fillRegistry() (idle bool) {
	idle = true
	for {
		d.mu.Lock()
		free := d.cfg.Workers - d.busy
		if free <= 0 || d.stopping {
			idle = idle && d.busy == 0
			d.mu.Unlock()
			return idle
		}
		now := d.now()
		pending := d.regPending
		d.pumpHeld = free
		d.mu.Unlock()
		ds, err := d.store.Lease(d.hardCtx, queue.LeaseRequest{Now: now, Max: free, For: d.cfg.LeaseFor})
		d.mu.Lock()
		d.pumpHeld = 0
		d.regClear = d.leaser != nil && err == nil && len(ds) < free && d.regPending == pending
		d.mu.Unlock()
		if err != nil {
			if d.log != nil && d.hardCtx.Err() == nil {
				d.log.Error("hookkit: lease from store failed", "err", err)
			}
			return idle
		}
		if len(ds) == 0 {
			return idle
		}
		idle = false
		ents, ok := d.resolve(ds)
		later := now.Add(d.cfg.PollInterval)
		jobs := make([]job, 0, len(ds))
		var probes []int // positions in jobs of the deliveries that may probe
		probing := make(map[string]bool)
		d.mu.Lock()
		for _, del := range ds {
			j := job{d: del, mode: modeRelease}
			e := ents[del.EndpointID]
			switch {
			case !ok || (e != nil && e.err != nil):
				j.d.Due = later // the registry could not be read, or the spec not opened
			case e == nil:
				j.mode = modeUnsubscribed
			default:
				sub := &e.sub
				j.sub, j.t = sub, sub.t
				switch b := &sub.br; {
				case b.state == EndpointDisabled:
					j.mode = modeDisabled
				case b.state == EndpointPaused && now.Before(b.until):
					j.d.Due = b.until // the cool-down's end
				case b.state == EndpointProbing && now.Before(b.until):
					// b.until is the probe claim's expiry, not a cool-down's end: the probe may
					// answer in milliseconds, so wait a poll interval, not the claim's LeaseFor.
					j.d.Due = later
				case b.state == EndpointPaused || b.state == EndpointProbing:
					if probing[del.EndpointID] {
						j.d.Due = later // one probe at a time; the others wait for it
					} else {
						probing[del.EndpointID] = true
						probes = append(probes, len(jobs))
					}
				case sub.inflight >= sub.maxInFlight:
					j.d.Due = later
				default:
					j.mode = modeSend
					sub.inflight++
				}
			}
			if j.d.Due.Before(del.Due) {
				j.d.Due = del.Due
			}
			d.busy++
			jobs = append(jobs, j)
		}
		d.mu.Unlock()
		for _, i := range probes {
			d.claimProbe(&jobs[i], ents[jobs[i].d.EndpointID], now, later)
		}
		for _, j := range jobs {
			d.jobs <- j
		}
		if len(ds) < free {
			return idle
		}
	}
}

// reserveRegistry is reserve with a registry: while the dispatcher knows of no backlog
// (regClear) and the pump has no Lease in flight, it takes a worker's place, and one
// within the endpoint's MaxInFlight, for each delivery of ds due now, unordered and for
// a cached endpoint that is active. A delivery that could have been handed off but for
// want of a place ends regClear: a backlog is forming, which the pump leases. Caller
// holds mu.
func (d *Dispatcher) reserveRegistry(ds []queue.Delivery, now time.Time) []*subscription {
	if !d.regClear || d.pumpHeld > 0 {
		return nil
	}
	free := d.cfg.Workers - d.busy
	var held []*subscription
	for i := range ds {
		del := &ds[i]
		e := d.reg.entries[del.EndpointID]
		if e == nil || e.err != nil || e.sub.t == nil || del.Ordered || del.Due.After(now) || e.sub.br.state != EndpointActive {
			continue
		}
		if free <= 0 || e.sub.inflight >= e.sub.maxInFlight {
			d.regClear = false
			continue
		}
		e.sub.inflight++
		d.busy++
		free--
		del.LeaseExpires = now.Add(d.cfg.LeaseFor)
		held = append(held, &e.sub)
	}
	if held != nil {
		d.handoffs.Add(1)
	}
	return held
}

// admitRegistryJob is the job of a delivery Publish handed off to sub with a registry,
// its places taken by reserveRegistry: sent, unless the endpoint stopped being active
// since (its state read from the registry meanwhile), when it is handed back pending
// for the pump to decide, a poll interval later. Caller holds mu.
func (d *Dispatcher) admitRegistryJob(del queue.Delivery, sub *subscription, now time.Time) job {
	if sub.br.state == EndpointActive {
		return job{d: del, mode: modeSend, sub: sub, t: sub.t}
	}
	sub.inflight--
	del.Due = now.Add(d.cfg.PollInterval)
	return job{d: del, mode: modeRelease, sub: sub, t: sub.t}
}

// claimProbe claims the probe of a paused endpoint whose cool-down ended (paused ->
// probing, compare-and-set, the claim lasting LeaseFor): the claimant sends j as the
// probe; if another instance claimed it first, j waits until later.
func (d *Dispatcher) claimProbe(j *job, e *regEntry, now, later time.Time) {
	d.mu.Lock()
	rec := e.rec
	d.mu.Unlock()
	next, err := d.reg.r.SetEndpointState(d.hardCtx, e.id, rec.Version, queue.StateUpdate{State: queue.EndpointProbing,
		Failures: rec.Failures, PausedUntil: now.Add(d.cfg.LeaseFor), Reason: "probe after the cool-down", UpdatedAt: now})
	d.mu.Lock()
	if err != nil {
		if errors.Is(err, queue.ErrVersionConflict) {
			d.applyRecord(e, next)
		} else if d.log != nil && d.hardCtx.Err() == nil {
			d.log.Error("hookkit: claiming an endpoint's probe failed", "endpoint", e.id, "err", err)
		}
		j.d.Due = later
		d.mu.Unlock()
		return
	}
	from := brState(rec.State)
	d.applyRecord(e, next)
	j.mode, j.t = modeProbe, e.sub.t
	e.sub.inflight++
	if from != EndpointProbing {
		d.changes = append(d.changes, EndpointStateChange{EndpointID: e.id, From: from, To: EndpointProbing,
			Failures: next.Failures, Time: now})
	}
	d.mu.Unlock()
	d.flushChanges()
}

// finishRegistry records the outcome of an attempt with a registry in the endpoint's
// shared state (compare-and-set), before handle hands the outcome to the completer and
// frees the worker's place, so that the pump admits the next delivery on the state this
// attempt left (as the local breaker is recorded before submit). It reports whether the
// endpoint is to be swept: when it is disabled and the delivery is handed back pending or
// was the 410's, the endpoint's pending deliveries become dead letters once the outcome
// is stored (sweepEndpoint).
func (d *Dispatcher) finishRegistry(j job, o outcome, probe bool, attemptErr error, rescheduled bool) (sweep bool) {
	if !j.counted() || (o == outcomeNone && !probe) {
		return false
	}
	ctx, cancel := d.storeCtx()
	defer cancel()
	id := j.d.EndpointID
	var change *EndpointStateChange
	rec, err := d.setState(ctx, id, attemptErr, func(cur queue.Endpoint) (queue.StateUpdate, bool) {
		b := breaker{cfg: d.cfg.Breaker, state: brState(cur.State), failures: cur.Failures, until: cur.PausedUntil}
		if !probe && (b.state == EndpointPaused || b.state == EndpointProbing) {
			return queue.StateUpdate{}, false // started before the pause: the probe decides
		}
		if probe && b.state != EndpointProbing {
			return queue.StateUpdate{}, false // the claim ended or was overtaken: not ours to decide
		}
		change = b.record(id, o, probe, d.now(), attemptErr)
		if b.state == brState(cur.State) && b.failures == cur.Failures && b.until.Equal(cur.PausedUntil) {
			return queue.StateUpdate{}, false
		}
		st := queue.StateUpdate{State: storedState(b.state), Failures: b.failures, Reason: cur.Reason, UpdatedAt: d.now()}
		if b.state == EndpointPaused {
			st.PausedUntil = b.until
		}
		if change != nil {
			st.Reason = stateReason(change.To, o, b.failures)
		}
		return st, true
	})
	if err != nil {
		if !errors.Is(err, queue.ErrNotFound) && d.log != nil {
			d.log.Log(ctx, slog.LevelError, "hookkit: writing an endpoint's state to the registry failed", "endpoint", id, "err", err)
		}
		return false
	}
	return rec.State == queue.EndpointDisabled && (rescheduled || o == outcomeGone)
}

// stateReason is the Reason stored with a state change (never an error text: those may
// name hosts).
func stateReason(to EndpointState, o outcome, failures int) string {
	switch {
	case to == EndpointDisabled && o == outcomeGone:
		return "410 Gone"
	case to == EndpointPaused:
		return fmt.Sprintf("%d consecutive failures", failures)
	case to == EndpointActive:
		return "recovered"
	case to == EndpointFailing:
		return "failing"
	}
	return to.String()
}

// fanOutRegistry is FanOutContext with a registry: the endpoints come from one
// MatchEndpoints.
func (d *Dispatcher) fanOutRegistry(ctx context.Context, ev *event.Event) ([]queue.Delivery, error) {
	ms, err := d.reg.r.MatchEndpoints(ctx, ev.Type)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	enc, err := ev.Encode()
	if err != nil {
		return nil, err
	}
	now := d.now()
	ds := make([]queue.Delivery, len(ms))
	for i, m := range ms {
		ds[i] = queue.Delivery{ID: d.newID(), EndpointID: m.ID, Event: enc, Ordered: m.Ordered, Created: now, Due: now}
	}
	return ds, nil
}

// registryStatuses returns the statuses of the cached endpoints (one when id is not "").
// Caller holds mu.
func (d *Dispatcher) registryStatuses(id string) []EndpointStatus {
	var out []EndpointStatus
	for eid, e := range d.reg.entries {
		if (id != "" && eid != id) || e.sub.t == nil {
			continue
		}
		out = append(out, e.sub.status())
	}
	return out
}
