package queuetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// RunDeletedPurger checks queue.DeletedPurger with registries made by newRegistry, which
// must implement it and return a new empty registry each time: PurgeDeleted drops the
// records of the endpoints deleted before its time, and only those (not the ones deleted
// later, not live ones, not one deleted and created again); a purged deletion is no
// longer reported by EndpointChanges; an endpoint created again after its purge is a new,
// working record.
func RunDeletedPurger(t *testing.T, newRegistry func(t *testing.T) queue.Registry) {
	t.Helper()
	t.Run("PurgesOnlyOldDeletions", func(t *testing.T) {
		ctx := context.Background()
		r := newRegistry(t)
		p, ok := r.(queue.DeletedPurger)
		require.True(t, ok, "the registry implements queue.DeletedPurger")
		for _, id := range []string{"old", "recent", "live", "back"} {
			put(t, r, regEndpoint(t, id, "order.*"))
		}
		require.NoError(t, r.DeleteEndpoint(ctx, T0, "old"))
		require.NoError(t, r.DeleteEndpoint(ctx, T0.Add(time.Hour), "recent"))
		require.NoError(t, r.DeleteEndpoint(ctx, T0, "back"))
		put(t, r, regEndpoint(t, "back", "order.*")) // created again: live

		n, err := p.PurgeDeleted(ctx, T0.Add(30*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the deletion before the time alone")
		n, err = p.PurgeDeleted(ctx, T0.Add(30*time.Minute))
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to purge before that time")

		var cur uint64
		got := follow(t, r, &cur, "recent-", "live", "back")
		assert.NotContains(t, got, "old-", "a purged deletion is not reported")

		n, err = p.PurgeDeleted(ctx, T0.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the later deletion, once before the time")
		page, err := r.ListEndpoints(ctx, "", 0)
		require.NoError(t, err)
		var live []string
		for _, e := range page.Endpoints {
			live = append(live, e.ID)
		}
		assert.Equal(t, []string{"back", "live"}, live, "live endpoints untouched")

		again := put(t, r, regEndpoint(t, "old", "order.*"))
		assert.Positive(t, again.Version)
		assert.Equal(t, queue.EndpointActive, again.State, "a new record")
		assert.ElementsMatch(t, []string{"old", "live", "back"}, matchIDs(t, r, "order.created"))
	})
}
