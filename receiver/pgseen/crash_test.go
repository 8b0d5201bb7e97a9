package pgseen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/pgseen"
	"github.com/hookkit/hookkit/signature"
)

// The environment of a child receiver: childEnv set makes the test binary one (TestMain);
// it serves the listener it inherits as file descriptor 3.
const (
	childEnv    = "HOOKKIT_PGSEEN_CHILD" // the schema of the store and of the payments table
	childKill   = "HOOKKIT_PGSEEN_KILL"  // "after-commit", "before-commit" or "" (never)
	childLease  = 300 * time.Millisecond // the child middleware's lease
	killAfter   = "after-commit"
	killBefore  = "before-commit"
	childExited = 3 // exit status of a child whose setup failed
)

// childMain is a receiver process: the middleware on a pgseen.Store, and a TxHandler that
// inserts one payment per event. With childKill it SIGKILLs itself at its first chance:
// "before-commit" right after the INSERT, inside the transaction; "after-commit" when the
// handler writes its 204, after COMMIT, before anything is sent. It exits when its stdin
// closes (the parent test ended, however).
func childMain() int {
	ctx := context.Background()
	schema, mode := os.Getenv(childEnv), os.Getenv(childKill)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "pgseen child:", err)
		return childExited
	}
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return fail(err)
	}
	store, err := pgseen.New(ctx, pool, pgseen.Config{Schema: schema})
	if err != nil {
		return fail(err)
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fail(err)
	}
	key, err := signature.Standard().ParseKey("k1", testSecret)
	if err != nil {
		return fail(err)
	}
	keys, err := signature.NewKeySet(key)
	if err != nil {
		return fail(err)
	}
	mw, err := receiver.New(receiver.Config{Keys: keys, Seen: store, Lease: childLease})
	if err != nil {
		return fail(err)
	}
	die := func() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	var h http.Handler = store.TxHandler(pool, func(ctx context.Context, tx pgx.Tx, ev *event.Event) error {
		if err := insertPayment(ctx, tx, schema, ev.ID); err != nil {
			return err
		}
		if mode == killBefore {
			die()
		}
		return nil
	})
	if mode == killAfter {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(dieOnWriteHeader{w, die}, r)
		})
	}
	go func() { // the parent's end of stdin closes when the test ends
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	return fail((&http.Server{Handler: mw(h), ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}

// dieOnWriteHeader kills the process when the handler answers, before the status is sent.
type dieOnWriteHeader struct {
	http.ResponseWriter
	die func()
}

func (w dieOnWriteHeader) WriteHeader(int) { w.die() }

// TestKilledReceiver is the exactly-once test with real crashes: a receiver process (the
// test binary run again) is SIGKILLed at a chosen point of its TxHandler and started again
// by a supervisor on the same listening socket (connections wait in its backlog while no
// child runs), while a sender delivers events one after the other, retrying. "after-commit":
// every killed child had committed the payment and the id and died before answering; the
// retry, in the next child, is acknowledged as already seen. "before-commit": the child dies
// inside the transaction (Postgres rolls it back); its reservation blocks the id until its
// lease (300 ms) runs out, then a later child handles it. Either way: one payment per event,
// every event acknowledged, and the number of SIGKILLs is the one asked for.
func TestKilledReceiver(t *testing.T) {
	for _, tc := range []struct {
		mode          string
		events, kills int
	}{
		{killAfter, 6, 4},
		{killBefore, 4, 3},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			pool := shared.Get(t)
			schema := pgtest.Schema(t)
			_, err := pgseen.New(context.Background(), pool, pgseen.Config{Schema: schema})
			require.NoError(t, err)
			createPayments(t, pool, schema)

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			lnFile, err := ln.(*net.TCPListener).File()
			require.NoError(t, err)
			t.Cleanup(func() { _ = lnFile.Close(); _ = ln.Close() })

			sup := &supervisor{t: t, ln: lnFile, schema: schema, mode: tc.mode, kills: tc.kills}
			sup.start()
			t.Cleanup(sup.stop)

			s := newSender(t)
			ep := endpoint(t, "http://"+ln.Addr().String()+"/")
			events := newEvents(t, tc.events)
			for _, ev := range events {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				res, err := s.Send(ctx, ep, ev)
				cancel()
				require.NoError(t, err, "event %s acknowledged", ev.ID)
				require.NotEmpty(t, res.Attempts)
			}
			sup.stop()
			got := payments(t, pool, schema)
			for _, ev := range events {
				assert.Equal(t, 1, got[ev.ID], "payments of %s", ev.ID)
			}
			assert.Len(t, got, tc.events)
			assert.Equal(t, tc.kills, sup.killed(), "children killed by SIGKILL")
			assert.Zero(t, sup.failed(), "children that exited otherwise")
		})
	}
}

// supervisor runs child receivers one after the other on one listening socket: the first
// kills of them with childKill set, then one without, until stop.
type supervisor struct {
	t      *testing.T
	ln     *os.File
	schema string
	mode   string
	kills  int

	mu       sync.Mutex
	cur      *exec.Cmd
	stdin    io.Closer
	stopped  bool
	sigkills int
	others   int
	done     chan struct{}
	stopOnce sync.Once
}

func (s *supervisor) start() {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		for n := 0; ; n++ {
			mode := ""
			if n < s.kills {
				mode = s.mode
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+s.schema, childKill+"="+mode)
			cmd.ExtraFiles = []*os.File{s.ln}
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				s.t.Errorf("child stdin: %v", err)
				return
			}
			s.mu.Lock()
			if s.stopped {
				s.mu.Unlock()
				return
			}
			if err := cmd.Start(); err != nil {
				s.mu.Unlock()
				s.t.Errorf("start child: %v", err)
				return
			}
			s.cur, s.stdin = cmd, stdin
			s.mu.Unlock()
			err = cmd.Wait()
			s.mu.Lock()
			stopped := s.stopped
			var ee *exec.ExitError
			switch {
			case stopped:
			case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() &&
				ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
				s.sigkills++
			default:
				s.others++
				s.t.Errorf("child %d (%q) exited: %v", n, mode, err)
			}
			s.mu.Unlock()
			if stopped {
				return
			}
		}
	}()
}

// stop ends the running child (closing its stdin) and waits for the supervisor.
func (s *supervisor) stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		if s.stdin != nil {
			_ = s.stdin.Close()
		}
		s.mu.Unlock()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.mu.Lock()
			if s.cur != nil {
				_ = s.cur.Process.Kill()
			}
			s.mu.Unlock()
			<-s.done
		}
	})
}

func (s *supervisor) killed() int { s.mu.Lock(); defer s.mu.Unlock(); return s.sigkills }
func (s *supervisor) failed() int { s.mu.Lock(); defer s.mu.Unlock(); return s.others }
