// Command key-rotation rotates a webhook signing secret while events keep flowing, with
// zero rejected deliveries.
//
// The order is what makes it safe (the same holds for every scheme):
//
//  1. the receiver starts trusting the new key as well as the old one;
//  2. the sender signs with both keys (every delivery carries two signatures);
//  3. the sender drops the old key;
//  4. the receiver drops the old key — here by giving it an expiry (Key.Expires), so the
//     retirement needs no further deployment.
//
// A publisher sends an event every few milliseconds during all of it; afterwards a delivery
// signed only with the retired key is refused.
//
// Run it with:
//
//	go run ./examples/key-rotation
//
// Everything runs on 127.0.0.1; the sender's guard against loopback destinations is
// relaxed explicitly for this demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "key-rotation:", err)
		os.Exit(1)
	}
}

// phases of the rotation, in order.
var phases = []string{
	"both sides use the old key",
	"receiver trusts old + new",
	"sender signs with old + new",
	"sender signs with new only",
	"receiver's old key expired",
}

// tally counts deliveries per phase.
type tally struct {
	mu        sync.Mutex
	delivered []int
	rejected  []int
}

func run(ctx context.Context, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	scheme := signature.Standard()
	oldKey, _, err := scheme.GenerateKey("2025-key")
	if err != nil {
		return err
	}
	newKey, newText, err := scheme.GenerateKey("2026-key")
	if err != nil {
		return err
	}
	_ = newText // in real life: stored in the secret manager of both sides

	// Receiver and sender each hold their own key set; Replace swaps it atomically while
	// requests are in flight.
	receiverKeys, err := signature.NewKeySet(oldKey)
	if err != nil {
		return err
	}
	senderKeys, err := signature.NewKeySet(oldKey)
	if err != nil {
		return err
	}

	var handled atomic.Int64
	verify, err := receiver.New(receiver.Config{Scheme: scheme, Keys: receiverKeys})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", verify(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		rw.WriteHeader(http.StatusNoContent)
	})))
	addr, stop, err := serve(mux)
	if err != nil {
		return err
	}
	defer stop()

	s, err := sender.New(sender.Config{
		AllowPrivate: true, // demo only: by default the sender refuses loopback addresses
		AllowHTTP:    true, // and plain http://
		Retry:        sender.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxAttempts: 3, MaxElapsedTime: 5 * time.Second},
	})
	if err != nil {
		return err
	}
	defer s.CloseIdleConnections()
	endpoint := sender.Endpoint{ID: "billing", URL: "http://" + addr + "/webhooks", Scheme: scheme, Keys: senderKeys}

	// The publisher: one event after another until the rotation is over.
	var phase atomic.Int32
	t := &tally{delivered: make([]int, len(phases)), rejected: make([]int, len(phases))}
	pubCtx, stopPublishing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var pubErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; pubCtx.Err() == nil; n++ {
			p := int(phase.Load())
			ev, err := event.New("invoice-paid", map[string]any{"invoice": n})
			if err != nil {
				pubErr = err
				return
			}
			res, err := s.Send(ctx, endpoint, ev)
			if err != nil && res == nil {
				pubErr = err
				return
			}
			t.mu.Lock()
			if res.Delivered {
				t.delivered[p]++
			} else {
				t.rejected[p]++
			}
			t.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()

	step := func(p int, do func() error) error {
		time.Sleep(150 * time.Millisecond) // let some events flow in the previous phase
		if err := do(); err != nil {
			return err
		}
		phase.Store(int32(p))
		return nil
	}
	say("phase 0: %s (%s)", phases[0], oldKey.ID)
	steps := []func() error{
		func() error { return receiverKeys.Replace(oldKey, newKey) },
		func() error { return senderKeys.Replace(oldKey, newKey) },
		func() error { return senderKeys.Replace(newKey) },
		func() error {
			expiring := oldKey
			expiring.Expires = time.Now().Add(50 * time.Millisecond)
			if err := receiverKeys.Replace(expiring, newKey); err != nil {
				return err
			}
			time.Sleep(60 * time.Millisecond) // the expiry passes on its own
			return nil
		},
	}
	for i, do := range steps {
		if err := step(i+1, do); err != nil {
			stopPublishing()
			wg.Wait()
			return err
		}
		say("phase %d: %s", i+1, phases[i+1])
	}
	time.Sleep(150 * time.Millisecond)
	stopPublishing()
	wg.Wait()
	if pubErr != nil {
		return pubErr
	}

	say("\n%-30s %9s %8s", "phase", "delivered", "rejected")
	total, rejected := 0, 0
	for i, name := range phases {
		say("%-30s %9d %8d", name, t.delivered[i], t.rejected[i])
		total += t.delivered[i]
		rejected += t.rejected[i]
	}
	say("%-30s %9d %8d", "total", total, rejected)
	if rejected != 0 || int64(total) != handled.Load() {
		return fmt.Errorf("%d deliveries rejected during the rotation", rejected)
	}

	// The old key is retired now: a sender that still uses it is refused, and not retried.
	stale, err := signature.NewKeySet(oldKey)
	if err != nil {
		return err
	}
	ev, err := event.New("invoice-paid", map[string]any{"invoice": "stale"})
	if err != nil {
		return err
	}
	staleEndpoint := endpoint
	staleEndpoint.Keys = stale
	res, err := s.Send(ctx, staleEndpoint, ev)
	if res == nil || res.Delivered || len(res.Attempts) != 1 || res.Attempts[0].Status != http.StatusUnauthorized {
		return errors.Join(errors.New("a delivery signed with the retired key was not refused"), err)
	}
	say("\na sender still on %s after the rotation: %d %s after %d attempt (final)",
		oldKey.ID, res.Attempts[0].Status, http.StatusText(res.Attempts[0].Status), len(res.Attempts))
	say("rotation complete: %d deliveries, none rejected", total)
	return nil
}

// serve runs h on a free loopback port and returns its host:port and a stop function.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	// A receiver needs every server timeout: ReadHeaderTimeout and ReadTimeout stop a
	// client that sends its headers or body slowly from holding a connection (and the
	// receiver's body buffer) open, WriteTimeout bounds the handler and the answer,
	// IdleTimeout closes idle keep-alive connections.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
