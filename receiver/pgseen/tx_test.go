package pgseen_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/event"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/pgseen"
	"github.com/hookkit/hookkit/receiver/receivertest"
	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/signature"
)

// failingBeginner is a database that cannot begin a transaction.
type failingBeginner struct{}

func (failingBeginner) BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error) {
	return nil, errors.New("connection refused")
}

// TestTxHandlerAnswers: the status of every outcome, through the middleware, with requests
// a real sender builds (receivertest), and what each one leaves in the database.
func TestTxHandlerAnswers(t *testing.T) {
	ctx := context.Background()
	pool := shared.Get(t)
	seen := newStore(t, pgseen.Config{})
	createPayments(t, pool, seen.Schema())
	var runs counter
	handler := seen.TxHandler(pool, func(ctx context.Context, tx pgx.Tx, ev *event.Event) error {
		runs.add(ev.ID)
		if err := insertPayment(ctx, tx, seen.Schema(), ev.ID); err != nil {
			return err
		}
		switch ev.Type {
		case "permanent":
			return receiver.Permanent(errors.New("unknown account"))
		case "retryable":
			return receiver.Retryable(errors.New("ledger locked"), 2*time.Second)
		case "fails":
			return errors.New("bug")
		}
		return nil
	})
	mw, err := receiver.New(receiver.Config{Keys: testKeys(t), Seen: seen})
	require.NoError(t, err)
	key, err := signature.Standard().ParseKey("k1", testSecret)
	require.NoError(t, err)
	deliver := func(h http.Handler, ev *event.Event) *httptest.ResponseRecorder {
		req, err := receivertest.NewRequest(ctx, ev, receivertest.Options{Keys: []signature.Key{key}})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	newEvent := func(typ string) *event.Event {
		ev, err := event.New(typ, map[string]string{})
		require.NoError(t, err)
		return ev
	}
	reserve := func(id string) receiver.ReserveResult {
		res, tok, err := seen.Reserve(ctx, id, time.Minute)
		require.NoError(t, err)
		if res == receiver.Reserved {
			require.NoError(t, seen.Release(ctx, id, tok))
		}
		return res
	}

	ok := newEvent("ok")
	assert.Equal(t, http.StatusNoContent, deliver(mw(handler), ok).Code)
	assert.Equal(t, http.StatusNoContent, deliver(mw(handler), ok).Code, "the duplicate")
	assert.Equal(t, 1, runs.get(ok.ID))
	assert.Equal(t, 1, payments(t, pool, seen.Schema())[ok.ID])

	for _, tc := range []struct {
		typ        string
		status     int
		retryAfter string
		reason     receiver.Reason
	}{
		{"permanent", http.StatusUnprocessableEntity, "", receiver.ReasonPermanent},
		{"retryable", http.StatusServiceUnavailable, "2", receiver.ReasonRetryLater},
		{"fails", http.StatusInternalServerError, "", receiver.ReasonHandlerError},
	} {
		ev := newEvent(tc.typ)
		rec := deliver(mw(handler), ev)
		assert.Equal(t, tc.status, rec.Code, tc.typ)
		assert.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"), tc.typ)
		assert.Contains(t, rec.Body.String(), tc.reason.TypeURI(), tc.typ)
		assert.Zero(t, payments(t, pool, seen.Schema())[ev.ID], "%s: rolled back", tc.typ)
		assert.Equal(t, receiver.Reserved, reserve(ev.ID), "%s: the id is free for the retry", tc.typ)
	}

	t.Run("the transaction cannot begin: 503, the id is free", func(t *testing.T) {
		ev := newEvent("ok")
		rec := deliver(mw(seen.TxHandler(failingBeginner{}, func(context.Context, pgx.Tx, *event.Event) error {
			t.Error("fn ran without a transaction")
			return nil
		})), ev)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.Contains(t, rec.Body.String(), receiver.ReasonRetryLater.TypeURI())
		assert.Equal(t, receiver.Reserved, reserve(ev.ID))
	})

	t.Run("without the middleware: 500, nothing runs", func(t *testing.T) {
		ev := newEvent("ok")
		rec := deliver(handler, ev)
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Zero(t, runs.get(ev.ID))
	})

	t.Run("nil arguments panic", func(t *testing.T) {
		assert.Panics(t, func() { seen.TxHandler(nil, func(context.Context, pgx.Tx, *event.Event) error { return nil }) })
		assert.Panics(t, func() { seen.TxHandler(pool, nil) })
	})
}

// abortOnce makes the first answer of each event's delivery abort the connection after the
// handler ran (http.ErrAbortHandler): the transaction committed, the sender gets no
// answer and retries, as when the process dies after COMMIT.
func abortOnce(next http.Handler, aborted *counter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := receiver.DeliveryIDFrom(r.Context())
		next.ServeHTTP(abortingWriter{ResponseWriter: w, abort: func() bool { return aborted.add(id) == 1 }}, r)
	})
}

type abortingWriter struct {
	http.ResponseWriter
	abort func() bool
}

func (w abortingWriter) WriteHeader(code int) {
	if w.abort() {
		panic(http.ErrAbortHandler)
	}
	w.ResponseWriter.WriteHeader(code)
}

// TestExactlyOnce delivers events with a real sender (retries, loopback) to a TxHandler
// that inserts one payment per event, failing at chosen points; in every case each event
// is acknowledged and has exactly one payment.
func TestExactlyOnce(t *testing.T) {
	const events = 12
	type setup struct {
		lease time.Duration
		obs   receiver.RequestObserver
		wrap  func(http.Handler) http.Handler
		fn    func(ctx context.Context, ev *event.Event, run int) error // before the insert
		sends int                                                       // concurrent sends per event
	}
	run := func(t *testing.T, st setup) (runs *counter) {
		pool := shared.Get(t)
		seen := newStore(t, pgseen.Config{})
		createPayments(t, pool, seen.Schema())
		runs = &counter{}
		var h http.Handler = seen.TxHandler(pool, func(ctx context.Context, tx pgx.Tx, ev *event.Event) error {
			if err := insertPayment(ctx, tx, seen.Schema(), ev.ID); err != nil {
				return err
			}
			return st.fn(ctx, ev, runs.add(ev.ID))
		})
		if st.wrap != nil {
			h = st.wrap(h)
		}
		srv := serve(t, seen, st.lease, st.obs, h)
		s, ep := newSender(t), endpoint(t, srv.URL)
		evs := newEvents(t, events)
		for _, ev := range evs {
			var wg sync.WaitGroup
			for range max(st.sends, 1) {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					_, err := s.Send(ctx, ep, ev)
					assert.NoError(t, err, "event %s acknowledged", ev.ID)
				})
			}
			wg.Wait()
		}
		got := payments(t, pool, seen.Schema())
		for _, ev := range evs {
			assert.Equal(t, 1, got[ev.ID], "payments of %s", ev.ID)
		}
		assert.Len(t, got, events)
		return runs
	}

	t.Run("an error before commit: rolled back, the retry runs", func(t *testing.T) {
		runs := run(t, setup{fn: func(_ context.Context, _ *event.Event, run int) error {
			if run == 1 {
				return errors.New("the ledger is down")
			}
			return nil
		}})
		for id, n := range runs.n {
			assert.Equal(t, 2, n, "%s: the failed run and the retry", id)
		}
	})

	t.Run("the connection dies after commit: the retry is acknowledged", func(t *testing.T) {
		var aborted counter
		runs := run(t, setup{
			wrap: func(h http.Handler) http.Handler { return abortOnce(h, &aborted) },
			fn:   func(context.Context, *event.Event, int) error { return nil },
		})
		for id, n := range runs.n {
			assert.Equal(t, 1, n, "%s: not run again", id)
			assert.GreaterOrEqual(t, aborted.get(id), 1, "%s: the first answer was lost", id)
		}
		assert.Len(t, runs.n, events)
	})

	// A duplicate arrives while the first delivery is in its transaction. With the default
	// lease it is refused as in flight; with a lease of 1 µs, expired before the handler
	// starts, the duplicate may take the reservation over but then waits for the row lock
	// and finds the id seen, or is refused as in flight because the row is locked. The
	// first run waits until the duplicate has arrived, one way or the other.
	for _, lease := range []time.Duration{0, time.Microsecond} {
		t.Run(fmt.Sprintf("a concurrent duplicate, lease %v", lease), func(t *testing.T) {
			var (
				mu      sync.Mutex
				arrived = map[string]chan struct{}{}
				entered counter
				waited  atomic.Int32
			)
			signal := func(id string) {
				mu.Lock()
				defer mu.Unlock()
				if arrived[id] == nil {
					arrived[id] = make(chan struct{})
				}
				select {
				case <-arrived[id]:
				default:
					close(arrived[id])
				}
			}
			wait := func(id string) <-chan struct{} {
				mu.Lock()
				defer mu.Unlock()
				if arrived[id] == nil {
					arrived[id] = make(chan struct{})
				}
				return arrived[id]
			}
			runs := run(t, setup{
				lease: lease,
				sends: 2,
				obs: receiver.RequestObserver{Rejected: func(ctx context.Context, reason receiver.Reason) {
					if reason == receiver.ReasonInFlight {
						signal(idFrom(ctx))
					}
				}},
				wrap: func(h http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if id, _ := receiver.DeliveryIDFrom(r.Context()); entered.add(id) == 2 {
							signal(id)
						}
						h.ServeHTTP(w, r)
					})
				},
				fn: func(ctx context.Context, ev *event.Event, run int) error {
					if run == 1 {
						select {
						case <-wait(ev.ID):
						case <-time.After(10 * time.Second):
							return errors.New("the duplicate never came")
						}
						waited.Add(1)
					}
					return nil
				},
			})
			assert.EqualValues(t, events, waited.Load(), "every first run saw its duplicate arrive")
			for id, n := range runs.n {
				assert.Equal(t, 1, n, "%s: one run", id)
			}
		})
	}
}

// TestTwoReplicas: two receivers (two pools, two Stores on one schema, two middlewares,
// two servers) get every event twice each at once, and the first run of every third event
// fails; each event's payment is made exactly once, no two runs of an id overlap, and
// every delivery is acknowledged.
func TestTwoReplicas(t *testing.T) {
	const events, perReplica = 40, 2
	schema := pgtest.Schema(t)
	var urls []string
	var runs counter
	var running [events]atomic.Int32
	index := map[string]int{}
	for range 2 {
		pool := pgtest.Pool(t)
		seen, err := pgseen.New(context.Background(), pool, pgseen.Config{Schema: schema})
		require.NoError(t, err)
		srv := serve(t, seen, 0, receiver.RequestObserver{}, seen.TxHandler(pool, func(ctx context.Context, tx pgx.Tx, ev *event.Event) error {
			i := index[ev.ID]
			if n := running[i].Add(1); n != 1 {
				t.Errorf("%s: %d runs at once", ev.ID, n)
			}
			defer running[i].Add(-1)
			if err := insertPayment(ctx, tx, schema, ev.ID); err != nil {
				return err
			}
			if runs.add(ev.ID) == 1 && i%3 == 0 {
				return errors.New("first run fails")
			}
			return nil
		}))
		urls = append(urls, srv.URL)
	}
	createPayments(t, shared.Get(t), schema)
	evs := newEvents(t, events)
	for i, ev := range evs {
		index[ev.ID] = i
	}
	s := newSender(t)
	var wg sync.WaitGroup
	for _, ev := range evs {
		for _, url := range urls {
			for range perReplica {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					_, err := s.Send(ctx, sender.Endpoint{URL: url, Keys: testKeys(t)}, ev)
					assert.NoError(t, err, "%s acknowledged", ev.ID)
				})
			}
		}
	}
	wg.Wait()
	got := payments(t, shared.Get(t), schema)
	for i, ev := range evs {
		assert.Equal(t, 1, got[ev.ID], "payments of %s", ev.ID)
		if i%3 == 0 {
			assert.GreaterOrEqual(t, runs.get(ev.ID), 2, "%s: the failed run and a retry", ev.ID)
		}
	}
	assert.Len(t, got, events)
}
