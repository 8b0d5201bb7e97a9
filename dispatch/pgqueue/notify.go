package pgqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotifyMode says whether a Store sends and listens for the wake-ups of LISTEN/NOTIFY
// (see the package documentation, Wake-ups). The zero value is NotifyOn. New refuses a
// value that is none of the four (ErrInvalidConfig).
type NotifyMode int

const (
	// NotifyOn, the zero value: the Store sends notifications (EnqueueTx and
	// EnqueueSQLTx inside the caller's transaction, Enqueue and Requeue after their
	// commit, shared between the calls committed meanwhile) and listens (Notifications).
	NotifyOn NotifyMode = iota
	// NotifySendOnly sends but never LISTENs: for a Store whose pool goes through
	// PgBouncer in transaction pooling mode (which forwards a NOTIFY but cannot keep a
	// LISTEN), or one that only publishes. Its Notifications is nil.
	NotifySendOnly
	// NotifyListenOnly listens but never sends: for high rates of EnqueueTx, whose
	// notification is sent in the caller's transaction, where the commit lock a NOTIFY
	// takes (Postgres serializes the commits of notifying transactions) costs more than
	// it saves (Enqueue's notifications are sent after the commit and shared, at most one
	// per wakeInterval). The Store is still woken by other Stores that send.
	NotifyListenOnly
	// NotifyOff neither sends nor listens: the dispatchers poll
	// (dispatch.Config.PollInterval). Its Notifications is nil.
	NotifyOff
)

func (s *Store) sends() bool   { return s.notify == NotifyOn || s.notify == NotifySendOnly }
func (s *Store) listens() bool { return s.notify == NotifyOn || s.notify == NotifyListenOnly }

// channelPrefix begins every channel name, so that hookkit's channels are told from an
// application's own.
const channelPrefix = "hookkit:"

// maxChannel is the longest channel name Postgres keeps (NAMEDATALEN - 1): a longer one
// is truncated by LISTEN and refused by pg_notify.
const maxChannel = 63

// channelFor returns the LISTEN/NOTIFY channel of a schema: "hookkit:" and the schema
// name, or, when that is longer than Postgres keeps, the name's first 38 bytes, ':' and
// 16 hex digits of its SHA-256, so that two schemas never share a channel. The name is
// made of lower-case letters, digits, '_' and ':' only (the schema is validated by
// New), so it needs no quoting in a string literal.
func channelFor(schema string) string {
	if len(channelPrefix)+len(schema) <= maxChannel {
		return channelPrefix + schema
	}
	sum := sha256.Sum256([]byte(schema))
	h := hex.EncodeToString(sum[:8])
	return channelPrefix + schema[:maxChannel-len(channelPrefix)-1-len(h)] + ":" + h
}

// Channel returns the name of the LISTEN/NOTIFY channel of the Store's schema, the same
// for every Store on that schema and different for every other schema. Another program
// may wake the listening Stores of the schema by sending a notification on it:
//
//	SELECT pg_notify('hookkit:shop', '')
func (s *Store) Channel() string { return s.channel }

// Listener timings: the reconnection backoff doubles from listenRetryMin to
// listenRetryMax (with up to 50 % jitter added); a connection attempt that sets no
// connect_timeout of its own gives up after listenConnectTimeout.
const (
	listenRetryMin       = 100 * time.Millisecond
	listenRetryMax       = 5 * time.Second
	listenConnectTimeout = 10 * time.Second
	listenCloseTimeout   = time.Second
)

// Notifications implements queue.Notifier: the channel on which the Store signals that
// another Store (or this one) committed deliveries to its schema. The first call starts
// the listener, a goroutine holding one connection of its own that LISTENs on Channel
// (see the package documentation, Wake-ups), unless Close came first; Close stops it.
// The channel has capacity 1 and is written without blocking, so a burst of
// notifications is one pending value; it is never closed (after Close it stays silent).
// It is nil when Config.Notify does not listen (NotifySendOnly, NotifyOff): a nil channel
// never receives, and the dispatcher polls.
func (s *Store) Notifications() <-chan struct{} {
	if !s.listens() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started && !s.closed {
		s.started = true
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.listener.Add(1)
		go s.listen(ctx)
	}
	return s.wake
}

// Close stops the listener (if Notifications started one) and waits for it to end,
// closing its connection, and waits for a notification being sent after an Enqueue's
// commit (see the package documentation, Wake-ups). It does not close the pool, which
// stays the application's, and the Store remains usable for everything else: only its
// own wake-ups stop (a dispatcher still using it polls; an Enqueue after Close still
// wakes the other Stores, sending its notification before it returns). It is safe to
// call more than once and from several goroutines.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.listener.Wait()
	s.waker.close()
}

// wakeTimeout bounds the statement that sends a notification after a commit;
// wakeInterval is the least time from the start of one such notification to the start of
// the next one sent for the commits made meanwhile (at most 200 a second per Store).
const (
	wakeTimeout  = 5 * time.Second
	wakeInterval = 5 * time.Millisecond
)

// waker sends the notifications of the Store's own enqueuing calls (Enqueue, Requeue)
// after their commit, at most one at a time, coalescing the requests made while one is
// being sent into one more (see wakeAfterCommit).
type waker struct {
	mu      sync.Mutex
	running bool          // a sender goroutine is at work
	again   bool          // a commit was made while it sent: send once more
	closed  bool          // Close was called: send in the caller
	done    chan struct{} // closed when the running goroutine ends
	// send sends one notification; nil means the Store's (sendWake). Tests replace it.
	send func(context.Context) error
}

// wakeAfterCommit wakes the listeners of the schema after one of the Store's own
// enqueuing transactions committed, when Config.Notify sends. It never waits for the
// database: a goroutine sends the notification (q.notify, a transaction of its own), and
// while it does, the requests of other commits are folded into a single one more, sent
// once the first is done and at least wakeInterval after the first began. So every
// commit is followed by a notification whose transaction began after it (a listener
// that leases on it sees the deliveries), an idle Store's first commit is announced at
// once, and a burst of concurrent Enqueues costs at most one notification per
// wakeInterval instead of one commit each serialized on the notification lock. After
// Close, the notification is sent in the caller, before wakeAfterCommit returns.
func (s *Store) wakeAfterCommit() {
	if !s.sends() {
		return
	}
	w := &s.waker
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		s.sendOne()
		return
	case w.running:
		w.again = true
		w.mu.Unlock()
		return
	}
	w.running, w.done = true, make(chan struct{})
	done := w.done
	w.mu.Unlock()
	go s.sendWakes(done)
}

// sendWakes is the waker's goroutine: it sends one notification, then one more for as
// long as commits asked for one while it sent.
func (s *Store) sendWakes(done chan struct{}) {
	defer close(done)
	w := &s.waker
	for {
		sent := time.Now()
		s.sendOne()
		w.mu.Lock()
		again := w.again
		if !again {
			w.running = false
		}
		w.mu.Unlock()
		if !again {
			return
		}
		// The commits of the last wakeInterval share the next notification.
		if d := wakeInterval - time.Since(sent); d > 0 {
			time.Sleep(d)
		}
		w.mu.Lock()
		w.again = false
		w.mu.Unlock()
	}
}

// sendOne sends one notification. A failure is not reported: the deliveries are
// committed, and a dispatcher that is not woken finds them at its next poll.
func (s *Store) sendOne() {
	ctx, cancel := context.WithTimeout(context.Background(), wakeTimeout)
	defer cancel()
	send := s.waker.send
	if send == nil {
		send = s.sendWake
	}
	_ = send(ctx)
}

// sendWake sends the schema's notification in a transaction of its own.
func (s *Store) sendWake(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, s.q.notify, s.channel)
	return err
}

// close makes later requests send in their caller and waits for the goroutine at work.
func (w *waker) close() {
	w.mu.Lock()
	w.closed = true
	done := w.done
	w.mu.Unlock()
	if done != nil {
		<-done
	}
}

// signal writes the notification channel without blocking.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// listen is the listener goroutine: connect and LISTEN, signal once (a delivery may have
// been committed while nobody listened), then signal on every notification, until the
// connection fails (the server restarted, the backend was terminated, the network
// broke); then reconnect with backoff, until ctx ends.
func (s *Store) listen(ctx context.Context) {
	defer s.listener.Done()
	delay := listenRetryMin
	for {
		conn, err := s.connectListener(ctx)
		if err == nil {
			delay = listenRetryMin
			s.signal()
			for err == nil {
				if _, err = conn.WaitForNotification(ctx); err == nil {
					s.signal()
				}
			}
			cctx, cancel := context.WithTimeout(context.Background(), listenCloseTimeout)
			_ = conn.Close(cctx) // a broken connection has nothing to say
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(delay + rand.N(delay/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, listenRetryMax)
	}
}

// connectListener opens the listener's connection and LISTENs on the Store's channel.
//
// It is a connection of its own (pgx.ConnectConfig with the pool's ConnConfig and its
// BeforeConnect and AfterConnect hooks), not one acquired from the pool: a connection
// held for the Store's lifetime would take one of the pool's MaxConns from the
// application for good, escape the pool's health checks and MaxConnLifetime, and make
// the application's pool.Close wait for the Store's Close (pgxpool.Pool.Close waits for
// every acquired connection). Its application_name is "hookkit listen <schema>" unless
// the pool's config sets one.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, error) {
	pc := s.pool.Config() // a copy: its ConnConfig is this connection's
	cc := pc.ConnConfig
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "hookkit listen " + s.schema
	}
	cctx := ctx
	if cc.ConnectTimeout == 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, listenConnectTimeout)
		defer cancel()
	}
	if pc.BeforeConnect != nil {
		if err := pc.BeforeConnect(cctx, cc); err != nil {
			return nil, fmt.Errorf("hookkit/pgqueue: listen: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(cctx, cc)
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: listen: %w", err)
	}
	if pc.AfterConnect != nil {
		err = pc.AfterConnect(cctx, conn)
	}
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize())
	}
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), listenCloseTimeout)
		defer cancel()
		_ = conn.Close(closeCtx)
		return nil, fmt.Errorf("hookkit/pgqueue: listen: %w", err)
	}
	return conn, nil
}
