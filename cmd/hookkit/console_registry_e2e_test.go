package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitLine waits (bounded polling of a real process's output, 30 s) for a line of the
// worker that ok accepts, and returns it.
func (w *workerProc) waitLine(t *testing.T, what string, ok func(finishedJSON) bool) finishedJSON {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for seen := 0; ; {
		w.mu.Lock()
		lines := append([]finishedJSON(nil), w.lines[seen:]...)
		stderr := w.stderr.String()
		w.mu.Unlock()
		for _, l := range lines {
			if ok(l) {
				return l
			}
		}
		seen += len(lines)
		select {
		case <-w.done:
			t.Fatalf("the worker exited before %s: %s", what, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; worker stderr: %s", what, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EConsoleRegistry: endpoints imported into a Postgres store's registry, a
// long-running "worker --registry" that disables one after a 410 from a loopback
// receiver; "console --registry" (another process, no dispatcher) shows it disabled from
// the registry, with "410 Gone" and its in-flight attempts as unknown; a POST without the
// form's token is refused; the Enable form (the page's CSRF token and session cookie)
// makes it active in the registry, and the worker delivers to it again — a new event, and
// the dead letter requeued from the console.
func TestE2EConsoleRegistry(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	recv := newCountingReceiver(t, 0, 0)
	recv.status.Store(http.StatusGone)
	file := endpointsFile(t,
		endpointJSONAt("acme", recv.srv.URL+"/acme?key=qsecret", ""),
		endpointJSONAt("globex", recv.srv.URL+"/globex", `,"filter":["invoice-*"]`))
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(11 * i)
	}
	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(key)) // inherited by the processes
	r := cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--allow-http", "--allow-private")
	require.Equal(t, 0, r.code, r.stderr)

	w := startWorker(t, "--store", dsn, "--registry", "--allow-private", "--allow-http")
	r = cli(t, "", "publish", "--store", dsn, "--endpoints", file, "--type", "order-created")
	require.Equal(t, 0, r.code, r.stderr)
	dead := w.waitLine(t, "the 410's dead letter", func(f finishedJSON) bool { return f.Endpoint == "acme" })
	assert.Equal(t, "dead", dead.Outcome)
	assert.Equal(t, 1, dead.Attempts)

	p := startConsole(t, "--store", dsn, "--registry")
	assert.Contains(t, p.logs(), "registry=true")
	c := newConsoleClient(t, p.url)
	code, overview := c.get("/")
	require.Equal(t, http.StatusOK, code, overview)
	row := regexp.MustCompile(`(?s)<tr>\s*<td><a href="/endpoints/acme">.*?</tr>`).FindString(overview)
	require.NotEmpty(t, row, overview)
	assert.Contains(t, row, `<span class="state disabled">disabled</span>`, "the registry's state, written by the worker")
	assert.Contains(t, row, "127.0.0.1", "the host, from the spec sealed with the key")
	assert.Contains(t, row, `<td class="num muted">unknown</td>`, "in flight: per worker, not known here")
	assert.Contains(t, overview, `<a href="/endpoints/globex">`)
	code, page := c.get("/endpoints/acme")
	require.Equal(t, http.StatusOK, code, page)
	assert.Contains(t, page, "410 Gone")
	assert.Contains(t, page, dead.ID)
	for _, s := range []string{testSecret, strings.TrimPrefix(testSecret, "whsec_"), "qsecret"} {
		assert.NotContains(t, overview+page, s)
	}

	// CSRF: a POST with the session cookie but without the form's token changes nothing.
	req, err := http.NewRequest(http.MethodPost, c.base+"/endpoints/acme/enable", strings.NewReader(url.Values{"csrf": {"forged"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	r = cli(t, "", "endpoint", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "disabled", endpointLines(t, r.stdout)["acme"].State, "a refused POST changes nothing")

	recv.status.Store(http.StatusNoContent)
	code, loc := c.post("/endpoints/acme", "/endpoints/acme/enable")
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/endpoints/acme", loc)
	r = cli(t, "", "endpoint", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	acme := endpointLines(t, r.stdout)["acme"]
	assert.Equal(t, "active", acme.State, "enabled in the registry")
	assert.Equal(t, "enabled in the console", acme.Reason)
	_, page = c.get("/endpoints/acme")
	assert.Contains(t, page, "is active again in the registry")

	r = cli(t, "", "publish", "--store", dsn, "--endpoints", file, "--type", "order-paid")
	require.Equal(t, 0, r.code, r.stderr)
	got := w.waitLine(t, "a delivery to the enabled endpoint", func(f finishedJSON) bool {
		return f.Endpoint == "acme" && f.Outcome == "delivered"
	})
	assert.NotEqual(t, dead.ID, got.ID)
	code, _ = c.post("/endpoints/acme", "/endpoints/acme/requeue")
	require.Equal(t, http.StatusSeeOther, code)
	w.waitLine(t, "the requeued dead letter delivered", func(f finishedJSON) bool { return f.ID == dead.ID && f.Outcome == "delivered" })
	assert.EqualValues(t, 2, recv.total.Load(), "two deliveries acknowledged by acme")

	// console --registry --worker: the registry's endpoints with this process's in-flight
	// attempts; its Disable reaches the registry, its Enable too, and its worker delivers.
	p.stop(t)
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGINT))
	<-w.done
	cw := startConsole(t, "--store", dsn, "--registry", "--worker", "--allow-http", "--allow-private")
	lines := make(chan finishedJSON, 10)
	go func() {
		for cw.stdout.Scan() {
			var f finishedJSON
			if json.Unmarshal(cw.stdout.Bytes(), &f) == nil {
				lines <- f
			}
		}
	}()
	c = newConsoleClient(t, cw.url)
	_, overview = c.get("/")
	assert.Contains(t, overview, "Attempts in flight are this process's")
	cells := regexp.MustCompile(`<td class="num(?: dead| muted)?">([^<]*)</td>`).FindAllStringSubmatch(
		regexp.MustCompile(`(?s)<tr>\s*<td><a href="/endpoints/globex">.*?</tr>`).FindString(overview), -1)
	require.Len(t, cells, 5, "failures, in flight, pending, leased, dead: %s", overview)
	assert.Equal(t, "0", cells[1][1], "in flight in this process: known")
	code, _ = c.post("/endpoints/acme", "/endpoints/acme/disable")
	require.Equal(t, http.StatusSeeOther, code)
	r = cli(t, "", "endpoint", "list", "--store", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "disabled", endpointLines(t, r.stdout)["acme"].State, "disabled through the console's worker")
	code, _ = c.post("/endpoints/acme", "/endpoints/acme/enable")
	require.Equal(t, http.StatusSeeOther, code)
	r = cli(t, "", "publish", "--store", dsn, "--endpoints", file, "--type", "order-refunded")
	require.Equal(t, 0, r.code, r.stderr)
	select {
	case f := <-lines:
		assert.Equal(t, "acme", f.Endpoint)
		assert.Equal(t, "delivered", f.Outcome)
	case <-time.After(30 * time.Second):
		t.Fatalf("the console's worker delivered nothing: %s", cw.logs())
	}
	assert.EqualValues(t, 3, recv.total.Load())
}

// TestE2EConsoleRegistryOldKeys: during a key rotation the console, given the new
// HOOKKIT_REGISTRY_KEY and the old key in HOOKKIT_REGISTRY_OLD_KEYS (as the workers are),
// shows the host of an endpoint whose spec is still sealed under the old key; with the new
// key alone it says the spec is sealed under another key.
func TestE2EConsoleRegistryOldKeys(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	file := endpointsFile(t, endpointJSONAt("acme", "http://127.0.0.1:9/acme", ""))
	old, cur := testRegistryKey(21), testRegistryKey(22)
	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(old))
	t.Setenv(registryOldKeysEnv, "")
	r := cli(t, "", "endpoint", "import", "--store", dsn, "--endpoints", file, "--allow-http", "--allow-private")
	require.Equal(t, 0, r.code, r.stderr)

	row := func() string {
		t.Helper()
		p := startConsole(t, "--store", dsn, "--registry")
		code, overview := newConsoleClient(t, p.url).get("/")
		require.Equal(t, http.StatusOK, code, overview)
		row := regexp.MustCompile(`(?s)<tr>\s*<td><a href="/endpoints/acme">.*?</tr>`).FindString(overview)
		require.NotEmpty(t, row, overview)
		return row
	}
	t.Setenv(registryKeyEnv, base64.StdEncoding.EncodeToString(cur))
	t.Setenv(registryOldKeysEnv, base64.StdEncoding.EncodeToString(old))
	assert.Contains(t, row(), "127.0.0.1", "opened with the old key")
	t.Setenv(registryOldKeysEnv, "")
	assert.Contains(t, row(), "sealed under another key")
}
