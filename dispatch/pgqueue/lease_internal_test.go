package pgqueue

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/sqltime"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// TestLeaseCommitsAsynchronously: both forms of Lease, whether they take a delivery or
// none, run with synchronous_commit off in their transaction (seen inside it by a
// statement trigger on the deliveries), and Enqueue's and Complete's transactions with it
// on (they commit synchronously); the connection's setting is on after each.
func TestLeaseCommitsAsynchronously(t *testing.T) {
	ctx := t.Context()
	s, pool := connsStore(t, 1, 0)
	_, err := pool.Exec(ctx, strings.ReplaceAll(`CREATE TABLE {s}.sc_seen (n bigserial PRIMARY KEY, op text NOT NULL, v text NOT NULL);
CREATE FUNCTION {s}.sc_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO {s}.sc_seen (op, v) VALUES (TG_OP, current_setting('synchronous_commit'));
	RETURN NULL;
END $$;
CREATE TRIGGER sc_seen AFTER INSERT OR UPDATE OR DELETE ON {s}.deliveries
	FOR EACH STATEMENT EXECUTE FUNCTION {s}.sc_seen()`, "{s}", s.q.schema))
	require.NoError(t, err)
	// seen returns the setting each statement on the deliveries saw during call, as
	// "op setting", in their order.
	var last int64
	seen := func(call func()) []string {
		call()
		rows, err := pool.Query(ctx, `SELECT n, op || ' ' || v FROM `+s.q.schema+`.sc_seen WHERE n > $1 ORDER BY n`, last)
		require.NoError(t, err)
		var out []string
		for rows.Next() {
			var v string
			require.NoError(t, rows.Scan(&last, &v))
			out = append(out, v)
		}
		require.NoError(t, rows.Err())
		var session string
		require.NoError(t, pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&session))
		assert.Equal(t, "on", session, "the session's setting after the call")
		return out
	}
	all := queue.LeaseRequest{Now: queuetest.T0, Max: 10, For: time.Minute}
	byEndpoint := all
	byEndpoint.Endpoints = map[string]int{"ep": 10}
	var leased []queue.Delivery
	for _, c := range []struct {
		name string
		req  queue.LeaseRequest
	}{{"all", all}, {"endpoints", byEndpoint}} {
		assert.Equal(t, []string{"INSERT on"}, seen(func() {
			require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, c.name, "ep", queuetest.T0)))
		}), "Enqueue")
		assert.Equal(t, []string{"UPDATE off"}, seen(func() {
			ds, err := s.Lease(ctx, c.req)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			leased = append(leased, ds...)
		}), "%s: a Lease that takes one", c.name)
		assert.Equal(t, []string{"UPDATE off"}, seen(func() {
			ds, err := s.Lease(ctx, c.req)
			require.NoError(t, err)
			require.Empty(t, ds)
		}), "%s: a Lease that takes none", c.name)
	}
	require.Len(t, leased, 2)
	a := queue.Attempt{Number: 1, Start: queuetest.T0, Class: "retryable"}
	complete := seen(func() {
		errs, err := s.Complete(ctx, queuetest.T0, queue.Ack(leased[0].ID, leased[0].Lease),
			queue.Reschedule(leased[1].ID, leased[1].Lease, queuetest.T0.Add(time.Hour), a))
		require.NoError(t, err)
		require.NoError(t, errors.Join(errs...))
	})
	assert.ElementsMatch(t, []string{"DELETE on", "UPDATE on"}, complete, "Complete")
}

// TestLeaseUsesTheGenericPlan: every statement the Store runs on its own connections
// (Enqueue, Lease, Complete of each kind, NextDue, Stats, DeadLetterEndpoint, Requeue and
// the registry's lookups) runs with the plan settings: its cached generic plan, never
// planned again per call (pg_prepared_statements counts the plans of the connection's
// prepared statements), and the session's plan_cache_mode is untouched.
func TestLeaseUsesTheGenericPlan(t *testing.T) {
	ctx := t.Context()
	s, pool := connsStore(t, 1, 0)
	const n = 8
	for i := range n {
		require.NoError(t, s.Enqueue(ctx, queuetest.Delivery(t, strconv.Itoa(i), "ep", queuetest.T0)))
	}
	var leased []queue.Delivery
	for i := range n {
		req := queue.LeaseRequest{Now: queuetest.T0, Max: 1, For: time.Minute}
		if i%2 == 1 {
			req.Endpoints = map[string]int{"ep": 1}
		}
		ds, err := s.Lease(ctx, req)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		leased = append(leased, ds...)
	}
	a := queue.Attempt{Number: 1, Start: queuetest.T0, Class: "retryable"}
	for i, d := range leased {
		var o queue.Outcome
		switch i % 3 {
		case 0:
			o = queue.Ack(d.ID, d.Lease)
		case 1:
			o = queue.Reschedule(d.ID, d.Lease, queuetest.T0.Add(time.Hour), a)
		default:
			o = queue.DeadLetter(d.ID, d.Lease, queue.DeadReasonExhausted, a)
		}
		errs, err := s.Complete(ctx, queuetest.T0, o)
		require.NoError(t, err)
		require.NoError(t, errs[0])
	}
	for range n / 2 {
		_, _ = s.NextDue(ctx)
		_, err := s.Stats(ctx, queuetest.T0)
		require.NoError(t, err)
		_, err = s.DeadLetterEndpoint(ctx, queuetest.T0, "other", queue.DeadReasonGone)
		require.NoError(t, err)
		_, err = s.Requeue(ctx, queue.Selector{EndpointID: "other"}, queuetest.T0)
		require.NoError(t, err)
		_, err = s.MatchEndpoints(ctx, "order.created")
		require.NoError(t, err)
		_, err = s.GetEndpoints(ctx, "a", "b")
		require.NoError(t, err)
		_, err = s.EndpointChanges(ctx, 0, 10)
		require.NoError(t, err)
		_, err = s.ListEndpoints(ctx, "", 10)
		require.NoError(t, err)
	}
	rows, err := pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE strpos(statement, $1) > 0 AND strpos(statement, 'schema_version') = 0 AND generic_plans + custom_plans > 0`, s.q.schema)
	require.NoError(t, err)
	ran := map[string]bool{}
	for rows.Next() {
		var q string
		var generic, custom int64
		require.NoError(t, rows.Scan(&q, &generic, &custom))
		ran[q] = true
		assert.Zero(t, custom, "no custom plan: %.70s", q)
	}
	require.NoError(t, rows.Err())
	reg := s.reg()
	for _, q := range []string{s.q.leaseAll, s.q.leaseEndpoints, s.q.nextDue, s.q.ack, s.q.reschedule, s.q.deadLetter,
		s.q.stats, s.q.deadEndpoint, s.q.evict, s.q.insert[1][0], reg.match, reg.get, reg.changes, reg.list} {
		assert.True(t, ran[q], "ran: %.70s", q)
	}
	var mode string
	require.NoError(t, pool.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&mode))
	assert.Equal(t, "auto", mode, "the session's setting")
}

// BenchmarkLeasePlanCacheMode times the lease statement (8 of about 2,000 pending, of
// one endpoint, then acknowledged) planned as Postgres's default chooses (mode=auto:
// custom plans) and with the generic plan Lease asks for. Run:
//
//	cd dispatch/pgqueue && HOOKKIT_TEST_POSTGRES=… go test -run '^$' -bench BenchmarkLeasePlanCacheMode -benchtime 300x -count 3 .
func BenchmarkLeasePlanCacheMode(b *testing.B) {
	ctx := b.Context()
	schema := pgtest.Schema(b)
	pool := pgtest.Pool(b)
	s, err := New(ctx, pool, Config{Schema: schema, Notify: NotifyOff, MaxPending: -1})
	require.NoError(b, err)
	var ds []queue.Delivery
	for i := range 2000 {
		ds = append(ds, queuetest.Delivery(b, "old"+strconv.Itoa(i), "other", queuetest.T0))
	}
	require.NoError(b, s.Enqueue(ctx, ds...))
	conn, err := pool.Acquire(ctx)
	require.NoError(b, err)
	defer conn.Release()
	now, exp := sqltime.Nanos(queuetest.T0), sqltime.Nanos(queuetest.T0.Add(time.Minute))
	for _, mode := range []string{"auto", "force_generic_plan"} {
		b.Run("mode="+mode, func(b *testing.B) {
			_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
			require.NoError(b, err)
			var leasing time.Duration
			for i := range b.N {
				batch := make([]queue.Delivery, 8)
				for j := range batch {
					batch[j] = queuetest.Delivery(b, mode+strconv.Itoa(i)+"."+strconv.Itoa(j), "ep", queuetest.T0)
				}
				require.NoError(b, s.Enqueue(ctx, batch...))
				start := time.Now()
				// With synchronous_commit off, as Lease's transactions (leaseSettings),
				// and the session's plan_cache_mode.
				lb := &pgx.Batch{}
				lb.Queue("SELECT " + asyncCommit)
				lb.Queue(s.q.leaseEndpoints, now, 8, mode+strconv.Itoa(i)+".", exp, []string{"ep", "other"}, []int32{8, 0})
				br := conn.SendBatch(ctx, lb)
				_, err := br.Exec()
				require.NoError(b, err)
				rows, err := br.Query()
				require.NoError(b, err)
				var ids, leases []string
				for rows.Next() {
					v := rows.RawValues()
					ids, leases = append(ids, string(v[1])), append(leases, string(v[8]))
				}
				require.NoError(b, rows.Err())
				require.NoError(b, br.Close())
				leasing += time.Since(start)
				require.Len(b, ids, 8)
				_, err = conn.Exec(ctx, s.q.ack, ids, leases)
				require.NoError(b, err)
			}
			b.ReportMetric(float64(leasing.Microseconds())/float64(b.N), "lease-µs")
		})
	}
}

// TestCompletePlansHoldWithAStaleTable: Complete's, Lease's and NextDue's statements,
// with the plan settings they run with, keep finding rows through their indexes when their
// plan was made while the table was empty and the table then grew (no ANALYZE between):
// the acknowledgement reads the rows it deletes by the primary key, the leases scan the
// due indexes, and none scans the backlog.
func TestCompletePlansHoldWithAStaleTable(t *testing.T) {
	ctx := t.Context()
	s, conn := planStore(t)
	now, exp := sqltime.Nanos(queuetest.T0), sqltime.Nanos(queuetest.T0.Add(time.Minute))
	var none attemptCols
	stmts := []*plannedStmt{
		{name: "ack", sql: s.q.ack, want: "deliveries_pkey", rows: 2},
		{name: "reschedule", sql: s.q.reschedule, want: "deliveries_pkey", rows: 2},
		{name: "lease_all", sql: s.q.leaseAll, args: []any{now, 2, "t.", exp}, want: "deliveries_due", rows: 2},
		{name: "lease_endpoints", sql: s.q.leaseEndpoints, args: []any{now, 2, "t.", exp, []string{"ep"}, []int32{2}},
			want: "deliveries_endpoint_due", rows: 2},
		{name: "next_due", sql: s.q.nextDue, want: "deliveries_due"},
	}
	ackArgs := func(ids, leases []string) {
		stmts[0].args = []any{ids, leases}
		stmts[1].args = append([]any{ids, leases, []int64{now, now}, []int32{0, 0}}, none.args()...)
	}
	ackArgs([]string{"a", "b"}, []string{"x", "y"})
	preparePlans(t, conn, stmts)
	// The backlog, and two leased deliveries to complete.
	ds := make([]queue.Delivery, 3000)
	for i := range ds {
		ds[i] = queuetest.Delivery(t, "d"+strconv.Itoa(i), "ep", queuetest.T0)
	}
	require.NoError(t, s.Enqueue(ctx, ds...))
	leased, err := s.Lease(ctx, queue.LeaseRequest{Now: queuetest.T0, Max: 2, For: time.Minute})
	require.NoError(t, err)
	require.Len(t, leased, 2)
	ackArgs([]string{leased[0].ID, leased[1].ID}, []string{leased[0].Lease, leased[1].Lease})
	checkPlans(t, conn, stmts)
}

// TestRegistryPlansHoldWithAStaleTable: the registry's lookups (MatchEndpoints, a read
// of endpoints by ID, EndpointChanges, ListEndpoints) keep their indexes when their plan
// was made on an empty registry that then grew to 50,000 endpoints: without the plan
// settings, MatchEndpoints' plan made on the empty registry hashed the event type's
// keys against a sequential scan of every pattern, 9 ms for each Publish.
func TestRegistryPlansHoldWithAStaleTable(t *testing.T) {
	ctx := t.Context()
	s, conn := planStore(t)
	q := s.reg()
	kinds, values := patternArrays(queue.MatchKeys("t7"))
	stmts := []*plannedStmt{
		{name: "match", sql: q.match, args: []any{kinds, values}, want: "endpoint_patterns_pkey", rows: 1},
		{name: "get", sql: q.get, args: []any{[]string{"ep7", "ep9"}}, want: "endpoints_pkey", rows: 2},
		{name: "changes", sql: q.changes, args: []any{"0", 101}, want: "endpoints_xid", rows: 101},
		{name: "list", sql: q.list, args: []any{"ep5", 101}, want: "endpoints_pkey", rows: 101},
	}
	preparePlans(t, conn, stmts)
	_, err := conn.Exec(ctx, `INSERT INTO `+s.q.schema+`.endpoints (version, paused_until, updated_at, max_in_flight,
		failures, ordered, deleted, id, state, reason, spec, pattern_kinds, pattern_values)
	SELECT 1, 0, 0, 4, 0, false, false, 'ep'||g, 'active', '', '', '{1}', ARRAY['t'||g] FROM generate_series(1, 50000) g`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO `+s.q.schema+`.endpoint_patterns SELECT `+strconv.Itoa(int(queue.PatternExact))+`, 't'||g, 'ep'||g FROM generate_series(1, 50000) g`)
	require.NoError(t, err)
	checkPlans(t, conn, stmts)
}

// connsStore returns a Store on a new schema, on a pool of its own of conns connections,
// with NotifyOff and the bound maxPending (0: the default).
func connsStore(t *testing.T, conns int32, maxPending int) (*Store, *pgxpool.Pool) {
	t.Helper()
	ctx := t.Context()
	dsn, schema := services.PostgresSchema(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := New(ctx, pool, Config{Schema: schema, Notify: NotifyOff, MaxPending: maxPending})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, pool
}

// planStore returns a Store on a new schema, and a connection of its pool (of two) held
// for the test's prepared statements.
func planStore(t *testing.T) (*Store, *pgxpool.Conn) {
	t.Helper()
	s, pool := connsStore(t, 2, -1)
	conn, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	t.Cleanup(conn.Release)
	return s, conn
}

// plannedStmt is a statement whose plan a test checks: its arguments, the index its plan
// must read the table through, and the rows its top node returns (0: not checked).
type plannedStmt struct {
	name, sql string
	args      []any
	want      string
	rows      int
}

// preparePlans prepares each statement on conn and runs it once with the plan settings
// (rolled back), so that its generic plan is made now, on the table as it is.
func preparePlans(t *testing.T, conn *pgxpool.Conn, stmts []*plannedStmt) {
	t.Helper()
	ctx := t.Context()
	for _, st := range stmts {
		_, err := conn.Exec(ctx, "PREPARE "+st.name+" AS "+st.sql)
		require.NoError(t, err)
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, planSettings)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "EXECUTE "+st.name+placeholders(len(st.args)), simple(st.args)...)
		require.NoError(t, err)
		require.NoError(t, tx.Rollback(ctx))
	}
}

// checkPlans runs each statement again with the plan settings under EXPLAIN ANALYZE
// (rolled back) and checks its plan: no sequential scan, the wanted index, no more than
// 10 rows read and dropped by any node.
func checkPlans(t *testing.T, conn *pgxpool.Conn, stmts []*plannedStmt) {
	t.Helper()
	ctx := t.Context()
	for _, st := range stmts {
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, planSettings)
		require.NoError(t, err)
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE "+st.name+placeholders(len(st.args)), simple(st.args)...)
		require.NoError(t, err)
		var plan strings.Builder
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
		require.NoError(t, tx.Rollback(ctx))
		p := plan.String()
		assert.NotContains(t, p, "Seq Scan", "%s:\n%s", st.name, p)
		assert.Regexp(t, `(Index Scan using|Index Only Scan using|Bitmap Index Scan on) `+st.want+`\b`, p, "%s: through %s:\n%s", st.name, st.want, p)
		for _, m := range removed.FindAllStringSubmatch(p, -1) {
			n, _ := strconv.Atoi(m[1])
			assert.LessOrEqual(t, n, 10, "%s: rows read and dropped:\n%s", st.name, p)
		}
		if st.rows > 0 {
			assert.Contains(t, strings.SplitN(p, "\n", 2)[0], "rows="+strconv.Itoa(st.rows)+" loops=1", "%s:\n%s", st.name, p)
		}
	}
}

// removed matches the rows a plan node read and dropped.
var removed = regexp.MustCompile(`Rows Removed by (?:Join )?Filter: (\d+)`)

// simple makes pgx send args in the SQL text (EXECUTE takes no parameters).
func simple(args []any) []any { return append([]any{pgx.QueryExecModeSimpleProtocol}, args...) }

// placeholders returns "($1, …, $n)", "" for none.
func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(i+1)
	}
	return "(" + strings.Join(ps, ", ") + ")"
}
