package sender

import (
	"context"
	"sync"
	"time"
)

// attemptTimeoutError is the cause of an attempt context that outlived the attempt's
// timeout. It wraps context.DeadlineExceeded and says which timeout passed, also where the
// transport hands it to another request (one that was waiting for the connection the
// timed-out attempt was using or dialling).
type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return "attempt timed out after " + e.after.String() + ": " + context.DeadlineExceeded.Error()
}

func (e *attemptTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// attemptTimer bounds one attempt by its timeout. It does what context.WithTimeout does
// for the attempt's context at about a third of the cost: the timer is taken from a pool
// and re-armed rather than allocated. The context is an attemptCtx over a plain cancel
// context whose cause, when the timer fires, is an *attemptTimeoutError (the transport
// reports the cause).
type attemptTimer struct {
	t      *time.Timer
	cancel context.CancelCauseFunc // of the attempt it is armed for
	after  time.Duration           // that attempt's timeout
}

var attemptTimers sync.Pool // of *attemptTimer, stopped

// withAttemptTimeout returns a context that parent's end or the end of d cancels, and
// the timer to stop when the attempt is over.
func withAttemptTimeout(parent context.Context, d time.Duration) (context.Context, *attemptTimer) {
	inner, cancel := context.WithCancelCause(parent)
	ctx := &attemptCtx{Context: inner, deadline: time.Now().Add(d)}
	at, _ := attemptTimers.Get().(*attemptTimer)
	if at == nil {
		at = &attemptTimer{cancel: cancel, after: d}
		at.t = time.AfterFunc(d, at.fire)
		return ctx, at
	}
	at.cancel, at.after = cancel, d // before Reset: the timer's run happens after it
	at.t.Reset(d)
	return ctx, at
}

// attemptCtx is an attempt's context. It answers Deadline and Err as context.WithTimeout's
// context would: the earlier of its deadline and its parent's, and DeadlineExceeded once
// the attempt's timer has fired. Everything else is the cancel context's (Done, Value,
// and context.Cause), so a context derived from it attaches to that cancel context
// directly, without a goroutine.
type attemptCtx struct {
	context.Context
	deadline time.Time
}

func (c *attemptCtx) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *attemptCtx) Err() error {
	err := c.Context.Err()
	if err != nil && timedOut(c.Context) {
		return context.DeadlineExceeded
	}
	return err
}

func (at *attemptTimer) fire() { at.cancel(&attemptTimeoutError{after: at.after}) }

// stop ends the attempt: it cancels its context and gives the timer back to the pool
// unless the timer has fired (then fire may still be running and owns at).
func (at *attemptTimer) stop() {
	cancel := at.cancel
	if at.t.Stop() {
		at.cancel = nil
		attemptTimers.Put(at)
	}
	cancel(context.Canceled)
}

// timedOut reports whether ctx, an attempt's context, ended because the attempt's timeout
// passed.
func timedOut(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	_, ok := context.Cause(ctx).(*attemptTimeoutError)
	return ok
}
