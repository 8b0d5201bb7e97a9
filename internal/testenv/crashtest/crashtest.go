// Package crashtest runs a test binary's own tests as child processes, for the tests
// that kill a process with SIGKILL and restart it (the crash tests of the durable
// stores): the parent re-executes os.Args[0] with -test.run naming one test of the same
// binary, which acts as the child when an environment variable tells it so, and skips
// itself in a normal run.
//
//	func TestChild(t *testing.T) {
//		cfg, ok := crashtest.ChildConfig[childConfig]("HOOKKIT_MY_CHILD")
//		if !ok {
//			t.Skip("a child process of TestKilled")
//		}
//		... // run a dispatcher with cfg until <-crashtest.ParentGone()
//	}
//
//	func TestKilled(t *testing.T) {
//		c := crashtest.Start(t, "TestChild", "HOOKKIT_MY_CHILD", childConfig{...})
//		...
//		require.NoError(t, c.Kill()) // SIGKILL
//		c.Wait(t, 10*time.Second)
//	}
//
// A child runs until it returns, is killed, or sees its standard input close
// (ParentGone): the parent holds the write end of that pipe until the end of its test
// (or its own death), so no child outlives the test that started it.
package crashtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Child is a running child process: the test binary, running one of its tests.
type Child struct {
	cmd     *exec.Cmd
	started time.Time
	stdin   io.Closer
	out     buffer // its stdout and stderr
	done    chan struct{}
	err     error // cmd.Wait's, once done is closed
}

// buffer is a bytes.Buffer safe for the writes of exec's copying goroutines and the
// reads of the test.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Start runs the test binary again as a child that runs only the test named test
// (-test.run=^test$, verbose, with a timeout of 4 minutes), with the environment of this
// process plus env set to cfg encoded as JSON (read it in the child with ChildConfig).
// The child's standard input is a pipe kept open until the end of t; the child is
// killed then if it is still running. Start fails t when the child cannot be started or
// cfg cannot be encoded.
func Start(t testing.TB, test, env string, cfg any) *Child {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("crashtest: encoding the child's configuration: %v", err)
	}
	c := &Child{done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v", "-test.timeout=4m")
	c.cmd.Env = append(os.Environ(), env+"="+string(raw))
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("crashtest: %v", err)
	}
	c.stdin = stdin
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("crashtest: starting %s: %v", test, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.stdin.Close()
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// Started returns when the child was started.
func (c *Child) Started() time.Time { return c.started }

// Pid returns the child's process ID.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Kill kills the child with SIGKILL (on Unix; os.Process.Kill elsewhere): it gets no
// chance to finish anything. It does not wait for the child to exit: Wait does.
func (c *Child) Kill() error { return c.cmd.Process.Kill() }

// Stop closes the child's standard input, which tells a child waiting on ParentGone to
// finish and exit. It does not wait: Wait does.
func (c *Child) Stop() error { return c.stdin.Close() }

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err returns how the child exited (exec.Cmd.Wait's error: nil for exit status 0), once
// Done is closed; nil before.
func (c *Child) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Output returns what the child wrote so far to its standard output and error.
func (c *Child) Output() string { return c.out.String() }

// Wait waits for the child to exit, within the given time; when it does not, Wait kills
// it and fails t with the child's output.
func (c *Child) Wait(t testing.TB, within time.Duration) {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("crashtest: the child did not exit within %v; its output:\n%s", within, c.Output())
	}
}

// ChildConfig reports whether this process is a child started by Start with the
// environment variable env, and decodes its configuration into a new T. A malformed
// configuration panics: it can only come from a bug in the parent.
func ChildConfig[T any](env string) (T, bool) {
	var cfg T
	raw, ok := os.LookupEnv(env)
	if !ok || raw == "" {
		return cfg, false
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		panic("crashtest: the configuration in " + env + ": " + err.Error())
	}
	return cfg, true
}

// ParentGone returns a channel closed when this process's standard input ends: in a
// child started by Start, when its parent called Stop, ended its test, or died.
func ParentGone() <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(gone)
	}()
	return gone
}
