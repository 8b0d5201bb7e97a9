package sender_test

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/sender"
)

// countingConn counts the Write calls made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestSendWritesHeadersAndBodyInOneWrite: a delivery leaves in one write (one TCP
// segment for a small event), as a raw http.Client POST of a []byte does: the transport
// must see the body as in-memory, or it flushes the headers first and the receiver wakes
// twice per delivery.
func TestSendWritesHeadersAndBodyInOneWrite(t *testing.T) {
	t.Parallel()
	keys := newSndKeys(t, 1)
	rc := newSndReceiver(t, keys, statuses(http.StatusNoContent))
	var writes atomic.Int64
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: &writes}, nil
	}}
	s := loopbackSender(t, sender.Config{HTTPClient: &http.Client{Transport: tr}})
	ep := sender.Endpoint{URL: rc.URL, Keys: keys.set}
	for i := 1; i <= 3; i++ {
		_, err := s.Send(context.Background(), ep, sndEvent(t, "envelope-sent"))
		require.NoError(t, err)
		assert.Equal(t, int64(i), writes.Load(), "one write per delivery")
	}
	for _, h := range rc.Hits() {
		require.NoError(t, h.ParseErr)
		assert.Equal(t, []error{nil}, h.VerifyErr, "signature verifies")
		assert.Equal(t, []error{nil}, h.OfficialOK, "official library verifies")
	}
}

// TestSendShortTimeoutsUnderLoad: many concurrent attempts whose timeout races the
// response each end as acknowledged or as a timeout (never anything else), and a timer
// that fired never cancels a later attempt: long-timeout deliveries afterwards all succeed.
func TestSendShortTimeoutsUnderLoad(t *testing.T) {
	t.Parallel()
	var slow atomic.Bool
	rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
		d := time.Duration(rand.IntN(4000)) * time.Microsecond
		if slow.Load() {
			d = 30 * time.Millisecond
		}
		select {
		case <-time.After(d):
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	})
	s := loopbackSender(t, sender.Config{})
	short := sender.Endpoint{URL: rc.URL, Timeout: 2 * time.Millisecond, Retry: fastRetry(1)}
	var delivered, timedOut atomic.Int64
	inParallel(8, 40, func() {
		res, err := s.Send(context.Background(), short, sndEvent(t, "envelope-sent"))
		if err == nil {
			delivered.Add(1)
			return
		}
		if assert.ErrorIs(t, err, context.DeadlineExceeded) && assert.Len(t, res.Attempts, 1) {
			assert.ErrorContains(t, res.Attempts[0].Err, "timed out after 2ms")
			timedOut.Add(1)
		}
	})
	assert.Equal(t, int64(320), delivered.Load()+timedOut.Load())
	assert.Positive(t, timedOut.Load(), "some attempts timed out")

	slow.Store(true)
	long := sender.Endpoint{URL: rc.URL, Timeout: 5 * time.Second, Retry: fastRetry(1)}
	inParallel(8, 5, func() {
		_, err := s.Send(context.Background(), long, sndEvent(t, "envelope-sent"))
		assert.NoError(t, err)
	})
}

// inParallel runs f n times in each of workers goroutines and waits for them.
func inParallel(workers, n int, f func()) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				f()
			}
		}()
	}
	wg.Wait()
}

// TestSendCallerDeadlineIsNotAnAttemptTimeout: when the caller's context ends first, the
// error is the context's own, not "attempt timed out".
func TestSendCallerDeadlineIsNotAnAttemptTimeout(t *testing.T) {
	t.Parallel()
	rc := newSndReceiver(t, nil, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := loopbackSender(t, sender.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := s.Send(ctx, sender.Endpoint{URL: rc.URL, Timeout: 30 * time.Second}, sndEvent(t, "envelope-sent"))
	assert.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, res.Attempts, 1)
	assert.NotContains(t, res.Attempts[0].Err.Error(), "timed out after")
}
