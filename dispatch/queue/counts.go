package queue

import (
	"context"
	"time"
)

// EndpointCounter is an optional Store extension: the counts of Stats, per endpoint, in
// one call (one GROUP BY query for a SQL store). memqueue, sqlitequeue and pgqueue
// implement it; queuetest.RunEndpointCounts checks an implementation. A caller without
// it (the console, for a store that lacks it) counts by paging ListPending and ListDead.
type EndpointCounter interface {
	// EndpointStats counts what is stored at now, as Stats does, grouped by
	// Delivery.EndpointID: for each endpoint with at least one delivery (pending, leased
	// or dead), its pending deliveries not leased at now, its leased ones (lease live at
	// now) and its dead letters. Endpoints with nothing stored are absent from the map.
	// The counts of all endpoints add up to Stats at the same now, when nothing changes
	// in between. It changes nothing.
	EndpointStats(ctx context.Context, now time.Time) (map[string]Stats, error)
}
