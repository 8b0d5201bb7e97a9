package pgapikeys

import (
	"context"
	"errors"

	"github.com/hookkit/hookkit/internal/pgschema"
)

// SchemaVersion is the version of the table this package writes, kept in the table
// api_keys_version of the store's schema. New creates the table at version 0 (a new
// schema), migrates an older one, and refuses a newer one (ErrSchemaTooNew).
const SchemaVersion = 1

// ErrSchemaTooNew is returned by New for a schema whose api_keys_version is above
// SchemaVersion: it was written by a newer hookkit, which this one must not change.
var ErrSchemaTooNew = errors.New("hookkit/pgapikeys: database schema is newer than this hookkit (written by a newer version)")

// migrations[v] takes a schema from version v to v+1; {s} is the quoted schema name.
//
// id is the primary key (Revoke, Touch); the digest has a unique index (Lookup, and no
// two keys with one digest). Times are timestamptz, microseconds, so that operators can
// query them as times.
var migrations = []string{
	0: `
CREATE TABLE {s}.api_keys (
	id        text        PRIMARY KEY,
	digest    bytea       NOT NULL UNIQUE CHECK (length(digest) = 32), -- SHA-256 of the key
	name      text        NOT NULL,
	prefix    text        NOT NULL,  -- the start of the key that may be shown
	created   timestamptz NOT NULL,
	last_used timestamptz,           -- NULL: never used
	revoked   timestamptz            -- NULL: valid
);
`,
}

// migrate creates or migrates the table (internal/pgschema: the version in
// api_keys_version; read only when it is current; otherwise one transaction under the
// schema's migration lock, shared with the other hookkit stores of the schema).
func (s *Store) migrate(ctx context.Context) error {
	return pgschema.Migrate(ctx, s.pool, pgschema.Spec{Pkg: "hookkit/pgapikeys", Schema: s.schema,
		VersionTable: "api_keys_version", Migrations: migrations, TooNew: ErrSchemaTooNew})
}
