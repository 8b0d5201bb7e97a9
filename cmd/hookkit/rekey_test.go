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
