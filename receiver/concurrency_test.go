package receiver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

func TestConcurrentDistinctDeliveriesAllReachTheHandler(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	app := &recordingHandler{}
	h := mw(app)
	const n = 200
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("msg-", i)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{key}, id, testNow, eventBody(t, "a", id, i)))
			codes[i] = rec.Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		assert.Equal(t, 200, c, "delivery %d", i)
	}
	assert.Equal(t, n, app.count())
	// Every body reached the handler intact (no pooled buffer was shared).
	seen := map[string]bool{}
	for _, b := range app.bodies {
		seen[string(b)] = true
	}
	assert.Len(t, seen, n)
}

// Concurrent copies of one delivery, each retried on 503 like a real sender: the handler
// runs once and every copy is finally acknowledged. It runs in a synctest bubble, so the
// handler's run and the senders' back-off take fake time: while the first copy is in the
// handler, every other copy has made its first attempt and been told 503.
func TestConcurrentDuplicatesRunTheHandlerOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		key, _ := newKey(t, "k1", 1)
		mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
		require.NoError(t, err)
		var calls atomic.Int64
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			time.Sleep(2 * time.Millisecond) // fake time: passes once every sender waits
		}))
		body := eventBody(t, "a", "evt-1", 0)
		const senders, attempts = 32, 100
		reqs := make(chan *http.Request, senders*attempts)
		for range cap(reqs) {
			reqs <- signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body)
		}
		var wg sync.WaitGroup
		var ok2xx, inflight, other atomic.Int64
		for range senders {
			wg.Go(func() {
				for range attempts {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, <-reqs)
					switch rec.Code {
					case 200, 204:
						ok2xx.Add(1)
						return
					case 503:
						inflight.Add(1)
						time.Sleep(time.Millisecond) // the sender's back-off, in fake time
					default:
						other.Add(1)
						return
					}
				}
			})
		}
		wg.Wait()
		assert.EqualValues(t, 1, calls.Load(), "handler runs exactly once")
		assert.EqualValues(t, senders, ok2xx.Load(), "every copy is finally acknowledged")
		assert.Zero(t, other.Load(), "only 2xx and 503 answers")
		assert.GreaterOrEqual(t, inflight.Load(), int64(senders-1), "every other copy met the delivery in flight")
	})
}

func TestKeyRotationWhileRequestsFly(t *testing.T) {
	k1, _ := newKey(t, "k1", 1)
	k2, _ := newKey(t, "k2", 2)
	k3, _ := newKey(t, "k3", 3)
	ks := newKeySet(t, k1, k2)
	mw, err := receiver.New(receiver.Config{Keys: ks, Now: fixedNow})
	require.NoError(t, err)
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	stop := make(chan struct{})
	var rotations atomic.Int64
	var rot sync.WaitGroup
	rot.Add(1)
	go func() {
		defer rot.Done()
		// Rotate as fast as the scheduler allows until the requests are done: no clock is
		// involved, and at least one rotation happens whatever the scheduling.
		for i := 0; ; i++ {
			if i%2 == 0 {
				assert.NoError(t, ks.Replace(k2, k3))
			} else {
				assert.NoError(t, ks.Replace(k1, k2))
			}
			rotations.Add(1)
			select {
			case <-stop:
				return
			default:
				runtime.Gosched()
			}
		}
	}()

	var wg sync.WaitGroup
	var k1ok, k1refused atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := fmt.Sprintf("g%d-%d", g, i)
				body := eventBody(t, "a", id, 0)
				// k2 is in every set: always accepted.
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{k2}, id, testNow, body))
				assert.Equal(t, 200, rec.Code)
				// k1 comes and goes: accepted or refused, never anything else.
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{k1}, id+"-k1", testNow, body))
				switch rec.Code {
				case 200:
					k1ok.Add(1)
				case 401:
					k1refused.Add(1)
				default:
					t.Errorf("status %d", rec.Code)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rot.Wait()
	assert.Positive(t, rotations.Load())
	t.Logf("rotations %d, old key accepted %d, refused %d", rotations.Load(), k1ok.Load(), k1refused.Load())

	// After the final rotation to {k2, k3} the old key is refused.
	require.NoError(t, ks.Replace(k2, k3))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, signature.Standard(), []signature.Key{k1}, "final", testNow, eventBody(t, "a", "final", 0)))
	assertProblem(t, rec, receiver.ReasonInvalidSignature)
}
