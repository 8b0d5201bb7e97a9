package sqlitequeue_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
	"github.com/hookkit/hookkit/dispatch/sqlitequeue"
)

// open opens a store on a new file in t's temporary directory, closed at the end of t.
func open(t testing.TB, cfg sqlitequeue.Config) *sqlitequeue.Store {
	t.Helper()
	s, err := sqlitequeue.Open(t.Context(), filepath.Join(t.TempDir(), "queue.db"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

var syncModes = []struct {
	name string
	mode sqlitequeue.Synchronous
}{{"full", sqlitequeue.SyncFull}, {"normal", sqlitequeue.SyncNormal}}

// TestConformance runs the queue.Store conformance suite (every clause of the contract,
// the pending bound and the dead-letter bound) against a fresh file per subtest, for
// both durability levels.
func TestConformance(t *testing.T) {
	for _, sm := range syncModes {
		t.Run("sync="+sm.name, func(t *testing.T) {
			queuetest.Run(t, func(t *testing.T) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode})
			})
			queuetest.RunBounded(t, func(t *testing.T, max int) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode, MaxPending: max})
			})
			queuetest.RunDeadBounded(t, func(t *testing.T, maxDead int) queue.Store {
				return open(t, sqlitequeue.Config{Synchronous: sm.mode, MaxDead: maxDead})
			})
		})
	}
}
