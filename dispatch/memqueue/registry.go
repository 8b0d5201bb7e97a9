package memqueue

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// Registry is the in-memory queue.Registry: endpoints shared by the dispatchers of one
// process (tests, and a process that runs several dispatchers on one memqueue.Store). It
// indexes the patterns in two maps (exact type, prefix), so MatchEndpoints looks up the
// type's candidate keys (queue.MatchKeys) and never scans the endpoints; it logs every
// change with a sequence number, so EndpointChanges reads only what changed (the log is
// compacted once it holds twice as many entries as there are endpoints). The zero value
// is not usable: call NewRegistry.
type Registry struct {
	mu      sync.Mutex
	eps     map[string]*regRecord
	exact   map[string]map[string]struct{} // type -> endpoint IDs
	prefix  map[string]map[string]struct{} // prefix -> endpoint IDs
	log     []regChange                    // by seq, ascending
	seq     uint64                         // the last change's seq: the cursor
	deleted map[string]regDeleted          // deleted IDs: the seq of the deletion, the last version
}

type regRecord struct {
	e   queue.Endpoint
	seq uint64 // of its last change
}

type regDeleted struct {
	seq, version uint64
	at           time.Time // DeleteEndpoint's now
}

type regChange struct {
	seq uint64
	id  string
}

var (
	_ queue.Registry        = (*Registry)(nil)
	_ queue.DeletedPurger   = (*Registry)(nil)
	_ queue.SpecReplacer    = (*Registry)(nil)
	_ queue.EndpointsPutter = (*Registry)(nil)
)

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{eps: make(map[string]*regRecord), exact: make(map[string]map[string]struct{}),
		prefix: make(map[string]map[string]struct{}), deleted: make(map[string]regDeleted)}
}

// copyEndpoint returns e with its own Patterns and Spec.
func copyEndpoint(e queue.Endpoint) queue.Endpoint {
	e.Patterns = slices.Clone(e.Patterns)
	e.Spec = slices.Clone(e.Spec)
	return e
}

// index adds (add) or removes the patterns of endpoint id. Caller holds mu.
func (r *Registry) index(id string, ps []queue.Pattern, add bool) {
	for _, p := range ps {
		m := r.exact
		if p.Kind == queue.PatternPrefix {
			m = r.prefix
		}
		set := m[p.Value]
		if add {
			if set == nil {
				set = make(map[string]struct{}, 1)
				m[p.Value] = set
			}
			set[id] = struct{}{}
			continue
		}
		delete(set, id)
		if len(set) == 0 {
			delete(m, p.Value)
		}
	}
}

// changed logs a change of id and returns its seq. Caller holds mu.
func (r *Registry) changed(id string) uint64 {
	if len(r.log) > 64 && len(r.log) > 2*(len(r.eps)+len(r.deleted)) {
		r.compact() // before the append: the caller sets the record's seq after
	}
	r.seq++
	r.log = append(r.log, regChange{seq: r.seq, id: id})
	return r.seq
}

// compact keeps in the log only the last change of each endpoint. Caller holds mu.
func (r *Registry) compact() {
	kept := r.log[:0]
	for _, c := range r.log {
		if rec := r.eps[c.id]; rec != nil && rec.seq == c.seq {
			kept = append(kept, c)
		} else if d, ok := r.deleted[c.id]; ok && d.seq == c.seq {
			kept = append(kept, c)
		}
	}
	clear(r.log[len(kept):])
	r.log = kept
}

// PutEndpoint implements queue.Registry.
func (r *Registry) PutEndpoint(_ context.Context, e queue.Endpoint) (queue.Endpoint, error) {
	if err := queue.CheckEndpoint(e); err != nil {
		return queue.Endpoint{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.put(e), nil
}

// PutEndpoints implements queue.EndpointsPutter: every endpoint checked, then all put
// under one hold of the lock.
func (r *Registry) PutEndpoints(_ context.Context, es []queue.Endpoint) ([]queue.Endpoint, error) {
	for _, e := range es {
		if err := queue.CheckEndpoint(e); err != nil {
			return nil, fmt.Errorf("endpoint %q: %w", e.ID, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]queue.Endpoint, len(es))
	for i, e := range es {
		out[i] = r.put(e)
	}
	return out, nil
}

// put stores e, checked, and returns a copy of the record. Caller holds mu.
func (r *Registry) put(e queue.Endpoint) queue.Endpoint {
	e = copyEndpoint(e)
	e.Deleted = false
	if old := r.eps[e.ID]; old != nil {
		r.index(e.ID, old.e.Patterns, false)
		e.State, e.Failures, e.PausedUntil, e.Reason = old.e.State, old.e.Failures, old.e.PausedUntil, old.e.Reason
		e.Version = old.e.Version + 1
	} else {
		if e.State == "" {
			e.State = queue.EndpointActive
		}
		e.Version = r.deleted[e.ID].version + 1
		delete(r.deleted, e.ID)
	}
	r.index(e.ID, e.Patterns, true)
	rec := &regRecord{e: e}
	r.eps[e.ID] = rec
	rec.seq = r.changed(e.ID)
	return copyEndpoint(e)
}

// GetEndpoints implements queue.Registry.
func (r *Registry) GetEndpoints(_ context.Context, ids ...string) ([]queue.Endpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]queue.Endpoint, 0, len(ids))
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		if rec := r.eps[id]; rec != nil {
			out = append(out, copyEndpoint(rec.e))
		}
	}
	return out, nil
}

// DeleteEndpoint implements queue.Registry.
func (r *Registry) DeleteEndpoint(_ context.Context, now time.Time, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.eps[id]
	if rec == nil {
		return queue.ErrNotFound
	}
	r.index(id, rec.e.Patterns, false)
	delete(r.eps, id)
	r.deleted[id] = regDeleted{seq: r.changed(id), version: rec.e.Version, at: now}
	return nil
}

// PurgeDeleted implements queue.DeletedPurger: it forgets the endpoints deleted before
// before (their changes leave the log at its next compaction).
func (r *Registry) PurgeDeleted(_ context.Context, before time.Time) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id, d := range r.deleted {
		if d.at.Before(before) {
			delete(r.deleted, id)
			n++
		}
	}
	return n, nil
}

// MatchEndpoints implements queue.Registry: one map lookup per candidate key.
func (r *Registry) MatchEndpoints(_ context.Context, eventType string) ([]queue.EndpointMatch, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []queue.EndpointMatch
	var seen map[string]struct{}
	for _, k := range queue.MatchKeys(eventType) {
		m := r.exact
		if k.Kind == queue.PatternPrefix {
			m = r.prefix
		}
		for id := range m[k.Value] {
			if seen == nil {
				seen = make(map[string]struct{})
			}
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
			if rec := r.eps[id]; rec.e.State != queue.EndpointDisabled {
				out = append(out, queue.EndpointMatch{ID: id, Ordered: rec.e.Ordered})
			}
		}
	}
	slices.SortFunc(out, func(a, b queue.EndpointMatch) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// SetEndpointState implements queue.Registry.
func (r *Registry) SetEndpointState(_ context.Context, id string, version uint64, st queue.StateUpdate) (queue.Endpoint, error) {
	if err := queue.CheckState(st); err != nil {
		return queue.Endpoint{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.eps[id]
	if rec == nil {
		return queue.Endpoint{}, queue.ErrNotFound
	}
	if rec.e.Version != version {
		return copyEndpoint(rec.e), fmt.Errorf("%w: %q is at version %d, not %d", queue.ErrVersionConflict, id, rec.e.Version, version)
	}
	if st.State == "" {
		st.State = queue.EndpointActive
	}
	rec.e.State, rec.e.Failures, rec.e.PausedUntil, rec.e.Reason = st.State, st.Failures, st.PausedUntil, st.Reason
	rec.e.UpdatedAt = st.UpdatedAt
	rec.e.Version++
	rec.seq = r.changed(id)
	return copyEndpoint(rec.e), nil
}

// ReplaceSpec implements queue.SpecReplacer.
func (r *Registry) ReplaceSpec(_ context.Context, id string, old, spec []byte, now time.Time) (queue.Endpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.eps[id]
	if rec == nil {
		return queue.Endpoint{}, queue.ErrNotFound
	}
	if !bytes.Equal(rec.e.Spec, old) {
		return copyEndpoint(rec.e), fmt.Errorf("%w: the spec of %q changed", queue.ErrVersionConflict, id)
	}
	rec.e.Spec = bytes.Clone(spec)
	rec.e.UpdatedAt = now
	rec.e.Version++
	rec.seq = r.changed(id)
	return copyEndpoint(rec.e), nil
}

// EndpointChanges implements queue.Registry: it reads the log from the cursor on.
func (r *Registry) EndpointChanges(_ context.Context, since uint64, limit int) (queue.Changes, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := queue.Changes{Next: r.seq}
	i := sort.Search(len(r.log), func(i int) bool { return r.log[i].seq > since })
	ids := make(map[string]struct{})
	for _, c := range r.log[i:] {
		if rec := r.eps[c.id]; rec != nil && rec.seq == c.seq {
			ids[c.id] = struct{}{}
		} else if d, ok := r.deleted[c.id]; ok && d.seq == c.seq {
			ids[c.id] = struct{}{}
		}
	}
	if len(ids) > max(limit, 0) {
		ch.Overflow = len(ids) > 0
		return ch, nil
	}
	for id := range ids {
		if rec := r.eps[id]; rec != nil {
			ch.Endpoints = append(ch.Endpoints, copyEndpoint(rec.e))
		} else {
			ch.Endpoints = append(ch.Endpoints, queue.Endpoint{ID: id, Deleted: true})
		}
	}
	return ch, nil
}

// ListEndpoints implements queue.Registry (sorting the IDs: it is for listings, not for
// the hot path).
func (r *Registry) ListEndpoints(_ context.Context, after string, limit int) (queue.EndpointPage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.eps))
	for id := range r.eps {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var page queue.EndpointPage
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
		page.Next = ids[limit-1]
	}
	for _, id := range ids {
		page.Endpoints = append(page.Endpoints, copyEndpoint(r.eps[id].e))
	}
	return page, nil
}
