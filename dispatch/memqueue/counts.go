package memqueue

import (
	"context"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
)

var _ queue.EndpointCounter = (*Store)(nil)

// EndpointStats implements queue.EndpointCounter: one pass over the deliveries and the
// leases under the store's lock.
func (m *Store) EndpointStats(ctx context.Context, now time.Time) (map[string]queue.Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	at := toInstant(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]queue.Stats)
	for _, it := range m.items {
		st := out[it.q.key.endpoint]
		st.Pending++
		out[it.q.key.endpoint] = st
	}
	for _, e := range m.leases.s {
		if e.expires > at {
			st := out[e.it.q.key.endpoint]
			st.Pending--
			st.Leased++
			out[e.it.q.key.endpoint] = st
		}
	}
	for _, it := range m.dead {
		st := out[it.q.key.endpoint]
		st.Dead++
		out[it.q.key.endpoint] = st
	}
	return out, nil
}
