package queuetest

import (
	"context"
	"fmt"
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

// RunSpecReplacer checks queue.SpecReplacer with registries made by newRegistry, which
// must implement it and return a new empty registry each time: ReplaceSpec writes the
// new spec only over the one read (a PutEndpoint in between makes it a conflict, a state
// change does not), keeps the state, the patterns and the rest, bumps the version, is
// reported by EndpointChanges, and finds no deleted endpoint.
func RunSpecReplacer(t *testing.T, newRegistry func(t *testing.T) queue.Registry) {
	t.Helper()
	t.Run("CompareAndSetOnTheSpec", func(t *testing.T) {
		ctx := context.Background()
		r := newRegistry(t)
		sr, ok := r.(queue.SpecReplacer)
		require.True(t, ok, "the registry implements queue.SpecReplacer")
		e := regEndpoint(t, "ep", "order.*")
		e.Ordered, e.MaxInFlight = true, 3
		v := put(t, r, e)
		v, err := r.SetEndpointState(ctx, "ep", v.Version, queue.StateUpdate{State: queue.EndpointPaused, Failures: 2,
			PausedUntil: T0.Add(time.Minute), Reason: "503", UpdatedAt: T0})
		require.NoError(t, err)
		var cur uint64
		follow(t, r, &cur, "ep")

		got, err := sr.ReplaceSpec(ctx, "ep", e.Spec, []byte("resealed"), T0.Add(time.Second))
		require.NoError(t, err, "a state change since the spec was read is no conflict")
		assert.Equal(t, []byte("resealed"), got.Spec)
		assert.Equal(t, v.Version+1, got.Version)
		assert.True(t, got.UpdatedAt.Equal(T0.Add(time.Second)))
		assert.Equal(t, queue.EndpointPaused, got.State, "the state kept")
		assert.Equal(t, 2, got.Failures)
		assert.Equal(t, "503", got.Reason)
		assert.True(t, got.Ordered)
		assert.Equal(t, 3, got.MaxInFlight)
		assert.ElementsMatch(t, e.Patterns, got.Patterns)
		stored, ok := get(t, r, "ep")
		require.True(t, ok)
		assert.Equal(t, []byte("resealed"), stored.Spec)
		assert.Equal(t, []string{"ep"}, matchIDs(t, r, "order.created"), "the patterns kept")
		changed := follow(t, r, &cur, "ep")
		assert.Equal(t, []byte("resealed"), changed["ep"].Spec, "reported by EndpointChanges")

		_, err = sr.ReplaceSpec(ctx, "ep", e.Spec, []byte("stale"), T0)
		assert.ErrorIs(t, err, queue.ErrVersionConflict, "the spec read is no longer the stored one")
		imported := regEndpoint(t, "ep", "order.*")
		imported.Spec = []byte("imported")
		put(t, r, imported)
		cur2, err := sr.ReplaceSpec(ctx, "ep", []byte("resealed"), []byte("resealed again"), T0)
		assert.ErrorIs(t, err, queue.ErrVersionConflict, "a PutEndpoint since the read")
		assert.Equal(t, []byte("imported"), cur2.Spec, "the conflict returns the current record")
		stored, _ = get(t, r, "ep")
		assert.Equal(t, []byte("imported"), stored.Spec, "the import is not undone")

		_, err = sr.ReplaceSpec(ctx, "nope", nil, []byte("x"), T0)
		assert.ErrorIs(t, err, queue.ErrNotFound)
		require.NoError(t, r.DeleteEndpoint(ctx, T0, "ep"))
		_, err = sr.ReplaceSpec(ctx, "ep", []byte("imported"), []byte("x"), T0)
		assert.ErrorIs(t, err, queue.ErrNotFound, "deleted")
	})
}

// RunEndpointsPutter checks queue.EndpointsPutter with registries made by newRegistry,
// which must implement it and return a new empty registry each time: PutEndpoints is
// PutEndpoint of each, in order (the later of two with one ID wins; an existing
// endpoint keeps its state), all or none (an invalid endpoint stores nothing), for more
// endpoints than a SQL store sends in one round trip.
func RunEndpointsPutter(t *testing.T, newRegistry func(t *testing.T) queue.Registry) {
	t.Helper()
	bulk := func(t *testing.T, r queue.Registry) queue.EndpointsPutter {
		t.Helper()
		p, ok := r.(queue.EndpointsPutter)
		require.True(t, ok, "the registry implements queue.EndpointsPutter")
		return p
	}
	t.Run("InOrderKeepingState", func(t *testing.T) {
		ctx := context.Background()
		r := newRegistry(t)
		p := bulk(t, r)
		x := put(t, r, regEndpoint(t, "x", "order.*"))
		_, err := r.SetEndpointState(ctx, "x", x.Version, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone", UpdatedAt: T0})
		require.NoError(t, err)
		a2, x2 := regEndpoint(t, "a", "invoice.*"), regEndpoint(t, "x", "order.*")
		x2.Spec = []byte("x, imported again")
		got, err := p.PutEndpoints(ctx, []queue.Endpoint{regEndpoint(t, "a", "order.*"), regEndpoint(t, "b"), a2, x2})
		require.NoError(t, err)
		require.Len(t, got, 4)
		assert.Equal(t, []string{"a", "b", "a", "x"}, []string{got[0].ID, got[1].ID, got[2].ID, got[3].ID}, "in the order given")
		assert.Equal(t, got[0].Version+1, got[2].Version, "the second put of a follows the first")
		assert.Equal(t, queue.EndpointDisabled, got[3].State, "an existing endpoint keeps its state")
		stored, ok := get(t, r, "x")
		require.True(t, ok)
		assert.Equal(t, []byte("x, imported again"), stored.Spec)
		assert.Equal(t, queue.EndpointDisabled, stored.State)
		assert.ElementsMatch(t, []string{"a", "b"}, matchIDs(t, r, "invoice.paid"), "a's later patterns, b every type")
		assert.Equal(t, []string{"b"}, matchIDs(t, r, "order.created"), "x is disabled, a no longer takes orders")
	})
	t.Run("AllOrNothing", func(t *testing.T) {
		ctx := context.Background()
		r := newRegistry(t)
		p := bulk(t, r)
		put(t, r, regEndpoint(t, "x"))
		bad := regEndpoint(t, "bad")
		bad.MaxInFlight = -1
		changed := regEndpoint(t, "x")
		changed.Spec = []byte("changed")
		_, err := p.PutEndpoints(ctx, []queue.Endpoint{regEndpoint(t, "new"), changed, bad})
		require.ErrorIs(t, err, queue.ErrInvalidEndpoint)
		_, ok := get(t, r, "new")
		assert.False(t, ok, "nothing stored")
		stored, _ := get(t, r, "x")
		assert.Equal(t, []byte("spec of x"), stored.Spec, "nothing changed")
	})
	t.Run("Many", func(t *testing.T) {
		ctx := context.Background()
		r := newRegistry(t)
		p := bulk(t, r)
		es := make([]queue.Endpoint, 1_200)
		for i := range es {
			es[i] = regEndpoint(t, fmt.Sprintf("ep%04d", i), "order.*")
		}
		got, err := p.PutEndpoints(ctx, es)
		require.NoError(t, err)
		require.Len(t, got, len(es))
		assert.Equal(t, "ep1199", got[1199].ID)
		page, err := r.ListEndpoints(ctx, "", 0)
		require.NoError(t, err)
		assert.Len(t, page.Endpoints, len(es))
		assert.Len(t, matchIDs(t, r, "order.created"), len(es))
	})
}
