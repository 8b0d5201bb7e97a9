package receiver_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// leaseRig is a middleware on a fake clock whose handler runs are sequenced by the test:
// runs 1 and 2 announce themselves on entered and answer with the status sent on answer[0]
// and answer[1]; any later run answers 200 at once (so a regression fails, not hangs).
type leaseRig struct {
	clk     *manualClock
	h       http.Handler
	runs    atomic.Int64
	entered chan int64
	answer  [2]chan int
	logs    bytes.Buffer
	send    func() int
}

const rigLease = time.Minute

func newLeaseRig(t *testing.T) *leaseRig {
	t.Helper()
	key, _ := newKey(t, "k1", 1)
	rig := &leaseRig{clk: &manualClock{now: testNow}, entered: make(chan int64), answer: [2]chan int{make(chan int), make(chan int)}}
	mw, err := receiver.New(receiver.Config{
		Keys: newKeySet(t, key), Now: rig.clk.Now, Lease: rigLease,
		Seen:   newSeenStore(t, receiver.MemorySeenStoreConfig{Now: rig.clk.Now}),
		Logger: slog.New(slog.NewTextHandler(&rig.logs, nil)),
	})
	require.NoError(t, err)
	rig.h = mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rig.runs.Add(1)
		if n > 2 {
			return
		}
		rig.entered <- n
		w.WriteHeader(<-rig.answer[n-1])
	}))
	body := eventBody(t, "a", "evt-1", 0)
	// Requests are built here, on the test goroutine; send may run on any goroutine.
	reqs := make(chan *http.Request, 8)
	for range cap(reqs) {
		reqs <- signed(t, signature.Standard(), []signature.Key{key}, "msg-1", testNow, body)
	}
	rig.send = func() int {
		rec := httptest.NewRecorder()
		rig.h.ServeHTTP(rec, <-reqs)
		return rec.Code
	}
	return rig
}

// start sends a copy of the delivery on its own goroutine; its status arrives on the channel.
func (rig *leaseRig) start() <-chan int {
	c := make(chan int, 1)
	go func() { c <- rig.send() }()
	return c
}

// A handler A outlives its lease; the sender's retry B takes the id over; A then fails and
// releases. A's release must not free B's reservation: a third copy C gets 503 while B runs,
// and the handler runs twice for the id, not three times.
func TestLateReleaseDoesNotFreeTheNextHoldersReservation(t *testing.T) {
	rig := newLeaseRig(t)
	codeA := rig.start()
	require.EqualValues(t, 1, <-rig.entered)
	rig.clk.Add(rigLease + time.Second) // A outlives its lease
	codeB := rig.start()
	require.EqualValues(t, 2, <-rig.entered, "the retry takes over the expired lease")

	rig.answer[0] <- http.StatusInternalServerError // A fails: its id is released
	assert.Equal(t, http.StatusInternalServerError, <-codeA)
	assert.Equal(t, http.StatusServiceUnavailable, rig.send(), "C: B still holds the id")

	rig.answer[1] <- http.StatusOK
	assert.Equal(t, http.StatusOK, <-codeB)
	assert.Equal(t, http.StatusNoContent, rig.send(), "after B's success the id is seen")
	assert.EqualValues(t, 2, rig.runs.Load(), "handler runs for one id")
}

// When A outlives its lease and then succeeds while B runs, A's success is recorded (the id
// is seen even though B later fails) and the overrun is logged as a warning.
func TestLateCommitIsRecordedAndLogged(t *testing.T) {
	rig := newLeaseRig(t)
	codeA := rig.start()
	require.EqualValues(t, 1, <-rig.entered)
	rig.clk.Add(rigLease + time.Second)
	codeB := rig.start()
	require.EqualValues(t, 2, <-rig.entered)

	rig.answer[0] <- http.StatusOK
	assert.Equal(t, http.StatusOK, <-codeA)
	assert.Contains(t, rig.logs.String(), "level=WARN")
	assert.Contains(t, rig.logs.String(), "outlived its lease")

	rig.answer[1] <- http.StatusInternalServerError // B fails after A succeeded
	assert.Equal(t, http.StatusInternalServerError, <-codeB)
	assert.Equal(t, http.StatusNoContent, rig.send(), "A's success keeps the id seen")
	assert.EqualValues(t, 2, rig.runs.Load())
}
