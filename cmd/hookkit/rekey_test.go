package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/auth"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
)

// racingRegistry runs before once, just before the first PutEndpoint of the id: another
// writer's change landing between rekey's read and its write.
type racingRegistry struct {
	queue.Registry
	id     string
	before func()
}

func (r *racingRegistry) PutEndpoint(ctx context.Context, e queue.Endpoint) (queue.Endpoint, error) {
	if e.ID == r.id && r.before != nil {
		f := r.before
		r.before = nil
		f()
	}
	return r.Registry.PutEndpoint(ctx, e)
}

// TestRekeyKeepsAConcurrentStateChange: an endpoint disabled by another instance between
// rekey's read of its record and its write stays disabled (PutEndpoint keeps the state),
// its spec is re-sealed under the new key, and rekey reports the endpoint as changed
// meanwhile (an error naming it, nothing secret); the other endpoints are re-sealed
// without a report.
func TestRekeyKeepsAConcurrentStateChange(t *testing.T) {
	ctx := t.Context()
	old, cur := testRegistryKey(21), testRegistryKey(42)
	mem := memqueue.NewRegistry()
	for _, id := range []string{"a", "b", "c"} {
		blob, err := dispatch.SpecCodec{Key: old}.Seal(dispatch.EndpointSpec{ID: id, URL: "https://x.example/" + id,
			Secrets: []auth.Password{auth.NewPassword(testSecret)}})
		require.NoError(t, err)
		_, err = mem.PutEndpoint(ctx, queue.Endpoint{ID: id, Spec: blob, Patterns: []queue.Pattern{{Kind: queue.PatternPrefix, Value: "order-"}},
			Ordered: id == "b", MaxInFlight: 3, UpdatedAt: time.Now()})
		require.NoError(t, err)
	}
	reg := &racingRegistry{Registry: mem, id: "b", before: func() {
		_, err := setEndpointState(ctx, mem, "b", queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone"})
		require.NoError(t, err)
	}}
	var stdout, stderr bytes.Buffer
	err := rekeyEndpoints(ctx, &env{stdout: &stdout, stderr: &stderr}, reg, dispatch.SpecCodec{Key: cur, OldKeys: [][]byte{old}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 changed meanwhile")
	assert.JSONEq(t, `{"rekeyed":3,"unchanged":0,"failed":0}`, stdout.String())
	assert.Contains(t, stderr.String(), `endpoint "b" changed while it was re-sealed`)
	assert.NotContains(t, stderr.String(), `"a"`)
	assert.NotContains(t, stderr.String()+err.Error(), testSecret[len("whsec_"):])

	recs, err := mem.GetEndpoints(ctx, "a", "b", "c")
	require.NoError(t, err)
	require.Len(t, recs, 3)
	for _, rec := range recs {
		_, err := dispatch.SpecCodec{Key: old}.Open(rec.ID, rec.Spec)
		assert.ErrorIs(t, err, dispatch.ErrSpecKey, rec.ID)
		spec, err := dispatch.SpecCodec{Key: cur}.Open(rec.ID, rec.Spec)
		require.NoError(t, err, rec.ID)
		assert.Equal(t, "https://x.example/"+rec.ID, spec.URL)
		assert.Equal(t, 3, rec.MaxInFlight)
		assert.Equal(t, rec.ID == "b", rec.Ordered)
		assert.Equal(t, []queue.Pattern{{Kind: queue.PatternPrefix, Value: "order-"}}, rec.Patterns)
	}
	assert.Equal(t, queue.EndpointDisabled, recs[1].State, "the concurrent disable is kept")
	assert.Equal(t, "410 Gone", recs[1].Reason)
	assert.Equal(t, queue.EndpointActive, recs[0].State)
}

// replacingRegistry is a memqueue.Registry (a queue.SpecReplacer) that runs before once,
// just before the first ReplaceSpec of the id: another writer landing between rekey's
// read and its write.
type replacingRegistry struct {
	*memqueue.Registry
	id       string
	before   func()
	replaces int
}

func (r *replacingRegistry) ReplaceSpec(ctx context.Context, id string, old, spec []byte, now time.Time) (queue.Endpoint, error) {
	r.replaces++
	if id == r.id && r.before != nil {
		f := r.before
		r.before = nil
		f()
	}
	return r.Registry.ReplaceSpec(ctx, id, old, spec, now)
}

// TestRekeyNeverUndoesAConcurrentWrite: with a registry that replaces a spec by
// compare-and-set (queue.SpecReplacer), an import of an endpoint between rekey's read and
// its write is kept (its spec, sealed under the new key, is not overwritten by the old
// one re-sealed: counted unchanged), a deletion meanwhile stays a deletion, a state change
// meanwhile is kept with the spec re-sealed; no error, nothing secret on stderr.
func TestRekeyNeverUndoesAConcurrentWrite(t *testing.T) {
	ctx := t.Context()
	old, cur := testRegistryKey(21), testRegistryKey(42)
	seal := func(key []byte, id, url string) []byte {
		blob, err := dispatch.SpecCodec{Key: key}.Seal(dispatch.EndpointSpec{ID: id, URL: url,
			Secrets: []auth.Password{auth.NewPassword(testSecret)}})
		require.NoError(t, err)
		return blob
	}
	for _, race := range []string{"import", "delete", "state"} {
		t.Run(race, func(t *testing.T) {
			mem := memqueue.NewRegistry()
			for _, id := range []string{"a", "b"} {
				_, err := mem.PutEndpoint(ctx, queue.Endpoint{ID: id, Spec: seal(old, id, "https://x.example/"+id), UpdatedAt: time.Now()})
				require.NoError(t, err)
			}
			reg := &replacingRegistry{Registry: mem, id: "b", before: func() {
				var err error
				switch race {
				case "import":
					_, err = mem.PutEndpoint(ctx, queue.Endpoint{ID: "b", Spec: seal(cur, "b", "https://new.example/b"), UpdatedAt: time.Now()})
				case "delete":
					err = mem.DeleteEndpoint(ctx, time.Now(), "b")
				case "state":
					_, err = setEndpointState(ctx, mem, "b", queue.StateUpdate{State: queue.EndpointDisabled, Reason: "410 Gone"})
				}
				require.NoError(t, err)
			}}
			var stdout, stderr bytes.Buffer
			err := rekeyEndpoints(ctx, &env{stdout: &stdout, stderr: &stderr}, reg, dispatch.SpecCodec{Key: cur, OldKeys: [][]byte{old}})
			require.NoError(t, err, stderr.String())
			assert.NotContains(t, stderr.String(), testSecret[len("whsec_"):])
			assert.GreaterOrEqual(t, reg.replaces, 2, "written through ReplaceSpec")
			recs, err := mem.GetEndpoints(ctx, "a", "b")
			require.NoError(t, err)
			byID := map[string]queue.Endpoint{}
			for _, rec := range recs {
				byID[rec.ID] = rec
			}
			a, err := dispatch.SpecCodec{Key: cur}.Open("a", byID["a"].Spec)
			require.NoError(t, err, "a re-sealed under the new key")
			assert.Equal(t, "https://x.example/a", a.URL)
			switch race {
			case "import":
				assert.JSONEq(t, `{"rekeyed":1,"unchanged":1,"failed":0}`, stdout.String())
				b, err := dispatch.SpecCodec{Key: cur}.Open("b", byID["b"].Spec)
				require.NoError(t, err)
				assert.Equal(t, "https://new.example/b", b.URL, "the import is not undone")
			case "delete":
				assert.JSONEq(t, `{"rekeyed":1,"unchanged":1,"failed":0}`, stdout.String())
				assert.NotContains(t, byID, "b", "the deletion is not undone")
				assert.Contains(t, stderr.String(), `endpoint "b" was deleted while it was re-sealed`)
			case "state":
				assert.JSONEq(t, `{"rekeyed":2,"unchanged":0,"failed":0}`, stdout.String())
				b, err := dispatch.SpecCodec{Key: cur}.Open("b", byID["b"].Spec)
				require.NoError(t, err, "b re-sealed under the new key")
				assert.Equal(t, "https://x.example/b", b.URL)
				assert.Equal(t, queue.EndpointDisabled, byID["b"].State, "the state change is kept")
			}
		})
	}
}
