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

// The example runs to completion: genuine messages signed with either key during the
// rotation are accepted, the forged one and the one signed with the retired key are refused.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	trace := out.String()
	assert.Equal(t, 4, strings.Count(trace, "→ 204"), trace)
	assert.Equal(t, 2, strings.Count(trace, "→ 401"), trace)
	assert.Contains(t, trace, "envelope e-1001 completed")
	assert.Contains(t, trace, `completed envelopes: ["e-1001","e-1004"]`)
	assert.NotContains(t, trace, "e-forged")
}
