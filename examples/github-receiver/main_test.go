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

// The example runs to completion: GitHub's test vector verifies, genuine deliveries are
// handled once (the redelivery is acknowledged only), forged and unsigned ones get 401.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	trace := out.String()
	assert.Contains(t, trace, "test vector verifies")
	assert.Equal(t, 1, strings.Count(trace, "receiver: push to hookkit/demo refs/heads/main (2 commit(s), head 9f2c1e7)"), trace)
	assert.Contains(t, trace, `receiver: pull request #42 opened: "Rotate webhook keys"`)
	assert.Equal(t, 4, strings.Count(trace, "→ 204"), trace)
	assert.Equal(t, 2, strings.Count(trace, "→ 401"), trace)
}
