package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rotation completes with deliveries in every phase and none rejected, and the retired
// key is refused afterwards.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	trace := out.String()
	for _, p := range phases {
		m := regexp.MustCompile(regexp.QuoteMeta(p) + `\s+(\d+)\s+(\d+)\n`).FindStringSubmatch(trace)
		require.NotNil(t, m, "phase %q in the table:\n%s", p, trace)
		delivered, _ := strconv.Atoi(m[1])
		assert.Positive(t, delivered, "events flowed during %q", p)
		assert.Equal(t, "0", m[2], "nothing rejected during %q", p)
	}
	assert.Contains(t, trace, "401 Unauthorized after 1 attempt (final)")
	assert.Contains(t, trace, "none rejected")
}
