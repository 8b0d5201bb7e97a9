package sender_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/sender"
)

// TestSenderKeepsAConnectionPerConcurrentAttempt: after 64 attempts in flight at once to
// one host, the sender's default transport keeps all 64 connections idle, so the next 64
// concurrent attempts dial none (a per-host idle pool smaller than the concurrency closes
// the surplus after each attempt and dials anew: 32 new connections a round with a pool
// of 32).
func TestSenderKeepsAConnectionPerConcurrentAttempt(t *testing.T) {
	const n = 64
	var dials atomic.Int64
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		ch := all
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		<-ch // answer once all n are in flight, so each needed a connection of its own
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := loopbackSender(t, sender.Config{})
	keys := newSndKeys(t, 1)
	ep := sender.Endpoint{ID: "acme", URL: srv.URL, Keys: keys.set, Retry: fastRetry(1)}
	for round := range 2 {
		mu.Lock()
		arrived, all = 0, make(chan struct{})
		mu.Unlock()
		before := dials.Load()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res, err := s.Send(context.Background(), ep, sndEvent(t, "envelope-sent"))
				assert.NoError(t, err)
				assert.True(t, res != nil && res.Delivered)
			})
		}
		wg.Wait()
		if round == 0 {
			require.Equal(t, int64(n), dials.Load()-before, "one connection per attempt in flight")
		} else {
			assert.Zero(t, dials.Load()-before, "every connection reused from the idle pool")
		}
	}
}
