package pgapikeys_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/auth/apikeytest"
	"github.com/hookkit/hookkit/auth/pgapikeys"
	"github.com/hookkit/hookkit/internal/pgschema/pgtest"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// shared is the pool the tests of this package share (closed by TestMain).
var shared pgtest.SharedPool

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

// newStore returns a Store in a new schema of the shared pool.
func newStore(t testing.TB) *pgapikeys.Store {
	t.Helper()
	s, err := pgapikeys.New(context.Background(), shared.Get(t), pgapikeys.Config{Schema: pgtest.Schema(t)})
	require.NoError(t, err)
	return s
}

// TestConformance runs the APIKeyStore conformance suite, each subtest in a schema of
// its own.
func TestConformance(t *testing.T) {
	apikeytest.Run(t, func(t *testing.T) apikeytest.Store { return newStore(t) })
}

func bearer(key string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	return r
}

// TestTwoReplicas: two validators on two Stores and two pools (two replicas) share the
// keys: a key created by one is accepted by the other, a revocation made through one is
// refused by the next request to the other, and both write LastUsed, once per interval
// each.
func TestTwoReplicas(t *testing.T) {
	schema := pgtest.Schema(t)
	var stores [2]*pgapikeys.Store
	var vs [2]*auth.APIKeyValidator
	var clock struct {
		sync.Mutex
		t time.Time
	}
	clock.t = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.t }
	for i := range stores {
		var err error
		stores[i], err = pgapikeys.New(t.Context(), pgtest.Pool(t), pgapikeys.Config{Schema: schema})
		require.NoError(t, err)
		vs[i], err = auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: stores[i], Now: now})
		require.NoError(t, err)
	}
	oldKey, old, err := stores[0].Create(t.Context(), "dsk_", "acme 2024")
	require.NoError(t, err)
	newKey, cur, err := stores[1].Create(t.Context(), "dsk_", "acme 2025")
	require.NoError(t, err)
	for _, v := range vs {
		for _, k := range []string{oldKey, newKey} {
			p, err := v.Validate(t.Context(), bearer(k))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(p.Subject, "apikey:"))
		}
	}
	list, err := stores[1].List(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 2)
	for _, k := range list {
		assert.Equal(t, now(), k.LastUsed, "key %s: LastUsed", k.Name)
	}

	require.NoError(t, stores[0].Revoke(t.Context(), old.ID))
	_, err = vs[1].Validate(t.Context(), bearer(oldKey))
	require.ErrorIs(t, err, auth.ErrInvalidCredentials, "the other replica refuses the revoked key at its next request")
	_, err = vs[1].Validate(t.Context(), bearer(newKey))
	require.NoError(t, err)

	clock.Lock()
	clock.t = clock.t.Add(90 * time.Second)
	clock.Unlock()
	_, err = vs[0].Validate(t.Context(), bearer(newKey))
	require.NoError(t, err)
	list, err = stores[0].List(t.Context())
	require.NoError(t, err)
	for _, k := range list {
		switch k.ID {
		case cur.ID:
			assert.Equal(t, now(), k.LastUsed, "used again after the interval")
			assert.True(t, k.Revoked.IsZero())
		case old.ID:
			assert.Equal(t, now().Add(-90*time.Second), k.LastUsed, "still the last use before it was revoked")
			assert.False(t, k.Revoked.IsZero())
		}
	}
}

// TestLookupUsesTheIndex: with 20,000 keys in the table, the plan of Lookup's statement
// is an index scan on the digest's unique index, not a scan of the table.
func TestLookupUsesTheIndex(t *testing.T) {
	s := newStore(t)
	pool := shared.Get(t)
	tbl := pgx.Identifier{s.Schema(), "api_keys"}.Sanitize()
	_, err := pool.Exec(t.Context(), `INSERT INTO `+tbl+` (id, name, digest, prefix, created)
SELECT 'id' || i, '', sha256(i::text::bytea), '', now() FROM generate_series(1, 20000) AS i`)
	require.NoError(t, err)
	_, err = pool.Exec(t.Context(), `ANALYZE `+tbl)
	require.NoError(t, err)
	d := sha256.Sum256([]byte("777"))
	var plan []string
	rows, err := pool.Query(t.Context(), `EXPLAIN SELECT id FROM `+tbl+` WHERE digest = $1 AND revoked IS NULL`, d[:])
	require.NoError(t, err)
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	assert.Contains(t, strings.Join(plan, "\n"), "Index Scan using api_keys_digest_key", "plan:\n%s", strings.Join(plan, "\n"))
	k, err := s.Lookup(t.Context(), d)
	require.NoError(t, err)
	assert.Equal(t, "id777", k.ID)
}

// TestMigration: New on a current schema changes nothing and keeps the keys; four News
// at once on a new schema migrate it once; a schema of a newer hookkit is refused; a
// schema holding another store's schema_version table (hookkit/dispatch/pgqueue's) is
// no obstacle.
func TestMigration(t *testing.T) {
	pool := shared.Get(t)
	t.Run("reopen", func(t *testing.T) {
		s := newStore(t)
		plain, k, err := s.Create(t.Context(), "k_", "kept")
		require.NoError(t, err)
		s2, err := pgapikeys.New(t.Context(), pool, pgapikeys.Config{Schema: s.Schema()})
		require.NoError(t, err)
		got, err := s2.Lookup(t.Context(), sha256.Sum256([]byte(plain)))
		require.NoError(t, err)
		assert.Equal(t, k, got)
	})
	t.Run("concurrent", func(t *testing.T) {
		schema := pgtest.Schema(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				// A pool each, as four processes starting at once have.
				p, err := pgxpool.New(t.Context(), services.Postgres(t))
				if !assert.NoError(t, err) {
					return
				}
				defer p.Close()
				_, err = pgapikeys.New(t.Context(), p, pgapikeys.Config{Schema: schema})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		var n int
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "api_keys_version"}.Sanitize()).Scan(&n))
		assert.Equal(t, 1, n)
	})
	t.Run("concurrent on one pool", func(t *testing.T) {
		schema := pgtest.Schema(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err := pgapikeys.New(t.Context(), pool, pgapikeys.Config{Schema: schema})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
	})
	t.Run("too new", func(t *testing.T) {
		s := newStore(t)
		_, err := pool.Exec(t.Context(), `UPDATE `+pgx.Identifier{s.Schema(), "api_keys_version"}.Sanitize()+` SET version = $1`, pgapikeys.SchemaVersion+1)
		require.NoError(t, err)
		_, err = pgapikeys.New(t.Context(), pool, pgapikeys.Config{Schema: s.Schema()})
		require.ErrorIs(t, err, pgapikeys.ErrSchemaTooNew)
	})
	t.Run("beside another store", func(t *testing.T) {
		schema := pgtest.Schema(t)
		_, err := pool.Exec(t.Context(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()+`;
CREATE TABLE `+pgx.Identifier{schema, "schema_version"}.Sanitize()+` (one boolean PRIMARY KEY DEFAULT true, version integer NOT NULL);
INSERT INTO `+pgx.Identifier{schema, "schema_version"}.Sanitize()+` (version) VALUES (1)`)
		require.NoError(t, err)
		s, err := pgapikeys.New(t.Context(), pool, pgapikeys.Config{Schema: schema})
		require.NoError(t, err)
		_, _, err = s.Create(t.Context(), "k_", "")
		require.NoError(t, err)
	})
}

func TestNewRefusesABadConfig(t *testing.T) {
	_, err := pgapikeys.New(t.Context(), nil, pgapikeys.Config{})
	require.ErrorIs(t, err, pgapikeys.ErrInvalidConfig)
	pool := shared.Get(t)
	for _, bad := range []string{"Hookkit", "a-b", "pg_keys", "1abc", strings.Repeat("a", 64), `x"; DROP TABLE y; --`} {
		_, err := pgapikeys.New(t.Context(), pool, pgapikeys.Config{Schema: bad})
		require.ErrorIs(t, err, pgapikeys.ErrInvalidConfig, bad)
	}
}

// TestStoreDown: with the database out of reach (a closed pool; a server that refuses
// connections, on a URL with a password), Lookup fails, the validator answers
// ErrValidatorUnavailable (503), and no error has the key or the password.
func TestStoreDown(t *testing.T) {
	schema := pgtest.Schema(t)
	pool, err := pgxpool.New(t.Context(), services.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close) // if a require below stops the test first
	s, err := pgapikeys.New(t.Context(), pool, pgapikeys.Config{Schema: schema})
	require.NoError(t, err)
	plain, _, err := s.Create(t.Context(), "dsk_", "")
	require.NoError(t, err)
	pool.Close() // the store's database is down from here on

	const password = "s3cret-db-passw0rd"
	refused, err := pgxpool.New(t.Context(), "postgres://hookkit:"+password+"@127.0.0.1:1/db?connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(refused.Close)
	_, err = pgapikeys.New(t.Context(), refused, pgapikeys.Config{Schema: schema})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), password)

	v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: s})
	require.NoError(t, err)
	_, err = s.Lookup(t.Context(), sha256.Sum256([]byte(plain)))
	require.Error(t, err)
	require.NotErrorIs(t, err, auth.ErrUnknownAPIKey)
	_, err = v.Validate(t.Context(), bearer(plain))
	require.ErrorIs(t, err, auth.ErrValidatorUnavailable)
	status, _ := auth.Challenge(err)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.NotContains(t, err.Error(), plain)
	for _, err := range []error{
		s.Touch(t.Context(), "x", time.Now()),
		s.Revoke(t.Context(), "x"),
		func() error { _, _, err := s.Create(t.Context(), "dsk_", ""); return err }(),
		func() error { _, err := s.List(t.Context()); return err }(),
	} {
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "hookkit/pgapikeys: "), err.Error())
	}
}

// BenchmarkValidate validates one key among 10 and 100,000 in Postgres (one Lookup
// round trip on loopback per request; the Touch once a minute).
func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s := newStore(b)
			pool := shared.Get(b)
			tbl := pgx.Identifier{s.Schema(), "api_keys"}.Sanitize()
			_, err := pool.Exec(b.Context(), `INSERT INTO `+tbl+` (id, name, digest, prefix, created)
SELECT 'id' || i, '', sha256(i::text::bytea), '', now() FROM generate_series(1, $1) AS i`, n-1)
			require.NoError(b, err)
			_, err = pool.Exec(b.Context(), `ANALYZE `+tbl)
			require.NoError(b, err)
			key, _, err := s.Create(b.Context(), "dsk_", "")
			require.NoError(b, err)
			v, err := auth.NewAPIKeyValidator(auth.APIKeyConfig{Keys: s})
			require.NoError(b, err)
			r := bearer(key)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Validate(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
