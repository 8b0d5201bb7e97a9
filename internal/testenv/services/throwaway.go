package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrNoPostgresBinaries is the error of a throwaway server when the PostgreSQL server
// binaries (initdb, pg_ctl) cannot be found: ThrowawayPostgres skips the test then, or
// fails it when CI=true.
var ErrNoPostgresBinaries = errors.New("services: no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or PATH")

// ErrNotRunning is returned by ThrowawayServer.Stop when the server is stopped already,
// and ErrRunning by Start when it runs.
var (
	ErrNotRunning = errors.New("services: the throwaway PostgreSQL server is not running")
	ErrRunning    = errors.New("services: the throwaway PostgreSQL server is running")
)

// throwawayStartTimeout bounds pg_ctl's wait for the server to accept connections.
const throwawayStartTimeout = 60 * time.Second

// ThrowawayServer is a PostgreSQL server of one test's own, in a temporary directory,
// on a free loopback port, that the test may stop and start again (on the same port,
// with the same data): for a test of what happens when the database restarts, which must
// not restart the server that the other tests share. Its only role is postgres, with
// trust authentication on 127.0.0.1; fsync is off. Its methods are safe for concurrent
// use.
type ThrowawayServer struct {
	bin  string // the directory of initdb and pg_ctl
	dir  string // the temporary directory: data/, sock/, log
	port int
	asPG bool // we are root: run the binaries as the postgres user

	mu      sync.Mutex
	running bool
}

// ThrowawayPostgres creates a PostgreSQL cluster in a new temporary directory (initdb,
// as the postgres user when the test runs as root, since initdb refuses root), starts it
// on a free port of 127.0.0.1, and returns it; at the end of t the server is stopped
// (immediate mode) and its directory removed. The binaries are the newest of
// /usr/lib/postgresql/*/bin (Debian's layout), else the initdb in PATH. Without them
// the test is skipped, or failed when CI=true; any other failure fails it.
func ThrowawayPostgres(t testing.TB) *ThrowawayServer {
	t.Helper()
	s, err := newThrowaway(t.Context())
	if errors.Is(err, ErrNoPostgresBinaries) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs a PostgreSQL server of its own: %v", err)
		}
		t.Skipf("needs a PostgreSQL server of its own: %v", err)
	}
	if err != nil {
		t.Fatalf("a throwaway PostgreSQL server: %v", err)
	}
	t.Cleanup(s.destroy)
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("a throwaway PostgreSQL server: %v", err)
	}
	return s
}

// debianPgBin is where Debian's packages put the server binaries, one directory per
// major version.
const debianPgBin = "/usr/lib/postgresql/*/bin"

// pgBin returns the directory holding initdb and pg_ctl: the newest of those matching
// pattern (a filepath.Glob pattern ending in <version>/bin), else the one of PATH's initdb.
func pgBin(pattern string) (string, error) {
	dirs, _ := filepath.Glob(pattern)
	// Newest first: sort by the version's number, not as strings ("9" > "15").
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoPostgresBinaries
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newThrowaway runs initdb into a new temporary directory; the server is not started.
func newThrowaway(ctx context.Context) (*ThrowawayServer, error) {
	bin, err := pgBin(debianPgBin)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("a free port: %w", err)
	}
	dir, err := os.MkdirTemp("", "hookkit-throwaway-pg-")
	if err != nil {
		return nil, err
	}
	s := &ThrowawayServer{bin: bin, dir: dir, port: port, asPG: os.Geteuid() == 0}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	// The postgres user must reach the directory (MkdirTemp makes it 0700) and own data/
	// and sock/.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	for _, sub := range []string{"data", "sock"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if s.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, initdb needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, sub := range []string{"data", "sock"} {
			if err := os.Chown(filepath.Join(dir, sub), uid, gid); err != nil {
				return nil, err
			}
		}
	}
	if out, err := s.run(ctx, "initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	ok = true
	return s, nil
}

func (s *ThrowawayServer) data() string { return filepath.Join(s.dir, "data") }

// run runs one of the server's binaries, as the postgres user when we are root, and
// returns its combined output.
func (s *ThrowawayServer) run(ctx context.Context, name string, args ...string) (string, error) {
	argv := append([]string{filepath.Join(s.bin, name)}, args...)
	var cmd *exec.Cmd
	if s.asPG {
		quoted := make([]string, len(argv))
		for i, a := range argv {
			quoted[i] = shellQuote(a)
		}
		cmd = exec.CommandContext(ctx, "su", "postgres", "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
	} else {
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	}
	// pg_ctl start leaves the server running with our stdout unless it is redirected:
	// the log file takes its output (-l), and nothing is inherited.
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// URL returns the server's postgres:// URL, database postgres, user postgres, on
// 127.0.0.1 and the server's port (the same across Stop and Start).
func (s *ThrowawayServer) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port returns the server's TCP port on 127.0.0.1.
func (s *ThrowawayServer) Port() int { return s.port }

// Start starts the server (pg_ctl start, waiting until it accepts connections) on its
// port, with the data the previous run left; ErrRunning if it runs.
func (s *ThrowawayServer) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return ErrRunning
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=100", s.port, s.dir+"/sock")
	out, err := s.run(ctx, "pg_ctl", "start", "-D", s.data(), "-w", "-t", strconv.Itoa(int(throwawayStartTimeout/time.Second)),
		"-l", filepath.Join(s.data(), "log"), "-o", opts)
	if err != nil {
		return fmt.Errorf("pg_ctl start: %w: %s", err, out)
	}
	s.running = true
	return nil
}

// Stop stops the server in fast mode (pg_ctl stop -m fast: open transactions are rolled
// back, every connection is closed), waiting until it has exited; ErrNotRunning if it
// does not run.
func (s *ThrowawayServer) Stop(ctx context.Context) error {
	return s.stop(ctx, "fast")
}

func (s *ThrowawayServer) stop(ctx context.Context, mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return ErrNotRunning
	}
	out, err := s.run(ctx, "pg_ctl", "stop", "-D", s.data(), "-m", mode, "-w")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	s.running = false
	return nil
}

// destroy stops the server if it runs (immediate mode) and removes its directory.
func (s *ThrowawayServer) destroy() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.stop(ctx, "immediate")
	_ = os.RemoveAll(s.dir)
}
