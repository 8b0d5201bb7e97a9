package services

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// schemaRecorder is a schemaTB that records instead of stopping the test, and runs its
// cleanups when told.
type schemaRecorder struct {
	recorder
	errs     []string
	cleanups []func()
}

func (r *schemaRecorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *schemaRecorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}

func (r *schemaRecorder) runCleanups() {
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
}

// fakePG is a database/sql driver that records the statements it is given, per DSN, and
// fails them with fail when set. This module has no Postgres driver: the tests of the
// Postgres modules use PostgresSchema on the real server (internal/pgschema's
// TestPostgresSchemaIsDropped).
type fakePG struct {
	mu    sync.Mutex
	execs map[string][]string
	fail  error
}

func (d *fakePG) Open(dsn string) (driver.Conn, error) { return fakeConn{d, dsn}, nil }

func (d *fakePG) reset(fail error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.execs, d.fail = map[string][]string{}, fail
}

func (d *fakePG) statements(dsn string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.execs[dsn]
}

type fakeConn struct {
	d   *fakePG
	dsn string
}

func (c fakeConn) ExecContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Result, error) {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.d.execs[c.dsn] = append(c.d.execs[c.dsn], query)
	if c.d.fail != nil {
		return nil, c.d.fail
	}
	return driver.RowsAffected(0), nil
}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fakePG: no Prepare") }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("fakePG: no Begin") }

var (
	fake         = &fakePG{}
	registerOnce sync.Once
)

// TestPostgresSchema: without the driver the test fails at once, naming the import;
// with it, each call gives a new name of SchemaPrefix and 12 hex digits and the test
// server's URL, and the cleanup drops that schema on that server (an error of the drop
// fails the test, without the URL); without a server it skips or fails as Postgres does.
func TestPostgresSchema(t *testing.T) {
	const url = "postgres://u:hunter2@127.0.0.1:5432/test"
	t.Setenv(PostgresEnv, url)
	if !slices.Contains(sql.Drivers(), PostgresDriver) {
		var r schemaRecorder
		dsn, schema := postgresSchema(&r)
		assert.Contains(t, r.fatal, `import _ "github.com/jackc/pgx/v5/stdlib"`)
		assert.Empty(t, dsn+schema)
		assert.Empty(t, r.cleanups)
	}
	registerOnce.Do(func() { sql.Register(PostgresDriver, fake) })

	fake.reset(nil)
	var r schemaRecorder
	dsn1, s1 := postgresSchema(&r)
	dsn2, s2 := postgresSchema(&r)
	assert.Equal(t, recorder{}, r.recorder)
	assert.Equal(t, url, dsn1)
	assert.Equal(t, url, dsn2)
	assert.Regexp(t, regexp.MustCompile(`^`+SchemaPrefix+`[0-9a-f]{12}$`), s1)
	assert.NotEqual(t, s1, s2)
	assert.Empty(t, fake.statements(url), "nothing is done before the cleanup")
	r.runCleanups()
	assert.Empty(t, r.errs)
	assert.Equal(t, []string{
		`DROP SCHEMA IF EXISTS "` + s2 + `" CASCADE`,
		`DROP SCHEMA IF EXISTS "` + s1 + `" CASCADE`,
	}, fake.statements(url))

	fake.reset(errors.New("permission denied for database test"))
	r = schemaRecorder{}
	_, s := postgresSchema(&r)
	r.runCleanups()
	require.Len(t, r.errs, 1)
	assert.Contains(t, r.errs[0], "dropping schema "+s+": permission denied")
	assert.NotContains(t, r.errs[0], "hunter2")

	t.Setenv(PostgresEnv, "")
	t.Setenv("CI", "")
	r = schemaRecorder{}
	dsn, schema := postgresSchema(&r)
	assert.Contains(t, r.skip, "needs PostgreSQL")
	assert.Empty(t, dsn+schema)
	assert.Empty(t, r.cleanups)
	t.Setenv("CI", "true")
	r = schemaRecorder{}
	postgresSchema(&r)
	assert.Contains(t, r.fatal, "needs PostgreSQL and HOOKKIT_TEST_POSTGRES is not set")
	assert.Empty(t, r.cleanups)
}
