package sqlitequeue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SchemaVersion is the version of the schema this package writes, kept in the file's
// PRAGMA user_version. Open creates the schema in a file at version 0 (a new file),
// migrates a file at an older version, and refuses one at a newer version
// (ErrSchemaTooNew).
const SchemaVersion = 4

// ErrSchemaTooNew is returned by Open for a file whose schema version is above
// SchemaVersion: it was written by a newer hookkit, which this one must not change.
var ErrSchemaTooNew = errors.New("hookkit/sqlitequeue: database schema is newer than this hookkit (written by a newer version)")

// migrations[v] takes a file from schema version v to v+1. A new file runs them all.
//
// Times are int64 Unix nanoseconds. due and dead_at are NOT NULL where they matter (the
// keysets of the listings): the zero time is stored as the smallest int64 (sqltime.Zero),
// which sorts first, as time.Time{} does. created, lease_expires and Attempt.start are
// NULL for the zero time.
//
// Version 1 kept every delivery in one table, deliveries (dead when dead_at IS NOT NULL),
// with seq from AUTOINCREMENT and counts kept by triggers.
//
// Version 2 keeps pending (including leased) deliveries in pending and dead letters in
// dead, so that the pending table and its indexes hold only what the dispatcher works on
// (a delivery is leased when lease IS NOT NULL, until another Lease takes it over, a
// Complete ends it, or it dies). Seq comes from meta.next_seq (never reused, across both
// tables), and meta's counts of pending and dead deliveries (the bounds MaxPending and
// MaxDead, and Stats) are updated once per write transaction by the store, under the
// file's write lock, instead of by a trigger per row. Each statement's index: see
// stmts.go. The view deliveries shows both tables as version 1's table did (with
// dead_at), for the queries that read across them.
//
// Version 3 drops pending_event, the index of the pending deliveries by event id: event
// ids are random, so each Enqueue and each acknowledgement wrote a leaf page of it of
// its own (with 16 deliveries a transaction, half the WAL frames of the enqueue, lease
// and acknowledgement together: 52 frames against 27 without it; the committer's time
// per delivery fell by 15-20 %, BenchmarkCommitCycle). ListPending by event id now scans
// the pending table, which holds what is in flight or waiting; dead letters keep their
// index by event (dead_event), where a search by event is the common one.
//
// Version 4 rebuilds pending with its ids unique through an index of their own,
// pending_id, instead of the column's UNIQUE constraint, so that Exclusive mode, which
// keeps ids unique in memory, can drop it with the other indexes of pending (an insert
// and a delete then write the table's B-tree alone). The indexes of pending are no
// longer part of a version: every Open creates them (pendingIndexes) or, Exclusive,
// drops them (exclusiveSetUp).
var migrations = []string{
	0: `
CREATE TABLE deliveries (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT, -- Delivery.Seq; never reused
	id            TEXT    NOT NULL UNIQUE,
	endpoint      TEXT    NOT NULL,
	event_id      TEXT    NOT NULL,
	event         BLOB    NOT NULL,                  -- event.Encoded.MarshalBinary
	ordered       INTEGER NOT NULL,
	created       INTEGER,
	due           INTEGER NOT NULL,
	round_start   INTEGER NOT NULL,
	n_attempts    INTEGER NOT NULL,                  -- rows in attempts
	lease         TEXT,
	lease_expires INTEGER,
	dead_reason   TEXT,
	dead_at       INTEGER
);
-- Due deliveries, earliest (due, seq) first: Lease and ListPending.
CREATE INDEX deliveries_due ON deliveries (due, seq) WHERE dead_at IS NULL;
-- An endpoint's pending deliveries: Lease with LeaseRequest.Endpoints, ListPending by endpoint.
CREATE INDEX deliveries_endpoint_due ON deliveries (endpoint, due, seq) WHERE dead_at IS NULL;
-- The head rule: the lowest seq of an endpoint's ordered group.
CREATE INDEX deliveries_ordered ON deliveries (endpoint, seq) WHERE ordered = 1 AND dead_at IS NULL;
-- Leases by expiry: Stats and NextDue.
CREATE INDEX deliveries_lease ON deliveries (lease_expires) WHERE lease IS NOT NULL;
-- Dead letters, oldest (dead_at, seq) first: ListDead, eviction, Requeue.
CREATE INDEX deliveries_dead ON deliveries (dead_at, seq) WHERE dead_at IS NOT NULL;
-- An endpoint's dead letters: ListDead and Requeue by endpoint.
CREATE INDEX deliveries_endpoint_dead ON deliveries (endpoint, dead_at, seq) WHERE dead_at IS NOT NULL;
-- ListFilter.EventID.
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
	seq         INTEGER NOT NULL, -- deliveries.seq
	n           INTEGER NOT NULL, -- position in the history, from 0
	number      INTEGER NOT NULL,
	start       INTEGER,
	duration    INTEGER NOT NULL,
	status      INTEGER NOT NULL,
	class       TEXT    NOT NULL,
	error_text  TEXT    NOT NULL,
	retry_after INTEGER NOT NULL,
	PRIMARY KEY (seq, n)
) WITHOUT ROWID;

CREATE TABLE counts (
	id      INTEGER PRIMARY KEY CHECK (id = 0),
	pending INTEGER NOT NULL,
	dead    INTEGER NOT NULL
);
INSERT INTO counts (id, pending, dead) VALUES (0, 0, 0);

CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries BEGIN
	UPDATE counts SET pending = pending + (NEW.dead_at IS NULL), dead = dead + (NEW.dead_at IS NOT NULL);
END;
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries BEGIN
	UPDATE counts SET pending = pending - (OLD.dead_at IS NULL), dead = dead - (OLD.dead_at IS NOT NULL);
END;
CREATE TRIGGER deliveries_count_update AFTER UPDATE OF dead_at ON deliveries
WHEN (OLD.dead_at IS NULL) <> (NEW.dead_at IS NULL) BEGIN
	UPDATE counts SET pending = pending + (NEW.dead_at IS NULL) - (OLD.dead_at IS NULL),
		dead = dead + (NEW.dead_at IS NOT NULL) - (OLD.dead_at IS NOT NULL);
END;
CREATE TRIGGER deliveries_delete_attempts AFTER DELETE ON deliveries WHEN OLD.n_attempts > 0 BEGIN
	DELETE FROM attempts WHERE seq = OLD.seq;
END;
`,
	1: `
CREATE TABLE pending (
	seq           INTEGER PRIMARY KEY, -- Delivery.Seq, from meta.next_seq
	id            TEXT    NOT NULL UNIQUE,
	endpoint      TEXT    NOT NULL,
	event_id      TEXT    NOT NULL,
	event         BLOB    NOT NULL,    -- event.Encoded.MarshalBinary
	ordered       INTEGER NOT NULL,
	created       INTEGER,
	due           INTEGER NOT NULL,
	round_start   INTEGER NOT NULL,
	n_attempts    INTEGER NOT NULL,    -- rows in attempts
	lease         TEXT,
	lease_expires INTEGER
);
CREATE TABLE dead (
	seq         INTEGER PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	endpoint    TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	event       BLOB    NOT NULL,
	ordered     INTEGER NOT NULL,
	created     INTEGER,
	due         INTEGER NOT NULL,
	round_start INTEGER NOT NULL,
	n_attempts  INTEGER NOT NULL,
	dead_reason TEXT,
	dead_at     INTEGER NOT NULL
);
CREATE TABLE meta (
	id       INTEGER PRIMARY KEY CHECK (id = 0),
	next_seq INTEGER NOT NULL,
	pending  INTEGER NOT NULL,
	dead     INTEGER NOT NULL
);
INSERT INTO pending (seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts, lease, lease_expires)
	SELECT seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts, lease, lease_expires
	FROM deliveries WHERE dead_at IS NULL;
INSERT INTO dead (seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts, dead_reason, dead_at)
	SELECT seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts, dead_reason, dead_at
	FROM deliveries WHERE dead_at IS NOT NULL;
INSERT INTO meta (id, next_seq, pending, dead) VALUES (0,
	max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'), 0),
		coalesce((SELECT max(seq) FROM deliveries), 0)) + 1,
	(SELECT count(*) FROM pending), (SELECT count(*) FROM dead));
DROP TRIGGER deliveries_count_insert;
DROP TRIGGER deliveries_count_delete;
DROP TRIGGER deliveries_count_update;
DROP TRIGGER deliveries_delete_attempts;
DROP TABLE deliveries;
DROP TABLE counts;
-- Attempts of deliveries no longer stored (none unless the file was damaged).
DELETE FROM attempts WHERE seq NOT IN (SELECT seq FROM pending UNION ALL SELECT seq FROM dead);

-- Not leased, earliest (due, seq) first: Lease without endpoints, NextDue, ListPending.
CREATE INDEX pending_due ON pending (due, seq) WHERE lease IS NULL;
-- An endpoint's deliveries, leased or not: Lease by endpoint, ListPending by endpoint,
-- DeadLetterEndpoint.
CREATE INDEX pending_endpoint ON pending (endpoint, due, seq);
-- The head rule: the lowest seq of an endpoint's ordered group.
CREATE INDEX pending_ordered ON pending (endpoint, seq) WHERE ordered = 1;
-- Leases by expiry: expired leases for Lease without endpoints, Stats, NextDue, and the
-- leased rows of ListPending.
CREATE INDEX pending_lease ON pending (lease_expires) WHERE lease IS NOT NULL;
-- ListFilter.EventID (dropped by version 3).
CREATE INDEX pending_event ON pending (event_id);
-- Dead letters, oldest (dead_at, seq) first: ListDead, eviction.
CREATE INDEX dead_at ON dead (dead_at, seq);
-- An endpoint's dead letters: ListDead and Requeue by endpoint.
CREATE INDEX dead_endpoint ON dead (endpoint, dead_at, seq);
-- ListFilter.EventID.
CREATE INDEX dead_event ON dead (event_id);

` + deliveriesView + ``,
	2: `
DROP INDEX IF EXISTS pending_event;
`,
	3: `
DROP VIEW deliveries;
CREATE TABLE pending_v4 (
	seq           INTEGER PRIMARY KEY, -- Delivery.Seq, from meta.next_seq
	id            TEXT    NOT NULL,    -- unique: pending_id (pendingIndexes)
	endpoint      TEXT    NOT NULL,
	event_id      TEXT    NOT NULL,
	event         BLOB    NOT NULL,    -- event.Encoded.MarshalBinary
	ordered       INTEGER NOT NULL,
	created       INTEGER,
	due           INTEGER NOT NULL,
	round_start   INTEGER NOT NULL,
	n_attempts    INTEGER NOT NULL,    -- rows in attempts
	lease         TEXT,
	lease_expires INTEGER
);
INSERT INTO pending_v4 (seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts, lease, lease_expires)
	SELECT seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts, lease, lease_expires FROM pending;
DROP TABLE pending;
ALTER TABLE pending_v4 RENAME TO pending;
` + deliveriesView,
}

// deliveriesView shows both tables as version 1's deliveries table (dead when dead_at IS
// NOT NULL), for the queries that read across them (EndpointStats): made by version 2,
// made again by version 4 (which rebuilds pending).
const deliveriesView = `
-- Both tables as version 1's deliveries table (dead when dead_at IS NOT NULL), for the
-- queries that read across them (EndpointStats).
CREATE VIEW deliveries AS
	SELECT seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts,
		lease, lease_expires, NULL AS dead_reason, NULL AS dead_at FROM pending
	UNION ALL
	SELECT seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts,
		NULL, NULL, dead_reason, dead_at FROM dead;
`

// migrate creates or migrates the schema in one write transaction (BEGIN IMMEDIATE, so
// that two processes opening a new file at once do it once: the second waits for the
// first's commit and then finds the file at SchemaVersion).
//
// Then, in the same transaction, it sets the file up for the mode it is opened in: the
// indexes of pending created (pendingIndexes) or, with exclusive, dropped and the old
// leases cleared (exclusiveSetUp).
func migrate(ctx context.Context, db *sql.DB, exclusive bool) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: begin migration: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: read schema version: %w", err)
	}
	switch {
	case version > SchemaVersion:
		return fmt.Errorf("%w: file at version %d, this hookkit writes %d", ErrSchemaTooNew, version, SchemaVersion)
	case version < 0:
		return fmt.Errorf("hookkit/sqlitequeue: invalid schema version %d", version)
	}
	for v := version; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	if version < SchemaVersion {
		// PRAGMA takes no bound parameters; SchemaVersion is a constant.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
			return fmt.Errorf("hookkit/sqlitequeue: write schema version: %w", err)
		}
	}
	mode := pendingIndexes
	if exclusive {
		mode = exclusiveSetUp
	}
	if _, err := tx.ExecContext(ctx, mode); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: set up the file for the mode: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hookkit/sqlitequeue: commit migration: %w", err)
	}
	return nil
}
