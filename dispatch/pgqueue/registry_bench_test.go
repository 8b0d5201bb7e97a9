package pgqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/pgqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// fanOutSizes are the registry sizes of the fan-out benchmarks: 3 endpoints match the
// published type in each.
var fanOutSizes = []int{10, 1000, 100_000}

// fanOutType is the event type the benchmarks publish.
const fanOutType = "order.created"

// fanOutEndpoint returns the record of endpoint i of n: the first three match fanOutType
// (exactly, by prefix, by "*"), the others have an exact type or a prefix of their own.
func fanOutEndpoint(i int) queue.Endpoint {
	e := queue.Endpoint{ID: fmt.Sprintf("ep-%06d", i), Spec: []byte("spec"), State: queue.EndpointActive,
		UpdatedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	switch {
	case i == 0:
		e.Patterns = []queue.Pattern{{Kind: queue.PatternExact, Value: fanOutType}}
	case i == 1:
		e.Patterns = []queue.Pattern{{Kind: queue.PatternPrefix, Value: "order."}}
	case i == 2:
		e.Patterns = []queue.Pattern{{Kind: queue.PatternPrefix}}
	case i%2 == 0:
		e.Patterns = []queue.Pattern{{Kind: queue.PatternExact, Value: fmt.Sprintf("other-%d.created", i)}}
	default:
		e.Patterns = []queue.Pattern{{Kind: queue.PatternPrefix, Value: fmt.Sprintf("other-%d.", i)}}
	}
	return e
}

// fillRegistry stores endpoints 0..n-1 (fanOutEndpoint) in the store's schema with two
// COPYs (one per table), not n round trips: 100,000 endpoints take about a second.
func fillRegistry(tb testing.TB, s *pgqueue.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	eps := make([][]any, n)
	var pats [][]any
	for i := range n {
		e := fanOutEndpoint(i)
		kinds, values := make([]int16, len(e.Patterns)), make([]string, len(e.Patterns))
		for j, p := range e.Patterns {
			kinds[j], values[j] = int16(p.Kind), p.Value
			pats = append(pats, []any{int16(p.Kind), p.Value, e.ID})
		}
		eps[i] = []any{int64(1), int64(0), e.UpdatedAt.UnixNano(), int32(0), int32(0), false, false,
			e.ID, string(e.State), "", e.Spec, kinds, values}
	}
	pool := shared.Get(tb)
	_, err := pool.CopyFrom(ctx, pgx.Identifier{s.Schema(), "endpoints"}, []string{"version", "paused_until", "updated_at",
		"max_in_flight", "failures", "ordered", "deleted", "id", "state", "reason", "spec", "pattern_kinds", "pattern_values"},
		pgx.CopyFromRows(eps))
	require.NoError(tb, err)
	_, err = pool.CopyFrom(ctx, pgx.Identifier{s.Schema(), "endpoint_patterns"}, []string{"kind", "value", "endpoint_id"}, pgx.CopyFromRows(pats))
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, "ANALYZE "+pgx.Identifier{s.Schema(), "endpoints"}.Sanitize()+", "+pgx.Identifier{s.Schema(), "endpoint_patterns"}.Sanitize())
	require.NoError(tb, err)
}

// BenchmarkMatchEndpoints is MatchEndpoints alone (one indexed query) in registries of
// 10, 1,000 and 100,000 endpoints of which 3 match: its cost must not grow with them.
func BenchmarkMatchEndpoints(b *testing.B) {
	for _, n := range fanOutSizes {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			s := newStore(b, pgqueue.Config{})
			fillRegistry(b, s, n)
			ctx := context.Background()
			for b.Loop() {
				ms, err := s.MatchEndpoints(ctx, fanOutType)
				if err != nil || len(ms) != 3 {
					b.Fatalf("%v %v", ms, err)
				}
			}
		})
	}
}

// BenchmarkPutEndpoints measures writing 1,000 endpoints into an empty registry (a new
// schema each time, not timed): one PutEndpoint each, as "hookkit endpoint import" did,
// against one PutEndpoints (one transaction, 500 statements a round trip); ns/op is the
// whole import, endpoints/s its rate. Run:
//
//	cd dispatch/pgqueue && HOOKKIT_TEST_POSTGRES=… go test -run '^$' -bench 'BenchmarkPutEndpoints$' -benchtime 5x .
func BenchmarkPutEndpoints(b *testing.B) {
	const n = 1000
	es := make([]queue.Endpoint, n)
	for i := range es {
		es[i] = fanOutEndpoint(i)
	}
	for _, bulk := range []bool{false, true} {
		b.Run(map[bool]string{false: "one-by-one", true: "bulk"}[bulk], func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s := newStore(b, pgqueue.Config{})
				b.StartTimer()
				if bulk {
					_, err := s.PutEndpoints(b.Context(), es)
					require.NoError(b, err)
					continue
				}
				for _, e := range es {
					_, err := s.PutEndpoint(b.Context(), e)
					require.NoError(b, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "endpoints/s")
		})
	}
}
