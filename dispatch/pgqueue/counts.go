package pgqueue

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

var _ queue.EndpointCounter = (*Store)(nil)

// endpointStatsSQL counts the deliveries of each endpoint in one pass (GROUP BY); {s} is
// the quoted schema. pending includes the leased ones here, as the counts log does.
const endpointStatsSQL = `SELECT endpoint_id,
	count(*) FILTER (WHERE dead_at IS NULL),
	count(*) FILTER (WHERE dead_at IS NULL AND lease IS NOT NULL AND lease_expires > $1),
	count(*) FILTER (WHERE dead_at IS NOT NULL)
FROM {s}.deliveries GROUP BY endpoint_id`

// EndpointStats implements queue.EndpointCounter: one GROUP BY query.
func (s *Store) EndpointStats(ctx context.Context, now time.Time) (map[string]queue.Stats, error) {
	rows, err := s.queryPlanned(ctx, strings.ReplaceAll(endpointStatsSQL, "{s}", s.q.schema), sqltime.Nanos(now))
	if err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: endpoint stats: %w", err)
	}
	defer rows.Close()
	out := make(map[string]queue.Stats)
	for rows.Next() {
		var ep string
		var pending, leased, dead int
		if err := rows.Scan(&ep, &pending, &leased, &dead); err != nil {
			return nil, fmt.Errorf("hookkit/pgqueue: endpoint stats: %w", err)
		}
		out[ep] = queue.Stats{Pending: pending - leased, Leased: leased, Dead: dead}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hookkit/pgqueue: endpoint stats: %w", err)
	}
	return out, nil
}
