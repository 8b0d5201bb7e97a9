package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/testenv/services"
)

// endpointLines parses the JSON lines of endpoint list.
func endpointLines(t *testing.T, out string) map[string]endpointLineJSON {
	t.Helper()
	m := map[string]endpointLineJSON{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var l endpointLineJSON
		require.NoError(t, json.Unmarshal([]byte(line), &l), line)
		m[l.ID] = l
	}
	return m
}

// TestE2EEndpointRegistry: endpoints imported into a Postgres store's registry (secrets
// sealed with HOOKKIT_REGISTRY_KEY: absent from the stored rows) are listed active and
// served by "worker --registry"; "endpoint disable" disables one for every worker (its
// pending deliveries dead letters, the next worker sends it nothing); "endpoint enable"
// serves it again. Secrets without a key are refused unless --plaintext.
func TestE2EEndpointRegistry(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	recv := newCountingReceiver(t, 0, 0)
	file := endpointsFile(t,
		endpointJSONAt("all", recv.srv.URL+"/all", ""),
		endpointJSONAt("orders", recv.srv.URL+"/orders", `,"filter":["order-*"]`))
	t.Setenv(registryKeyEnv, "")
	r := cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--allow-http", "--allow-private")
	assert.Equal(t, 2, r.code, "no key, no --plaintext: %s", r.stderr)
	assert.Contains(t, r.stderr, registryKeyEnv)
	requireOneLineError(t, r)

	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(7 * i)
	}
	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(key))
	r = cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--allow-http", "--allow-private")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"imported":2}`, r.stdout)
	r = cli(t, "", "endpoint", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	eps := endpointLines(t, r.stdout)
	require.Len(t, eps, 2)
	assert.Equal(t, "active", eps["all"].State)
	assert.Equal(t, []string{"*"}, eps["all"].Filter)
	assert.Equal(t, []string{"order-*"}, eps["orders"].Filter)
	assert.NotContains(t, r.stdout, testSecret)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	conn, err := pgx.Connect(t.Context(), services.Postgres(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var specs [][]byte
	rows, err := conn.Query(t.Context(), "SELECT spec FROM "+pgx.Identifier{u.Query().Get("hookkit_schema")}.Sanitize()+".endpoints")
	require.NoError(t, err)
	for rows.Next() {
		var b []byte
		require.NoError(t, rows.Scan(&b))
		specs = append(specs, b)
	}
	require.NoError(t, rows.Err())
	require.Len(t, specs, 2)
	for _, b := range specs {
		assert.NotContains(t, string(b), strings.TrimPrefix(testSecret, "whsec_"), "the stored spec is sealed")
		assert.NotContains(t, string(b), recv.srv.URL)
	}

	publish := func(typ string) {
		t.Helper()
		r := cli(t, "", "publish", "--store", dsn, "--endpoints", file, "--type", typ)
		require.Equal(t, 0, r.code, r.stderr)
	}
	work := func() []finishedJSON {
		t.Helper()
		r := cli(t, "", "worker", "--store", dsn, "--registry", "--until-empty", "--allow-private", "--allow-http")
		require.Equal(t, 0, r.code, r.stderr)
		return finishedLines(t, r.stdout)
	}
	publish("order-created")
	fin := work()
	require.Len(t, fin, 2)
	for _, f := range fin {
		assert.Equal(t, "delivered", f.Outcome, f.Endpoint)
	}
	assert.EqualValues(t, 2, recv.total.Load())

	publish("order-paid")
	r = cli(t, "", "endpoint", "disable", "--store", dsn, "--id", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	var line endpointLineJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &line))
	assert.Equal(t, "disabled", line.State)
	require.NotNil(t, line.Dead)
	assert.Equal(t, 1, *line.Dead, "its pending delivery dead-lettered")
	publish("order-shipped") // the file still lists orders: the worker sends it nothing
	fin = work()
	for _, f := range fin {
		if f.Endpoint == "orders" {
			assert.Equal(t, "dead", f.Outcome, "a disabled endpoint's delivery")
		}
	}
	assert.EqualValues(t, 4, recv.total.Load(), "order-paid and order-shipped to all only")
	r = cli(t, "", "queue", "dead", "--store", dsn, "--endpoint", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 2, strings.Count(strings.TrimSpace(r.stdout), "\n")+1, "order-paid (disable) and order-shipped (worker): %s", r.stdout)
	assert.NotContains(t, r.stdout, `"status":`, "no attempt")

	r = cli(t, "", "endpoint", "enable", "--store", dsn, "--id", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	publish("order-returned")
	fin = work()
	require.Len(t, fin, 2)
	assert.EqualValues(t, 6, recv.total.Load(), "orders served again")

	r = cli(t, "", "endpoint", "enable", "--store", dsn)
	assert.Equal(t, 2, r.code)
	r = cli(t, "", "endpoint", "list", "--store", "sqlite:"+t.TempDir()+"/x.db")
	assert.Equal(t, 2, r.code)
	r = cli(t, "", "worker", "--store", dsn, "--registry", "--endpoints", file)
	assert.Equal(t, 2, r.code)
}

// TestE2EEndpointImportRefusesAsTheCLIDoes: "endpoint import" refuses an --endpoints file
// over the size limit or with an unknown field (at the top or in an entry) with the
// words, and the exit status 2, of every command that reads the file ("worker"), and
// writes nothing to the registry.
func TestE2EEndpointImportRefusesAsTheCLIDoes(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	entry := endpointJSONAt("a", "https://hooks.example.com/a", "")
	files := map[string]string{
		"unknown field":          writeFile(t, "top.json", `{"endpoints":[`+entry+`],"colour":"red"}`),
		"unknown endpoint field": endpointsFile(t, endpointJSONAt("a", "https://hooks.example.com/a", `,"colour":"red"`)),
		"over the size limit":    writeFile(t, "big.json", `{"endpoints":[`+entry+`]}`+strings.Repeat(" ", maxEndpointsFile)),
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			imp := cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--plaintext")
			assert.Equal(t, 2, imp.code, imp.stderr)
			requireOneLineError(t, imp)
			work := cli(t, "", "worker", "--store", storeDSN(t, "sqlite"), "--endpoints", file)
			require.Equal(t, 2, work.code, work.stderr)
			assert.Equal(t, strings.ReplaceAll(work.stderr, "hookkit worker", "hookkit endpoint"), imp.stderr)
		})
	}
	r := cli(t, "", "endpoint", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, strings.TrimSpace(r.stdout), "nothing imported")
}

// TestE2EEndpointDeleteAndPurge: "endpoint delete" removes an endpoint from the registry
// (no longer listed; its pending delivery dead-lettered as unsubscribed; deleting it again
// is an error); "endpoint purge" drops the record of the deletion only once it is older
// than --older-than, and needs a positive one.
func TestE2EEndpointDeleteAndPurge(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	recv := newCountingReceiver(t, 0, 0)
	file := endpointsFile(t,
		endpointJSONAt("all", recv.srv.URL+"/all", ""),
		endpointJSONAt("orders", recv.srv.URL+"/orders", `,"filter":["order-*"]`))
	t.Setenv(registryKeyEnv, "")
	r := cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--plaintext", "--allow-http", "--allow-private")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "publish", "--store", dsn, "--endpoints", file, "--type", "order-created")
	require.Equal(t, 0, r.code, r.stderr)

	r = cli(t, "", "endpoint", "delete", "--store", dsn, "--id", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"id":"orders","dead_lettered":1}`, r.stdout)
	r = cli(t, "", "endpoint", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	eps := endpointLines(t, r.stdout)
	assert.Len(t, eps, 1)
	assert.Contains(t, eps, "all")
	r = cli(t, "", "queue", "dead", "--store", dsn, "--endpoint", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"reason":"endpoint unsubscribed"`)
	r = cli(t, "", "endpoint", "delete", "--store", dsn, "--id", "orders")
	assert.Equal(t, 1, r.code, "deleted already")
	requireOneLineError(t, r)

	r = cli(t, "", "endpoint", "purge", "--store", dsn, "--older-than", "24h")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"purged":0}`, r.stdout, "deleted a moment ago: kept")
	r = cli(t, "", "endpoint", "purge", "--store", dsn, "--older-than", "1ns")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"purged":1}`, r.stdout)
	r = cli(t, "", "endpoint", "purge", "--store", dsn, "--older-than", "1ns")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"purged":0}`, r.stdout, "nothing left")
	r = cli(t, "", "endpoint", "purge", "--store", dsn)
	assert.Equal(t, 2, r.code, "no --older-than")
	requireOneLineError(t, r)
}
