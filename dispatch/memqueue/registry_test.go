package memqueue_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/dispatch/memqueue"
	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/dispatch/queuetest"
)

func TestRegistryConformance(t *testing.T) {
	queuetest.RunRegistry(t, func(*testing.T) queue.Registry { return memqueue.NewRegistry() })
	queuetest.RunDeletedPurger(t, func(*testing.T) queue.Registry { return memqueue.NewRegistry() })
	queuetest.RunSpecReplacer(t, func(*testing.T) queue.Registry { return memqueue.NewRegistry() })
	queuetest.RunEndpointsPutter(t, func(*testing.T) queue.Registry { return memqueue.NewRegistry() })
}

// TestRegistryLogCompacted: 10 endpoints put 100 times each keep the change log near 10
// entries (compacted), and the changes since any cursor are still each endpoint changed
// after it, once.
func TestRegistryLogCompacted(t *testing.T) {
	ctx := t.Context()
	r := memqueue.NewRegistry()
	var mid uint64
	for round := range 100 {
		for i := range 10 {
			_, err := r.PutEndpoint(ctx, queue.Endpoint{ID: string(rune('a' + i))})
			require.NoError(t, err)
			if round == 99 && i == 6 {
				ch, err := r.EndpointChanges(ctx, 0, 0)
				require.NoError(t, err)
				mid = ch.Next
			}
		}
	}
	ch, err := r.EndpointChanges(ctx, 0, 10)
	require.NoError(t, err)
	assert.Len(t, ch.Endpoints, 10)
	ch, err = r.EndpointChanges(ctx, mid, 10)
	require.NoError(t, err)
	var ids []string
	for _, e := range ch.Endpoints {
		ids = append(ids, e.ID)
		assert.Equal(t, uint64(100), e.Version)
	}
	assert.ElementsMatch(t, []string{"h", "i", "j"}, ids)
	assert.LessOrEqual(t, memqueue.RegistryLogLen(r), 64+1, "compacted")
}
