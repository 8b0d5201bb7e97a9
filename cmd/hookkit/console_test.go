package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
	"github.com/hookkit/hookkit/event"
)

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:0": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.0.0.1:80": false, "192.168.1.2:80": false,
		"example.com:80": false,
	} {
		got, err := isLoopbackAddr(addr)
		require.NoError(t, err, addr)
		assert.Equal(t, want, got, addr)
	}
	_, err := isLoopbackAddr("127.0.0.1")
	assert.Error(t, err)
}

// Usage mistakes of console: a non-loopback --addr without --public is refused, naming
// the missing authentication; the worker's safety flags without --worker are refused.
func TestConsoleUsage(t *testing.T) {
	eps := writeFile(t, "endpoints.json", `{"endpoints":[{"id":"acme","url":"https://hooks.acme.example/x","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}]}`)
	db := "sqlite:" + filepath.Join(t.TempDir(), "q.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", db, "--endpoints", eps, "--addr", "0.0.0.0:0"}, "no authentication of its own"},
		{[]string{"--store", db, "--endpoints", eps, "--addr", ":0"}, "--public"},
		{[]string{"--store", db, "--endpoints", eps, "--addr", "nope"}, "HOST:PORT"},
		{[]string{"--store", db}, "--endpoints is required"},
		{[]string{"--store", db, "--endpoints", eps, "--allow-http"}, "are for --worker"},
		{[]string{"--store", db, "--endpoints", eps, "--worker", "--workers", "0"}, "--workers"},
		{[]string{"--endpoints", eps}, "--store is required"},
		{[]string{"--store", db, "--endpoints", eps, "extra"}, "unexpected argument"},
		{[]string{"--store", db, "--endpoints", eps, "--registry"}, "exclude each other"},
		{[]string{"--store", db, "--registry"}, "--registry needs a store with an endpoint registry"},
	} {
		r := runIn(t, "", append([]string{"console"}, tc.args...)...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want, tc.args)
		assert.Empty(t, r.stdout)
	}
	r := runIn(t, "", "console", "--help")
	for _, f := range []string{"--registry", "--secure-cookies"} {
		assert.Regexp(t, `\n  `+regexp.QuoteMeta(f)+`[ \n]`, r.stdout, "console --help documents %s", f)
	}
}

// consoleProc is a running `hookkit console` process.
type consoleProc struct {
	url    string
	cmd    *exec.Cmd
	stdout *bufio.Scanner
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

func (p *consoleProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startConsole runs `hookkit console --addr 127.0.0.1:0 args...` and waits for its
// "listening" line; SIGINT stops it at the end of the test.
func startConsole(t *testing.T, args ...string) *consoleProc {
	t.Helper()
	p := &consoleProc{done: make(chan struct{})}
	p.cmd = exec.Command(hookkitBin, append([]string{"console", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.stdout = bufio.NewScanner(stdout)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[2]
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.url = <-ready:
	case <-p.done:
		t.Fatalf("hookkit console exited before listening: %s", p.logs())
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("hookkit console did not report its address: %s", p.logs())
	}
	return p
}

func (p *consoleProc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("hookkit console did not stop on SIGINT")
	}
	assert.Equal(t, 0, p.cmd.ProcessState.ExitCode(), "exit status; stderr: %s", p.logs())
}

// seedDead stores n dead letters of endpoint ep in the SQLite file, each with one 422 attempt.
func seedDead(t *testing.T, path, ep string, n int) []string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitequeue.Open(ctx, path, sqlitequeue.Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	now := time.Now()
	var ids []string
	for i := range n {
		ev, err := event.New("order-created", map[string]int{"n": i})
		require.NoError(t, err)
		enc, err := ev.Encode()
		require.NoError(t, err)
		id := ep + "-dead-" + string(rune('a'+i))
		ids = append(ids, id)
		require.NoError(t, st.Enqueue(ctx, queue.Delivery{ID: id, EndpointID: ep, Event: enc, Created: now, Due: now}))
	}
	leased, err := st.Lease(ctx, queue.LeaseRequest{Now: now, Max: n, For: time.Minute})
	require.NoError(t, err)
	require.Len(t, leased, n)
	for _, d := range leased {
		errs, err := st.Complete(ctx, now, queue.DeadLetter(d.ID, d.Lease, queue.DeadReasonRejected, queue.Attempt{Number: 1, Start: now,
			Duration: 12 * time.Millisecond, Status: 422, Class: queue.ClassPermanent, Error: "status 422 Unprocessable Entity: Unknown order"}))
		require.NoError(t, err)
		require.NoError(t, errs[0])
	}
	return ids
}

// consoleClient is a browser-like client (cookies, same-origin forms, no redirects followed).
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &consoleClient{t: t, base: strings.TrimSuffix(base, "/"), c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *consoleClient) get(p string) (int, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.base + p)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(b)
}

var consoleTokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits the form of an action with the token of the page at from.
func (c *consoleClient) post(from, action string) (int, string) {
	c.t.Helper()
	_, page := c.get(from)
	m := consoleTokenRE.FindStringSubmatch(page)
	require.NotNil(c.t, m, "a form on %s", from)
	req, err := http.NewRequest(http.MethodPost, c.base+action, strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.c.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// hookkit console, standalone beside the workers: lists the store's dead letters with
// their last error (never a secret of the endpoints file), says that enable cannot reach a
// worker, requeues; with --worker, the same console's worker delivers what it requeues.
func TestE2EConsole(t *testing.T) {
	rcv := newCountingReceiver(t, 0, 0)
	const secret, bearer = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "tok_console_e2e_bearer"
	eps := writeFile(t, "endpoints.json", `{"endpoints":[{"id":"acme","url":"`+rcv.srv.URL+`/hooks?key=qsecret","secrets":["`+secret+`"],"bearer":"`+bearer+`"}]}`)
	path := filepath.Join(t.TempDir(), "q.db")
	ids := seedDead(t, path, "acme", 2)

	p := startConsole(t, "--store", "sqlite:"+path, "--endpoints", eps)
	assert.Contains(t, p.logs(), "no authentication of its own")
	c := newConsoleClient(t, p.url)
	code, page := c.get("/endpoints/acme")
	require.Equal(t, http.StatusOK, code, page)
	for _, id := range ids {
		assert.Contains(t, page, id)
	}
	assert.Contains(t, page, "status 422 Unprocessable Entity: Unknown order")
	assert.Contains(t, page, "unknown here", "no dispatcher: the state is unknown")
	_, overview := c.get("/")
	for _, s := range []string{secret, strings.TrimPrefix(secret, "whsec_"), bearer, "qsecret"} {
		assert.NotContains(t, page+overview, s)
	}

	code, loc := c.post("/endpoints/acme", "/endpoints/acme/enable")
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/endpoints/acme", loc)
	_, page = c.get("/endpoints/acme")
	assert.Contains(t, page, "Not enabled: this console runs no dispatcher")

	code, _ = c.post("/endpoints/acme", "/endpoints/acme/dead/"+ids[0]+"/requeue")
	require.Equal(t, http.StatusSeeOther, code)
	_, page = c.get("/endpoints/acme")
	assert.Contains(t, page, "Requeued 1 dead letter ("+ids[0]+")")
	p.stop(t)
	assert.Zero(t, rcv.total.Load(), "a console without --worker sends nothing")

	// With --worker: the requeued delivery is delivered, then the other one once requeued.
	w := startConsole(t, "--store", "sqlite:"+path, "--endpoints", eps, "--worker", "--allow-http", "--allow-private")
	lines := make(chan map[string]any, 10)
	go func() {
		for w.stdout.Scan() {
			var m map[string]any
			if json.Unmarshal(w.stdout.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func() map[string]any {
		select {
		case m := <-lines:
			return m
		case <-time.After(20 * time.Second):
			t.Fatalf("no finished delivery printed: %s", w.logs())
			return nil
		}
	}
	m := next()
	assert.Equal(t, ids[0], m["id"])
	assert.Equal(t, "delivered", m["outcome"])
	c = newConsoleClient(t, w.url)
	_, page = c.get("/endpoints/acme")
	assert.Contains(t, page, `<span class="state active">active</span>`, "with --worker the state is the worker's")
	code, _ = c.post("/endpoints/acme", "/endpoints/acme/requeue")
	require.Equal(t, http.StatusSeeOther, code)
	m = next()
	assert.Equal(t, ids[1], m["id"])
	assert.Equal(t, "delivered", m["outcome"])
	code, _ = c.post("/endpoints/acme", "/endpoints/acme/enable")
	require.Equal(t, http.StatusSeeOther, code)
	_, page = c.get("/endpoints/acme")
	assert.Contains(t, page, "Endpoint acme is active again.")
	assert.Equal(t, int64(2), rcv.total.Load())
}
