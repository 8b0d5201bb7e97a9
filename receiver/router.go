package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hookkit/hookkit/event"
)

// HandlerFunc handles one verified event. Its result becomes the HTTP answer of the Router:
// nil → 204; an error from Retryable → 503 (with Retry-After when given); an error from
// Permanent → 422; any other error → 500.
type HandlerFunc func(ctx context.Context, ev *event.Event) error

// ErrDuplicatePattern is returned by Router.Handle for a pattern that is already registered.
var ErrDuplicatePattern = errors.New("hookkit/receiver: pattern already registered")

// RetryableError marks a handler failure the sender should retry. Build it with Retryable.
type RetryableError struct {
	Err        error
	RetryAfter time.Duration // 0: no Retry-After header
}

// Error returns the message of the wrapped error.
func (e *RetryableError) Error() string {
	if e.Err == nil {
		return "retryable error"
	}
	return "retryable: " + e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError marks a handler failure the sender must not retry. Build it with Permanent.
type PermanentError struct{ Err error }

// Error returns the message of the wrapped error.
func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "permanent error"
	}
	return "permanent: " + e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Retryable marks err as temporary: the Router answers 503 Service Unavailable, with
// Retry-After (whole seconds, rounded up) when retryAfter > 0, and the sender tries again.
func Retryable(err error, retryAfter time.Duration) error {
	return &RetryableError{Err: err, RetryAfter: retryAfter}
}

// Permanent marks err as final: the Router answers 422 Unprocessable Content, a 4xx that
// senders (hookkit's own, Svix, Standard Webhooks) treat as "do not retry".
func Permanent(err error) error { return &PermanentError{Err: err} }

// RouterConfig configures NewRouter. The zero value is the common case: nothing is
// logged, and events of a type no pattern matches are acknowledged (204) and ignored.
type RouterConfig struct {
	// Logger receives handler errors (Warn for retryable, Info for permanent, Error for
	// others) and events of a type no pattern matches (Debug when they are acknowledged,
	// Info when RejectUnknown refuses them). nil means no logging. Error messages are
	// logged but never reach the HTTP response.
	Logger *slog.Logger
	// RejectUnknown makes the Router answer 422 (problem type unknown-event-type) for event
	// types no pattern matches, so the sender stops retrying them and can report them.
	// false (the zero value) answers 204: the event is acknowledged and ignored, which is
	// what a receiver subscribed to more types than it handles usually wants.
	RejectUnknown bool
}

// Router is an http.Handler that dispatches verified events by type to HandlerFuncs. Put it
// behind the middleware (it reads the event with EventFrom). A type is matched by the most
// specific pattern: an exact name first, then the longest prefix pattern ("envelope-*"),
// then "*". It is safe for concurrent use, including Handle while serving.
type Router struct {
	rejectUnknown bool
	log           *slog.Logger

	mu       sync.RWMutex
	exact    map[string]HandlerFunc
	prefixes []prefixRoute // longest prefix first
	star     HandlerFunc
}

type prefixRoute struct {
	prefix string
	h      HandlerFunc
}

// NewRouter returns a Router with no routes, configured by cfg; NewRouter(RouterConfig{})
// is the common case.
func NewRouter(cfg RouterConfig) *Router {
	return &Router{
		rejectUnknown: cfg.RejectUnknown,
		log:           cfg.Logger,
		exact:         make(map[string]HandlerFunc),
	}
}

// Handle registers h for the event types matching pattern ("*", an exact type such as
// "envelope-sent", or a prefix such as "envelope-*"; see event.ParsePattern). It returns
// the parse error for an invalid pattern, ErrDuplicatePattern for one already registered,
// and an error for a nil h.
func (rt *Router) Handle(pattern string, h HandlerFunc) error {
	if h == nil {
		return fmt.Errorf("hookkit/receiver: nil handler for pattern %q", pattern)
	}
	p, err := event.ParsePattern(pattern)
	if err != nil {
		return err
	}
	s := p.String()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	switch {
	case s == "*":
		if rt.star != nil {
			return fmt.Errorf("%w: %q", ErrDuplicatePattern, s)
		}
		rt.star = h
	case strings.HasSuffix(s, "*"):
		prefix := strings.TrimSuffix(s, "*")
		for _, pr := range rt.prefixes {
			if pr.prefix == prefix {
				return fmt.Errorf("%w: %q", ErrDuplicatePattern, s)
			}
		}
		rt.prefixes = append(rt.prefixes, prefixRoute{prefix: prefix, h: h})
		sort.SliceStable(rt.prefixes, func(i, j int) bool {
			return len(rt.prefixes[i].prefix) > len(rt.prefixes[j].prefix)
		})
	default:
		if _, ok := rt.exact[s]; ok {
			return fmt.Errorf("%w: %q", ErrDuplicatePattern, s)
		}
		rt.exact[s] = h
	}
	return nil
}

// lookup returns the handler for typ, or nil.
func (rt *Router) lookup(typ string) HandlerFunc {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	if h, ok := rt.exact[typ]; ok {
		return h
	}
	for _, pr := range rt.prefixes {
		if strings.HasPrefix(typ, pr.prefix) {
			return pr.h
		}
	}
	return rt.star
}

// ServeHTTP dispatches the event put in the context by the middleware. Without one (the
// Router is not behind the middleware) it answers 500 rather than trust an unverified body.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev, ok := EventFrom(ctx)
	if !ok {
		if rt.log != nil {
			rt.log.LogAttrs(ctx, slog.LevelError, "hookkit/receiver: router used without the receiver middleware")
		}
		writeProblem(w, ReasonHandlerError, 0)
		return
	}
	h := rt.lookup(ev.Type)
	if h == nil {
		if rt.rejectUnknown {
			if rt.log != nil {
				rt.log.LogAttrs(ctx, slog.LevelInfo, "hookkit/receiver: no handler for event type, rejected",
					slog.String("type", ev.Type), slog.String("id", ev.ID))
			}
			writeProblem(w, ReasonUnknownEventType, 0)
			return
		}
		if rt.log != nil {
			rt.log.LogAttrs(ctx, slog.LevelDebug, "hookkit/receiver: no handler for event type, acknowledged",
				slog.String("type", ev.Type), slog.String("id", ev.ID))
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	err := h(ctx, ev)
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var re *RetryableError
	var pe *PermanentError
	switch {
	case errors.As(err, &re):
		rt.logErr(ctx, slog.LevelWarn, ev, err)
		writeProblem(w, ReasonRetryLater, re.RetryAfter)
	case errors.As(err, &pe):
		rt.logErr(ctx, slog.LevelInfo, ev, err)
		writeProblem(w, ReasonPermanent, 0)
	default:
		rt.logErr(ctx, slog.LevelError, ev, err)
		writeProblem(w, ReasonHandlerError, 0)
	}
}

func (rt *Router) logErr(ctx context.Context, level slog.Level, ev *event.Event, err error) {
	if rt.log != nil {
		rt.log.LogAttrs(ctx, level, "hookkit/receiver: event handler failed",
			slog.String("type", ev.Type), slog.String("id", ev.ID), slog.String("error", err.Error()))
	}
}
