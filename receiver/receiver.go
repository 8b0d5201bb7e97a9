package receiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/statuswriter"
	"github.com/hookkit/hookkit/signature"
)

// DefaultMaxBodyBytes is the body size limit used when Config.MaxBodyBytes is zero (1 MiB).
const DefaultMaxBodyBytes = 1 << 20

// DefaultLease is how long a delivery holds its id "in flight" in the SeenStore when
// Config.Lease is zero. Deliveries with the same id that arrive meanwhile get 503 with
// Retry-After: 1. The receiver commits or releases the id as soon as the handler returns or
// panics, so the lease runs out only when a handler runs longer than it, or when the process
// dies mid-delivery (the sender's retry then gets through once the lease expired).
const DefaultLease = 2 * time.Minute

// MinRetention is the shortest default retention of seen ids.
const MinRetention = 10 * time.Minute

// UntimedRetention is the default retention of seen ids for deliveries whose scheme has no
// signed timestamp (docusign, github) or when the timestamp check is disabled: without a
// timestamp, de-duplication is the only defence against replays.
const UntimedRetention = 24 * time.Hour

// ErrInvalidConfig is returned by New and NewMemorySeenStore for a configuration that
// cannot work; the message says which field is wrong.
var ErrInvalidConfig = errors.New("hookkit/receiver: invalid config")

// Config configures the receiver middleware built by New. The zero value is not enough on
// its own: set Keys (signature verification, the default), or Credentials with
// SkipSignature, or both Keys and Credentials to require both. Every other field has a
// documented default.
//
// Numbers follow one rule: 0 means the documented default; a negative value means "off"
// only where the field's documentation says so (Tolerance), and New refuses it with
// ErrInvalidConfig everywhere else.
//
// # Delivery id and event id
//
// A delivery carries up to two ids: the delivery id in a signed header (webhook-id for the
// standard scheme; docusign, github and stripe have none) and the event's own "id" in the
// body. They usually agree (hookkit's sender sends the event id as the delivery id) but
// need not. When they differ, the header id wins for
// everything the receiver does itself: it is the key the SeenStore reserves and commits,
// verbatim, and DeliveryIDFrom returns it; the body id is only the event's id,
// EventFrom(ctx).ID. So two deliveries with the same header id are one delivery (the second
// is acknowledged as a duplicate whatever its body), and two with different header ids are
// two deliveries even when they carry the same event. Without a header id the SeenStore key
// and DeliveryIDFrom are the event id, and, when a Decode leaves that empty, "sha256:" and
// the hex SHA-256 of the body.
type Config struct {
	// Scheme is the signature format. nil means signature.Standard(), which also reads the
	// svix-* header names, but only when there is no webhook-signature header: when it is
	// present the webhook-* headers alone are verified and svix-* headers are ignored, even
	// valid ones.
	Scheme signature.Scheme
	// Keys are the verification keys. Every active key is tried; swap them at run time with
	// Keys.Replace for rotation — the next request uses the new set, no new middleware is
	// needed. Required unless SkipSignature is true.
	Keys *signature.KeySet
	// SkipSignature turns signature verification off, leaving Credentials as the only
	// authentication ("credentials only"). It requires Credentials and forbids Keys, so
	// verification can never be switched off by forgetting a field.
	SkipSignature bool
	// Credentials, if set, validates the request's credentials (bearer, Basic, JWT,
	// introspection — see package auth) before the body is read. With Keys also set, a
	// delivery needs valid credentials AND a valid signature.
	Credentials auth.Validator
	// MaxBodyBytes is the largest accepted body. 0 means DefaultMaxBodyBytes (1 MiB); a
	// negative value is refused (there is no "unlimited"); values above math.MaxInt32 count
	// as math.MaxInt32. A larger Content-Length is refused with 413 before anything is read;
	// a body without Content-Length is read up to MaxBodyBytes+1 bytes and then refused.
	MaxBodyBytes int64
	// Tolerance is the accepted distance between the signed timestamp and Now for schemes
	// with a timestamp (standard, stripe). 0 means signature.DefaultTolerance (5 minutes);
	// a negative value turns the timestamp check off (not recommended: de-duplication is
	// then the only replay defence, and the retention default becomes UntimedRetention).
	Tolerance time.Duration
	// Now is the clock used for the timestamp check and key activity. nil means time.Now.
	Now func() time.Time
	// Seen stores the ids of handled deliveries (see "Delivery id and event id" for which
	// id). nil means a MemorySeenStore with DefaultMaxEntries, private to this middleware.
	Seen SeenStore
	// Retention is how long an id stays seen after its handler succeeded. 0 means
	// max(2×Tolerance, MinRetention) for deliveries with a signed timestamp and
	// UntimedRetention (24h) for those without; a negative value is refused. It must not be
	// shorter than Tolerance: a replay inside the tolerance must still be recognised.
	Retention time.Duration
	// Lease is how long a delivery may hold its id in flight. 0 means DefaultLease (2
	// minutes); a negative value is refused. It must be longer than the longest run of the
	// next handler. A handler that outlives its lease is not stopped, but a retry of the
	// delivery that arrives after the lease expired reserves the id and runs the handler
	// again, concurrently. The seen store's tokens keep it at that: the late delivery's
	// release cannot free the retry's reservation, and its success still records the id as
	// seen (logged as a warning, see ErrLeaseLost).
	Lease time.Duration
	// Decode turns the verified body into an event. nil means event.Parse. Use it to accept
	// bodies in another format (for example a Stripe or GitHub payload) as an event.Event.
	// The returned event must not refer to body's memory: the buffer is reused.
	Decode func(body []byte) (*event.Event, error)
	// Logger receives one record per rejection (Info; Error for store failures) and per
	// accepted or duplicate delivery (Debug). nil means no logging. Records never contain
	// key material or credentials.
	Logger *slog.Logger
	// Observer is told about every accepted, rejected and duplicate delivery, for metrics
	// and tracing. The zero value observes nothing.
	Observer RequestObserver
}

// RequestObserver is told the outcome of every request that reaches the middleware, for
// metrics and tracing (like net/http/httptrace.ClientTrace: set the hooks you need, nil
// hooks are skipped, and hooks added later break no one). The hooks are called
// synchronously on the request goroutine and must be safe for concurrent use.
type RequestObserver struct {
	// Accepted is called after the next handler returned for a verified, new delivery,
	// with the status it answered (200 if it wrote nothing).
	Accepted func(ctx context.Context, ev *event.Event, status int)
	// Rejected is called when the middleware refuses a request, with the reason.
	Rejected func(ctx context.Context, reason Reason)
	// Duplicate is called when a delivery whose id was already handled is acknowledged
	// (204) without calling the next handler. id is the SeenStore key, the one
	// DeliveryIDFrom would have returned.
	Duplicate func(ctx context.Context, id string)
}

// middleware is what New builds: safe for concurrent use, and one middleware can wrap
// many handlers (they then share the seen-id store).
type middleware struct {
	scheme    signature.Scheme
	keys      *signature.KeySet
	creds     auth.Validator
	maxBody   int64
	tolerance time.Duration
	nowFn     func() time.Time
	seen      SeenStore
	retention time.Duration // 0: per-request default
	lease     time.Duration
	decode    func([]byte) (*event.Event, error)
	log       *slog.Logger
	obs       RequestObserver
	bufs      sync.Pool // of *bytes.Buffer
}

// New checks cfg, fills in the defaults and returns the receiver middleware: a function
// that guards an http.Handler. The handler it returns lets only verified, new deliveries
// through to next: EventFrom, PrincipalFrom and DeliveryIDFrom give what was verified, and
// r.Body holds the exact bytes that were signed. next must not use r.Body after it returns
// (the buffer is reused). The function may wrap several handlers; they then share one
// SeenStore (the Config's, or the default one New made). An unusable cfg gives an error
// wrapping ErrInvalidConfig.
func New(cfg Config) (func(http.Handler) http.Handler, error) {
	switch {
	case cfg.SkipSignature && cfg.Credentials == nil:
		return nil, fmt.Errorf("%w: SkipSignature requires Credentials", ErrInvalidConfig)
	case cfg.SkipSignature && cfg.Keys != nil:
		return nil, fmt.Errorf("%w: Keys is set but SkipSignature disables verification", ErrInvalidConfig)
	case !cfg.SkipSignature && cfg.Keys == nil:
		return nil, fmt.Errorf("%w: Keys is required unless SkipSignature is set", ErrInvalidConfig)
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("%w: MaxBodyBytes is negative", ErrInvalidConfig)
	case cfg.Retention < 0:
		return nil, fmt.Errorf("%w: Retention is negative", ErrInvalidConfig)
	case cfg.Lease < 0:
		return nil, fmt.Errorf("%w: Lease is negative", ErrInvalidConfig)
	}
	m := &middleware{
		scheme:    cfg.Scheme,
		keys:      cfg.Keys,
		creds:     cfg.Credentials,
		maxBody:   cfg.MaxBodyBytes,
		tolerance: cfg.Tolerance,
		nowFn:     cfg.Now,
		seen:      cfg.Seen,
		retention: cfg.Retention,
		lease:     cfg.Lease,
		decode:    cfg.Decode,
		log:       cfg.Logger,
		obs:       cfg.Observer,
	}
	if m.scheme == nil {
		m.scheme = signature.Standard()
	}
	if m.maxBody == 0 {
		m.maxBody = DefaultMaxBodyBytes
	}
	if m.maxBody > math.MaxInt32 {
		m.maxBody = math.MaxInt32 // keeps limit+1 and buffer sizes in range everywhere
	}
	effTol := m.tolerance
	if effTol == 0 {
		effTol = signature.DefaultTolerance
	}
	if m.retention > 0 && effTol > 0 && m.retention < effTol {
		return nil, fmt.Errorf("%w: Retention is shorter than Tolerance", ErrInvalidConfig)
	}
	if m.nowFn == nil {
		m.nowFn = time.Now
	}
	if m.seen == nil {
		m.seen = newMemorySeenStore(DefaultMaxEntries, m.nowFn)
	}
	if m.lease == 0 {
		m.lease = DefaultLease
	}
	if m.decode == nil {
		m.decode = event.Parse
	}
	return m.wrap, nil
}

// wrap returns next guarded by the middleware.
func (m *middleware) wrap(next http.Handler) http.Handler {
	return &handler{m: m, next: next}
}

type handler struct {
	m    *middleware
	next http.Handler
}

// delivery is what the middleware puts in the request context.
type delivery struct {
	ev        *event.Event
	principal *auth.Principal
	id        string
}

type ctxKey struct{}

// EventFrom returns the verified event of a request that passed the middleware.
func EventFrom(ctx context.Context) (*event.Event, bool) {
	d, ok := ctx.Value(ctxKey{}).(*delivery)
	if !ok || d.ev == nil {
		return nil, false
	}
	return d.ev, true
}

// PrincipalFrom returns the authenticated principal of a request that passed the
// middleware with Config.Credentials set.
func PrincipalFrom(ctx context.Context) (*auth.Principal, bool) {
	d, ok := ctx.Value(ctxKey{}).(*delivery)
	if !ok || d.principal == nil {
		return nil, false
	}
	return d.principal, true
}

// DeliveryIDFrom returns the id the middleware de-duplicated the delivery by, which is the
// exact key it reserved and commits in the SeenStore: the signed delivery id header when the
// scheme has one (webhook-id for standard), even when the body's "id" differs; else the
// event's id; else "sha256:" and the hex SHA-256 of the body. The event's own id is
// EventFrom(ctx).ID. See Config, "Delivery id and event id".
func DeliveryIDFrom(ctx context.Context) (string, bool) {
	d, ok := ctx.Value(ctxKey{}).(*delivery)
	if !ok {
		return "", false
	}
	return d.id, true
}

// reqState is everything one accepted request needs, allocated once.
type reqState struct {
	delivery delivery
	body     bodyReader
	writer   statuswriter.Writer
}

type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	ctx := r.Context()

	// 1. Method.
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		m.reject(ctx, w, r, ReasonMethodNotAllowed, nil)
		return
	}

	// 2. Size limit, up front when the length is declared.
	if r.ContentLength > m.maxBody {
		w.Header().Set("Connection", "close")
		m.reject(ctx, w, r, ReasonBodyTooLarge, nil)
		return
	}

	// 3. Credentials: cheap, before the body is read.
	var principal *auth.Principal
	if m.creds != nil {
		p, err := m.creds.Validate(ctx, r)
		if err == nil && p == nil {
			err = auth.ErrInvalidCredentials // a validator must not accept without a principal
		}
		if err != nil {
			status, challenge := auth.Challenge(err)
			reason := ReasonInvalidCredentials
			switch {
			case status == http.StatusForbidden:
				reason = ReasonInsufficientScope
			case status >= 500:
				reason = ReasonAuthUnavailable
			}
			if challenge != "" && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
				w.Header().Set("WWW-Authenticate", challenge)
			}
			m.reject(ctx, w, r, reason, err)
			return
		}
		principal = p
	}

	// 4. Raw body, read once into a pooled buffer, never more than limit+1 bytes.
	buf := m.getBuf()
	defer m.putBuf(buf)
	if reason, err := m.readBody(r, buf); reason != "" {
		if reason == ReasonBodyTooLarge {
			w.Header().Set("Connection", "close")
		}
		m.reject(ctx, w, r, reason, err)
		return
	}
	body := buf.Bytes()

	// 5–6. Signature with every active key, then the timestamp tolerance (inside Verify).
	var meta signature.Meta
	if !m.skipSignature() {
		keys := m.keys.Active(m.nowFn())
		if len(keys) == 0 {
			m.reject(ctx, w, r, ReasonUnavailable, signature.ErrNoKeys)
			return
		}
		var err error
		meta, err = m.scheme.Verify(r.Header, body, keys, signature.VerifyOptions{Now: m.nowFn, Tolerance: m.tolerance})
		if err != nil {
			reason := ReasonInvalidSignature
			switch {
			case errors.Is(err, signature.ErrTimestamp):
				reason = ReasonTimestamp
			case errors.Is(err, signature.ErrNoKeys):
				reason = ReasonUnavailable
			}
			m.reject(ctx, w, r, reason, err)
			return
		}
	}

	// 7. Duplicate check. The id is the signed delivery id when the scheme has one;
	// otherwise it comes from the body, which is then decoded first.
	var ev *event.Event
	id := meta.ID
	if id == "" {
		var err error
		if ev, err = m.decodeBody(body); err != nil {
			m.reject(ctx, w, r, ReasonInvalidEvent, err)
			return
		}
		id = ev.ID
		if id == "" {
			sum := sha256.Sum256(body)
			id = "sha256:" + hex.EncodeToString(sum[:])
		}
	}
	res, token, err := m.seen.Reserve(ctx, id, m.lease)
	if err != nil {
		m.reject(ctx, w, r, ReasonUnavailable, err)
		return
	}
	switch res {
	case Reserved:
	case AlreadySeen:
		if m.log != nil {
			m.log.LogAttrs(ctx, slog.LevelDebug, "hookkit/receiver: duplicate delivery acknowledged",
				slog.String("id", id), slog.String("remote", r.RemoteAddr))
		}
		if m.obs.Duplicate != nil {
			m.obs.Duplicate(ctx, id)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case InFlight:
		m.reject(ctx, w, r, ReasonInFlight, nil)
		return
	default:
		m.reject(ctx, w, r, ReasonUnavailable, fmt.Errorf("seen store returned %d", int(res)))
		return
	}
	// From here on the id is reserved under token: it is committed after a 2xx, released
	// otherwise, including when the next handler panics.
	bg := context.WithoutCancel(ctx)
	committed := false
	defer func() {
		if !committed {
			if err := m.seen.Release(bg, id, token); err != nil {
				m.logStore(bg, "release", id, err)
			}
		}
	}()

	// 8. Event.
	if ev == nil {
		if ev, err = m.decodeBody(body); err != nil {
			m.reject(ctx, w, r, ReasonInvalidEvent, err)
			return
		}
	}

	// 9. Context and body for the next handler.
	st := &reqState{delivery: delivery{ev: ev, principal: principal, id: id}}
	st.body.Reset(body)
	st.writer.ResponseWriter = w
	r2 := r.WithContext(context.WithValue(ctx, ctxKey{}, &st.delivery))
	r2.Body = &st.body
	r2.ContentLength = int64(len(body))
	r2.TransferEncoding = nil
	r2.GetBody = nil

	h.next.ServeHTTP(&st.writer, r2)

	status := st.writer.Code()
	if status >= 200 && status < 300 {
		switch err := m.seen.Commit(bg, id, token, m.retentionFor(meta)); {
		case err == nil:
			committed = true
		case errors.Is(err, ErrLeaseLost):
			committed = true // recorded as seen all the same
			if m.log != nil {
				m.log.LogAttrs(bg, slog.LevelWarn, "hookkit/receiver: handler outlived its lease; the id is recorded as seen, but another delivery of it may have run the handler meanwhile",
					slog.String("id", id), slog.Duration("lease", m.lease))
			}
		default:
			m.logStore(bg, "commit", id, err)
		}
	}
	if m.log != nil {
		m.log.LogAttrs(ctx, slog.LevelDebug, "hookkit/receiver: delivery handled",
			slog.String("id", id), slog.String("type", ev.Type), slog.Int("status", status))
	}
	if m.obs.Accepted != nil {
		m.obs.Accepted(ctx, ev, status)
	}
}

func (m *middleware) skipSignature() bool { return m.keys == nil }

// decodeBody runs the decoder, turning a panic or a nil event into an error.
func (m *middleware) decodeBody(body []byte) (ev *event.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			ev, err = nil, fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	ev, err = m.decode(body)
	if err == nil && ev == nil {
		err = errors.New("decoder returned no event")
	}
	return ev, err
}

// retentionFor is how long the id of a delivery with meta stays seen.
func (m *middleware) retentionFor(meta signature.Meta) time.Duration {
	if m.retention > 0 {
		return m.retention
	}
	tol := m.tolerance
	if tol == 0 {
		tol = signature.DefaultTolerance
	}
	if tol < 0 || meta.Timestamp.IsZero() {
		return UntimedRetention
	}
	return max(2*tol, MinRetention)
}

// initialBodyBuffer is the most readBody reserves for a body on the strength of its
// declared Content-Length alone. Beyond it the buffer grows (doubling) only as bytes
// actually arrive, so a client that declares a large body and stalls costs this much, not
// the declared length.
const initialBodyBuffer = 16 << 10

// readBody reads r.Body into buf, at most maxBody+1 bytes. A declared Content-Length sizes
// the buffer up to initialBodyBuffer (a body that fits is read without growing it again);
// a pooled buffer keeps the capacity earlier bodies gave it.
func (m *middleware) readBody(r *http.Request, buf *bytes.Buffer) (Reason, error) {
	if r.Body == nil {
		return "", nil
	}
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, initialBodyBuffer)) + bytes.MinRead)
	}
	lr := io.LimitedReader{R: r.Body, N: m.maxBody + 1}
	_, err := buf.ReadFrom(&lr)
	if int64(buf.Len()) > m.maxBody {
		return ReasonBodyTooLarge, nil
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ReasonBodyTooLarge, err
		}
		return ReasonUnreadableBody, err
	}
	return "", nil
}

func (m *middleware) getBuf() *bytes.Buffer {
	if b, ok := m.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (m *middleware) putBuf(b *bytes.Buffer) {
	if int64(b.Cap()) > 2*m.maxBody+2*bytes.MinRead {
		return // grew past what the limit needs (cannot normally happen); let it go
	}
	b.Reset()
	m.bufs.Put(b)
}

// reject answers with the problem document for reason and reports it.
func (m *middleware) reject(ctx context.Context, w http.ResponseWriter, r *http.Request, reason Reason, err error) {
	var retryAfter time.Duration
	switch reason {
	case ReasonInFlight:
		retryAfter = time.Second
	case ReasonUnavailable, ReasonAuthUnavailable:
		retryAfter = 5 * time.Second
	}
	writeProblem(w, reason, retryAfter)
	if m.log != nil {
		level := slog.LevelInfo
		if reason == ReasonUnavailable {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("reason", string(reason)),
			slog.Int("status", reason.Status()),
			slog.String("remote", r.RemoteAddr),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		m.log.LogAttrs(ctx, level, "hookkit/receiver: delivery rejected", attrs...)
	}
	if m.obs.Rejected != nil {
		m.obs.Rejected(ctx, reason)
	}
}

func (m *middleware) logStore(ctx context.Context, op, id string, err error) {
	if m.log != nil {
		m.log.LogAttrs(ctx, slog.LevelError, "hookkit/receiver: seen store "+op+" failed",
			slog.String("id", id), slog.String("error", err.Error()))
	}
}
