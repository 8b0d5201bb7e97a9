package queuetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/event"
)

// RunRegistry runs every clause of the queue.Registry contract against registries made
// by newRegistry, which must return a new empty registry each time.
func RunRegistry(t *testing.T, newRegistry func(t *testing.T) queue.Registry) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, r queue.Registry)
	}{
		{"PutGetRoundTrip", testRegPutGet},
		{"PutKeepsState", testRegPutKeepsState},
		{"PutInvalid", testRegPutInvalid},
		{"GetEndpointsOrderAndMissing", testRegGet},
		{"MatchEndpoints", testRegMatch},
		{"MatchFollowsPutAndDelete", testRegMatchChanges},
		{"SetStateCompareAndSet", testRegSetState},
		{"SetStateRaceOneWins", testRegSetStateRace},
		{"DisabledNotResurrected", testRegNoResurrection},
		{"DeleteAndRecreate", testRegDelete},
		{"ChangesSinceCursor", testRegChanges},
		{"ChangesOverflow", testRegChangesOverflow},
		{"ChangesConcurrentWritersNoneMissed", testRegChangesConcurrent},
		{"ListEndpointsPages", testRegList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newRegistry(t)) })
	}
}

// regEndpoint returns a record of endpoint id with the patterns (parsed as event
// patterns; none: every type).
func regEndpoint(t *testing.T, id string, patterns ...string) queue.Endpoint {
	t.Helper()
	f, err := event.NewFilter(patterns...)
	require.NoError(t, err)
	return queue.Endpoint{ID: id, Spec: []byte("spec of " + id), Patterns: queue.PatternsOf(f), UpdatedAt: T0}
}

func put(t *testing.T, r queue.Registry, e queue.Endpoint) queue.Endpoint {
	t.Helper()
	got, err := r.PutEndpoint(context.Background(), e)
	require.NoError(t, err)
	return got
}

func get(t *testing.T, r queue.Registry, id string) (queue.Endpoint, bool) {
	t.Helper()
	es, err := r.GetEndpoints(context.Background(), id)
	require.NoError(t, err)
	require.LessOrEqual(t, len(es), 1)
	if len(es) == 0 {
		return queue.Endpoint{}, false
	}
	return es[0], true
}

func matchIDs(t *testing.T, r queue.Registry, typ string) []string {
	t.Helper()
	ms, err := r.MatchEndpoints(context.Background(), typ)
	require.NoError(t, err)
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// sameEndpoint asserts that got is want as stored: every field, times as the same instant.
func sameEndpoint(t *testing.T, want, got queue.Endpoint) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Spec, got.Spec, "spec bytes as given")
	assert.ElementsMatch(t, want.Patterns, got.Patterns)
	assert.Equal(t, want.Ordered, got.Ordered)
	assert.Equal(t, want.MaxInFlight, got.MaxInFlight)
	assert.Equal(t, want.State, got.State)
	assert.Equal(t, want.Failures, got.Failures)
	assert.True(t, want.PausedUntil.Equal(got.PausedUntil), "PausedUntil %v, want %v", got.PausedUntil, want.PausedUntil)
	assert.Equal(t, want.Reason, got.Reason)
	assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "UpdatedAt %v, want %v", got.UpdatedAt, want.UpdatedAt)
	assert.False(t, got.Deleted)
}

// testRegPutGet: every field comes back as it was put (the spec byte for byte, times to
// the nanosecond); a new record is at version 1 and active; the returned record is the
// stored one.
func testRegPutGet(t *testing.T, r queue.Registry) {
	e := regEndpoint(t, "ep-1", "order.created", "invoice.*")
	e.Spec = []byte{0, 1, 2, 0xff, 'x'}
	e.Ordered, e.MaxInFlight = true, 7
	e.UpdatedAt = T0.Add(123456789 * time.Nanosecond).In(time.FixedZone("x", 3600))
	e.Version = 99 // ignored
	got := put(t, r, e)
	want := e
	want.State = queue.EndpointActive
	sameEndpoint(t, want, got)
	assert.Equal(t, uint64(1), got.Version)
	stored, ok := get(t, r, "ep-1")
	require.True(t, ok)
	sameEndpoint(t, want, stored)
	assert.Equal(t, uint64(1), stored.Version)

	paused := regEndpoint(t, "ep-2")
	paused.State, paused.Failures, paused.PausedUntil, paused.Reason = queue.EndpointPaused, 5, T0.Add(time.Minute+time.Nanosecond), "five failures"
	got = put(t, r, paused)
	sameEndpoint(t, paused, got)
	assert.Equal(t, []queue.Pattern{{Kind: queue.PatternPrefix}}, got.Patterns, `an empty filter is "*"`)

	got.Spec[0] = 'X'
	stored, _ = get(t, r, "ep-2")
	assert.Equal(t, []byte("spec of ep-2"), stored.Spec, "a returned record is a copy")
}

// testRegPutKeepsState: putting an existing endpoint again replaces its description and
// keeps its state (a disabled endpoint stays disabled, whatever the argument says) and
// bumps its version.
func testRegPutKeepsState(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	v1 := put(t, r, regEndpoint(t, "ep", "a"))
	v2, err := r.SetEndpointState(ctx, "ep", v1.Version, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone", UpdatedAt: T0.Add(time.Second)})
	require.NoError(t, err)
	assert.Greater(t, v2.Version, v1.Version)
	again := regEndpoint(t, "ep", "b")
	again.Spec, again.MaxInFlight, again.UpdatedAt = []byte("new spec"), 3, T0.Add(2*time.Second)
	again.State = queue.EndpointActive // ignored for an existing record
	v3 := put(t, r, again)
	assert.Greater(t, v3.Version, v2.Version)
	want := again
	want.State, want.Reason = queue.EndpointDisabled, "410 Gone"
	sameEndpoint(t, want, v3)
	stored, _ := get(t, r, "ep")
	sameEndpoint(t, want, stored)
}

// testRegPutInvalid: records the contract refuses are refused with ErrInvalidEndpoint and
// nothing is stored.
func testRegPutInvalid(t *testing.T, r queue.Registry) {
	bad := map[string]queue.Endpoint{
		"empty id":         {Patterns: []queue.Pattern{{Kind: queue.PatternPrefix}}},
		"unknown kind":     {ID: "a", Patterns: []queue.Pattern{{Kind: 9, Value: "x"}}},
		"bad exact":        {ID: "b", Patterns: []queue.Pattern{{Kind: queue.PatternExact, Value: "a b"}}},
		"empty exact":      {ID: "c", Patterns: []queue.Pattern{{Kind: queue.PatternExact}}},
		"bad prefix":       {ID: "d", Patterns: []queue.Pattern{{Kind: queue.PatternPrefix, Value: "a*"}}},
		"negative max":     {ID: "e", MaxInFlight: -1},
		"unknown state":    {ID: "f", State: "sleeping"},
		"negative failure": {ID: "g", Failures: -1},
	}
	for name, e := range bad {
		_, err := r.PutEndpoint(context.Background(), e)
		assert.ErrorIs(t, err, queue.ErrInvalidEndpoint, name)
		if e.ID != "" {
			_, ok := get(t, r, e.ID)
			assert.False(t, ok, "%s: nothing stored", name)
		}
	}
	page, err := r.ListEndpoints(context.Background(), "", 0)
	require.NoError(t, err)
	assert.Empty(t, page.Endpoints)
}

// testRegGet: GetEndpoints returns the existing records in the order given, each once.
func testRegGet(t *testing.T, r queue.Registry) {
	for _, id := range []string{"a", "b", "c"} {
		put(t, r, regEndpoint(t, id))
	}
	es, err := r.GetEndpoints(context.Background(), "c", "missing", "a", "c")
	require.NoError(t, err)
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{"c", "a"}, ids)
	es, err = r.GetEndpoints(context.Background())
	require.NoError(t, err)
	assert.Empty(t, es)
}

// testRegMatch: exact types, prefixes of any length, "*" and the empty filter select as
// event.Filter.Match does; each endpoint once (even when several of its patterns match),
// in ID order, with its Ordered flag; disabled endpoints are not selected, paused ones are.
func testRegMatch(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	filters := map[string][]string{
		"exact":    {"order.created"},
		"prefix":   {"order.*"},
		"short":    {"o*"},
		"star":     {"*"},
		"all":      nil,
		"two":      {"order.created", "order.*", "invoice.paid"},
		"other":    {"invoice.*"},
		"longer":   {"order.created.v2"},
		"disabled": {"order.*"},
		"paused":   {"order.*"},
	}
	for id, ps := range filters {
		e := regEndpoint(t, id, ps...)
		e.Ordered = id == "prefix"
		put(t, r, e)
	}
	for id, st := range map[string]queue.EndpointState{"disabled": queue.EndpointDisabled, "paused": queue.EndpointPaused} {
		cur, _ := get(t, r, id)
		_, err := r.SetEndpointState(ctx, id, cur.Version, queue.StateUpdate{State: st, UpdatedAt: T0})
		require.NoError(t, err)
	}
	for _, typ := range []string{"order.created", "order.created.v2", "order.", "order", "o", "invoice.paid", "invoice.x", "zebra", "order.createdx"} {
		var want []string
		for id, ps := range filters {
			if id == "disabled" {
				continue
			}
			if event.MustFilter(ps...).Match(typ) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		if want == nil {
			want = []string{}
		}
		got := matchIDs(t, r, typ)
		if got == nil {
			got = []string{}
		}
		assert.Equal(t, want, got, "type %q", typ)
	}
	ms, err := r.MatchEndpoints(ctx, "order.paid")
	require.NoError(t, err)
	for _, m := range ms {
		assert.Equal(t, m.ID == "prefix", m.Ordered, m.ID)
	}
}

// testRegMatchChanges: a put that changes the patterns re-indexes the endpoint (the old
// ones no longer select it); a deleted endpoint is selected by nothing; enabling a
// disabled endpoint makes it selected again.
func testRegMatchChanges(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	put(t, r, regEndpoint(t, "ep", "a.x"))
	assert.Equal(t, []string{"ep"}, matchIDs(t, r, "a.x"))
	put(t, r, regEndpoint(t, "ep", "b.*"))
	assert.Empty(t, matchIDs(t, r, "a.x"), "old pattern gone")
	assert.Equal(t, []string{"ep"}, matchIDs(t, r, "b.y"))
	cur, _ := get(t, r, "ep")
	cur, err := r.SetEndpointState(ctx, "ep", cur.Version, queue.StateUpdate{State: queue.EndpointDisabled, UpdatedAt: T0})
	require.NoError(t, err)
	assert.Empty(t, matchIDs(t, r, "b.y"), "disabled")
	_, err = r.SetEndpointState(ctx, "ep", cur.Version, queue.StateUpdate{State: queue.EndpointActive, UpdatedAt: T0})
	require.NoError(t, err)
	assert.Equal(t, []string{"ep"}, matchIDs(t, r, "b.y"), "enabled again")
	require.NoError(t, r.DeleteEndpoint(ctx, T0, "ep"))
	assert.Empty(t, matchIDs(t, r, "b.y"), "deleted")
}

// testRegSetState: SetEndpointState writes at the version read and bumps it; at another
// version it writes nothing and returns the current record with ErrVersionConflict; an
// unknown ID is ErrNotFound; an invalid state ErrInvalidEndpoint.
func testRegSetState(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	v1 := put(t, r, regEndpoint(t, "ep"))
	st := queue.StateUpdate{State: queue.EndpointPaused, Failures: 5, PausedUntil: T0.Add(30*time.Second + 7), Reason: "5 failures", UpdatedAt: T0.Add(time.Second + 3)}
	v2, err := r.SetEndpointState(ctx, "ep", v1.Version, st)
	require.NoError(t, err)
	assert.Greater(t, v2.Version, v1.Version)
	want := regEndpoint(t, "ep")
	want.State, want.Failures, want.PausedUntil, want.Reason, want.UpdatedAt = st.State, st.Failures, st.PausedUntil, st.Reason, st.UpdatedAt
	sameEndpoint(t, want, v2)

	cur, err := r.SetEndpointState(ctx, "ep", v1.Version, queue.StateUpdate{State: queue.EndpointActive, UpdatedAt: T0.Add(time.Hour)})
	require.ErrorIs(t, err, queue.ErrVersionConflict)
	sameEndpoint(t, want, cur)
	assert.Equal(t, v2.Version, cur.Version, "the current record comes back")
	stored, _ := get(t, r, "ep")
	sameEndpoint(t, want, stored)

	_, err = r.SetEndpointState(ctx, "nope", 1, queue.StateUpdate{State: queue.EndpointActive})
	assert.ErrorIs(t, err, queue.ErrNotFound)
	_, err = r.SetEndpointState(ctx, "ep", v2.Version, queue.StateUpdate{State: "bogus"})
	assert.ErrorIs(t, err, queue.ErrInvalidEndpoint)
	_, err = r.SetEndpointState(ctx, "ep", v2.Version, queue.StateUpdate{Failures: -1})
	assert.ErrorIs(t, err, queue.ErrInvalidEndpoint)
	stored, _ = get(t, r, "ep")
	assert.Equal(t, v2.Version, stored.Version, "refused updates write nothing")
}

// testRegSetStateRace: 16 writers that read one version race: exactly one writes, the
// others get ErrVersionConflict with the winner's record.
func testRegSetStateRace(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	v := put(t, r, regEndpoint(t, "ep"))
	const n = 16
	errs := make([]error, n)
	recs := make([]queue.Endpoint, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			recs[i], errs[i] = r.SetEndpointState(ctx, "ep", v.Version, queue.StateUpdate{State: queue.EndpointFailing, Failures: i + 1, UpdatedAt: T0})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "two writers won: %d and %d", winner, i)
			winner = i
			continue
		}
		require.ErrorIs(t, err, queue.ErrVersionConflict)
	}
	require.NotEqual(t, -1, winner, "one writer wins")
	stored, _ := get(t, r, "ep")
	assert.Equal(t, winner+1, stored.Failures)
	assert.Equal(t, recs[winner].Version, stored.Version)
	for i, err := range errs {
		if err != nil {
			assert.Equal(t, winner+1, recs[i].Failures, "the loser sees the winner's write")
		}
	}
}

// testRegNoResurrection: instance A reads the endpoint active; B disables it (410); A's
// write of "active, no failures" (its success, decided on what it read) is refused, and
// A, deciding again from the record returned, sees it disabled.
func testRegNoResurrection(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	read := put(t, r, regEndpoint(t, "ep"))
	read, err := r.SetEndpointState(ctx, "ep", read.Version, queue.StateUpdate{State: queue.EndpointFailing, Failures: 2, UpdatedAt: T0})
	require.NoError(t, err)
	_, err = r.SetEndpointState(ctx, "ep", read.Version, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone", UpdatedAt: T0.Add(time.Second)})
	require.NoError(t, err, "B disables")
	cur, err := r.SetEndpointState(ctx, "ep", read.Version, queue.StateUpdate{State: queue.EndpointActive, UpdatedAt: T0.Add(2 * time.Second)})
	require.ErrorIs(t, err, queue.ErrVersionConflict, "A's stale success")
	assert.Equal(t, queue.EndpointDisabled, cur.State)
	assert.Empty(t, matchIDs(t, r, "x"), "still disabled")
}

// testRegDelete: DeleteEndpoint removes the record (ErrNotFound for an unknown one); a
// record created again has a version above the deleted one's, so a stale writer's
// version cannot match it.
func testRegDelete(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	assert.ErrorIs(t, r.DeleteEndpoint(ctx, T0, "nope"), queue.ErrNotFound)
	v := put(t, r, regEndpoint(t, "ep"))
	v, err := r.SetEndpointState(ctx, "ep", v.Version, queue.StateUpdate{State: queue.EndpointDisabled, UpdatedAt: T0})
	require.NoError(t, err)
	require.NoError(t, r.DeleteEndpoint(ctx, T0, "ep"))
	_, ok := get(t, r, "ep")
	assert.False(t, ok)
	assert.ErrorIs(t, r.DeleteEndpoint(ctx, T0, "ep"), queue.ErrNotFound)
	_, err = r.SetEndpointState(ctx, "ep", v.Version, queue.StateUpdate{State: queue.EndpointActive})
	assert.ErrorIs(t, err, queue.ErrNotFound)
	again := put(t, r, regEndpoint(t, "ep"))
	assert.Greater(t, again.Version, v.Version, "versions are never reused")
	assert.Equal(t, queue.EndpointActive, again.State, "a new record")
	page, err := r.ListEndpoints(ctx, "", 0)
	require.NoError(t, err)
	assert.Len(t, page.Endpoints, 1)
}

// changedIDs calls EndpointChanges from since and returns the IDs reported (deleted
// ones suffixed with "-"), sorted, and the next cursor.
func changedIDs(t *testing.T, r queue.Registry, since uint64, limit int) ([]string, uint64, bool) {
	t.Helper()
	ch, err := r.EndpointChanges(context.Background(), since, limit)
	require.NoError(t, err)
	ids := []string{}
	for _, e := range ch.Endpoints {
		if e.Deleted {
			ids = append(ids, e.ID+"-")
		} else {
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	assert.Equal(t, len(ids), len(slices.Compact(slices.Clone(ids))), "each endpoint once per call")
	return ids, ch.Next, ch.Overflow
}

// follow calls EndpointChanges from *cur, cursor after cursor, until every ID of want
// was reported (a SQL store reports a change once the write transactions running when it
// committed have ended: other sessions' transactions may delay it), for at most 10 s. It
// returns the last record reported for each ID and leaves *cur at the last cursor.
func follow(t *testing.T, r queue.Registry, cur *uint64, want ...string) map[string]queue.Endpoint {
	t.Helper()
	got := make(map[string]queue.Endpoint)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ch, err := r.EndpointChanges(context.Background(), *cur, 1000)
		require.NoError(t, err)
		require.False(t, ch.Overflow)
		for _, e := range ch.Endpoints {
			id := e.ID
			if e.Deleted {
				id += "-"
			}
			got[id] = e
		}
		*cur = ch.Next
		missing := slices.DeleteFunc(slices.Clone(want), func(id string) bool { _, ok := got[id]; return ok })
		if len(missing) == 0 {
			return got
		}
		require.True(t, time.Now().Before(deadline), "changes never reported: %v", missing)
		time.Sleep(5 * time.Millisecond)
	}
}

// testRegChanges: from a cursor, EndpointChanges reports the endpoints created, put, set
// and deleted since, each once per call and as it is now, and nothing changed before the
// cursor; limit 0 returns the cursor only, with Overflow when something changed.
func testRegChanges(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	_, start, _ := changedIDs(t, r, 0, 0)
	put(t, r, regEndpoint(t, "old"))
	put(t, r, regEndpoint(t, "gone"))
	cur := start
	got := follow(t, r, &cur, "old", "gone")
	assert.Len(t, got, 2, "only what changed")
	for deadline := time.Now().Add(10 * time.Second); ; {
		ids, _, overflow := changedIDs(t, r, start, 0)
		assert.Empty(t, ids, "limit 0: no records")
		if overflow {
			break
		}
		require.True(t, time.Now().Before(deadline), "limit 0 never reported the changes as Overflow")
		time.Sleep(5 * time.Millisecond)
	}
	ids, _, _ := changedIDs(t, r, cur, 10)
	assert.Empty(t, ids, "nothing new since the cursor")

	put(t, r, regEndpoint(t, "new"))
	old, _ := get(t, r, "old")
	_, err := r.SetEndpointState(ctx, "old", old.Version, queue.StateUpdate{State: queue.EndpointDisabled, UpdatedAt: T0})
	require.NoError(t, err)
	_, err = r.SetEndpointState(ctx, "old", old.Version+1, queue.StateUpdate{State: queue.EndpointDisabled, Reason: "twice", UpdatedAt: T0})
	require.NoError(t, err)
	require.NoError(t, r.DeleteEndpoint(ctx, T0, "gone"))
	got = follow(t, r, &cur, "new", "gone-")
	for id, e := range got {
		switch id {
		case "old":
			assert.Equal(t, queue.EndpointDisabled, e.State)
		case "gone-":
			assert.True(t, e.Deleted)
		case "new":
			assert.Equal(t, []byte("spec of new"), e.Spec)
		default:
			t.Errorf("unexpected %q", id)
		}
	}
	got = follow(t, r, &start, "old", "new", "gone-")
	assert.Equal(t, "twice", got["old"].Reason, "reported as it is now")
	assert.Equal(t, queue.EndpointDisabled, got["old"].State)
	assert.NotContains(t, got, "gone", "a deleted endpoint is reported deleted")
	ids, _, _ = changedIDs(t, r, start, 10)
	assert.Empty(t, ids, "nothing since the last cursor")
}

// testRegChangesOverflow: more changes than the limit: no records, Overflow, and a cursor
// from which the later changes are reported.
func testRegChangesOverflow(t *testing.T, r queue.Registry) {
	_, cur, _ := changedIDs(t, r, 0, 0)
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("ep-%d", i)
		put(t, r, regEndpoint(t, id))
		want = append(want, id)
	}
	start := cur
	follow(t, r, &cur, want...)
	ids, next, overflow := changedIDs(t, r, start, 4)
	assert.Empty(t, ids)
	assert.True(t, overflow, "5 changes, limit 4")
	ids, _, overflow = changedIDs(t, r, start, 5)
	assert.Len(t, ids, 5)
	assert.False(t, overflow)
	put(t, r, regEndpoint(t, "late"))
	got := follow(t, r, &next, "late")
	assert.Len(t, got, 1)
}

// testRegChangesConcurrent: 8 writers put endpoints while a reader follows the changes
// from cursor to cursor; once the writers are done, every endpoint was reported (none
// skipped by a write that committed after a later one).
func testRegChangesConcurrent(t *testing.T, r queue.Registry) {
	ctx := context.Background()
	_, cur, _ := changedIDs(t, r, 0, 0)
	const writers, each = 8, 25
	seen := make(map[string]bool)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var want []string
	for w := range writers {
		for i := range each {
			want = append(want, fmt.Sprintf("w%d-%d", w, i))
		}
		wg.Go(func() {
			for i := range each {
				_, err := r.PutEndpoint(ctx, regEndpoint(t, fmt.Sprintf("w%d-%d", w, i)))
				assert.NoError(t, err)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			ch, err := r.EndpointChanges(ctx, cur, writers*each+1)
			require.NoError(t, err)
			require.False(t, ch.Overflow)
			for _, e := range ch.Endpoints {
				seen[e.ID] = true
			}
			cur = ch.Next
		}
	}
	for id := range follow(t, r, &cur, slices.DeleteFunc(want, func(id string) bool { return seen[id] })...) {
		seen[id] = true
	}
	assert.Len(t, seen, writers*each, "every change reported")
}

// testRegList: ListEndpoints pages through the records in ID order, each once.
func testRegList(t *testing.T, r queue.Registry) {
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("ep-%02d", 6-i)
		put(t, r, regEndpoint(t, id))
		want = append(want, id)
	}
	slices.Sort(want)
	var got []string
	after := ""
	for range 10 {
		page, err := r.ListEndpoints(context.Background(), after, 3)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(page.Endpoints), 3)
		for _, e := range page.Endpoints {
			got = append(got, e.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	assert.Equal(t, want, got)
	page, err := r.ListEndpoints(context.Background(), "", 0)
	require.NoError(t, err)
	assert.Len(t, page.Endpoints, 7, "limit 0: all")
}
