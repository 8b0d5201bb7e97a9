package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quickstart runs to completion: every event is accepted once with a JWT and a
// signature, the flaky listener's event on the third attempt after two 503s, one access
// token serves every delivery, and a delivery missing either credential is refused.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	trace := out.String()

	assert.Equal(t, 4, strings.Count(trace, "receiver: accepted envelope-"), trace)
	assert.Contains(t, trace, "from envelope-service via jwt")
	assert.Equal(t, 2, strings.Count(trace, "flaky listener: database busy"), trace)
	assert.Contains(t, trace, "attempt 3: 204 No Content")
	assert.Contains(t, trace, "delivered after 3 attempt(s)")
	assert.Equal(t, 3, strings.Count(trace, "delivered after 1 attempt(s)"), trace)
	assert.Contains(t, trace, "issued access token #1")
	assert.NotContains(t, trace, "issued access token #2", "the token is cached across deliveries")
	assert.Contains(t, trace, "refused (invalid-credentials, 401)")
	assert.Contains(t, trace, "refused (invalid-signature, 401)")
	assert.Contains(t, trace, "4 events accepted in 6 attempts; 1 access token(s) issued")
	assert.NotContains(t, trace, clientSecret, "no secret in the trace")
}

// The trace tells the story in the order it happens: each attempt's line comes as the
// attempt finishes, after what the receiver printed while handling it and before the next
// attempt's, not all of them after the receiver's "accepted" line.
func TestRunPrintsEachAttemptAsItHappens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	trace := out.String()

	inOrder := func(lines ...string) {
		t.Helper()
		at := 0
		for _, l := range lines {
			i := strings.Index(trace[at:], l)
			require.GreaterOrEqual(t, i, 0, "%q after offset %d in:\n%s", l, at, trace)
			at += i + len(l)
		}
	}
	inOrder(
		"→ envelope-sent e-1001 to /webhooks",
		"receiver: accepted envelope-sent",
		"attempt 1: 204 No Content",
		"delivered after 1 attempt(s)",
		"→ envelope-completed e-1001 to /flaky-webhooks",
		"flaky listener: database busy, answering 503 (call 1)",
		"attempt 1: 503 Service Unavailable",
		"flaky listener: database busy, answering 503 (call 2)",
		"attempt 2: 503 Service Unavailable",
		"receiver: accepted envelope-completed",
		"attempt 3: 204 No Content",
		"delivered after 3 attempt(s)",
		"→ envelope-declined e-1002 to /webhooks",
	)
}
