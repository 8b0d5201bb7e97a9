package sender_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/sender"
	"github.com/hookkit/hookkit/sender/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func() sender.Store { return sender.NewMemoryStore(sender.MemoryStoreConfig{}) })
	storetest.RunBounded(t, func(max int) sender.Store {
		return sender.NewMemoryStore(sender.MemoryStoreConfig{MaxPending: max})
	})
}

func TestMemoryStoreNextDueAndLen(t *testing.T) {
	ctx := context.Background()
	m := sender.NewMemoryStore(sender.MemoryStoreConfig{})
	_, ok := m.NextDue(ctx)
	assert.False(t, ok, "empty store")
	t0 := storetest.T0
	require.NoError(t, m.Enqueue(ctx, storetest.Delivery(t, "a", "ep", t0.Add(time.Minute)), storetest.Delivery(t, "b", "ep", t0.Add(time.Hour))))
	next, ok := m.NextDue(ctx)
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Minute), next)
	ds, err := m.Lease(ctx, sender.LeaseRequest{Now: t0.Add(time.Minute), Max: 1, For: time.Second})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	next, _ = m.NextDue(ctx)
	assert.Equal(t, t0.Add(time.Minute+time.Second), next, "a lease expiry counts")
	p, d := m.Len()
	assert.Equal(t, 2, p)
	assert.Zero(t, d)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, m.Enqueue(cctx, storetest.Delivery(t, "c", "ep", t0)), context.Canceled)
	_, err = m.Lease(cctx, sender.LeaseRequest{Now: t0, Max: 1, For: time.Second})
	assert.ErrorIs(t, err, context.Canceled)
}

// TestMemoryStoreLeaseSkipsBlockedEndpoints checks that deliveries of an endpoint left out
// of LeaseRequest.Endpoints are skipped as a whole, not scanned one by one: leasing the
// single delivery of another endpoint stays cheap behind 100,000 blocked ones.
func TestMemoryStoreLeaseSkipsBlockedEndpoints(t *testing.T) {
	ctx := context.Background()
	m := sender.NewMemoryStore(sender.MemoryStoreConfig{MaxPending: -1})
	t0 := storetest.T0
	ev := storetest.Event(t)
	batch := make([]sender.Delivery, 100_000)
	for i := range batch {
		batch[i] = sender.Delivery{ID: fmt.Sprint("blocked", i), EndpointID: "blocked", Event: ev, Due: t0}
	}
	require.NoError(t, m.Enqueue(ctx, batch...))
	allocs := testing.AllocsPerRun(100, func() {
		d := storetest.Delivery(t, "live", "live", t0.Add(time.Second))
		d.Event = ev
		require.NoError(t, m.Enqueue(ctx, d))
		ds, err := m.Lease(ctx, sender.LeaseRequest{Now: t0.Add(time.Second), Max: 10, For: time.Minute, Endpoints: map[string]int{"live": 1}})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.Equal(t, "live", ds[0].ID)
		require.NoError(t, m.Ack(ctx, "live", ds[0].Lease))
	})
	assert.Less(t, allocs, 40.0, "no per-delivery work for the blocked endpoint")
}
