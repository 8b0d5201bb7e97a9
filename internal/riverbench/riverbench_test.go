package riverbench_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/internal/riverbench"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// newBench returns a Bench on a pool of its own (closed at the end of tb), its schemas
// named with a random prefix.
func newBench(tb testing.TB, cfg riverbench.Config) *riverbench.Bench {
	tb.Helper()
	pcfg, err := pgxpool.ParseConfig(services.Postgres(tb))
	require.NoError(tb, err)
	// Both sides share the pool: enough connections for River's client (producer,
	// completer, notifier's LISTEN, leader election, maintenance) and the dispatcher's
	// lease loop and completer, or the publishers of the insert, at once.
	pcfg.MaxConns = int32(max(10, cfg.Publishers+2))
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	var r [4]byte
	_, _ = rand.Read(r[:])
	b, err := riverbench.New(pool, "rb_"+hex.EncodeToString(r[:])+"_", cfg)
	require.NoError(tb, err)
	return b
}

// TestRiverSideBySide runs each side of both measurements once on a few hundred jobs: each
// run must complete (or store) every job, as the database confirms (the runs check it
// and return ErrIncomplete otherwise), and measure a positive time. It checks the
// harness, not the targets.
func TestRiverSideBySide(t *testing.T) {
	const jobs = 300
	b := newBench(t, riverbench.Config{Jobs: jobs, Workers: 20, Publishers: 2, PerTx: 50, Timeout: time.Minute})
	ctx := t.Context()
	for _, run := range []struct {
		name string
		f    func(context.Context) (riverbench.Result, error)
	}{
		{"hookkit burn-down", b.HookkitBurnDown},
		{"river burn-down", b.RiverBurnDown},
		{"hookkit insert tx", b.HookkitInsertTx},
		{"river insert tx", b.RiverInsertTx},
	} {
		t.Run(run.name, func(t *testing.T) {
			res, err := run.f(ctx)
			require.NoError(t, err)
			require.Equal(t, jobs, res.Jobs)
			require.Positive(t, res.Elapsed)
			require.Positive(t, res.PerSecond())
			t.Logf("%s: %d jobs in %v, %.0f jobs/s", run.name, res.Jobs, res.Elapsed, res.PerSecond())
		})
	}
}

// TestConfigRefusesNegative: a negative number in Config is an error, not a default.
func TestConfigRefusesNegative(t *testing.T) {
	for _, cfg := range []riverbench.Config{{Jobs: -1}, {Workers: -1}, {CompleteBatch: -1}, {CompleteWindow: -1}, {OutcomeBacklog: -1}, {Publishers: -1}, {PerTx: -1}, {Timeout: -1}} {
		_, err := riverbench.New(&pgxpool.Pool{}, "rb_", cfg)
		require.Error(t, err, "%+v", cfg)
	}
	_, err := riverbench.New(&pgxpool.Pool{}, "Bad-Prefix", riverbench.Config{})
	require.Error(t, err)
	b, err := riverbench.New(&pgxpool.Pool{}, "rb_", riverbench.Config{})
	require.NoError(t, err)
	c := b.Config()
	require.Equal(t, []int{riverbench.DefaultJobs, riverbench.DefaultWorkers, riverbench.DefaultWorkers, riverbench.DefaultPublishers, riverbench.DefaultPerTx},
		[]int{c.Jobs, c.Workers, c.CompleteBatch, c.Publishers, c.PerTx})
}

// sideBySide runs hookkit's and River's side of one measurement b.N times each,
// alternating (River first in every other round), and reports each side's rate over
// all its rounds (jobs/s), and the median of the rounds' ratios hookkit/river.
func sideBySide(b *testing.B, hookkit, rvr func(context.Context) (riverbench.Result, error)) {
	ctx := b.Context()
	var hk, rv riverbench.Result
	var ratios []float64
	b.ResetTimer()
	for i := range b.N {
		var h, r riverbench.Result
		var err error
		if i%2 == 0 {
			h, err = hookkit(ctx)
			require.NoError(b, err)
			r, err = rvr(ctx)
			require.NoError(b, err)
		} else {
			r, err = rvr(ctx)
			require.NoError(b, err)
			h, err = hookkit(ctx)
			require.NoError(b, err)
		}
		b.Logf("round %d: hookkit %.0f jobs/s, river %.0f jobs/s, ratio %.3f", i+1, h.PerSecond(), r.PerSecond(), h.PerSecond()/r.PerSecond())
		hk.Jobs, hk.Elapsed = hk.Jobs+h.Jobs, hk.Elapsed+h.Elapsed
		rv.Jobs, rv.Elapsed = rv.Jobs+r.Jobs, rv.Elapsed+r.Elapsed
		ratios = append(ratios, h.PerSecond()/r.PerSecond())
	}
	b.StopTimer()
	slices.Sort(ratios)
	median := ratios[len(ratios)/2]
	if len(ratios)%2 == 0 {
		median = (ratios[len(ratios)/2-1] + median) / 2
	}
	b.ReportMetric(hk.PerSecond(), "hookkit-jobs/s")
	b.ReportMetric(rv.PerSecond(), "river-jobs/s")
	b.ReportMetric(median, "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBurnDown: 20,000 no-op jobs inserted off the clock, then River's client and
// hookkit's dispatcher (no HTTP: an in-process 204) each timed until all are completed,
// with 100, 500 and 2,000 workers each (2,000: River's own benchmark, cmd/river bench;
// hookkit's CompleteBatch equal to its workers); one round of each side per b.N (run
// -benchtime 5x). A River worker's slot is free once its completion is queued to the
// batch completer; a hookkit worker's, by default, only once its outcome is stored, so
// with few workers hookkit's are waiting for the store more of the time: the last
// variant gives hookkit's dispatcher an OutcomeBacklog as large as its workers, as
// River's completer has.
func BenchmarkBurnDown(b *testing.B) {
	for _, c := range []struct{ workers, backlog int }{{100, 0}, {500, 0}, {2000, 0}, {100, 100}} {
		name := fmt.Sprintf("workers=%d", c.workers)
		if c.backlog > 0 {
			name += fmt.Sprintf("/backlog=%d", c.backlog)
		}
		b.Run(name, func(b *testing.B) {
			bb := newBench(b, riverbench.Config{Workers: c.workers, OutcomeBacklog: c.backlog})
			sideBySide(b, bb.HookkitBurnDown, bb.RiverBurnDown)
		})
	}
}

// BenchmarkInsertTx: 20,000 jobs stored by 8 publishers, 100 per transaction:
// pgqueue.EnqueueTx against River's InsertManyTx; one round of each side per b.N. With
// notify=on (pgqueue's default) every hookkit transaction sends a notification, which
// Postgres commits one at a time; notify=listen-only sends none (River's client sends one
// per FetchCooldown, 100 ms, in both).
func BenchmarkInsertTx(b *testing.B) {
	for _, m := range []struct {
		name string
		mode pgqueue.NotifyMode
	}{{"on", pgqueue.NotifyOn}, {"listen-only", pgqueue.NotifyListenOnly}} {
		b.Run("notify="+m.name, func(b *testing.B) {
			bb := newBench(b, riverbench.Config{Notify: m.mode})
			sideBySide(b, bb.HookkitInsertTx, bb.RiverInsertTx)
		})
	}
}
