package sender

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttemptContextLikeWithTimeout: an attempt's context reports its deadline (or the
// parent's, when earlier) and, when the timeout passes, ends with DeadlineExceeded and the
// attempt-timeout cause, as context.WithTimeout's would.
func TestAttemptContextLikeWithTimeout(t *testing.T) {
	before := time.Now()
	ctx, at := withAttemptTimeout(context.Background(), 20*time.Millisecond)
	d, ok := ctx.Deadline()
	require.True(t, ok)
	assert.WithinDuration(t, before.Add(20*time.Millisecond), d, 10*time.Millisecond)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the attempt timeout did not end the context")
	}
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
	assert.True(t, timedOut(ctx))
	assert.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)
	// A context derived from it (as the transport derives one) ends with it.
	child, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	<-child.Done()
	assert.EqualError(t, context.Cause(child), "attempt timed out after 20ms: context deadline exceeded")
	at.stop()

	parentDeadline := time.Now().Add(time.Minute)
	parent, cancelParent := context.WithDeadline(context.Background(), parentDeadline)
	ctx, at = withAttemptTimeout(parent, time.Hour)
	d, _ = ctx.Deadline()
	assert.Equal(t, parentDeadline, d, "the parent's earlier deadline")
	cancelParent()
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.False(t, timedOut(ctx), "the parent ended it, not the timeout")
	at.stop()

	ctx, at = withAttemptTimeout(context.Background(), time.Hour)
	at.stop()
	assert.ErrorIs(t, ctx.Err(), context.Canceled, "stop cancels")
	assert.False(t, timedOut(ctx))
}

// TestAttemptContextDerivesWithoutGoroutine: deriving a cancel context from an attempt's
// context (what the transport does per request) starts no goroutine.
func TestAttemptContextDerivesWithoutGoroutine(t *testing.T) {
	ctx, at := withAttemptTimeout(context.Background(), time.Hour)
	defer at.stop()
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
