package console

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookkit/hookkit/sender"
)

// DefaultRecorderSize is the number of attempts a Recorder keeps per endpoint when
// NewRecorder is given 0 or less.
const DefaultRecorderSize = 100

// MaxRecorderEndpoints bounds the endpoints a Recorder keeps attempts for; the attempts to
// further endpoints are counted (Recorder.Dropped) and not kept, so that a Sender used for
// Send to many hosts cannot grow it without bound.
const MaxRecorderEndpoints = 1000

// Recorder keeps the most recent attempts of each endpoint in memory, for the console's
// charts: a fixed ring per endpoint of pointer-free samples (time, duration, status,
// class), plus the title of the last problem document each endpoint's receiver answered.
// Hook it into the Sender the dispatcher delivers through:
//
//	rec := console.NewRecorder(100)
//	s, err := sender.New(sender.Config{Observer: rec.Observer()})
//
// or call AttemptFinished from a DeliveryObserver of your own. A Recorder is safe for
// concurrent use; recording an attempt takes one short lock of its endpoint's ring.
type Recorder struct {
	size    int
	mu      sync.RWMutex
	rings   map[string]*ring
	dropped atomic.Uint64
}

// ring is the recent attempts of one endpoint: buf is used circularly, next is where the
// next sample goes, n how many are kept (at most len(buf)).
type ring struct {
	mu          sync.Mutex
	buf         []sample
	next, n     int
	lastProblem string // title of the receiver's last problem document; "" when none yet
}

// sample is one attempt as a Recorder keeps it: no pointers, so a full Recorder costs the
// garbage collector nothing to scan but the rings' headers.
type sample struct {
	start    int64 // Unix nanoseconds
	duration int64 // nanoseconds
	number   int32
	status   int16
	class    sender.Class
}

// Sample is one recorded attempt (Recorder.Recent).
type Sample struct {
	// Number is 1 for the first attempt of a delivery.
	Number int
	// Start is when the attempt began.
	Start time.Time
	// Duration lasts from Start until the response was read, or the attempt failed.
	Duration time.Duration
	// Status is the response status; 0 when no response was received.
	Status int
	// Class is the attempt's outcome by its stable name (queue.ClassAcknowledged, ...).
	Class string
}

// NewRecorder returns a Recorder that keeps the last size attempts of each endpoint
// (0 or less: DefaultRecorderSize).
func NewRecorder(size int) *Recorder {
	if size <= 0 {
		size = DefaultRecorderSize
	}
	return &Recorder{size: size, rings: make(map[string]*ring)}
}

// Observer returns a sender.DeliveryObserver whose AttemptFinished hook records every
// attempt (its other hooks are nil).
func (r *Recorder) Observer() sender.DeliveryObserver {
	return sender.DeliveryObserver{AttemptFinished: r.AttemptFinished}
}

// AttemptFinished records one attempt of the endpoint info.Endpoint; it has the signature
// of sender.DeliveryObserver.AttemptFinished, to be called from an observer of your own.
func (r *Recorder) AttemptFinished(_ context.Context, info sender.AttemptInfo, a sender.Attempt) {
	rg := r.ring(info.Endpoint)
	if rg == nil {
		r.dropped.Add(1)
		return
	}
	s := sample{start: a.Start.UnixNano(), duration: int64(a.Duration), number: int32(min(a.Number, 1<<31-1)),
		status: int16(min(max(a.Status, 0), 1<<15-1)), class: a.Class}
	rg.mu.Lock()
	rg.buf[rg.next] = s
	rg.next = (rg.next + 1) % len(rg.buf)
	rg.n = min(rg.n+1, len(rg.buf))
	if a.Problem != nil && a.Problem.Title != "" {
		rg.lastProblem = a.Problem.Title
	}
	rg.mu.Unlock()
}

// ring returns the ring of an endpoint, making it if there is room; nil when
// MaxRecorderEndpoints rings exist already.
func (r *Recorder) ring(endpoint string) *ring {
	r.mu.RLock()
	rg := r.rings[endpoint]
	r.mu.RUnlock()
	if rg != nil {
		return rg
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rg = r.rings[endpoint]; rg == nil && len(r.rings) < MaxRecorderEndpoints {
		rg = &ring{buf: make([]sample, r.size)}
		r.rings[endpoint] = rg
	}
	return rg
}

// Recent returns the recorded attempts of an endpoint, oldest first (nil when none), and
// the title of the last problem document its receiver answered ("" when none).
func (r *Recorder) Recent(endpoint string) (samples []Sample, lastProblem string) {
	r.mu.RLock()
	rg := r.rings[endpoint]
	r.mu.RUnlock()
	if rg == nil {
		return nil, ""
	}
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.n == 0 {
		return nil, rg.lastProblem
	}
	out := make([]Sample, rg.n)
	first := (rg.next - rg.n + len(rg.buf)) % len(rg.buf)
	for i := range out {
		s := rg.buf[(first+i)%len(rg.buf)]
		out[i] = Sample{Number: int(s.number), Start: time.Unix(0, s.start), Duration: time.Duration(s.duration),
			Status: int(s.status), Class: s.class.String()}
	}
	return out, rg.lastProblem
}

// Dropped returns how many attempts were not recorded because MaxRecorderEndpoints other
// endpoints were recorded already.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }
