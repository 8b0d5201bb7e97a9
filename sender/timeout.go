package sender

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// errAttemptTimeout is the cause of an attempt context that outlived the attempt's
// timeout. It wraps context.DeadlineExceeded.
var errAttemptTimeout = fmt.Errorf("attempt timeout: %w", context.DeadlineExceeded)

// attemptTimer bounds one attempt by its timeout. It does what context.WithTimeout does
// for the attempt's context, for a third of the cost: the timer is taken from a pool and
// re-armed rather than allocated, and the context is a plain cancel context (its Err is
// context.Canceled and its Cause errAttemptTimeout when the timer fires; the transport
// reports the cause).
type attemptTimer struct {
	t      *time.Timer
	cancel context.CancelCauseFunc // of the attempt it is armed for
}

var attemptTimers sync.Pool // of *attemptTimer, stopped

// withAttemptTimeout returns a context that parent's end or the end of d cancels, and
// the timer to stop when the attempt is over.
func withAttemptTimeout(parent context.Context, d time.Duration) (context.Context, *attemptTimer) {
	ctx, cancel := context.WithCancelCause(parent)
	at, _ := attemptTimers.Get().(*attemptTimer)
	if at == nil {
		at = &attemptTimer{cancel: cancel}
		at.t = time.AfterFunc(d, at.fire)
		return ctx, at
	}
	at.cancel = cancel // before Reset: the timer's run happens after it
	at.t.Reset(d)
	return ctx, at
}

func (at *attemptTimer) fire() { at.cancel(errAttemptTimeout) }

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
	return ctx.Err() != nil && context.Cause(ctx) == errAttemptTimeout
}
