// Command restart shows that webhooks queued in hookkit's SQLite store survive the death
// of the process that sends them.
//
// It publishes 300 events into a SQLite file, starts a sending process (this program
// again, as a child) that delivers them to a receiver answering in about 20 ms, kills that
// process with SIGKILL part-way through — no shutdown, no flush, as an OOM kill or a power
// cut of the container would — and starts a new one on the same file. The new process
// takes up what was pending, waits out the leases the dead one held (LeaseFor, 2 s here)
// and delivers the rest. The receiver counts what it accepted: every event, once; the few
// deliveries that were in flight at the kill arrive a second time and are recognised as
// duplicates by the receiver's de-duplication (at-least-once delivery, exactly-once handling).
//
// Run it with:
//
//	go run ./examples/restart
//
// Everything listens on 127.0.0.1 only; the sender's guard against loopback and plain-http
// destinations is relaxed for this demo only.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

const (
	events   = 300
	killAt   = 100 // deliveries accepted before the sending process is killed
	leaseFor = 2 * time.Second
	childEnv = "HOOKKIT_RESTART_CHILD" // set in the sending process: the path of the store
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var err error
	if path := os.Getenv(childEnv); path != "" {
		err = deliver(ctx, path, os.Getenv("HOOKKIT_RESTART_URL"), os.Getenv("HOOKKIT_RESTART_SECRET"))
	} else {
		err = run(ctx, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "restart:", err)
		os.Exit(1)
	}
}

// subscription is the one endpoint of the demo.
func subscription(url, secret string) (dispatch.Subscription, error) {
	key, err := signature.Standard().ParseKey("2026-01", secret)
	if err != nil {
		return dispatch.Subscription{}, err
	}
	ks, err := signature.NewKeySet(key)
	if err != nil {
		return dispatch.Subscription{}, err
	}
	return dispatch.Subscription{Endpoint: sender.Endpoint{ID: "orders", URL: url, Keys: ks, Timeout: time.Second}}, nil
}

// newDispatcher opens a dispatcher on the store with the demo's endpoint.
func newDispatcher(store *sqlitequeue.Store, url, secret string) (*dispatch.Dispatcher, *sender.Sender, error) {
	s, err := sender.New(sender.Config{AllowPrivate: true, AllowHTTP: true}) // demo only: loopback, plain http
	if err != nil {
		return nil, nil, err
	}
	d, err := dispatch.New(s, store, dispatch.Config{Workers: 8, LeaseFor: leaseFor, PollInterval: 200 * time.Millisecond})
	if err != nil {
		return nil, nil, err
	}
	sub, err := subscription(url, secret)
	if err != nil {
		return nil, nil, err
	}
	return d, s, d.Subscribe(sub)
}

// deliver is the sending process: it delivers what the store holds until nothing is
// pending or leased, then exits.
func deliver(ctx context.Context, path, url, secret string) error {
	store, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{})
	if err != nil {
		return err
	}
	defer store.Close()
	d, s, err := newDispatcher(store, url, secret)
	if err != nil {
		return err
	}
	defer s.CloseIdleConnections()
	if err := d.Start(ctx); err != nil {
		return err
	}
	drainErr := d.Drain(ctx)
	return errors.Join(drainErr, d.Shutdown(ctx))
}

// run is the demo: receiver, publish, kill, restart, count.
func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "hookkit-restart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "hookkit.db")

	key, secret, err := signature.Standard().GenerateKey("2026-01")
	if err != nil {
		return err
	}
	ks, err := signature.NewKeySet(key)
	if err != nil {
		return err
	}
	var accepted, duplicates atomic.Int64
	reached := make(chan struct{}) // closed when killAt deliveries were accepted
	var mu sync.Mutex
	seen := map[string]int{}
	verify, err := receiver.New(receiver.Config{Keys: ks,
		Observer: receiver.RequestObserver{Duplicate: func(context.Context, string) { duplicates.Add(1) }}})
	if err != nil {
		return err
	}
	handler := verify(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ev, _ := receiver.EventFrom(r.Context())
		time.Sleep(20 * time.Millisecond) // the receiver's work
		mu.Lock()
		seen[ev.ID]++
		mu.Unlock()
		if accepted.Add(1) == killAt {
			close(reached)
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	url, stop, err := serve(handler)
	if err != nil {
		return err
	}
	defer stop()

	// Publish: Publish returns once the deliveries are committed to the file.
	store, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{})
	if err != nil {
		return err
	}
	d, s, err := newDispatcher(store, url, secret)
	if err != nil {
		store.Close()
		return err
	}
	for i := range events {
		ev, err := event.New("order-created", map[string]int{"order": i + 1})
		if err != nil {
			store.Close()
			return err
		}
		if _, err := d.Publish(ctx, ev); err != nil {
			store.Close()
			return err
		}
	}
	s.CloseIdleConnections()
	if err := store.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "published %d events into %s (nothing sent yet)\n", events, filepath.Base(path))

	// The first sending process, killed part-way through.
	first, err := startSender(ctx, path, url, secret)
	if err != nil {
		return err
	}
	select {
	case <-reached:
	case <-ctx.Done():
		_ = first.Process.Kill()
		return fmt.Errorf("the first sender delivered only %d events", accepted.Load())
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	_ = first.Wait()
	atKill := accepted.Load()
	fmt.Fprintf(w, "sending process %d killed with SIGKILL after %d of %d events were accepted\n", first.Process.Pid, atKill, events)

	// A new process on the same file finishes the job.
	second, err := startSender(ctx, path, url, secret)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := second.Wait(); err != nil {
		return fmt.Errorf("the second sender: %w", err)
	}
	fmt.Fprintf(w, "sending process %d started on the same file and delivered the remaining %d in %.1f s (waiting out the dead process's %v leases)\n",
		second.Process.Pid, accepted.Load()-atKill, time.Since(start).Seconds(), leaseFor)

	mu.Lock()
	defer mu.Unlock()
	lost := events - len(seen)
	twice := 0
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	fmt.Fprintf(w, "receiver: %d of %d events accepted, %d lost, %d handled twice; %d redelivered (in flight at the kill) and acknowledged as duplicates\n",
		len(seen), events, lost, twice, duplicates.Load())
	if lost != 0 || twice != 0 {
		return fmt.Errorf("%d events lost, %d handled twice", lost, twice)
	}
	return nil
}

// startSender starts this program as the sending process.
func startSender(ctx context.Context, path, url, secret string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+path, "HOOKKIT_RESTART_URL="+url, "HOOKKIT_RESTART_SECRET="+secret)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd, cmd.Start()
}

// serve starts h on a loopback listener with every server timeout set.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/webhooks", func() { _ = srv.Close() }, nil
}
