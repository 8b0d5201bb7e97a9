//go:build unix

package crashtest_test

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/testenv/crashtest"
)

const childEnv = "HOOKKIT_CRASHTEST_CHILD"

// childCfg is what TestChild is told to do.
type childCfg struct {
	Say  string `json:"say"`
	Wait bool   `json:"wait"` // until ParentGone; else exit at once
}

// TestChild is the child process of the tests below; it does nothing in a normal run.
func TestChild(t *testing.T) {
	cfg, ok := crashtest.ChildConfig[childCfg](childEnv)
	if !ok {
		t.Skip("a child process of TestStartStopKill")
	}
	fmt.Println("child says", cfg.Say)
	if cfg.Wait {
		<-crashtest.ParentGone()
		fmt.Println("parent gone")
	}
}

// TestStartStopKill: a child gets its configuration and runs only the named test; one
// waiting on ParentGone exits cleanly when the parent calls Stop; one killed exits by
// SIGKILL; a child still running at the end of its parent's test is killed then.
func TestStartStopKill(t *testing.T) {
	_, ok := crashtest.ChildConfig[childCfg](childEnv)
	require.False(t, ok, "the parent has no child configuration")

	c := crashtest.Start(t, "TestChild", childEnv, childCfg{Say: "hello"})
	c.Wait(t, time.Minute)
	require.NoError(t, c.Err(), c.Output())
	assert.Contains(t, c.Output(), "child says hello")
	assert.NotContains(t, c.Output(), "TestStartStopKill", "only the named test ran")

	c = crashtest.Start(t, "TestChild", childEnv, childCfg{Say: "waiting", Wait: true})
	select {
	case <-c.Done():
		t.Fatalf("the child exited while its parent is there: %s", c.Output())
	case <-time.After(200 * time.Millisecond): // long enough to see a wrong exit, not a wait for an event
	}
	require.NoError(t, c.Stop())
	c.Wait(t, time.Minute)
	require.NoError(t, c.Err(), c.Output())
	assert.Contains(t, c.Output(), "parent gone")

	c = crashtest.Start(t, "TestChild", childEnv, childCfg{Say: "killed", Wait: true})
	assert.Positive(t, c.Pid())
	assert.False(t, c.Started().IsZero())
	require.NoError(t, c.Kill())
	c.Wait(t, time.Minute)
	var ee *exec.ExitError
	require.ErrorAs(t, c.Err(), &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed by SIGKILL: %v", ee)
	assert.False(t, strings.Contains(c.Output(), "parent gone"), "a killed child finishes nothing")

	var left *crashtest.Child
	t.Run("LeftRunning", func(t *testing.T) {
		left = crashtest.Start(t, "TestChild", childEnv, childCfg{Say: "left", Wait: true})
	})
	select {
	case <-left.Done():
	case <-time.After(time.Minute):
		t.Fatal("a child left running is ended with its test")
	}
}
