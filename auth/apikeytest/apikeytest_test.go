package apikeytest_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/auth/apikeytest"
)

// refStore is a small store, correct unless bug names one of the defects below: the
// suite must pass it when bug is "" and fail it for every defect.
type refStore struct {
	bug  string
	mu   sync.Mutex
	keys []*auth.APIKey
}

// bugs are the defects the suite must catch.
var bugs = []string{
	"lookup-finds-revoked",  // Lookup returns a revoked key
	"lookup-first-key",      // Lookup returns the first key whatever the digest
	"digest-without-prefix", // Digest is the SHA-256 of the random part only
	"no-prefix-hint",        // Prefix is the key's prefix only
	"list-hides-revoked",    // List leaves revoked keys out
	"list-newest-first",     // List is in the wrong order
	"revoke-moves-time",     // revoking twice sets Revoked again
	"revoke-unknown-silent", // revoking an unknown id returns nil
	"touch-moves-back",      // Touch sets LastUsed even to an earlier time
	"touch-all",             // Touch sets LastUsed of every key
	"touch-unknown-error",   // Touch of an unknown id fails
	"constant-id",           // every key has the same ID
}

func (s *refStore) Create(_ context.Context, prefix, name string) (string, auth.APIKey, error) {
	plain, k, err := auth.NewAPIKey(prefix, name, time.Now())
	if err != nil {
		return "", auth.APIKey{}, err
	}
	switch s.bug {
	case "digest-without-prefix":
		k.Digest = sha256.Sum256([]byte(plain[len(prefix):]))
	case "no-prefix-hint":
		k.Prefix = prefix
	case "constant-id":
		k.ID = "same"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, &k)
	return plain, k, nil
}

func (s *refStore) List(context.Context) ([]auth.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []auth.APIKey
	for _, k := range s.keys {
		if s.bug == "list-hides-revoked" && !k.Revoked.IsZero() {
			continue
		}
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b auth.APIKey) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) })
	if s.bug == "list-newest-first" {
		slices.Reverse(out)
	}
	return out, nil
}

func (s *refStore) Revoke(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.ID == id {
			if k.Revoked.IsZero() || s.bug == "revoke-moves-time" {
				k.Revoked = time.Now()
			}
			return nil
		}
	}
	if s.bug == "revoke-unknown-silent" {
		return nil
	}
	return auth.ErrUnknownAPIKey
}

func (s *refStore) Lookup(_ context.Context, digest [32]byte) (auth.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bug == "lookup-first-key" && len(s.keys) > 0 {
		return *s.keys[0], nil
	}
	for _, k := range s.keys {
		if k.Digest == digest && (k.Revoked.IsZero() || s.bug == "lookup-finds-revoked") {
			return *k, nil
		}
	}
	return auth.APIKey{}, auth.ErrUnknownAPIKey
}

func (s *refStore) Touch(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, k := range s.keys {
		if k.ID == id || s.bug == "touch-all" {
			found = found || k.ID == id
			if k.LastUsed.Before(at) || s.bug == "touch-moves-back" {
				k.LastUsed = at
			}
		}
	}
	if !found && s.bug == "touch-unknown-error" {
		return auth.ErrUnknownAPIKey
	}
	return nil
}

// TestRunPassesACorrectStore runs the suite against the reference store and against
// auth.MemoryAPIKeys.
func TestRunPassesACorrectStore(t *testing.T) {
	t.Run("ref", func(t *testing.T) {
		apikeytest.Run(t, func(*testing.T) apikeytest.Store { return &refStore{} })
	})
	t.Run("MemoryAPIKeys", func(t *testing.T) {
		apikeytest.Run(t, func(*testing.T) apikeytest.Store { return auth.NewMemoryAPIKeys() })
	})
}

// bugEnv names the defect the helper test runs the suite against, in a child process.
const bugEnv = "APIKEYTEST_BUG"

// TestRunCatchesDefects runs the suite against each defective store in a child process
// (a failed subtest cannot be undone in this one) and requires it to fail there.
func TestRunCatchesDefects(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, bug := range bugs {
		t.Run(bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestDefectiveStore$", "-test.count=1")
			cmd.Env = append(os.Environ(), bugEnv+"="+bug)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the suite passed a store with defect %s:\n%s", bug, out)
			require.Contains(t, string(out), "--- FAIL: TestDefectiveStore", "the child failed for another reason:\n%s", out)
		})
	}
}

// TestDefectiveStore is the child process of TestRunCatchesDefects.
func TestDefectiveStore(t *testing.T) {
	bug := os.Getenv(bugEnv)
	if bug == "" {
		t.Skip("run by TestRunCatchesDefects")
	}
	apikeytest.Run(t, func(*testing.T) apikeytest.Store { return &refStore{bug: bug} })
}
