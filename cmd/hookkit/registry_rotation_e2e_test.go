package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/internal/testenv/services"
)

// testRegistryKey returns a 32-byte key derived from seed.
func testRegistryKey(seed byte) []byte {
	k := make([]byte, dispatch.SpecKeySize)
	for i := range k {
		k[i] = seed + byte(11*i)
	}
	return k
}

// storedSpecs reads the spec column of every endpoint record of the store dsn, by id.
func storedSpecs(t *testing.T, dsn string) map[string][]byte {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	conn, err := pgx.Connect(t.Context(), services.Postgres(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT id, spec FROM "+pgx.Identifier{u.Query().Get("hookkit_schema")}.Sanitize()+".endpoints WHERE NOT deleted")
	require.NoError(t, err)
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var b []byte
		require.NoError(t, rows.Scan(&id, &b))
		out[id] = b
	}
	require.NoError(t, rows.Err())
	return out
}

// TestE2EPublishRegistry: "publish --registry" fans out through the store's registry:
// each event to the endpoints whose filter matches its type and that are not disabled
// (one event, and NDJSON from stdin, the same JSON output as with --endpoints), with no
// registry key; "worker --registry" then delivers to exactly those endpoints.
// --registry excludes --endpoints and needs a Postgres store.
func TestE2EPublishRegistry(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	recv := newCountingReceiver(t, 0, 0)
	file := endpointsFile(t,
		endpointJSONAt("all", recv.srv.URL+"/all", ""),
		endpointJSONAt("orders", recv.srv.URL+"/orders", `,"filter":["order-*"]`),
		endpointJSONAt("invoices", recv.srv.URL+"/invoices", `,"filter":["invoice-sent"]`),
		endpointJSONAt("off", recv.srv.URL+"/off", `,"filter":["order-*"]`))
	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(testRegistryKey(3)))
	t.Setenv(registryOldKeysEnv, "")
	r := cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--allow-http", "--allow-private")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "endpoint", "disable", "--store", dsn, "--id", "off")
	require.Equal(t, 0, r.code, r.stderr)

	t.Setenv(registryKeyEnv, "") // publishing opens no spec
	r = cli(t, "", "publish", "--store", dsn, "--registry", "--type", "order-created", "--id", "evt_1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"events":1,"deliveries":2}`, r.stdout, "all and orders; off is disabled")
	r = cli(t, "{\"type\":\"invoice-sent\",\"id\":\"evt_2\"}\n{\"type\":\"order-paid\",\"id\":\"evt_3\"}\n{\"type\":\"user-created\",\"id\":\"evt_4\"}\n",
		"publish", "--store", dsn, "--registry", "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"events":3,"deliveries":5}`, r.stdout)

	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(testRegistryKey(3)))
	r = cli(t, "", "worker", "--store", dsn, "--registry", "--until-empty", "--allow-private", "--allow-http")
	require.Equal(t, 0, r.code, r.stderr)
	fin := finishedLines(t, r.stdout)
	require.Len(t, fin, 7)
	for _, f := range fin {
		assert.Equal(t, "delivered", f.Outcome, f.Endpoint)
	}
	assert.Equal(t, map[string]int{
		"/all evt_1": 1, "/orders evt_1": 1,
		"/all evt_2": 1, "/invoices evt_2": 1,
		"/all evt_3": 1, "/orders evt_3": 1,
		"/all evt_4": 1,
	}, recv.counts(), "exactly the matching, enabled endpoints")

	r = cli(t, "", "publish", "--store", dsn, "--registry", "--endpoints", file, "--type", "order-created")
	assert.Equal(t, 2, r.code, "--registry and --endpoints")
	requireOneLineError(t, r)
	r = cli(t, "", "publish", "--store", "sqlite:"+t.TempDir()+"/x.db", "--registry", "--type", "order-created")
	assert.Equal(t, 2, r.code, "no registry in a SQLite store")
	r = cli(t, "", "publish", "--store", dsn, "--type", "order-created")
	assert.Equal(t, 2, r.code, "neither")
}

// TestE2ERegistryKeyRotation: endpoints imported under an old key are served by a worker
// given the new key with the old one in HOOKKIT_REGISTRY_OLD_KEYS; "endpoint rekey" re-seals them all under the new key, keeping their
// states (a disabled endpoint stays disabled): afterwards no stored spec opens with the
// old key alone, every one with the new key alone, and a worker with the new key alone
// delivers. Rekey with a key that opens nothing fails (exit 1), names the endpoints and
// no secret, and writes nothing; without a key, and with an undecodable old key, it is a
// usage error that does not echo the value.
func TestE2ERegistryKeyRotation(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	recv := newCountingReceiver(t, 0, 0)
	file := endpointsFile(t,
		endpointJSONAt("a", recv.srv.URL+"/a", ""),
		endpointJSONAt("b", recv.srv.URL+"/b", `,"filter":["order-*"]`),
		endpointJSONAt("c", recv.srv.URL+"/c", ""))
	old, cur := testRegistryKey(5), testRegistryKey(9)
	t.Setenv(registryKeyEnv, hex.EncodeToString(old))
	t.Setenv(registryOldKeysEnv, "")
	r := cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--allow-http", "--allow-private")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "endpoint", "disable", "--store", dsn, "--id", "c")
	require.Equal(t, 0, r.code, r.stderr)
	before := storedSpecs(t, dsn)
	require.Len(t, before, 3)

	work := func() []finishedJSON {
		t.Helper()
		r := cli(t, "", "worker", "--store", dsn, "--registry", "--until-empty", "--allow-private", "--allow-http")
		require.Equal(t, 0, r.code, r.stderr)
		return finishedLines(t, r.stdout)
	}
	publish := func(id string) {
		t.Helper()
		r := cli(t, "", "publish", "--store", dsn, "--registry", "--type", "order-created", "--id", id)
		require.Equal(t, 0, r.code, r.stderr)
		assert.JSONEq(t, `{"events":1,"deliveries":2}`, r.stdout)
	}

	// The wrong key alone: rekey opens nothing and writes nothing.
	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(cur))
	r = cli(t, "", "endpoint", "rekey", "--store", dsn)
	assert.Equal(t, 1, r.code, r.stderr)
	assert.JSONEq(t, `{"rekeyed":0,"unchanged":0,"failed":3}`, r.stdout)
	for _, id := range []string{`"a"`, `"b"`, `"c"`} {
		assert.Contains(t, r.stderr, id)
	}
	assert.Contains(t, r.stderr, dispatch.ErrSpecKey.Error())
	for _, s := range []string{strings.TrimPrefix(testSecret, "whsec_"), base64.StdEncoding.EncodeToString(cur), hex.EncodeToString(old)} {
		assert.NotContains(t, r.stderr+r.stdout, s)
	}
	assert.Equal(t, before, storedSpecs(t, dsn), "nothing written")

	publish("evt_1")
	// With the old key among the old ones, the worker serves them.
	t.Setenv(registryOldKeysEnv, base64.RawURLEncoding.EncodeToString(testRegistryKey(1))+" , "+hex.EncodeToString(old))
	fin := work()
	require.Len(t, fin, 2)
	for _, f := range fin {
		assert.Equal(t, "delivered", f.Outcome, f.Endpoint)
	}

	r = cli(t, "", "endpoint", "rekey", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"rekeyed":3,"unchanged":0,"failed":0}`, r.stdout)
	after := storedSpecs(t, dsn)
	require.Len(t, after, 3)
	for id, b := range after {
		assert.NotEqual(t, before[id], b, id)
		_, err := dispatch.SpecCodec{Key: old}.Open(id, b)
		assert.ErrorIs(t, err, dispatch.ErrSpecKey, "%s: the old key alone no longer opens it", id)
		_, err = dispatch.SpecCodec{Key: cur}.Open(id, b)
		assert.NoError(t, err, "%s: the new key alone opens it", id)
		assert.NotContains(t, string(b), strings.TrimPrefix(testSecret, "whsec_"))
	}
	r = cli(t, "", "endpoint", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	eps := endpointLines(t, r.stdout)
	assert.Equal(t, "disabled", eps["c"].State, "rekey keeps the state")
	assert.Equal(t, "active", eps["a"].State)
	assert.Equal(t, []string{"order-*"}, eps["b"].Filter, "and the patterns")
	r = cli(t, "", "endpoint", "rekey", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"rekeyed":0,"unchanged":3,"failed":0}`, r.stdout, "a second run changes nothing")

	t.Setenv(registryOldKeysEnv, "")
	publish("evt_2")
	fin = work()
	require.Len(t, fin, 2, "the new key alone serves them now")
	for _, f := range fin {
		assert.Equal(t, "delivered", f.Outcome, f.Endpoint)
	}
	assert.Equal(t, map[string]int{"/a evt_1": 1, "/b evt_1": 1, "/a evt_2": 1, "/b evt_2": 1}, recv.counts())

	t.Setenv(registryKeyEnv, "")
	r = cli(t, "", "endpoint", "rekey", "--store", dsn)
	assert.Equal(t, 2, r.code, "rekey needs a key")
	assert.Contains(t, r.stderr, registryKeyEnv)
	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(cur))
	t.Setenv(registryOldKeysEnv, hex.EncodeToString(old)+",not-a-key-secretish")
	r = cli(t, "", "endpoint", "rekey", "--store", dsn)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "key 2")
	assert.NotContains(t, r.stderr, "secretish")
	assert.NotContains(t, r.stderr, hex.EncodeToString(old))
	r = cli(t, "", "worker", "--store", dsn, "--registry", "--until-empty")
	assert.Equal(t, 2, r.code, "the worker reads the old keys too")
}
