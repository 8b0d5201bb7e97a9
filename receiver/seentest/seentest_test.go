package seentest_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/receiver"
	"github.com/hookkit/hookkit/receiver/seentest"
)

// refStore is a small SeenStore on real time, correct unless bug names one of the defects
// below: the suite must pass it when bug is "" and fail it for every defect.
type refStore struct {
	bug string

	mu      sync.Mutex
	seq     int
	entries map[string]refEntry
}

type refEntry struct {
	token   string // "" once committed
	expires time.Time
}

// bugs are the defects the suite must catch.
var bugs = []string{
	"release-ignores-token",   // Release drops any reservation
	"release-drops-committed", // Release drops a seen record too
	"commit-keeps-lease",      // Commit keeps the reservation's expiry
	"lost-commit-not-kept",    // a commit without the lease is not recorded
	"lost-commit-silent",      // a commit without the lease returns nil
	"lease-never-expires",     // reservations ignore their lease
	"lease-expires-early",     // reservations last half their lease
	"ttl-expires-early",       // seen records last half their ttl
	"check-then-set",          // Reserve is not atomic
	"constant-token",          // every reservation has the same token
}

func (s *refStore) Reserve(_ context.Context, id string, lease time.Duration) (receiver.ReserveResult, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if e, ok := s.entries[id]; ok && now.Before(e.expires) {
		if e.token == "" {
			return receiver.AlreadySeen, "", nil
		}
		return receiver.InFlight, "", nil
	}
	if s.bug == "check-then-set" {
		s.mu.Unlock()
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
	}
	switch s.bug {
	case "lease-never-expires":
		lease = time.Hour
	case "lease-expires-early":
		lease /= 2
	}
	s.seq++
	tok := "t" + strconv.Itoa(s.seq)
	if s.bug == "constant-token" {
		tok = "t"
	}
	s.entries[id] = refEntry{token: tok, expires: now.Add(lease)}
	return receiver.Reserved, tok, nil
}

func (s *refStore) Commit(_ context.Context, id, token string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	e, ok := s.entries[id]
	held := ok && e.token != "" && e.token == token && now.Before(e.expires)
	if s.bug == "ttl-expires-early" {
		ttl /= 2
	}
	expires := now.Add(ttl)
	if s.bug == "commit-keeps-lease" && held {
		expires = e.expires
	}
	if held || s.bug != "lost-commit-not-kept" {
		s.entries[id] = refEntry{expires: expires}
	}
	if !held && s.bug != "lost-commit-silent" {
		return receiver.ErrLeaseLost
	}
	return nil
}

func (s *refStore) Release(_ context.Context, id, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	switch {
	case !ok:
	case s.bug == "release-drops-committed":
		delete(s.entries, id)
	case e.token != "" && (e.token == token || s.bug == "release-ignores-token"):
		delete(s.entries, id)
	}
	return nil
}

// bugEnv names the defect the helper test runs the suite against, in a child process.
const bugEnv = "SEENTEST_BUG"

func TestRunPassesACorrectStore(t *testing.T) {
	seentest.Run(t, func(t *testing.T) receiver.SeenStore {
		return &refStore{entries: map[string]refEntry{}}
	})
}

// TestRunCatchesDefects runs the suite against each defective store in a child process (a
// failed subtest cannot be undone in this one) and requires it to fail there.
func TestRunCatchesDefects(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite once per defect")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, bug := range bugs {
		t.Run(bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run=^TestDefectiveStore$", "-test.count=1", "-test.failfast")
			cmd.Env = append(os.Environ(), bugEnv+"="+bug)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the suite passed a store with defect %s:\n%s", bug, out)
			assert.Contains(t, string(out), "--- FAIL: TestDefectiveStore/")
		})
	}
}

// TestDefectiveStore is the child process of TestRunCatchesDefects.
func TestDefectiveStore(t *testing.T) {
	bug := os.Getenv(bugEnv)
	if bug == "" {
		t.Skip("run by TestRunCatchesDefects")
	}
	seentest.Run(t, func(t *testing.T) receiver.SeenStore {
		return &refStore{bug: bug, entries: map[string]refEntry{}}
	})
}
