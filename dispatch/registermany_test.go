package dispatch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/sender"
)

// countingRegistry is a memqueue.Registry that counts its PutEndpoint and PutEndpoints
// calls; oneByOne hides PutEndpoints (a registry without queue.EndpointsPutter).
type countingRegistry struct {
	*memqueue.Registry
	puts, bulks int
}

func (r *countingRegistry) PutEndpoint(ctx context.Context, e queue.Endpoint) (queue.Endpoint, error) {
	r.puts++
	return r.Registry.PutEndpoint(ctx, e)
}

func (r *countingRegistry) PutEndpoints(ctx context.Context, es []queue.Endpoint) ([]queue.Endpoint, error) {
	r.bulks++
	return r.Registry.PutEndpoints(ctx, es)
}

type oneByOne struct{ queue.Registry }

// TestRegisterMany: RegisterMany writes every spec in one PutEndpoints when the registry
// has it, else one PutEndpoint each; a spec Register would refuse is a *RegisterError
// naming it (its index, its ID, the reason), and nothing is registered; without a
// registry it subscribes each, or none.
func TestRegisterMany(t *testing.T) {
	ctx := t.Context()
	specs := []dispatch.EndpointSpec{
		{ID: "a", URL: "https://a.example/hook", Filter: []string{"order.*"}},
		{ID: "b", URL: "https://b.example/hook"},
		{ID: "c", URL: "https://c.example/hook", Filter: []string{"invoice.*"}},
	}
	bad := append(append([]dispatch.EndpointSpec{}, specs[:2]...), dispatch.EndpointSpec{ID: "bad", URL: "ftp://x.example"})

	t.Run("bulk", func(t *testing.T) {
		reg := &countingRegistry{Registry: memqueue.NewRegistry()}
		d := newDispatcher(t, dspSender(t), nil, dispatch.Config{Registry: reg})
		err := d.RegisterMany(ctx, bad...)
		var re *dispatch.RegisterError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 2, re.Index)
		assert.Equal(t, "bad", re.ID)
		assert.ErrorIs(t, err, sender.ErrInvalidEndpoint)
		assert.Zero(t, reg.puts+reg.bulks, "nothing written")

		require.NoError(t, d.RegisterMany(ctx, specs...))
		assert.Equal(t, 1, reg.bulks, "one PutEndpoints")
		assert.Zero(t, reg.puts)
		ms, err := reg.MatchEndpoints(ctx, "order.created")
		require.NoError(t, err)
		assert.Equal(t, []queue.EndpointMatch{{ID: "a"}, {ID: "b"}}, ms)
	})
	t.Run("one by one", func(t *testing.T) {
		counted := &countingRegistry{Registry: memqueue.NewRegistry()}
		d := newDispatcher(t, dspSender(t), nil, dispatch.Config{Registry: oneByOne{counted}})
		require.NoError(t, d.RegisterMany(ctx, specs...))
		assert.Equal(t, 3, counted.puts, "a PutEndpoint each")
		assert.Zero(t, counted.bulks)
	})
	t.Run("without a registry", func(t *testing.T) {
		d := newDispatcher(t, dspSender(t), nil, dispatch.Config{})
		err := d.RegisterMany(ctx, bad...)
		var re *dispatch.RegisterError
		require.True(t, errors.As(err, &re))
		assert.Equal(t, "bad", re.ID)
		assert.Empty(t, d.Endpoints(), "nothing subscribed")
		require.NoError(t, d.RegisterMany(ctx, specs...))
		assert.Len(t, d.Endpoints(), 3)
	})
}
