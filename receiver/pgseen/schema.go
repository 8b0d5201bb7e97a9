package pgseen

import (
	"context"
	"errors"

	"github.com/hookkit/hookkit/internal/pgschema"
)

// SchemaVersion is the version of the tables and functions this package writes, kept in
// the table seen_version of the store's schema. New creates them at version 0 (a new
// schema), migrates older ones, and refuses newer ones (ErrSchemaTooNew).
const SchemaVersion = 1

// ErrSchemaTooNew is returned by New for a schema whose seen tables are above
// SchemaVersion: they were written by a newer hookkit, which this one must not change.
var ErrSchemaTooNew = errors.New("hookkit/pgseen: database schema is newer than this hookkit (written by a newer version)")

// migrations[v] takes a schema from version v to v+1; {s} is the quoted schema name.
//
// Every name starts with "seen" so that the tables can share a schema with other hookkit
// stores (dispatch/pgqueue's tables are deliveries, attempts, counts and schema_version).
//
// One row per id: a reservation (committed false, token the reservation's owner) or a seen
// record (committed true, token the owner of the reservation it replaced, so that a second
// Commit by that owner — the middleware's, after a TxHandler committed the id in the
// handler's transaction — is recognised). expires is the end of the lease or of the
// retention, on the database's clock.
//
// The functions run Reserve and Commit in one round trip each. Times are passed as
// microseconds (the resolution of timestamptz, rounded up by the caller) and computed
// with clock_timestamp(), not now(): a statement may wait for a row lock, and an expiry
// must be measured from when the row is written.
//
// seen_reserve never waits for a row lock held by another transaction: a row locked by a
// TxHandler's transaction is a delivery in flight (whatever its expiry), so it answers 3
// at once. An unexpired row is answered from a plain read (no lock, so no write and no
// WAL flush at commit: a duplicate is cheap); only an expired row is locked, with SKIP
// LOCKED, to take it over, and when that finds nothing it looks again without a lock to
// tell a locked row from one that vanished (then it tries again). The INSERT ...
// ON CONFLICT DO NOTHING does not wait for a row that another transaction has only
// locked (SELECT ... FOR UPDATE); it waits only for an uncommitted insert or update of
// the row, which a TxHandler makes only just before it commits (or, when it found no row
// at all, at its start). p_sweep > 0 first deletes up to that many expired rows that no
// one holds (the amortised cleanup).
var migrations = []string{
	0: `
CREATE TABLE {s}.seen (
	expires   timestamptz NOT NULL,
	committed boolean     NOT NULL,
	id        text        NOT NULL PRIMARY KEY,
	token     text        NOT NULL
);
-- Expired rows, oldest first: the sweep.
CREATE INDEX seen_expires ON {s}.seen (expires);

-- seen_reserve returns 1 (reserved with p_token), 2 (already seen) or 3 (in flight).
CREATE FUNCTION {s}.seen_reserve(p_id text, p_token text, p_lease_us bigint, p_sweep integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
	r record;
BEGIN
	IF p_sweep > 0 THEN
		DELETE FROM {s}.seen WHERE id IN (
			SELECT id FROM {s}.seen WHERE expires < now()
			ORDER BY expires LIMIT p_sweep FOR UPDATE SKIP LOCKED);
	END IF;
	FOR attempt IN 1..3 LOOP
		INSERT INTO {s}.seen (expires, committed, id, token)
		VALUES (clock_timestamp() + p_lease_us * interval '1 microsecond', false, p_id, p_token)
		ON CONFLICT (id) DO NOTHING;
		IF FOUND THEN
			RETURN 1;
		END IF;
		-- Unexpired: answered without a lock (no write, so a duplicate costs no WAL flush).
		SELECT committed, expires INTO r FROM {s}.seen WHERE id = p_id;
		IF NOT FOUND THEN
			CONTINUE; -- deleted since the INSERT: try again
		END IF;
		IF r.expires > clock_timestamp() THEN
			RETURN CASE WHEN r.committed THEN 2 ELSE 3 END;
		END IF;
		-- Expired: take it over under its row lock, unless a transaction holds that.
		SELECT committed, expires INTO r FROM {s}.seen WHERE id = p_id FOR UPDATE SKIP LOCKED;
		IF FOUND THEN
			IF r.expires > clock_timestamp() THEN
				RETURN CASE WHEN r.committed THEN 2 ELSE 3 END; -- renewed meanwhile
			END IF;
			UPDATE {s}.seen
			SET expires = clock_timestamp() + p_lease_us * interval '1 microsecond',
				committed = false, token = p_token
			WHERE id = p_id;
			RETURN 1;
		END IF;
		PERFORM 1 FROM {s}.seen WHERE id = p_id;
		IF FOUND THEN
			RETURN 3; -- locked by another transaction: a TxHandler is running
		END IF;
		-- Deleted between the INSERT and the SELECT: try again.
	END LOOP;
	RETURN 3; -- reserved and freed over and over right now; the sender retries
END
$fn$;

-- seen_commit records p_id as seen for p_ttl_us and returns whether p_token held it: its
-- unexpired reservation, or the seen record that replaced its reservation. A seen record
-- keeps its owner; a reservation becomes a seen record owned by p_token.
CREATE FUNCTION {s}.seen_commit(p_id text, p_token text, p_ttl_us bigint)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
	r record;
BEGIN
	FOR attempt IN 1..3 LOOP
		SELECT committed, expires, token INTO r FROM {s}.seen WHERE id = p_id FOR UPDATE;
		IF FOUND THEN
			UPDATE {s}.seen
			SET expires = clock_timestamp() + p_ttl_us * interval '1 microsecond',
				committed = true,
				token = CASE WHEN r.committed THEN r.token ELSE p_token END
			WHERE id = p_id;
			RETURN r.token = p_token AND (r.committed OR r.expires > clock_timestamp());
		END IF;
		INSERT INTO {s}.seen (expires, committed, id, token)
		VALUES (clock_timestamp() + p_ttl_us * interval '1 microsecond', true, p_id, p_token)
		ON CONFLICT (id) DO NOTHING;
		IF FOUND THEN
			RETURN false; -- no reservation left: the lease had expired and was swept
		END IF;
	END LOOP;
	RAISE EXCEPTION 'hookkit/pgseen: id % inserted and deleted repeatedly during commit', p_id;
END
$fn$;
`,
}

// migrate creates or migrates the tables (internal/pgschema: the version in
// seen_version; read only when it is current; otherwise one transaction under the
// schema's migration lock, which dispatch/pgqueue and auth/pgapikeys take too, so that
// the stores can be created in one schema at once).
func (s *Store) migrate(ctx context.Context) error {
	return pgschema.Migrate(ctx, s.pool, pgschema.Spec{Pkg: "hookkit/pgseen", Schema: s.schema,
		VersionTable: "seen_version", Migrations: migrations, TooNew: ErrSchemaTooNew})
}
