package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

// The endpoint registry: Store implements queue.Registry in the tables endpoints and
// endpoint_patterns of its schema (migration 1 -> 2, schema.go), so every dispatcher on
// the schema shares the endpoints and their state.
//
//   - MatchEndpoints sends the candidate keys of the event type (queue.MatchKeys: the
//     exact type and each of its prefixes, at most 130) as two arrays and joins them to
//     the primary key (kind, value, endpoint_id) of endpoint_patterns: index probes, then
//     the matching endpoints by primary key. Its cost follows the type's length and the
//     matches, not the number of endpoints (BenchmarkMatchEndpoints, BenchmarkPublishFanOut).
//   - SetEndpointState is compare-and-set: UPDATE ... WHERE version = $2. Two instances
//     racing from one version: the second UPDATE waits for the first's row lock, then
//     finds another version and writes nothing.
//   - EndpointChanges follows the xid of the transaction that last wrote each row: from
//     the caller's cursor up to the oldest transaction still running (pg_snapshot_xmin of
//     the statement's snapshot), which is the next cursor. Every transaction below it has
//     ended, so its rows are visible; a row written by a transaction still running is
//     read at a later call. A version sequence would skip a change whose transaction
//     took its number first and committed last. The price: a write transaction that
//     stays open anywhere in the database holds the horizon back, delaying (never
//     losing) the changes committed meanwhile.
//   - PutEndpoint and DeleteEndpoint take a transaction-scoped advisory lock per endpoint
//     (schema + ":registry/" + ID) so that replacing the patterns sees the last writer's.
//   - A deleted endpoint stays as a tombstone (deleted, no spec, no patterns) so that its
//     version continues if it is created again and EndpointChanges reports the deletion.

var (
	_ queue.Registry        = (*Store)(nil)
	_ queue.DeletedPurger   = (*Store)(nil)
	_ queue.SpecReplacer    = (*Store)(nil)
	_ queue.EndpointsPutter = (*Store)(nil)
)

// ecols are the columns of an endpoint row, in the order scanEndpoint reads them.
const ecols = `e.version, e.paused_until, e.updated_at, e.max_in_flight, e.failures, e.ordered,
	e.deleted, e.id, e.state, e.reason, e.spec, e.pattern_kinds, e.pattern_values`

// regSQL are the registry's statements for one schema.
type regSQL struct {
	lock, lockMany, put, get, del, purge, match, set, replace, changes, list string
}

// regStatements caches the statements per quoted schema name (a Store's fields are
// another file's; the texts are the same for every Store of a schema).
var regStatements sync.Map // string -> *regSQL

func (s *Store) reg() *regSQL {
	if q, ok := regStatements.Load(s.q.schema); ok {
		return q.(*regSQL)
	}
	r := func(q string) string { return strings.ReplaceAll(q, "{s}", s.q.schema) }
	q := &regSQL{
		// One writer of an endpoint's description at a time (PutEndpoint, DeleteEndpoint),
		// so that the statement after it, on a fresh snapshot, replaces the patterns the
		// last writer left. SetEndpointState needs no lock: its UPDATE ... WHERE version
		// is the compare-and-set.
		lock: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		// PutEndpoints: the locks of many endpoints ($1, sorted: unnest keeps the array's
		// order), so that two of them over the same endpoints wait instead of deadlocking.
		lockMany: `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k`,
		// $1 id, $2 spec, $3 kinds, $4 values, $5 ordered, $6 max, $7 state, $8 failures,
		// $9 paused_until, $10 reason, $11 updated_at. A tombstone comes back as a new
		// record (the argument's state) with a version above its last one.
		put: r(`WITH up AS (
	INSERT INTO {s}.endpoints AS e (version, paused_until, updated_at, max_in_flight, failures, ordered,
		deleted, id, state, reason, spec, pattern_kinds, pattern_values)
	VALUES (1, $9, $11, $6, $8, $5, false, $1, $7, $10, $2, $3, $4)
	ON CONFLICT (id) DO UPDATE SET
		version = e.version + 1, updated_at = EXCLUDED.updated_at, max_in_flight = EXCLUDED.max_in_flight,
		ordered = EXCLUDED.ordered, spec = EXCLUDED.spec, pattern_kinds = EXCLUDED.pattern_kinds,
		pattern_values = EXCLUDED.pattern_values, xid = pg_current_xact_id(), deleted = false,
		state = CASE WHEN e.deleted THEN EXCLUDED.state ELSE e.state END,
		failures = CASE WHEN e.deleted THEN EXCLUDED.failures ELSE e.failures END,
		paused_until = CASE WHEN e.deleted THEN EXCLUDED.paused_until ELSE e.paused_until END,
		reason = CASE WHEN e.deleted THEN EXCLUDED.reason ELSE e.reason END
	RETURNING ` + ecols + `
), new AS (
	SELECT DISTINCT k, v FROM unnest($3::smallint[], $4::text[]) AS p(k, v)
), gone AS (
	DELETE FROM {s}.endpoint_patterns p WHERE p.endpoint_id = $1
		AND NOT EXISTS (SELECT 1 FROM new WHERE new.k = p.kind AND new.v = p.value)
), ins AS (
	INSERT INTO {s}.endpoint_patterns (kind, value, endpoint_id) SELECT k, v, $1 FROM new
	ON CONFLICT DO NOTHING
)
SELECT * FROM up e`),
		get: r(`SELECT ` + ecols + ` FROM {s}.endpoints e WHERE e.id = ANY($1::text[]) AND NOT e.deleted`),
		del: r(`WITH d AS (
	UPDATE {s}.endpoints e SET deleted = true, version = e.version + 1, xid = pg_current_xact_id(),
		updated_at = $2, spec = '', pattern_kinds = '{}', pattern_values = '{}'
	WHERE e.id = $1 AND NOT e.deleted RETURNING e.id
), p AS (
	DELETE FROM {s}.endpoint_patterns WHERE endpoint_id = $1 AND EXISTS (SELECT 1 FROM d)
)
SELECT count(*) FROM d`),
		// The tombstones of endpoints deleted before $1, in one scan of the table. A row
		// brought back meanwhile by a PutEndpoint (deleted false) is left, even one whose
		// transaction commits while this DELETE waits for its lock: the condition is
		// checked again on the row's latest version.
		purge: r(`DELETE FROM {s}.endpoints WHERE deleted AND updated_at < $1`),
		// The candidate keys of the type ($1 kinds, $2 values) looked up by equality in the
		// primary key of endpoint_patterns: O(keys + matches) index probes.
		match: r(`SELECT e.id, e.ordered FROM {s}.endpoints e
WHERE e.id IN (SELECT p.endpoint_id FROM unnest($1::smallint[], $2::text[]) AS k(kind, value)
		JOIN {s}.endpoint_patterns p ON p.kind = k.kind AND p.value = k.value)
	AND NOT e.deleted AND e.state <> 'disabled'
ORDER BY e.id`),
		set: r(`UPDATE {s}.endpoints e SET state = $3, failures = $4, paused_until = $5, reason = $6,
	updated_at = $7, version = e.version + 1, xid = pg_current_xact_id()
WHERE e.id = $1 AND e.version = $2 AND NOT e.deleted
RETURNING ` + ecols),
		// ReplaceSpec: compare-and-set on the spec ($2 the one read, $3 the new one, $4
		// updated_at). A PutEndpoint meanwhile holds the row's lock until it commits; the
		// condition is then checked again on the row it wrote.
		replace: r(`UPDATE {s}.endpoints e SET spec = $3, updated_at = $4, version = e.version + 1, xid = pg_current_xact_id()
WHERE e.id = $1 AND e.spec = $2 AND NOT e.deleted
RETURNING ` + ecols),
		// The horizon is the oldest transaction still running: every transaction below it
		// has ended, so the rows they wrote are all visible to this statement. $1 cursor,
		// $2 limit + 1.
		changes: r(`WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)
SELECT h.x::text, c.id IS NOT NULL, c.* FROM h LEFT JOIN LATERAL (
	SELECT ` + ecols + ` FROM {s}.endpoints e WHERE e.xid >= $1::text::xid8 AND e.xid < h.x LIMIT $2
) c ON true`),
		list: r(`SELECT ` + ecols + ` FROM {s}.endpoints e WHERE e.id > $1 AND NOT e.deleted ORDER BY e.id LIMIT $2`),
	}
	actual, _ := regStatements.LoadOrStore(s.q.schema, q)
	return actual.(*regSQL)
}

// registryKey is the advisory lock key of an endpoint's description: the schema name, a
// ':' (which neither schema names nor the other keys have there) and the ID.
func (s *Store) registryKey(id string) string { return s.schema + ":registry/" + id }

// patternArrays returns the kinds and values of ps as two arrays.
func patternArrays(ps []queue.Pattern) ([]int16, []string) {
	kinds, values := make([]int16, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		kinds[i], values[i] = int16(p.Kind), p.Value
	}
	return kinds, values
}

// scanEndpoint reads the columns ecols of the current row, after the columns lead.
func scanEndpoint(rows pgx.Rows, lead ...any) (queue.Endpoint, error) {
	var e queue.Endpoint
	var version, pausedUntil, updatedAt int64
	var maxInFlight, failures int32
	var state string
	var kinds []int16
	var values []string
	dest := append(lead, &version, &pausedUntil, &updatedAt, &maxInFlight, &failures, &e.Ordered,
		&e.Deleted, &e.ID, &state, &e.Reason, &e.Spec, &kinds, &values)
	if err := rows.Scan(dest...); err != nil {
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: read endpoint: %w", err)
	}
	e.Version, e.PausedUntil, e.UpdatedAt = uint64(version), sqltime.FromNanos(pausedUntil), sqltime.FromNanos(updatedAt)
	e.MaxInFlight, e.Failures, e.State = int(maxInFlight), int(failures), queue.EndpointState(state)
	if len(kinds) == len(values) && len(kinds) > 0 {
		e.Patterns = make([]queue.Pattern, len(kinds))
		for i := range kinds {
			e.Patterns[i] = queue.Pattern{Kind: queue.PatternKind(kinds[i]), Value: values[i]}
		}
	}
	if e.Deleted {
		e = queue.Endpoint{ID: e.ID, Deleted: true}
	}
	return e, nil
}

// PutEndpoint implements queue.Registry in one round trip: the endpoint's lock and one
// statement that upserts the row (keeping the state of an existing one) and replaces
// its patterns.
func (s *Store) PutEndpoint(ctx context.Context, e queue.Endpoint) (queue.Endpoint, error) {
	if err := queue.CheckEndpoint(e); err != nil {
		return queue.Endpoint{}, err
	}
	q := s.reg()
	b := &pgx.Batch{}
	b.Queue(q.lock, s.registryKey(e.ID))
	b.Queue(q.put, putArgs(e)...)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: put endpoint: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: put endpoint: %w", err)
	}
	out, err := oneEndpoint(rows)
	if err != nil {
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: put endpoint: %w", err)
	}
	return out, br.Close()
}

// putArgs are the arguments of the put statement for e.
func putArgs(e queue.Endpoint) []any {
	if e.State == "" {
		e.State = queue.EndpointActive
	}
	if e.Spec == nil {
		e.Spec = []byte{}
	}
	kinds, values := patternArrays(e.Patterns)
	return []any{e.ID, e.Spec, kinds, values, e.Ordered, e.MaxInFlight, string(e.State), e.Failures,
		sqltime.Nanos(e.PausedUntil), e.Reason, sqltime.Nanos(e.UpdatedAt)}
}

// putChunk is how many put statements PutEndpoints sends in one round trip.
const putChunk = 500

// PutEndpoints implements queue.EndpointsPutter: one transaction that takes the locks
// of every endpoint first, in key order, then runs PutEndpoint's statement for each, 500
// to a round trip.
func (s *Store) PutEndpoints(ctx context.Context, es []queue.Endpoint) ([]queue.Endpoint, error) {
	for _, e := range es {
		if err := queue.CheckEndpoint(e); err != nil {
			return nil, fmt.Errorf("endpoint %q: %w", e.ID, err)
		}
	}
	if len(es) == 0 {
		return nil, nil
	}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = s.registryKey(e.ID)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	q := s.reg()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: put endpoints: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	out := make([]queue.Endpoint, 0, len(es))
	for start := 0; start < len(es); start += putChunk {
		chunk := es[start:min(start+putChunk, len(es))]
		b := &pgx.Batch{}
		if start == 0 {
			b.Queue(q.lockMany, keys)
		}
		for _, e := range chunk {
			b.Queue(q.put, putArgs(e)...)
		}
		if err := sendPuts(ctx, tx, b, start == 0, len(chunk), &out); err != nil {
			return nil, fmt.Errorf("hookkit/pgqueue: put endpoints: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: put endpoints: %w", err)
	}
	return out, nil
}

// sendPuts sends b in tx and reads its results: the locks first when locks is set, then n
// endpoints, appended to out.
func sendPuts(ctx context.Context, tx pgx.Tx, b *pgx.Batch, locks bool, n int, out *[]queue.Endpoint) error {
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if locks {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	for range n {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		e, err := oneEndpoint(rows)
		if err != nil {
			return err
		}
		*out = append(*out, e)
	}
	return br.Close()
}

// oneEndpoint reads the one row of rows (ErrNotFound for none) and closes them.
func oneEndpoint(rows pgx.Rows) (queue.Endpoint, error) {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return queue.Endpoint{}, err
		}
		return queue.Endpoint{}, queue.ErrNotFound
	}
	e, err := scanEndpoint(rows)
	if err != nil {
		return queue.Endpoint{}, err
	}
	rows.Close()
	return e, rows.Err()
}

// GetEndpoints implements queue.Registry: one query by primary key.
func (s *Store) GetEndpoints(ctx context.Context, ids ...string) ([]queue.Endpoint, error) {
	if len(ids) == 0 {
		return []queue.Endpoint{}, nil
	}
	rows, err := s.queryPlanned(ctx, s.reg().get, ids)
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: get endpoints: %w", err)
	}
	byID, err := collectEndpoints(rows)
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: get endpoints: %w", err)
	}
	out := make([]queue.Endpoint, 0, len(byID))
	for _, id := range ids {
		if e, ok := byID[id]; ok {
			out = append(out, e)
			delete(byID, id)
		}
	}
	return out, nil
}

func collectEndpoints(rows pgx.Rows) (map[string]queue.Endpoint, error) {
	defer rows.Close()
	out := make(map[string]queue.Endpoint)
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out[e.ID] = e
	}
	return out, rows.Err()
}

// DeleteEndpoint implements queue.Registry: the row becomes a tombstone and its patterns
// are deleted, under the endpoint's lock, in one round trip.
func (s *Store) DeleteEndpoint(ctx context.Context, now time.Time, id string) error {
	q := s.reg()
	b := &pgx.Batch{}
	b.Queue(q.lock, s.registryKey(id))
	b.Queue(q.del, id, sqltime.Nanos(now))
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("hookkit/pgqueue: delete endpoint: %w", err)
	}
	var n int
	if err := br.QueryRow().Scan(&n); err != nil {
		return fmt.Errorf("hookkit/pgqueue: delete endpoint: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("hookkit/pgqueue: delete endpoint: %w", err)
	}
	if n == 0 {
		return queue.ErrNotFound
	}
	return nil
}

// PurgeDeleted implements queue.DeletedPurger: one DELETE of the tombstones of the
// endpoints deleted before before.
func (s *Store) PurgeDeleted(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, s.reg().purge, sqltime.Nanos(before))
	if err != nil {
		return 0, fmt.Errorf("hookkit/pgqueue: purge deleted endpoints: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// MatchEndpoints implements queue.Registry: one query that looks the candidate keys of
// the type (queue.MatchKeys) up in the primary key of endpoint_patterns.
func (s *Store) MatchEndpoints(ctx context.Context, eventType string) ([]queue.EndpointMatch, error) {
	kinds, values := patternArrays(queue.MatchKeys(eventType))
	rows, err := s.queryPlanned(ctx, s.reg().match, kinds, values)
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: match endpoints: %w", err)
	}
	defer rows.Close()
	var out []queue.EndpointMatch
	for rows.Next() {
		var m queue.EndpointMatch
		if err := rows.Scan(&m.ID, &m.Ordered); err != nil {
			return nil, fmt.Errorf("hookkit/pgqueue: match endpoints: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: match endpoints: %w", err)
	}
	return out, nil
}

// SetEndpointState implements queue.Registry: one UPDATE ... WHERE version = $2 (a
// concurrent writer's UPDATE waits for the row and then finds another version); on a
// conflict a second query reads the record as the winner left it.
func (s *Store) SetEndpointState(ctx context.Context, id string, version uint64, st queue.StateUpdate) (queue.Endpoint, error) {
	if err := queue.CheckState(st); err != nil {
		return queue.Endpoint{}, err
	}
	if st.State == "" {
		st.State = queue.EndpointActive
	}
	rows, err := s.pool.Query(ctx, s.reg().set, id, int64(version), string(st.State), st.Failures,
		sqltime.Nanos(st.PausedUntil), st.Reason, sqltime.Nanos(st.UpdatedAt))
	if err != nil {
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: set endpoint state: %w", err)
	}
	e, err := oneEndpoint(rows)
	switch {
	case err == nil:
		return e, nil
	case !errors.Is(err, queue.ErrNotFound):
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: set endpoint state: %w", err)
	}
	cur, err := s.GetEndpoints(ctx, id)
	if err != nil {
		return queue.Endpoint{}, err
	}
	if len(cur) == 0 {
		return queue.Endpoint{}, queue.ErrNotFound
	}
	return cur[0], fmt.Errorf("%w: %q is at version %d, not %d", queue.ErrVersionConflict, id, cur[0].Version, version)
}

// ReplaceSpec implements queue.SpecReplacer: one UPDATE, and on no row a read that tells
// a conflict from a missing endpoint.
func (s *Store) ReplaceSpec(ctx context.Context, id string, old, spec []byte, now time.Time) (queue.Endpoint, error) {
	if old == nil {
		old = []byte{}
	}
	if spec == nil {
		spec = []byte{}
	}
	rows, err := s.pool.Query(ctx, s.reg().replace, id, old, spec, sqltime.Nanos(now))
	if err != nil {
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: replace endpoint spec: %w", err)
	}
	e, err := oneEndpoint(rows)
	switch {
	case err == nil:
		return e, nil
	case !errors.Is(err, queue.ErrNotFound):
		return queue.Endpoint{}, fmt.Errorf("hookkit/pgqueue: replace endpoint spec: %w", err)
	}
	cur, err := s.GetEndpoints(ctx, id)
	if err != nil {
		return queue.Endpoint{}, err
	}
	if len(cur) == 0 {
		return queue.Endpoint{}, queue.ErrNotFound
	}
	return cur[0], fmt.Errorf("%w: the spec of %q changed", queue.ErrVersionConflict, id)
}

// EndpointChanges implements queue.Registry: one query on the index of the rows' xid,
// from the cursor (a transaction ID) up to the oldest transaction still running, which
// is the next cursor. A write transaction that stays open holds the horizon back, so its
// changes, and those committed after it started, are reported when it ends: delayed,
// never skipped.
func (s *Store) EndpointChanges(ctx context.Context, since uint64, limit int) (queue.Changes, error) {
	limit = max(limit, 0)
	rows, err := s.queryPlanned(ctx, s.reg().changes, strconv.FormatUint(since, 10), limit+1)
	if err != nil {
		return queue.Changes{}, fmt.Errorf("hookkit/pgqueue: endpoint changes: %w", err)
	}
	defer rows.Close()
	var ch queue.Changes
	var horizon string
	var found bool
	skip := make([]any, 13) // the endpoint's columns, NULL when nothing changed
	for rows.Next() {
		if err := rows.Scan(append([]any{&horizon, &found}, skip...)...); err != nil {
			return queue.Changes{}, fmt.Errorf("hookkit/pgqueue: endpoint changes: %w", err)
		}
		if ch.Next, err = strconv.ParseUint(horizon, 10, 64); err != nil {
			return queue.Changes{}, fmt.Errorf("hookkit/pgqueue: endpoint changes: horizon %q: %w", horizon, err)
		}
		if !found {
			break
		}
		e, err := scanEndpoint(rows, &horizon, &found)
		if err != nil {
			return queue.Changes{}, fmt.Errorf("hookkit/pgqueue: endpoint changes: %w", err)
		}
		ch.Endpoints = append(ch.Endpoints, e)
	}
	if err := rows.Err(); err != nil {
		return queue.Changes{}, fmt.Errorf("hookkit/pgqueue: endpoint changes: %w", err)
	}
	if len(ch.Endpoints) > limit {
		ch.Endpoints, ch.Overflow = nil, true
	}
	return ch, nil
}

// ListEndpoints implements queue.Registry: a keyset page on the primary key.
func (s *Store) ListEndpoints(ctx context.Context, after string, limit int) (queue.EndpointPage, error) {
	n := int64(limit) + 1
	if limit <= 0 {
		n = 1 << 62
	}
	rows, err := s.queryPlanned(ctx, s.reg().list, after, n)
	if err != nil {
		return queue.EndpointPage{}, fmt.Errorf("hookkit/pgqueue: list endpoints: %w", err)
	}
	defer rows.Close()
	var page queue.EndpointPage
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return queue.EndpointPage{}, fmt.Errorf("hookkit/pgqueue: list endpoints: %w", err)
		}
		page.Endpoints = append(page.Endpoints, e)
	}
	if err := rows.Err(); err != nil {
		return queue.EndpointPage{}, fmt.Errorf("hookkit/pgqueue: list endpoints: %w", err)
	}
	if limit > 0 && len(page.Endpoints) > limit {
		page.Endpoints = page.Endpoints[:limit]
		page.Next = page.Endpoints[limit-1].ID
	}
	return page, nil
}
