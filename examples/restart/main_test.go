package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary play the sending process, as the program does itself.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := deliver(ctx, path, os.Getenv("HOOKKIT_RESTART_URL"), os.Getenv("HOOKKIT_RESTART_SECRET")); err != nil {
			os.Stderr.WriteString("restart child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunLosesNothingWhenTheSenderIsKilled: the demo's sending process is killed with
// SIGKILL part-way through and restarted; every event is accepted once, nothing is lost,
// and the redeliveries are at most the sender's workers (in flight at the kill).
func TestRunLosesNothingWhenTheSenderIsKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	trace := out.String()
	assert.Contains(t, trace, "killed with SIGKILL after ")
	assert.Contains(t, trace, "receiver: 300 of 300 events accepted, 0 lost, 0 handled twice")
	m := regexp.MustCompile(`; (\d+) redelivered`).FindStringSubmatch(trace)
	require.NotNil(t, m, trace)
	dups, _ := strconv.Atoi(m[1])
	assert.LessOrEqual(t, dups, 8, "at most one redelivery per worker of the killed process")
	assert.NotRegexp(t, `whsec_`, trace, "no secret in the trace")
}
