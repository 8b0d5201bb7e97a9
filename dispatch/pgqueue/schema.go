package pgqueue

import (
	"context"
	"errors"

	"github.com/hookkit/hookkit/internal/pgschema"
)

// SchemaVersion is the version of the schema this package writes, kept in the table
// schema_version of the store's schema. New creates the schema at version 0 (a new
// schema), migrates an older one, and refuses a newer one (ErrSchemaTooNew).
const SchemaVersion = 2

// ErrSchemaTooNew is returned by New for a schema whose version is above SchemaVersion:
// it was written by a newer hookkit, which this one must not change.
var ErrSchemaTooNew = errors.New("hookkit/pgqueue: database schema is newer than this hookkit (written by a newer version)")

// migrations[v] takes a schema from version v to v+1; {s} is the quoted schema name.
//
// Times are bigint Unix nanoseconds: timestamptz keeps microseconds only, and every time
// must come back as the same instant. created, due and attempts.start are NOT NULL, the
// zero time stored as the smallest bigint (sqltime.Zero), which sorts first as time.Time{}
// does. A delivery is dead when dead_at IS NOT NULL, leased when lease IS NOT NULL (until
// another Lease takes it over, a Complete ends it, or it dies); lease_expires is set with
// lease. The fixed-width columns come first (no alignment padding).
//
// counts is a log of changes to the number of pending (including leased) deliveries and
// of dead letters: every statement that changes them appends one row (a delta) in the
// same statement, and a compaction now and then replaces the committed rows by their sum
// (see statements.compact). The counts are the sums of the rows. A log of inserts, not
// one counter row, because one row would be a lock that every enqueuing transaction
// holds until it commits: the callers of EnqueueTx, in their own long transactions,
// would queue behind each other.
var migrations = []string{
	0: `
CREATE TABLE {s}.deliveries (
	seq           bigint  GENERATED ALWAYS AS IDENTITY, -- Delivery.Seq
	created       bigint  NOT NULL,
	due           bigint  NOT NULL,
	lease_expires bigint,
	dead_at       bigint,
	round_start   integer NOT NULL,
	n_attempts    integer NOT NULL,                    -- rows in attempts
	ordered       boolean NOT NULL,
	id            text    NOT NULL PRIMARY KEY,        -- a duplicate is a unique violation
	endpoint_id   text    NOT NULL,
	event_id      text    NOT NULL,
	lease         text,
	dead_reason   text,
	event         bytea   NOT NULL                     -- event.Encoded.MarshalBinary
);
-- Due deliveries, earliest (due, seq) first: Lease, ListPending, NextDue.
CREATE INDEX deliveries_due ON {s}.deliveries (due, seq) WHERE dead_at IS NULL;
-- An endpoint's pending deliveries: Lease with LeaseRequest.Endpoints, ListPending by
-- endpoint, DeadLetterEndpoint.
CREATE INDEX deliveries_endpoint_due ON {s}.deliveries (endpoint_id, due, seq) WHERE dead_at IS NULL;
-- The head rule: a lower seq of an endpoint's ordered group.
CREATE INDEX deliveries_ordered ON {s}.deliveries (endpoint_id, seq) WHERE ordered AND dead_at IS NULL;
-- Leases by expiry: Stats and NextDue.
CREATE INDEX deliveries_lease ON {s}.deliveries (lease_expires) WHERE lease IS NOT NULL;
-- Dead letters, oldest (dead_at, seq) first: ListDead, eviction, Requeue.
CREATE INDEX deliveries_dead ON {s}.deliveries (dead_at, seq) WHERE dead_at IS NOT NULL;
-- An endpoint's dead letters: ListDead and Requeue by endpoint.
CREATE INDEX deliveries_endpoint_dead ON {s}.deliveries (endpoint_id, dead_at, seq) WHERE dead_at IS NOT NULL;
-- ListFilter.EventID.
CREATE INDEX deliveries_event ON {s}.deliveries (event_id);

CREATE TABLE {s}.attempts (
	seq         bigint  NOT NULL, -- deliveries.seq
	n           integer NOT NULL, -- position in the history, from 0
	number      bigint  NOT NULL,
	start       bigint  NOT NULL,
	duration    bigint  NOT NULL,
	retry_after bigint  NOT NULL,
	status      integer NOT NULL,
	class       text    NOT NULL,
	error_text  text    NOT NULL,
	PRIMARY KEY (seq, n)
);

CREATE TABLE {s}.counts (
	pending bigint NOT NULL,
	dead    bigint NOT NULL
);
`,
	// 1 -> 2: the endpoint registry (registry.go). One row per endpoint, kept as a
	// tombstone (deleted, its patterns removed) once deleted, so that versions are never
	// reused and EndpointChanges reports the deletion. xid is the transaction that last
	// wrote the row: EndpointChanges reads the rows whose xid lies between the caller's
	// cursor and the oldest transaction still running (every transaction below it has
	// ended), so a change committed out of order is never skipped. endpoint_patterns
	// is the index MatchEndpoints looks the candidate keys of an event type up in, by
	// equality on (kind, value); the pattern arrays of the row are what GetEndpoints
	// returns.
	1: `
CREATE TABLE {s}.endpoints (
	version        bigint     NOT NULL,
	paused_until   bigint     NOT NULL,
	updated_at     bigint     NOT NULL,
	xid            xid8       NOT NULL DEFAULT pg_current_xact_id(),
	max_in_flight  integer    NOT NULL,
	failures       integer    NOT NULL,
	ordered        boolean    NOT NULL,
	deleted        boolean    NOT NULL,
	id             text       NOT NULL PRIMARY KEY,
	state          text       NOT NULL,
	reason         text       NOT NULL,
	spec           bytea      NOT NULL,
	pattern_kinds  smallint[] NOT NULL,
	pattern_values text[]     NOT NULL
);
-- EndpointChanges: the rows written by the transactions from a cursor on.
CREATE INDEX endpoints_xid ON {s}.endpoints (xid);

CREATE TABLE {s}.endpoint_patterns (
	kind        smallint NOT NULL, -- queue.PatternKind
	value       text     NOT NULL,
	endpoint_id text     NOT NULL,
	PRIMARY KEY (kind, value, endpoint_id)
);
-- Replacing and deleting an endpoint's patterns.
CREATE INDEX endpoint_patterns_endpoint ON {s}.endpoint_patterns (endpoint_id);
`,
}

// migrate creates or migrates the schema (internal/pgschema: the version in
// schema_version; read only when it is current; otherwise one transaction under the
// schema's migration lock, shared with the other hookkit stores of the schema).
func (s *Store) migrate(ctx context.Context) error {
	return pgschema.Migrate(ctx, s.pool, pgschema.Spec{Pkg: "hookkit/pgqueue", Schema: s.schema,
		VersionTable: "schema_version", Migrations: migrations, TooNew: ErrSchemaTooNew})
}
