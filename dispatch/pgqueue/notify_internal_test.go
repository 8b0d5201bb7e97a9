package pgqueue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// TestWakerCoalesces: the requests made while a notification is being sent are folded
// into exactly one more, sent after all of them; an idle waker sends at once; Close
// waits for the sender goroutine, and after Close a request is sent in its caller; a
// Store that does not send never asks.
func TestWakerCoalesces(t *testing.T) {
	before := goleak.IgnoreCurrent()
	s := &Store{notify: NotifyOn}
	gate := make(chan struct{})
	started := make(chan int, 10)
	var sends atomic.Int64
	s.waker.send = func(context.Context) error {
		n := int(sends.Add(1))
		started <- n
		if n == 1 {
			<-gate
		}
		return nil
	}
	s.wakeAfterCommit()
	require.Equal(t, 1, <-started, "an idle waker sends at once")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(s.wakeAfterCommit)
	}
	wg.Wait()
	assert.EqualValues(t, 1, sends.Load(), "nothing more while the first is in flight")
	close(gate)
	require.Equal(t, 2, <-started, "one more for the 100 requests made meanwhile")
	s.Close()
	assert.EqualValues(t, 2, sends.Load(), "two in all")
	goleak.VerifyNone(t, before)

	s.wakeAfterCommit()
	assert.EqualValues(t, 3, sends.Load(), "after Close, sent before wakeAfterCommit returns")
	goleak.VerifyNone(t, before)

	quiet := &Store{notify: NotifyListenOnly}
	quiet.waker.send = func(context.Context) error { t.Error("a listen-only Store sent"); return nil }
	quiet.wakeAfterCommit()
}

// TestEnqueueBurstNotifiesTwice: 200 concurrent Enqueues committed while the Store's
// first notification is held back send two notifications in all (counted on a LISTENing
// connection, up to a notification the test sends after them: notifications arrive in
// commit order), not one per commit nor one in their transactions; and another Store
// listening on the schema is woken and leases all 200.
func TestEnqueueBurstNotifiesTwice(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	pool := pgtest.Pool(t)
	s, err := New(ctx, pool, Config{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	other, err := New(ctx, pool, Config{Schema: schema, Notify: NotifyListenOnly})
	require.NoError(t, err)
	t.Cleanup(other.Close)

	raw, err := pgx.Connect(ctx, services.Postgres(t))
	require.NoError(t, err)
	defer raw.Close(context.Background())
	_, err = raw.Exec(ctx, "LISTEN "+pgx.Identifier{s.Channel()}.Sanitize())
	require.NoError(t, err)
	wake := other.Notifications()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-wake: // the signal sent once listening
	case <-wctx.Done():
		t.Fatal("the other Store's listener did not start")
	}

	gate := make(chan struct{})
	var first sync.Once
	s.waker.send = func(ctx context.Context) error {
		first.Do(func() { <-gate })
		return s.sendWake(ctx)
	}
	const n = 200
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				assert.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, fmt.Sprint("d", i), "ep", queuetest.T0)))
			}
		})
	}
	wg.Wait()
	close(gate)
	s.Close() // waits for the notifications under way
	_, err = pool.Exec(ctx, `SELECT pg_notify($1, 'end')`, s.Channel())
	require.NoError(t, err)
	count := 0
	for {
		nf, err := raw.WaitForNotification(wctx)
		require.NoError(t, err)
		if nf.Payload == "end" {
			break
		}
		count++
	}
	assert.Equal(t, 2, count, "one notification held back, one for the commits made meanwhile")

	select {
	case <-wake:
	case <-wctx.Done():
		t.Fatal("the other Store was not woken")
	}
	got, err := other.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: n + 1, For: time.Minute})
	require.NoError(t, err)
	assert.Len(t, got, n)
}
