package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookkit/hookkit/event"
)

// Errors of a Registry.
var (
	// ErrVersionConflict is returned by Registry.SetEndpointState when the endpoint's
	// version is no longer the one the caller read: another instance changed it first.
	// Nothing was written; the current record comes back with the error, so the caller can
	// decide again from what is there now.
	ErrVersionConflict = errors.New("hookkit/queue: endpoint changed since it was read (version conflict)")
	// ErrInvalidEndpoint is returned by Registry.PutEndpoint and SetEndpointState for a
	// record they cannot store: an empty ID, a pattern of an unknown kind or with an
	// invalid value, a negative MaxInFlight or Failures, an unknown State.
	ErrInvalidEndpoint = errors.New("hookkit/queue: invalid endpoint record")
)

// EndpointState is an endpoint's circuit-breaker state as a Registry keeps it, by a
// stable name (part of the stored format). The zero value "" is read as EndpointActive.
type EndpointState string

// The endpoint states a Registry stores, the names of dispatch.EndpointState's String.
const (
	EndpointActive   EndpointState = "active"   // deliveries flow
	EndpointFailing  EndpointState = "failing"  // the last attempts failed, fewer than the breaker's threshold
	EndpointPaused   EndpointState = "paused"   // nothing is sent until PausedUntil
	EndpointProbing  EndpointState = "probing"  // one probe is in flight until PausedUntil (then another may go)
	EndpointDisabled EndpointState = "disabled" // 410 Gone or disabled by hand: nothing is published or sent
)

// Valid reports whether s is one of the states above ("" counts as active).
func (s EndpointState) Valid() bool {
	switch s {
	case "", EndpointActive, EndpointFailing, EndpointPaused, EndpointProbing, EndpointDisabled:
		return true
	}
	return false
}

// PatternKind says how a Pattern matches event types.
type PatternKind uint8

// The kinds of Pattern.
const (
	// PatternExact matches the one event type equal to Value.
	PatternExact PatternKind = 1
	// PatternPrefix matches every event type that starts with Value; Value "" is the "*"
	// pattern, which matches every type.
	PatternPrefix PatternKind = 2
)

// Pattern is one event-type pattern of an endpoint, as a Registry indexes it: a kind and
// a value, so that the endpoints an event type selects are found by equality lookups of
// the type's candidate keys (MatchKeys), never by scanning the endpoints.
type Pattern struct {
	Kind  PatternKind
	Value string
}

// PatternsOf returns the patterns of a filter as a Registry stores them: an exact type
// name as PatternExact, "prefix*" as PatternPrefix with the prefix, and "*" — or an empty
// filter, which matches every type — as PatternPrefix "".
func PatternsOf(f event.Filter) []Pattern {
	ps := f.Patterns()
	if len(ps) == 0 {
		return []Pattern{{Kind: PatternPrefix}}
	}
	out := make([]Pattern, 0, len(ps))
	for _, p := range ps {
		if len(p) > 0 && p[len(p)-1] == '*' {
			out = append(out, Pattern{Kind: PatternPrefix, Value: p[:len(p)-1]})
		} else {
			out = append(out, Pattern{Kind: PatternExact, Value: p})
		}
	}
	return out
}

// MatchKeys returns the candidate keys of an event type: the patterns that would select
// it, exact type first, then every prefix of it from the longest to "" (the "*"
// pattern). A type of n bytes has n+2 keys (at most event.MaxTypeLen+2): a store looks
// each up by equality in an index of (kind, value), so MatchEndpoints costs O(len(type) +
// matches), whatever the number of endpoints.
func MatchKeys(eventType string) []Pattern {
	keys := make([]Pattern, 0, len(eventType)+2)
	keys = append(keys, Pattern{Kind: PatternExact, Value: eventType})
	for i := len(eventType); i >= 0; i-- {
		keys = append(keys, Pattern{Kind: PatternPrefix, Value: eventType[:i]})
	}
	return keys
}

// ValidPattern reports whether p can be stored: a known kind, an exact value that is a
// valid event type, a prefix value that "value*" parses as a pattern.
func ValidPattern(p Pattern) bool {
	switch p.Kind {
	case PatternExact:
		return event.ValidateType(p.Value) == nil
	case PatternPrefix:
		_, err := event.ParsePattern(p.Value + "*")
		return err == nil
	}
	return false
}

// Endpoint is one endpoint's record in a Registry: what it is (an opaque spec the store
// does not interpret, its patterns, ordering and in-flight bound) and its shared state.
type Endpoint struct {
	// ID names the endpoint: Delivery.EndpointID of its deliveries. Required.
	ID string
	// Spec is the endpoint's description as the dispatcher encoded it (URL, scheme,
	// sealed secrets and credentials: see dispatch.SpecCodec). The store keeps the bytes
	// as they are and never reads them.
	Spec []byte
	// Patterns select the event types published to the endpoint (PatternsOf). None:
	// nothing is published to it.
	Patterns []Pattern
	// Ordered delivers the endpoint's events one at a time, in publish order.
	Ordered bool
	// MaxInFlight bounds the endpoint's attempts in flight at once, per dispatcher. 0:
	// the dispatcher's default; negative is refused (ErrInvalidEndpoint).
	MaxInFlight int
	// State is the endpoint's circuit-breaker state ("": EndpointActive).
	State EndpointState
	// Failures counts the consecutive failed attempts.
	Failures int
	// PausedUntil is, while paused, when the probe may go; while probing, when the probe's
	// claim ends (another instance may then probe).
	PausedUntil time.Time
	// Reason says why the state was last changed ("410 Gone", "enabled by hand": free
	// text, never a secret).
	Reason string
	// Version is set by the store, greater at every change (PutEndpoint,
	// SetEndpointState): 1 when the ID is new; a record created again after DeleteEndpoint
	// continues above the deleted one's, so that an ID's version is never reused.
	// SetEndpointState compares it.
	Version uint64
	// UpdatedAt is when the record last changed, on the caller's clock (the store reads
	// none).
	UpdatedAt time.Time
	// Deleted is set only in EndpointChanges, for an endpoint DeleteEndpoint removed.
	Deleted bool
}

// EndpointMatch is one endpoint selected by MatchEndpoints.
type EndpointMatch struct {
	ID      string
	Ordered bool
}

// StateUpdate is the new state SetEndpointState writes.
type StateUpdate struct {
	State       EndpointState
	Failures    int
	PausedUntil time.Time
	Reason      string
	// UpdatedAt is the caller's now.
	UpdatedAt time.Time
}

// Changes is what EndpointChanges reports.
type Changes struct {
	// Endpoints are the records changed since the cursor, each once as it is now (a
	// deleted one with Deleted set and nothing but its ID), in no particular
	// order. Empty when Overflow.
	Endpoints []Endpoint
	// Next is the cursor for the next call: every change committed after this call and
	// none before is reported from it.
	Next uint64
	// Overflow says that more than the limit changed: the caller drops what it caches and
	// reads again what it needs.
	Overflow bool
}

// EndpointPage is one page of ListEndpoints.
type EndpointPage struct {
	// Endpoints in ID order.
	Endpoints []Endpoint
	// Next is the cursor of the next page ("" when none follows).
	Next string
}

// Registry is an optional store extension: the endpoints themselves, with their shared
// state, so that every dispatcher on the store agrees on them. An endpoint disabled by one
// (410 Gone) is disabled for all; enabled again from any (or the CLI), it takes effect
// everywhere within a poll interval; Publish finds the endpoints an event selects with one
// indexed lookup (MatchEndpoints) instead of scanning them, so 100,000 endpoints need not
// sit in every process's memory. queuetest.RunRegistry checks every clause below.
//
// One clock, as for Store: UpdatedAt and DeleteEndpoint's now come from the caller; a
// registry never reads a clock.
//
//   - PutEndpoint creates or replaces an endpoint's description (Spec, Patterns, Ordered,
//     MaxInFlight, UpdatedAt) and returns the record stored. A new record takes State,
//     Failures, PausedUntil and Reason from the argument ("" State: active); an existing
//     one keeps its state: putting the same endpoint again (a process that registers its
//     endpoints at start) never enables a disabled endpoint — only SetEndpointState does.
//     It refuses an invalid record with ErrInvalidEndpoint. The Version is bumped either
//     way; Version in the argument is ignored.
//   - GetEndpoints returns the records of the given IDs that exist (not deleted), in the
//     order given, each once.
//   - DeleteEndpoint removes an endpoint (ErrNotFound when there is none); EndpointChanges
//     reports it as Deleted.
//   - MatchEndpoints returns the endpoints, not disabled, with a pattern that matches the
//     event type (see MatchKeys), each once, in ID order. It must cost O(matches) lookups
//     in an index, not a scan of the endpoints.
//   - SetEndpointState writes the state of the endpoint if its Version is still version
//     (compare-and-set), bumps the Version and returns the record. Otherwise it writes
//     nothing and returns the current record with ErrVersionConflict (ErrNotFound, and a
//     zero record, when the endpoint does not exist). So of two instances that read one
//     version and race, exactly one writes; the other decides again from what the first
//     wrote — a disabled endpoint is never resurrected by an instance that had not seen
//     it disabled.
//   - EndpointChanges returns the endpoints changed (created, put, state set, deleted)
//     since the cursor a previous call returned (0: since the beginning), each once, as it
//     is now, up to limit records; more than limit: none, and Overflow. limit 0 returns
//     only the cursor (and Overflow if anything changed). Following the cursors reports
//     every change, including those of transactions that commit out of order: a store may
//     hold a change back until the writes that were running when it committed have ended
//     (pgqueue does), never skip it. A change may be reported again by a later call. One
//     indexed query.
//   - ListEndpoints returns up to limit records (0: all; negative: all) in ID order,
//     strictly after the cursor after ("" from the start); Next continues.
type Registry interface {
	PutEndpoint(ctx context.Context, e Endpoint) (Endpoint, error)
	GetEndpoints(ctx context.Context, ids ...string) ([]Endpoint, error)
	DeleteEndpoint(ctx context.Context, now time.Time, id string) error
	MatchEndpoints(ctx context.Context, eventType string) ([]EndpointMatch, error)
	SetEndpointState(ctx context.Context, id string, version uint64, st StateUpdate) (Endpoint, error)
	EndpointChanges(ctx context.Context, since uint64, limit int) (Changes, error)
	ListEndpoints(ctx context.Context, after string, limit int) (EndpointPage, error)
}

// CheckEndpoint returns ErrInvalidEndpoint (wrapped, with the reason) for a record that
// PutEndpoint must refuse; for implementations.
func CheckEndpoint(e Endpoint) error {
	switch {
	case e.ID == "":
		return fmt.Errorf("%w: empty id", ErrInvalidEndpoint)
	case e.MaxInFlight < 0:
		return fmt.Errorf("%w: negative MaxInFlight", ErrInvalidEndpoint)
	}
	if err := CheckState(StateUpdate{State: e.State, Failures: e.Failures}); err != nil {
		return err
	}
	for _, p := range e.Patterns {
		if !ValidPattern(p) {
			return fmt.Errorf("%w: invalid pattern", ErrInvalidEndpoint)
		}
	}
	return nil
}

// EndpointsPutter is an optional Registry extension for writing many endpoints at once
// (dispatch.Dispatcher.RegisterMany, "hookkit endpoint import"): one transaction and a
// few round trips instead of one each. queuetest.RunEndpointsPutter checks it.
type EndpointsPutter interface {
	// PutEndpoints is PutEndpoint of each of es, in order (of two with one ID, the later
	// wins), all or none: an invalid one (ErrInvalidEndpoint, wrapped) or any failure
	// stores nothing. It returns the records written, in the order of es.
	PutEndpoints(ctx context.Context, es []Endpoint) ([]Endpoint, error)
}

// SpecReplacer is an optional Registry extension for re-sealing specs under a new key
// (dispatch.SpecCodec.Reseal, "hookkit endpoint rekey") without undoing a write made in
// between: PutEndpoint of the re-sealed spec would overwrite a description imported
// since it was read. queuetest.RunSpecReplacer checks it.
type SpecReplacer interface {
	// ReplaceSpec stores spec as the endpoint's Spec only while its stored Spec is still
	// old, byte for byte (a compare-and-set on the spec: a state change meanwhile does not
	// conflict, a PutEndpoint does), keeping everything else but the version (one more)
	// and UpdatedAt (now), and reporting the change in EndpointChanges. It returns the
	// record written; ErrVersionConflict (wrapped), with the current record, when the
	// stored Spec is no longer old; ErrNotFound when there is no such endpoint.
	ReplaceSpec(ctx context.Context, id string, old, spec []byte, now time.Time) (Endpoint, error)
}

// DeletedPurger is an optional Registry extension for a registry that keeps a record of
// each deleted endpoint, so that EndpointChanges reports the deletion and the versions of
// an endpoint created again go on from the deleted one's (pgqueue and memqueue do): the
// records of endpoints deleted long ago can be dropped. queuetest.RunDeletedPurger
// checks it.
type DeletedPurger interface {
	// PurgeDeleted drops the records of the endpoints deleted before before (by the time
	// DeleteEndpoint was given) and returns how many it dropped; live endpoints, and
	// those deleted since, are left as they are. Once dropped, a deletion is no longer
	// reported by EndpointChanges, and an endpoint created again under the ID starts
	// again at version 1: purge only deletions every dispatcher on the registry has long
	// read (its poll interval is seconds; a purge of those older than a day or a week
	// leaves only a dispatcher cut off from the registry for that long unaware).
	PurgeDeleted(ctx context.Context, before time.Time) (int, error)
}

// CheckState returns ErrInvalidEndpoint (wrapped) for a StateUpdate that SetEndpointState
// must refuse: an unknown State or negative Failures; for implementations.
func CheckState(st StateUpdate) error {
	switch {
	case !st.State.Valid():
		return fmt.Errorf("%w: unknown state", ErrInvalidEndpoint)
	case st.Failures < 0:
		return fmt.Errorf("%w: negative failures", ErrInvalidEndpoint)
	}
	return nil
}
