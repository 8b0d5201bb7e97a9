package pgqueue

import (
	"strconv"
	"strings"
)

// dcols are the columns of a delivery, in the order scanDelivery reads them, followed by
// the attempts (attemptsOf) of each.
const dcols = `d.seq, d.id, d.endpoint_id, d.event, d.ordered, d.created, d.due, d.round_start,
	d.lease, d.lease_expires, d.dead_reason, d.dead_at, d.n_attempts`

// attemptsOf joins to each row of x (which has the columns dcols) its attempts, oldest
// first, as one array per field (NULL when it has none: the attempts table is not read).
func attemptsOf(x string) string {
	agg := func(col, as string) string { return `array_agg(a.` + col + ` ORDER BY a.n) AS ` + as }
	return ` CROSS JOIN LATERAL (SELECT ` + strings.Join([]string{
		agg("number", "a_number"), agg("start", "a_start"), agg("duration", "a_duration"),
		agg("status", "a_status"), agg("class", "a_class"), agg("error_text", "a_error"),
		agg("retry_after", "a_retry_after"),
	}, ", ") + ` FROM {s}.attempts a WHERE ` + x + `.n_attempts > 0 AND a.seq = ` + x + `.seq) att`
}

// leasable is the condition on d for a delivery that Lease may take at $1 (now):
// pending, due, not leased or its lease expired, and, if ordered, the head of its
// endpoint's ordered group: no lower seq of the group is stored, pending or leased.
//
// Why the head rule holds under concurrent Leases with SKIP LOCKED: SKIP LOCKED skips a
// row that another transaction has locked, so a second Lease running while a first one
// is taking the head h of a group (locked, not yet committed) skips h; but the NOT EXISTS
// below is a plain read of the statement's snapshot, which locks do not hide: it still
// sees h (pending in that snapshot, leased in the first transaction's), so h's successors
// are not leasable either, and the second Lease takes nothing of the group. Once the first
// commits, h is leased and still stored: it blocks its successors until it is
// acknowledged (deleted) or dead-lettered, and a snapshot that does not see that yet
// still sees h. "ORDER BY seq FOR UPDATE SKIP LOCKED" alone would take h's successor.
// Deliveries of one ordered group are committed in seq order (see lockEndpoints), so no
// snapshot sees a successor without its predecessor.
const leasable = `d.dead_at IS NULL AND d.due <= $1 AND (d.lease IS NULL OR d.lease_expires <= $1)
	AND (NOT d.ordered OR NOT EXISTS (SELECT 1 FROM {s}.deliveries o
		WHERE o.endpoint_id = d.endpoint_id AND o.ordered AND o.dead_at IS NULL AND o.seq < d.seq))`

// planSettings begins each transaction of the Store's own (Enqueue, Lease, Complete,
// NextDue, Stats, EndpointStats, the listings, DeadLetterEndpoint, Requeue, the
// registry's lookups: MatchEndpoints, GetEndpoints, EndpointChanges, ListEndpoints), in
// the same round trip, so that their statements (prepared once per connection by pgx) run
// with plans that hold whatever the tables' statistics say:
//
//   - the cached generic plan (plan_cache_mode), not one planned again per call: with the
//     default, auto, the planner keeps choosing custom plans for the lease statements (the
//     generic plan's estimate for an unknown LIMIT looks worse), and planning cost as much
//     as running: a lease of 8 took 0.73 ms a call against 0.44–0.48 ms with the generic
//     plan (BenchmarkLeasePlanCacheMode);
//
//   - index scans only (enable_seqscan, enable_bitmapscan): a plan made while the table
//     looked small (a new schema, or not analyzed since it grew: autovacuum's analyze
//     comes a minute later at best, never where autovacuum is off) scans the whole table,
//     or every pending delivery through a partial index, for each call. Seen: acknowledging
//     9 deliveries read 2,554 rows (a hash of the unnest against a bitmap scan of the
//     pending ones), and with that fixed, 1,765 rows by a sequential scan; the cost grew
//     with the backlog (TestCompletePlansHoldWithAStaleTable). Each statement has the
//     index it needs: the primary key for Complete's IDs, the due indexes for Lease.
//
//   - no JIT compilation (jit): a sequential scan that is the only way (the counts log, read
//     by the compaction and the eviction that may follow in a Complete) keeps its
//     disabled path's cost, far above jit_above_cost, and compiling it took 54–57 ms.
//
// The settings are local to the transaction: the pool's other statements, the
// application's included, plan as before.
//
// Lease's transactions begin with leaseSettings instead, which adds asyncCommit.
const planSettings = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('jit', 'off', true)`

// asyncCommit turns synchronous_commit off for the transaction it runs in (set_config's
// third argument; the session's setting is back at the commit); leaseSettings, the plan
// settings and asyncCommit, begin each transaction of Lease, in the same round trip as
// its statement. A lease need not be durable when its statement returns: its commit is
// visible to every other transaction at once (no two instances hold one delivery), and a
// lease lost in a crash (the server's, before the WAL writer flushed it, within 3 ×
// wal_writer_delay) leaves the delivery leasable, as its expiry would have: an attempt
// made under it is one the store has not recorded, the duplicate that at-least-once
// allows and that a crash before Complete already makes. The Complete that records the
// attempt's outcome commits synchronously, and its flush makes the lease written before
// it durable too (the WAL is written in order). So the pump's serial Lease does not wait
// for a WAL flush. Enqueue, Complete and the Store's other writes commit synchronously.
const (
	asyncCommit   = `set_config('synchronous_commit', 'off', true)`
	leaseSettings = planSettings + `, ` + asyncCommit
)

// noAttempts are the columns of attemptsOf for a row that has no attempts.
const noAttempts = `NULL::int8[], NULL::int8[], NULL::int8[], NULL::int4[], NULL::text[], NULL::text[], NULL::int8[]`

// take gives each candidate (c) its lease: the token is the call's random prefix ($3)
// and the delivery's seq, unique; it expires at $4. It returns them with their attempts,
// earliest (due, seq) first. Only the rows that have attempts are joined to them: a
// delivery's first lease (the common case) skips the aggregate of attemptsOf, whose
// seven ordered aggregates cost about a fifth of the statement's execution time for 100
// new deliveries (with attempts, the time is as before).
//
// The candidates are found by their ctid, a TID scan ("= ANY(ARRAY(...))" also keeps the
// planner from hashing the whole table to join 100 rows), not by the primary key: one
// index descent on a text key per row less, about a tenth of the statement's execution
// time for 100 deliveries. A ctid names one version of a row, and that is safe here: c
// locked each row FOR UPDATE, so no other transaction can update or delete it before
// this one ends, and c returns the ctid of the version it locked (a row updated since the
// statement's snapshot is locked, and rechecked, in its latest version). The UPDATE
// relies on c's locks as it did with the primary key: it does not check leasable again.
const take = `, u AS (
	UPDATE {s}.deliveries d SET lease = $3::text || d.seq::text, lease_expires = $4
	WHERE d.ctid = ANY(ARRAY(SELECT ctid FROM c))
	RETURNING ` + dcols + `
)
SELECT u.*, att.* FROM u{attempts_u} WHERE u.n_attempts > 0
UNION ALL
SELECT u.*, ` + noAttempts + ` FROM u WHERE u.n_attempts = 0
ORDER BY due, seq`

// attemptArrays are the parameters of the attempts appended by a statement, one array
// per field, from $n: the ID of the delivery, the position in the outcome's (or
// delivery's) attempts, then the fields.
func attemptArrays(n int) string {
	types := []string{"text", "int4", "int8", "int8", "int8", "int4", "text", "text", "int8"}
	var b strings.Builder
	b.WriteString("unnest(")
	for i, t := range types {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(n+i) + "::" + t + "[]")
	}
	b.WriteString(") AS a(id, k, number, start, duration, status, class, err, retry_after)")
	return b.String()
}

// insertAttempts is the CTE that stores the attempts of the rows of src (id, seq, first:
// the position of the first new attempt), from the arrays at $n.
func insertAttempts(src string, n int) string {
	return `, ins_att AS (
	INSERT INTO {s}.attempts (seq, n, number, start, duration, status, class, error_text, retry_after)
	SELECT ` + src + `.seq, ` + src + `.first + a.k, a.number, a.start, a.duration, a.status, a.class, a.err, a.retry_after
	FROM ` + src + ` JOIN ` + attemptArrays(n) + ` ON a.id = ` + src + `.id
)`
}

// insertSQL is the text of an Enqueue's statement (before the schema's name is put in):
// $1..$9 the deliveries' columns, with leased $10 and $11 their lease tokens and expiries
// ("" and 0 for a delivery stored pending); then the bound when bounded; then the
// attempts when withAtt. It returns how many deliveries it stored (none when the bound
// would be exceeded) and, with leased, their IDs and Seqs.
func insertSQL(bounded, withAtt, leased bool) string {
	s := `WITH ins AS (
	INSERT INTO {s}.deliveries (id, endpoint_id, event_id, event, ordered, created, due, round_start, n_attempts`
	next := 10
	if leased {
		s += `, lease, lease_expires)
	SELECT u.id, u.ep, u.ev, u.event, u.ordered, u.created, u.due, u.rs, u.na, nullif(u.lease, ''),
		CASE WHEN u.lease <> '' THEN u.exp END
	FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bool[], $6::int8[], $7::int8[], $8::int4[], $9::int4[],
		$10::text[], $11::int8[]) AS u(id, ep, ev, event, ordered, created, due, rs, na, lease, exp)`
		next = 12
	} else {
		s += `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bool[], $6::int8[], $7::int8[], $8::int4[], $9::int4[])`
	}
	if bounded {
		s += `
	WHERE (SELECT coalesce(sum(pending), 0) FROM {s}.counts) + cardinality($1::text[]) <= $` + strconv.Itoa(next)
		next++
	}
	s += `
	RETURNING id, seq, 0 AS first
)`
	if withAtt {
		s += insertAttempts("ins", next)
	}
	s += `, cnt AS (INSERT INTO {s}.counts (pending, dead) SELECT count(*), 0 FROM ins HAVING count(*) > 0)
SELECT count(*)`
	if leased {
		s += `, coalesce(array_agg(id), '{}'), coalesce(array_agg(seq), '{}')`
	}
	return s + ` FROM ins`
}

// statements are the SQL texts of a Store, with its schema's name in them. pgx prepares
// each once per connection and caches it (QueryExecModeCacheStatement, its default).
type statements struct {
	schema string // quoted

	leaseAll, leaseEndpoints string
	lockEndpoints            string
	// insert[bounded][withAttempts], for Enqueue (no notification in the statement: it is
	// sent after the commit, see wakeAfterCommit); insertTx the same for the caller's
	// transaction (EnqueueTx, EnqueueSQLTx), notifying in it when sending is on.
	insert, insertTx [2][2]string
	// insertLeased is insert for EnqueueLeased: with each delivery's lease token and
	// expiry ($10, $11: "" and 0 for one stored pending), returning the IDs and Seqs.
	insertLeased [2][2]string
	// notify sends the schema's notification in a transaction of its own that does not
	// wait for its commit record to be flushed ($1 the channel); see wakeAfterCommit.
	notify                       string
	ack, reschedule, deadLetter  string
	evict, compact, deadEndpoint string
	// requeue[bounded][selector: 0 id, 1 endpoint, 2 all]
	requeue [2][3]string
	// list[dead][byEndpoint][byEvent]
	list           [2][2][2]string
	stats, nextDue string
}

// newStatements returns the statements of a Store whose tables are in schema (quoted).
// When channel is not "", the statements that enqueue in the caller's transaction
// (insertTx) send a notification on channel (pg_notify) when they store something, in
// that transaction (see wakeIf); channel is made by channelFor, of characters that need
// no quoting in a string literal. The Store's own enqueuing statements (insert, requeue)
// never notify: the Store notifies after their commit (wakeAfterCommit).
func newStatements(schema, channel string) statements {
	q := statements{schema: schema}
	// wakeIf is a HAVING or WHERE clause (kw) of a statement's final one-row SELECT that
	// sends the notification when cond holds and is always true: the notification is
	// part of the result the caller reads, so it is evaluated exactly once and only when
	// cond holds (a CASE evaluates its branches lazily). A statement that stores nothing
	// sends nothing, so a refused enqueue (the bound) leaves the caller's transaction
	// without a notification, and without the commit lock a NOTIFY takes.
	wakeIf := func(kw, cond string) string {
		if channel == "" {
			return ""
		}
		return "\n" + kw + " CASE WHEN " + cond + " THEN pg_notify('" + channel + "', '')::text = '' ELSE true END"
	}
	r := strings.NewReplacer("{attempts_u}", attemptsOf("u"), "{attempts_del}", attemptsOf("del"), "{attempts_d}", attemptsOf("d"))
	sql := func(s string) string { return strings.ReplaceAll(r.Replace(s), "{s}", schema) }

	// $1 now, $2 max, $3 token prefix, $4 expiry.
	q.leaseAll = sql(`WITH c AS (
	SELECT d.ctid FROM {s}.deliveries d
	WHERE ` + leasable + `
	ORDER BY d.due, d.seq LIMIT $2
	FOR UPDATE SKIP LOCKED
)` + take)
	// $5 endpoint IDs, $6 their limits: each endpoint's first due deliveries up to its
	// limit (each a LATERAL index scan that locks what it takes), then the earliest of
	// all of them up to $2. The rows an endpoint's scan locked beyond $2 stay locked (not
	// leased) until the statement ends; each limit is capped at $2 to keep them few.
	q.leaseEndpoints = sql(`WITH c AS (
	SELECT x.ctid FROM unnest($5::text[], $6::int4[]) AS e(ep, lim)
	CROSS JOIN LATERAL (
		SELECT d.ctid, d.due, d.seq FROM {s}.deliveries d
		WHERE d.endpoint_id = e.ep AND ` + leasable + `
		ORDER BY d.due, d.seq LIMIT e.lim
		FOR UPDATE SKIP LOCKED
	) x
	ORDER BY x.due, x.seq LIMIT $2
)` + take)

	// $1 the key prefix (endpointKey), $2 the ordered endpoints, sorted: one
	// transaction-scoped lock each, taken in that order (unnest keeps the array's).
	q.lockEndpoints = `SELECT pg_advisory_xact_lock(hashtextextended($1::text || e, 0)) FROM unnest($2::text[]) AS e`

	for bounded := range 2 {
		for withAtt := range 2 {
			q.insert[bounded][withAtt] = sql(insertSQL(bounded == 1, withAtt == 1, false))
			q.insertTx[bounded][withAtt] = sql(insertSQL(bounded == 1, withAtt == 1, false) + wakeIf("HAVING", "count(*) > 0"))
			q.insertLeased[bounded][withAtt] = sql(insertSQL(bounded == 1, withAtt == 1, true))
		}
	}

	// Complete: one statement per kind of outcome, each for many outcomes (arrays,
	// distinct IDs), returning the positions (ord, from 1) of those applied.
	//
	// "d.id = ANY($1)" is the primary key's index condition (see planSettings); a row
	// that carries the outcome's lease is not a dead letter (every way to one clears it).
	// $1 IDs, $2 leases.
	q.ack = sql(`WITH del AS (
	DELETE FROM {s}.deliveries d USING unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(id, lease, ord)
	WHERE d.id = ANY($1::text[]) AND d.id = u.id AND d.lease = u.lease
	RETURNING u.ord, d.seq, d.n_attempts
), del_att AS (
	DELETE FROM {s}.attempts a USING del WHERE del.n_attempts > 0 AND a.seq = del.seq
), cnt AS (INSERT INTO {s}.counts (pending, dead) SELECT -count(*), 0 FROM del HAVING count(*) > 0)
SELECT ord FROM del`)
	// $1 IDs, $2 leases, $3 due times, $4 the number of attempts each appends, $5.. the attempts.
	q.reschedule = sql(`WITH upd AS (
	UPDATE {s}.deliveries d SET due = u.due, lease = NULL, lease_expires = NULL, n_attempts = d.n_attempts + u.nadd
	FROM unnest($1::text[], $2::text[], $3::int8[], $4::int4[]) WITH ORDINALITY AS u(id, lease, due, nadd, ord)
	WHERE d.id = ANY($1::text[]) AND d.id = u.id AND d.lease = u.lease
	RETURNING u.ord, d.id, d.seq, d.n_attempts - u.nadd AS first
)` + insertAttempts("upd", 5) + `
SELECT ord FROM upd`)
	// $1 IDs, $2 leases, $3 now, $4 reasons, $5 the number of attempts each appends, $6.. the attempts.
	q.deadLetter = sql(`WITH upd AS (
	UPDATE {s}.deliveries d SET dead_at = $3, dead_reason = u.reason, lease = NULL, lease_expires = NULL,
		n_attempts = d.n_attempts + u.nadd
	FROM unnest($1::text[], $2::text[], $4::text[], $5::int4[]) WITH ORDINALITY AS u(id, lease, reason, nadd, ord)
	WHERE d.id = ANY($1::text[]) AND d.id = u.id AND d.lease = u.lease
	RETURNING u.ord, d.id, d.seq, d.n_attempts - u.nadd AS first
)` + insertAttempts("upd", 6) + `, cnt AS (INSERT INTO {s}.counts (pending, dead) SELECT -count(*), count(*) FROM upd HAVING count(*) > 0)
SELECT ord FROM upd`)

	// $1 MaxDead: deletes the oldest dead letters beyond it, returning them with their
	// attempts, oldest first. Two stores evicting at once both wait on the same oldest
	// rows (no SKIP LOCKED), so together they evict no more than needed.
	q.evict = sql(`WITH v AS (
	SELECT d.id FROM {s}.deliveries d WHERE d.dead_at IS NOT NULL ORDER BY d.dead_at, d.seq
	LIMIT greatest((SELECT coalesce(sum(dead), 0) FROM {s}.counts) - $1, 0)::int8
), del AS (
	DELETE FROM {s}.deliveries d WHERE d.id = ANY(ARRAY(SELECT id FROM v)) AND d.dead_at IS NOT NULL
	RETURNING ` + dcols + `
), del_att AS (
	DELETE FROM {s}.attempts a USING del WHERE del.n_attempts > 0 AND a.seq = del.seq
), cnt AS (INSERT INTO {s}.counts (pending, dead) SELECT 0, -count(*) FROM del HAVING count(*) > 0)
SELECT del.*, att.* FROM del{attempts_del} ORDER BY del.dead_at, del.seq`)

	// $1 the key (compactKey): replaces the committed rows of the counts log by their sum,
	// one compaction at a time (pg_try_advisory_xact_lock: another one under way, this
	// one does nothing). Rows of uncommitted transactions are not visible, so not
	// touched; a row deleted here is counted in the sum inserted here, in one statement.
	q.compact = sql(`WITH lk AS (SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok),
del AS (DELETE FROM {s}.counts WHERE (SELECT ok FROM lk) RETURNING pending, dead)
INSERT INTO {s}.counts (pending, dead) SELECT coalesce(sum(pending), 0), coalesce(sum(dead), 0) FROM del HAVING count(*) > 0`)

	// $1 now, $2 reason, $3 endpoint. A row a concurrent Lease has locked is waited for,
	// then checked again: leased, it stays with its holder.
	q.deadEndpoint = sql(`WITH upd AS (
	UPDATE {s}.deliveries d SET dead_at = $1, dead_reason = $2, lease = NULL, lease_expires = NULL
	WHERE d.endpoint_id = $3 AND d.dead_at IS NULL AND (d.lease IS NULL OR d.lease_expires <= $1)
	RETURNING 1
), cnt AS (INSERT INTO {s}.counts (pending, dead) SELECT -count(*), count(*) FROM upd HAVING count(*) > 0)
SELECT count(*) FROM upd`)

	// $1 due, [$2 the ID or endpoint], then the bound: all or nothing, in one statement.
	// It returns how many dead letters the selector found and how many it requeued.
	for bounded := range 2 {
		for sel := range 3 {
			where, next := "d.id = $2", 3
			switch sel {
			case 1:
				where = "d.endpoint_id = $2"
			case 2:
				where, next = "true", 2
			}
			fits := ""
			if bounded == 1 {
				fits = ` AND (SELECT coalesce(sum(pending), 0) FROM {s}.counts) + (SELECT count(*) FROM sel) <= $` + strconv.Itoa(next)
			}
			q.requeue[bounded][sel] = sql(`WITH sel AS (
	SELECT d.id FROM {s}.deliveries d WHERE d.dead_at IS NOT NULL AND ` + where + `
), upd AS (
	UPDATE {s}.deliveries d SET dead_at = NULL, dead_reason = NULL, due = $1, round_start = d.n_attempts
	WHERE d.id = ANY(ARRAY(SELECT id FROM sel)) AND d.dead_at IS NOT NULL` + fits + `
	RETURNING 1
), cnt AS (INSERT INTO {s}.counts (pending, dead) SELECT count(*), -count(*) FROM upd HAVING count(*) > 0)
SELECT (SELECT count(*) FROM sel), (SELECT count(*) FROM upd)`)
		}
	}

	for dead := range 2 {
		for byEP := range 2 {
			for byEv := range 2 {
				q.list[dead][byEP][byEv] = sql(listSQL(dead == 1, byEP == 1, byEv == 1))
			}
		}
	}

	// synchronous_commit off for this transaction only (set_config's third argument):
	// it writes nothing but the notification, which Postgres delivers at commit whether
	// or not the commit record is flushed yet, so the commit lock a NOTIFY takes is held
	// for no fsync.
	q.notify = `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')`

	// $1 now.
	q.stats = sql(`SELECT coalesce(sum(pending), 0)::int8, coalesce(sum(dead), 0)::int8,
	(SELECT count(*) FROM {s}.deliveries WHERE lease IS NOT NULL AND lease_expires > $1)
FROM {s}.counts`)
	q.nextDue = sql(`SELECT
	(SELECT d.due FROM {s}.deliveries d WHERE d.dead_at IS NULL AND d.lease IS NULL ORDER BY d.due, d.seq LIMIT 1),
	(SELECT min(d.lease_expires) FROM {s}.deliveries d WHERE d.lease IS NOT NULL)`)
	return q
}

// listSQL is a keyset page of ListPending (ListDead): $1, $2 the cursor (time, seq),
// then the endpoint and the event ID when filtered, then the limit (NULL: none).
func listSQL(dead, byEndpoint, byEvent bool) string {
	where, at := "d.dead_at IS NULL", "d.due"
	if dead {
		where, at = "d.dead_at IS NOT NULL", "d.dead_at"
	}
	n := 3
	q := `SELECT ` + dcols + `, att.* FROM {s}.deliveries d{attempts_d}
WHERE ` + where + ` AND (` + at + `, d.seq) > ($1, $2)`
	if byEndpoint {
		q += ` AND d.endpoint_id = $` + strconv.Itoa(n)
		n++
	}
	if byEvent {
		q += ` AND d.event_id = $` + strconv.Itoa(n)
		n++
	}
	return q + ` ORDER BY ` + at + `, d.seq LIMIT $` + strconv.Itoa(n) + `::int8`
}
