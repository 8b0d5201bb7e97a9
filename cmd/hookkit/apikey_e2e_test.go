package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestE2EAPIKeysCreateListenRevoke: a key made with `hookkit apikey create` is shown once,
// accepted by `hookkit listen --apikey-store` as a bearer token, listed with its last use,
// and refused at the next request once revoked.
func TestE2EAPIKeysCreateListenRevoke(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	r := cli(t, "", "apikey", "create", "--store", dsn, "--name", "acme")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "shown once")
	var created apiKeyJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &created))
	require.True(t, strings.HasPrefix(created.Key, "dsk_"), created.Key)
	assert.Equal(t, "acme", created.Name)
	assert.True(t, strings.HasPrefix(created.Key, created.Prefix))

	secret := keygen(t, "standard")
	l := startListen(t, "--secret", secret, "--apikey-store", dsn)
	send := func(token string) sendResult {
		res, _ := sendCLI(t, "--url", l.url, "--secret", secret, "--type", "envelope-sent", "--bearer", token,
			"--max-attempts", "1", "--allow-private", "--allow-http", "--quiet")
		return res
	}
	assert.True(t, send(created.Key).Delivered, "the created key is accepted")
	l.next(t)
	res := send("dsk_not-a-key")
	require.Len(t, res.Attempts, 1)
	assert.Equal(t, 401, res.Attempts[0].Status)

	r = cli(t, "", "apikey", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	var listed apiKeyJSON
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &listed))
	assert.Equal(t, created.ID, listed.ID)
	assert.NotNil(t, listed.LastUsed, "the use was recorded")
	assert.Nil(t, listed.Revoked)
	assert.Empty(t, listed.Key, "list never shows a key")
	assert.NotContains(t, r.stdout, created.Key)

	r = cli(t, "", "apikey", "revoke", "--store", dsn, "--id", created.ID)
	require.Equal(t, 0, r.code, r.stderr)
	res = send(created.Key)
	require.Len(t, res.Attempts, 1)
	assert.Equal(t, 401, res.Attempts[0].Status, "refused at the next request")
	r = cli(t, "", "apikey", "list", "--store", dsn)
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &listed))
	assert.NotNil(t, listed.Revoked)

	r = cli(t, "", "apikey", "revoke", "--store", dsn)
	assert.Equal(t, 2, r.code)
	r = cli(t, "", "apikey", "list", "--store", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
	assert.Equal(t, 1, r.code)
	requireOneLineError(t, r)
	assert.NotContains(t, r.stderr, "hunter2")
	assert.NotContains(t, l.logs(), created.Key, "the key never in a log line")
}
