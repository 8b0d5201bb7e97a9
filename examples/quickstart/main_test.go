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
