package dispatch_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// TestObserverHooksOutliveTheBatchDeadline: Delivered and DeadLettered get a context
// without the deadline that bounds the batch's Complete call, so that a batch's hooks do
// not share (and run down) the store call's timeout.
func TestObserverHooksOutliveTheBatchDeadline(t *testing.T) {
	dspBubble(t, func(t *testing.T, nw *dspNet) {
		var mu sync.Mutex
		var deadlines []bool
		hook := func(ctx context.Context) {
			_, ok := ctx.Deadline()
			mu.Lock()
			deadlines = append(deadlines, ok)
			mu.Unlock()
		}
		obs := dispatch.Observer{
			Delivered:    func(ctx context.Context, _ queue.Delivery) { hook(ctx) },
			DeadLettered: func(ctx context.Context, _ queue.Delivery) { hook(ctx) },
		}
		srv := nw.server(func(w http.ResponseWriter, _ dspHit, n int) {
			if n%2 == 0 {
				w.WriteHeader(http.StatusBadRequest) // permanent: a dead letter
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		d := newDispatcher(t, nw.sender(t), memqueue.New(memqueue.Config{}), dispatch.Config{Workers: 1, Observer: obs})
		subscribeAndPublish(t, d, srv.URL, 4)
		require.NoError(t, d.Drain(bg))
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []bool{false, false, false, false}, deadlines, "no hook's context has a deadline")
	})
}
