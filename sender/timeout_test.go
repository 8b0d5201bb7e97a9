package sender

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttemptContextLikeWithTimeout: an attempt's context reports its deadline (or the
// parent's, when earlier) and, when the timeout passes, ends with DeadlineExceeded and the
// attempt-timeout cause, as do the contexts derived from it.
func TestAttemptContextLikeWithTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := time.Now()
		ctx, cancel := withAttemptTimeout(context.Background(), 20*time.Millisecond, timeoutCause(20*time.Millisecond))
		d, ok := ctx.Deadline()
		require.True(t, ok)
		assert.Equal(t, before.Add(20*time.Millisecond), d)
		child, cancelChild := context.WithCancelCause(ctx)
		defer cancelChild(nil)
		<-ctx.Done()
		assert.Equal(t, 20*time.Millisecond, time.Since(before))
		assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
		assert.True(t, timedOut(ctx))
		assert.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)
		// A context derived from it (as the transport derives one) ends with it, alike.
		<-child.Done()
		assert.ErrorIs(t, child.Err(), context.DeadlineExceeded)
		assert.EqualError(t, context.Cause(child), "attempt timed out after 20ms: context deadline exceeded")
		cancel()

		parentDeadline := time.Now().Add(time.Minute)
		parent, cancelParent := context.WithDeadline(context.Background(), parentDeadline)
		ctx, cancel = withAttemptTimeout(parent, time.Hour, timeoutCause(time.Hour))
		d, _ = ctx.Deadline()
		assert.Equal(t, parentDeadline, d, "the parent's earlier deadline")
		cancelParent()
		<-ctx.Done()
		assert.ErrorIs(t, ctx.Err(), context.Canceled)
		assert.False(t, timedOut(ctx), "the parent ended it, not the timeout")
		cancel()

		ctx, cancel = withAttemptTimeout(context.Background(), DefaultTimeout, timeoutCause(DefaultTimeout))
		cancel()
		assert.ErrorIs(t, ctx.Err(), context.Canceled, "cancel cancels")
		assert.False(t, timedOut(ctx))
	})
}

// TestAttemptContextDerivesWithoutGoroutine: deriving a cancel context from an attempt's
// context (what the transport does per request) starts no goroutine.
func TestAttemptContextDerivesWithoutGoroutine(t *testing.T) {
	ctx, cancel := withAttemptTimeout(context.Background(), time.Hour, timeoutCause(time.Hour))
	defer cancel()
	before := runtime.NumGoroutine()
	var cancels []context.CancelCauseFunc
	for range 100 {
		_, cancel := context.WithCancelCause(ctx)
		cancels = append(cancels, cancel)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before+5)
	for _, c := range cancels {
		c(errors.New("done"))
	}
}
