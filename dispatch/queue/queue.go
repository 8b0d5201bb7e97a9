package queue

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hookkit/hookkit/event"
)

// Errors returned by Store implementations (and passed on by the dispatch.Dispatcher).
var (
	// ErrQueueFull is returned by Store.Enqueue, Store.Requeue and dispatch.Dispatcher.Publish when
	// the store's bound on pending deliveries would be exceeded. Nothing was stored.
	ErrQueueFull = errors.New("hookkit/queue: delivery queue is full")
	// ErrLeaseLost is reported by Store.Complete, for one outcome, when the caller no
	// longer holds the lease it names: the lease expired and the delivery was leased again,
	// or the delivery was already acknowledged or dead-lettered.
	ErrLeaseLost = errors.New("hookkit/queue: delivery lease lost")
	// ErrNotFound is returned when a named delivery or endpoint does not exist.
	ErrNotFound = errors.New("hookkit/queue: not found")
	// ErrDuplicateDelivery is returned by Store.Enqueue when a delivery with the same ID is
	// already stored (pending or dead). Nothing was stored.
	ErrDuplicateDelivery = errors.New("hookkit/queue: duplicate delivery id")
	// ErrInvalidDelivery is returned by Store.Enqueue for a delivery without an ID, an
	// endpoint ID or an event. Nothing was stored.
	ErrInvalidDelivery = errors.New("hookkit/queue: invalid delivery")
	// ErrInvalidCursor is returned by ListPending and ListDead when ListFilter.After is not
	// a cursor that a listing returned (Page.Next).
	ErrInvalidCursor = errors.New("hookkit/queue: invalid list cursor")
	// ErrInvalidOutcome is reported by Store.Complete, for one outcome, whose Kind is none
	// of OutcomeAck, OutcomeReschedule, OutcomeDeadLetter. Nothing was changed for it.
	ErrInvalidOutcome = errors.New("hookkit/queue: invalid outcome")
)

// OutcomeKind says how an Outcome ends a lease.
type OutcomeKind int

// The kinds of Outcome.
const (
	// OutcomeAck removes the delivery: it was delivered.
	OutcomeAck OutcomeKind = iota + 1
	// OutcomeReschedule makes the delivery pending again, due at Outcome.Due, with
	// Outcome.Attempts appended to its history.
	OutcomeReschedule
	// OutcomeDeadLetter makes the delivery a dead letter with Outcome.Reason, DeadAt the
	// now given to Complete, and Outcome.Attempts appended to its history.
	OutcomeDeadLetter
)

// Outcome is what became of one leased delivery: the unit of Store.Complete. Make one
// with Ack, Reschedule or DeadLetter.
type Outcome struct {
	// Kind says what to do; the zero value is invalid (ErrInvalidOutcome).
	Kind OutcomeKind
	// ID names the delivery.
	ID string
	// Lease is the token its Lease returned.
	Lease string
	// Due is when a rescheduled delivery is due again (OutcomeReschedule only).
	Due time.Time
	// Reason is why it is a dead letter (OutcomeDeadLetter only).
	Reason string
	// Attempts are appended to its history (OutcomeReschedule and OutcomeDeadLetter).
	Attempts []Attempt
}

// Ack returns the Outcome that acknowledges the delivery id held under lease.
func Ack(id, lease string) Outcome { return Outcome{Kind: OutcomeAck, ID: id, Lease: lease} }

// Reschedule returns the Outcome that makes the delivery pending again, due at due, with
// attempts appended to its history (none: it is handed back unchanged).
func Reschedule(id, lease string, due time.Time, attempts ...Attempt) Outcome {
	return Outcome{Kind: OutcomeReschedule, ID: id, Lease: lease, Due: due, Attempts: attempts}
}

// DeadLetter returns the Outcome that makes the delivery a dead letter for reason, with
// attempts appended to its history.
func DeadLetter(id, lease, reason string, attempts ...Attempt) Outcome {
	return Outcome{Kind: OutcomeDeadLetter, ID: id, Lease: lease, Reason: reason, Attempts: attempts}
}

// Reasons recorded in Delivery.DeadReason by the dispatch.Dispatcher.
const (
	DeadReasonGone         = "endpoint gone"         // the endpoint answered 410 Gone
	DeadReasonExhausted    = "retries exhausted"     // the retry policy gave up
	DeadReasonRejected     = "rejected permanently"  // a final answer: 4xx, redirect
	DeadReasonRefused      = "refused destination"   // the safe dialer refused the address
	DeadReasonUnsubscribed = "endpoint unsubscribed" // Unsubscribe while deliveries were pending
)

// Delivery is one event on its way to one endpoint: the unit a Store keeps.
//
// Values returned by a Store are copies: changing them (including the Attempts slice)
// does not change what is stored. Event is immutable and may be shared.
type Delivery struct {
	// ID identifies the delivery; unique within the store. Set by the caller of Enqueue.
	ID string
	// EndpointID names the endpoint the delivery goes to.
	EndpointID string
	// Event is the encoded event (body marshalled once). A durable store persists its
	// lossless binary form (event.Encoded.MarshalBinary) and rebuilds it with
	// event.Encoded.UnmarshalBinary when loading: no JSON is parsed again, and every
	// attempt's body is byte for byte the one Encode wrote.
	Event *event.Encoded
	// Ordered puts the delivery in its endpoint's ordered group, under the head rule: an
	// ordered delivery may be leased only if no ordered delivery of the same endpoint with
	// a lower Seq is in the store, pending or leased (its lease live or not). The head of
	// the group is its lowest Seq; only the head is ever leased, so one is in flight at a
	// time, in publish order. Dead letters leave the group. A SQL store keeps the rule with
	// a NOT EXISTS (lower Seq of the endpoint's ordered group) condition, or a per-endpoint
	// lock; "ORDER BY seq ... FOR UPDATE SKIP LOCKED" alone breaks it (a second Lease skips
	// the locked head and takes the next).
	Ordered bool
	// Seq is assigned by Enqueue: strictly increasing in enqueue order within the store.
	Seq uint64
	// Created is when the delivery was enqueued (set by the caller).
	Created time.Time
	// Due is the earliest time the delivery may be leased.
	Due time.Time
	// Attempts is the history of attempts, oldest first.
	Attempts []Attempt
	// RoundStart is the number of Attempts made before the last Requeue: the retry policy
	// counts only the attempts after it. Set by Requeue.
	RoundStart int
	// Lease is the token of the current lease (set by Lease; empty when not leased).
	Lease string
	// LeaseExpires is when the current lease ends.
	LeaseExpires time.Time
	// DeadReason says why the delivery is a dead letter (empty while pending).
	DeadReason string
	// DeadAt is when the delivery became a dead letter: the now given to DeadLetter or
	// DeadLetterEndpoint.
	DeadAt time.Time
}

// Attempt is the record of one attempt, as a Store keeps it: plain data, so that a
// store can persist every field as it is (a number, a time, durations, an int and two
// strings) and give it back unchanged. The dispatcher makes it from the sender's attempt;
// the retry policy reads Number, Start, Duration and RetryAfter back from it, so a store
// must keep all of them (queuetest checks that every field round-trips).
type Attempt struct {
	// Number is 1 for the first attempt of a delivery; the body's retryCount is Number-1.
	Number int
	// Start is when the attempt began. A store must give back the same instant
	// (time.Time.Equal); the location may change.
	Start time.Time
	// Duration lasts from Start until the response was read, or the attempt failed.
	Duration time.Duration
	// Status is the response status; 0 when no response was received.
	Status int
	// Class is what the outcome meant, by its stable name: one of ClassAcknowledged,
	// ClassRetryable, ClassPermanent, ClassGone, ClassRefused, ClassCredentials,
	// ClassRedirect (the String of the sender's Class). "" for none.
	Class string
	// Error is the text of what went wrong; "" when acknowledged. It never contains the
	// URL, credentials or tokens.
	Error string
	// RetryAfter is the wait a 429 or 503 asked for in its Retry-After header, as sent
	// (before the retry policy's MaxRetryAfter caps it); 0 when none.
	RetryAfter time.Duration
}

// The stable names of Attempt.Class, the same as the sender's Class.String. They are
// part of the stored format: they never change.
const (
	ClassAcknowledged = "acknowledged" // a 2xx answer
	ClassRetryable    = "retryable"    // a network error, timeout, 408, 425, 429, most 5xx
	ClassPermanent    = "permanent"    // another 4xx, 501, 505, or a request that could not be made
	ClassGone         = "gone"         // 410 Gone
	ClassRefused      = "refused"      // the destination was refused before sending
	ClassCredentials  = "credentials"  // credentials could not be obtained, or were rejected again
	ClassRedirect     = "redirect"     // a 3xx, never followed
)

// LeaseRequest asks a Store for due deliveries.
type LeaseRequest struct {
	// Now is the current time: deliveries with Due <= Now are due, leases with
	// LeaseExpires <= Now have expired.
	Now time.Time
	// Max is the largest number of deliveries to return (at least 1).
	Max int
	// For is how long the lease lasts (> 0).
	For time.Duration
	// Endpoints, when not nil, restricts the lease to these endpoint IDs, at most the
	// given number of deliveries for each (entries <= 0 are skipped). A dispatcher lists only
	// the endpoints it serves and can run now, so nothing is leased that would wait.
	Endpoints map[string]int
}

// ListFilter selects deliveries for ListPending and ListDead, of a Store and of a
// dispatch.Dispatcher (whose methods call its Store's). The zero value selects everything.
type ListFilter struct {
	// EndpointID selects the deliveries of this endpoint only. "": every endpoint.
	EndpointID string
	// EventID selects the deliveries of this event only. "": every event.
	EventID string
	// Limit returns at most this many, the first in the listing's order after After. 0
	// means no limit; negative means no limit too.
	Limit int
	// After continues a listing: the Page.Next of the previous page. "": from the start.
	// The cursor is a position in the listing's order (a keyset: the time and Seq of the
	// last delivery returned), not an offset, so deliveries added or removed between
	// pages neither repeat nor skip the others.
	After string
}

// Page is one page of a listing (ListPending, ListDead).
type Page struct {
	// Deliveries are the deliveries listed, in the listing's order.
	Deliveries []Delivery
	// Next is the cursor for the next page (ListFilter.After): "" when no delivery
	// selected by the filter followed the last one returned at the time of the call.
	Next string
}

// Cursor returns the cursor (Page.Next) of a listing position: after the delivery with
// this sort time (Due for ListPending, DeadAt for ListDead) and Seq. A store may use its own
// format; this one is what memqueue uses, and what a SQL store can use as a keyset:
// WHERE (due, seq) > (at, seq) ORDER BY due, seq.
func Cursor(at time.Time, seq uint64) string {
	return strconv.FormatInt(at.Unix(), 10) + "." + strconv.Itoa(at.Nanosecond()) + "." + strconv.FormatUint(seq, 10)
}

// ParseCursor reads a cursor made by Cursor; ErrInvalidCursor if it is not one.
func ParseCursor(c string) (at time.Time, seq uint64, err error) {
	parts := strings.Split(c, ".")
	if len(parts) != 3 {
		return time.Time{}, 0, ErrInvalidCursor
	}
	sec, err1 := strconv.ParseInt(parts[0], 10, 64)
	nsec, err2 := strconv.ParseInt(parts[1], 10, 64)
	seq, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || nsec < 0 || nsec >= 1e9 {
		return time.Time{}, 0, ErrInvalidCursor
	}
	return time.Unix(sec, nsec).UTC(), seq, nil
}

// Selector names dead letters to requeue: by ID, else by EndpointID, else (both empty) all.
type Selector struct {
	// ID selects the one dead letter with this delivery ID. "": see EndpointID.
	ID string
	// EndpointID, when ID is "", selects every dead letter of this endpoint. "" (both
	// empty): every dead letter.
	EndpointID string
}

// Store keeps pending deliveries and dead letters for a dispatch.Dispatcher.
//
// One clock: every method that depends on time takes it from its caller — a now argument
// (Complete, DeadLetterEndpoint), a Now field (LeaseRequest.Now) or a due time
// (Reschedule, Requeue). A store never reads a clock of its own (neither time.Now nor a
// database's now()), so that every dispatcher sharing a store, and every test, decides
// what time it is. ListPending and ListDead do not depend on time: they report what is
// stored (a Lease whose LeaseExpires has passed may still be shown until the next Lease).
//
// Implementations must be safe for concurrent use, including by several dispatcher
// processes sharing one durable store. The package queuetest checks every clause below;
// run it against any implementation (queuetest.Run).
//
// A delivery is pending (waiting for its Due time), leased (held by one dispatcher until
// the lease expires), or dead (a dead letter). Delivery is at-least-once: a lease that
// expires without Ack, Reschedule or DeadLetter makes the delivery visible again, so a
// crashed dispatcher loses nothing, and a delivery may be attempted more than once.
//
//   - Enqueue stores all the deliveries or none. It fails with ErrInvalidDelivery (empty
//     ID or EndpointID, nil Event), ErrDuplicateDelivery (ID already stored, pending or
//     dead) or ErrQueueFull (the pending bound would be exceeded). It assigns Seq in
//     argument order, clears Lease and DeadReason and stores copies.
//   - Lease returns up to Max deliveries with Due <= Now that are not leased (or whose lease
//     expired), earliest Due first, honouring LeaseRequest.Endpoints and Delivery.Ordered's
//     head rule (while an ordered group's head is leased or not due, nothing of the group is).
//     Each gets a new Lease token, unique within the store, and LeaseExpires = Now + For.
//     Two concurrent Lease calls never return the same delivery with live leases.
//   - Complete ends leases, many in one call (one round trip for a SQL store): each
//     Outcome acknowledges (removes) its delivery, reschedules it (new Due, attempts
//     appended, pending again) or makes it a dead letter (attempts appended, Reason, DeadAt
//     = now). It returns one error per outcome, in argument order: nil when applied,
//     ErrLeaseLost when the delivery is unknown, is no longer leased under that token
//     (once another Lease has returned it, always) or is dead, ErrInvalidOutcome for an
//     unknown Kind. The batch is not atomic: each outcome is applied or refused on its own,
//     in order (so a second outcome for the same ID finds its lease ended: ErrLeaseLost),
//     and a lost lease does not stop the others. A non-nil second result means the call
//     itself failed (context, connection): the slice is nil and any of the outcomes may or
//     may not have been applied; the caller may send them again (the applied ones then
//     report ErrLeaseLost) or let their leases expire — nothing is lost either way.
//   - DeadLetterEndpoint makes every pending, not leased delivery of an endpoint a dead
//     letter with the reason and DeadAt = now, and returns how many. Leased ones stay with their holders.
//   - ListPending returns pending and leased deliveries (earliest Due first, then Seq); ListDead
//     returns dead letters (oldest DeadAt first, then Seq). Both return one Page: at most
//     ListFilter.Limit deliveries strictly after the position ListFilter.After names, and
//     the cursor of the last one (Page.Next, "" when none follows). Paging through a listing
//     returns each delivery that stays in place exactly once, in order, whatever is added or
//     removed between pages (a delivery whose Due changes may move). A cursor that no
//     listing returned: ErrInvalidCursor.
//   - Stats counts what is stored at now: pending deliveries not leased (a lease that
//     expired at or before now counts as not leased), leased ones (lease live at now) and
//     dead letters. It changes nothing.
//   - Requeue makes the selected dead letters pending again, due at the given time, keeping
//     their attempt history and setting RoundStart = len(Attempts). It is all-or-nothing:
//     ErrQueueFull when they do not fit, ErrNotFound when Selector.ID names no dead letter.
//     It returns how many were requeued.
//
// The context bounds the call; an in-memory store may ignore it.
type Store interface {
	Enqueue(ctx context.Context, ds ...Delivery) error
	Lease(ctx context.Context, req LeaseRequest) ([]Delivery, error)
	Complete(ctx context.Context, now time.Time, outcomes ...Outcome) ([]error, error)
	DeadLetterEndpoint(ctx context.Context, now time.Time, endpointID, reason string) (int, error)
	ListPending(ctx context.Context, f ListFilter) (Page, error)
	ListDead(ctx context.Context, f ListFilter) (Page, error)
	Requeue(ctx context.Context, sel Selector, due time.Time) (int, error)
	Stats(ctx context.Context, now time.Time) (Stats, error)
}

// Stats are the counts of a Store at one time (Store.Stats).
type Stats struct {
	// Pending counts the deliveries waiting for a lease: not leased, or their lease expired.
	Pending int `json:"pending"`
	// Leased counts the deliveries held under a live lease.
	Leased int `json:"leased"`
	// Dead counts the dead letters.
	Dead int `json:"dead"`
}

// DeadEvicter is an optional Store extension for a store that bounds its dead letters
// (memqueue.Store with memqueue.Config.MaxDead). When a new dead letter would exceed the
// bound, such a store deletes the oldest dead letters (earliest DeadAt, then lowest Seq:
// the order of ListDead) until it fits, and forgets them: their IDs may be enqueued again
// and Requeue no longer finds them. Its Complete and DeadLetterEndpoint evict the same
// way; the methods below do what those do and also return the evicted dead letters,
// oldest first. The dispatch.Dispatcher calls them when its store has them, and reports
// every eviction to its observer (dispatch.Observer.DeadLetterEvicted) and its logger.
// queuetest.RunDeadBounded checks them.
type DeadEvicter interface {
	// CompleteEvicting is Complete, also returning the dead letters evicted to make room.
	CompleteEvicting(ctx context.Context, now time.Time, outcomes ...Outcome) (errs []error, evicted []Delivery, err error)
	// DeadLetterEndpointEvicting is DeadLetterEndpoint, returning the dead letters
	// evicted to make room.
	DeadLetterEndpointEvicting(ctx context.Context, now time.Time, endpointID, reason string) (n int, evicted []Delivery, err error)
}

// NextDuer is an optional Store extension: NextDue returns the earliest time at which a
// delivery becomes due or a lease expires (false when there is none). The dispatcher
// uses it to wake up exactly when a retry is due instead of at the next poll.
type NextDuer interface {
	NextDue(ctx context.Context) (time.Time, bool)
}

// Notifier is an optional Store extension for a store that learns when deliveries become
// available through another process (for example Postgres LISTEN/NOTIFY, sent by the
// transaction that enqueued them). A dispatch.Dispatcher leases at once whenever a value
// arrives on the channel, instead of at its next poll; polling stays the fallback, so a
// lost notification only delays. The channel is the store's, never closed while the store
// is open, and should be buffered with capacity 1 and written without blocking (a pending
// value means "look again").
type Notifier interface {
	Notifications() <-chan struct{}
}

// LeasingEnqueuer is an optional Store extension: a store that can store deliveries
// already leased to the caller. A dispatch.Dispatcher uses it to hand what it publishes
// straight to its idle workers (Config.NoHandoff turns that off): the delivery is stored
// leased in the Enqueue's own write, instead of stored pending and then found, leased and
// read back by the next Lease, which for a SQL store is a query and an update fewer per
// delivery, and no wait for the next lease. queuetest.RunLeasingEnqueuer checks it.
type LeasingEnqueuer interface {
	// EnqueueLeased is Enqueue (the same checks, errors and all-or-nothing rule, with Seq
	// assigned in argument order), except that each delivery whose LeaseExpires is not the
	// zero time is stored leased until then under a new Lease token, unique within the
	// store, as if a Lease had just returned it: it counts as leased (Stats), lists
	// with its token (ListPending), its outcome goes to Complete with that token, and once
	// its lease expires any Lease may take it (when it is due), like any other. Deliveries
	// with a zero LeaseExpires are stored pending, as Enqueue stores them. An Ordered
	// delivery with a LeaseExpires is ErrInvalidDelivery: only Lease applies the head rule.
	//
	// Once the deliveries are stored, it sets, in ds itself, every delivery's Seq and the
	// Lease token of each one stored leased ("" for the others), and calls committed (when
	// not nil) once, before it returns: as soon as other calls of the store see them,
	// which for a store that makes a write durable after it is visible (sqlitequeue's
	// SyncFull fsyncs after the commit) is before they are durable, as a Lease may
	// return a delivery that is not yet durable. committed runs in a goroutine of the
	// store's and must neither block nor call the store. Without a call of committed
	// nothing was stored, and EnqueueLeased returns an error; an error after it (a commit
	// that could not be made durable: the store has failed) leaves unknown whether the
	// deliveries survive a crash.
	EnqueueLeased(ctx context.Context, ds []Delivery, committed func()) error
}
