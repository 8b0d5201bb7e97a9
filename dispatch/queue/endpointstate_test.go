package queue_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// racingRegistry is a memory registry where another writer changes the endpoint's
// failures just before each of the first races SetEndpointState calls, so that the call
// loses the race.
type racingRegistry struct {
	*memqueue.Registry
	races int // SetEndpointState calls still to lose
	calls int // SetEndpointState calls made
}

func (r *racingRegistry) SetEndpointState(ctx context.Context, id string, version uint64, st queue.StateUpdate) (queue.Endpoint, error) {
	r.calls++
	if r.races > 0 {
		r.races--
		cur, err := r.Registry.GetEndpoints(ctx, id)
		if err != nil || len(cur) == 0 {
			return queue.Endpoint{}, errors.Join(err, queue.ErrNotFound)
		}
		if _, err := r.Registry.SetEndpointState(ctx, id, cur[0].Version,
			queue.StateUpdate{State: queue.EndpointFailing, Failures: cur[0].Failures + 1, Reason: "the other writer"}); err != nil {
			return queue.Endpoint{}, err
		}
	}
	return r.Registry.SetEndpointState(ctx, id, version, st)
}

func newRacingRegistry(t *testing.T, races int) *racingRegistry {
	t.Helper()
	r := &racingRegistry{Registry: memqueue.NewRegistry(), races: races}
	_, err := r.PutEndpoint(t.Context(), queue.Endpoint{ID: "ep", Patterns: []queue.Pattern{{Kind: queue.PatternPrefix}}})
	require.NoError(t, err)
	return r
}

// countFailures is a Decide that writes one more failure than the record it is given.
func countFailures(seen *[]queue.Endpoint) func(queue.Endpoint) (queue.StateUpdate, bool) {
	return func(cur queue.Endpoint) (queue.StateUpdate, bool) {
		*seen = append(*seen, cur)
		return queue.StateUpdate{State: queue.EndpointFailing, Failures: cur.Failures + 1, Reason: "mine", UpdatedAt: time.Unix(1, 0)}, true
	}
}

// TestUpdateEndpointStateDecidesAgainAfterALostRace: a compare-and-set that loses the race
// is not written; Decide is called again with the record the other writer left (so its
// change is built on, not overwritten), Seen gets each record SetEndpointState returned,
// and the second attempt writes.
func TestUpdateEndpointStateDecidesAgainAfterALostRace(t *testing.T) {
	reg := newRacingRegistry(t, 1)
	var decided, seen []queue.Endpoint
	rec, err := queue.UpdateEndpointState(t.Context(), reg, "ep", queue.StateCAS{Decide: countFailures(&decided),
		Seen: func(e queue.Endpoint) { seen = append(seen, e) }})
	require.NoError(t, err)
	assert.Equal(t, 2, reg.calls, "one lost race, one write")
	require.Len(t, decided, 2)
	assert.Equal(t, 0, decided[0].Failures)
	assert.Equal(t, 1, decided[1].Failures, "decided again from the other writer's record")
	assert.Equal(t, decided[0].Version+1, decided[1].Version)
	assert.Equal(t, 2, rec.Failures, "the other writer's failure counted, then this one")
	assert.Equal(t, "mine", rec.Reason)
	require.Len(t, seen, 2)
	assert.Equal(t, decided[1], seen[0], "the record of the lost race, before deciding again")
	assert.Equal(t, rec, seen[1], "the record written")
	got, err := reg.GetEndpoints(t.Context(), "ep")
	require.NoError(t, err)
	assert.Equal(t, rec, got[0])
}

// TestUpdateEndpointStateGivesUpAfterStateTries: an endpoint that changes before every
// compare-and-set is tried StateTries times, no more; the error wraps ErrVersionConflict
// and comes with the current record; nothing of this writer's is stored.
func TestUpdateEndpointStateGivesUpAfterStateTries(t *testing.T) {
	reg := newRacingRegistry(t, 1000)
	var decided []queue.Endpoint
	rec, err := queue.UpdateEndpointState(t.Context(), reg, "ep", queue.StateCAS{Decide: countFailures(&decided)})
	require.ErrorIs(t, err, queue.ErrVersionConflict)
	assert.Contains(t, err.Error(), fmt.Sprintf(`"ep" changed %d times while being written`, queue.StateTries))
	assert.Equal(t, queue.StateTries, reg.calls, "bounded")
	assert.Len(t, decided, queue.StateTries)
	got, err := reg.GetEndpoints(t.Context(), "ep")
	require.NoError(t, err)
	assert.Equal(t, got[0], rec, "the current record")
	assert.Equal(t, "the other writer", rec.Reason, "this writer's state was never stored")
	assert.Equal(t, queue.StateTries, rec.Failures)
}

// TestUpdateEndpointStateFromAStaleRecord: given a stale From (a cache's), the first
// compare-and-set loses on its old version and the second decides from the registry's
// record; no read is needed.
func TestUpdateEndpointStateFromAStaleRecord(t *testing.T) {
	reg := newRacingRegistry(t, 0)
	stale, err := reg.GetEndpoints(t.Context(), "ep")
	require.NoError(t, err)
	_, err = reg.Registry.SetEndpointState(t.Context(), "ep", stale[0].Version, queue.StateUpdate{State: queue.EndpointFailing, Failures: 5})
	require.NoError(t, err)
	var decided []queue.Endpoint
	rec, err := queue.UpdateEndpointState(t.Context(), reg, "ep", queue.StateCAS{From: &stale[0], Decide: countFailures(&decided)})
	require.NoError(t, err)
	require.Len(t, decided, 2)
	assert.Equal(t, stale[0], decided[0], "From is decided from first")
	assert.Equal(t, 6, rec.Failures, "then the stored record")
}

// TestUpdateEndpointStateDecideSkips: when Decide writes nothing, nothing is written and
// the record it was given comes back.
func TestUpdateEndpointStateDecideSkips(t *testing.T) {
	reg := newRacingRegistry(t, 0)
	before, err := reg.GetEndpoints(t.Context(), "ep")
	require.NoError(t, err)
	rec, err := queue.UpdateEndpointState(t.Context(), reg, "ep", queue.StateCAS{
		Decide: func(queue.Endpoint) (queue.StateUpdate, bool) { return queue.StateUpdate{}, false },
		Seen:   func(queue.Endpoint) { t.Error("Seen called without a write") }})
	require.NoError(t, err)
	assert.Equal(t, before[0], rec)
	assert.Zero(t, reg.calls, "no compare-and-set")
}

// TestUpdateEndpointStateErrors: an unknown endpoint is ErrNotFound without a Decide; an
// error of the registry other than a conflict ends the loop at once, as it is.
func TestUpdateEndpointStateErrors(t *testing.T) {
	reg := newRacingRegistry(t, 0)
	rec, err := queue.UpdateEndpointState(t.Context(), reg, "nope", queue.StateCAS{
		Decide: func(queue.Endpoint) (queue.StateUpdate, bool) { t.Error("decided"); return queue.StateUpdate{}, false }})
	require.ErrorIs(t, err, queue.ErrNotFound)
	assert.Zero(t, rec)

	rec, err = queue.UpdateEndpointState(t.Context(), reg, "ep", queue.StateCAS{
		Decide: func(queue.Endpoint) (queue.StateUpdate, bool) { return queue.StateUpdate{State: "bogus"}, true }})
	require.ErrorIs(t, err, queue.ErrInvalidEndpoint)
	assert.NotErrorIs(t, err, queue.ErrVersionConflict)
	assert.Zero(t, rec)
	assert.Equal(t, 1, reg.calls, "not retried")
}
