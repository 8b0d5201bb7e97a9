package receiver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/signature"
)

// stallingBody hands out its first bytes, then says on blocked that it is blocked and
// waits for release, like a client that declared a large body and stopped sending.
type stallingBody struct {
	first   []byte
	blocked chan<- struct{}
	release <-chan struct{}
}

func (s *stallingBody) Read(p []byte) (int, error) {
	if len(s.first) > 0 {
		n := copy(p, s.first)
		s.first = s.first[n:]
		return n, nil
	}
	s.blocked <- struct{}{}
	<-s.release
	return 0, io.ErrUnexpectedEOF
}

func (*stallingBody) Close() error { return nil }

// A request that declares Content-Length: 1 MiB but sends 10 bytes and stalls must not make
// the receiver allocate the declared length: memory follows the bytes that arrived.
func TestStalledBodyDoesNotAllocateItsDeclaredLength(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	app := &recordingHandler{}
	h := mw(app)

	const n = 50
	blocked, release := make(chan struct{}), make(chan struct{})
	reqs := make([]*http.Request, n)
	recs := make([]*httptest.ResponseRecorder, n)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "/webhooks", nil)
		r.Body = &stallingBody{first: []byte(`{"id":"x",`), blocked: blocked, release: release}
		r.ContentLength = receiver.DefaultMaxBodyBytes
		reqs[i], recs[i] = r, httptest.NewRecorder()
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.ServeHTTP(recs[i], reqs[i])
		}()
	}
	for range n {
		<-blocked // every handler has read its 10 bytes and waits for more
	}
	runtime.ReadMemStats(&after)
	close(release)
	wg.Wait()

	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d stalled requests allocated %d KiB (%d B each)", n, allocated>>10, allocated/n)
	assert.Less(t, allocated, uint64(n*64<<10), "at most 64 KiB per stalled request, not its declared 1 MiB")
	for _, rec := range recs {
		assertProblem(t, rec, receiver.ReasonUnreadableBody)
	}
	assert.Zero(t, app.count())
}

// Bodies larger than the initial buffer, with or without a declared length, still arrive
// whole: the buffer grows with the data up to the limit.
func TestBodiesBeyondTheInitialBufferArriveWhole(t *testing.T) {
	key, _ := newKey(t, "k1", 1)
	mw, err := receiver.New(receiver.Config{Keys: newKeySet(t, key), Now: fixedNow})
	require.NoError(t, err)
	for _, size := range []int{16<<10 - 1, 16 << 10, 16<<10 + 1, 300 << 10, receiver.DefaultMaxBodyBytes} {
		for _, declared := range []bool{true, false} {
			app := &recordingHandler{}
			body := eventBodyOfSize(t, "a", "evt", size)
			r := signed(t, signature.Standard(), []signature.Key{key}, fmt.Sprintf("msg-%d-%t", size, declared), testNow, body)
			if !declared {
				r.ContentLength = -1
				r.Body = io.NopCloser(iotest.OneByteReader(bytes.NewReader(body)))
			}
			rec := httptest.NewRecorder()
			mw(app).ServeHTTP(rec, r)
			require.Equal(t, http.StatusOK, rec.Code, "size %d declared %v: %s", size, declared, rec.Body)
			require.Equal(t, 1, app.count())
			assert.Equal(t, body, app.bodies[0], "size %d declared %v", size, declared)
		}
	}
}
