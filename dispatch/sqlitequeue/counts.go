package sqlitequeue

import (
	"context"
	"fmt"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
	"github.com/hookkit/hookkit/internal/sqltime"
)

var _ queue.EndpointCounter = (*Store)(nil)

// endpointStatsSQL counts the deliveries of each endpoint in one pass (GROUP BY), on a
// read connection: pending includes the leased ones here, as meta.pending does.
const endpointStatsSQL = `SELECT endpoint,
	coalesce(sum(dead_at IS NULL), 0),
	coalesce(sum(dead_at IS NULL AND lease IS NOT NULL AND lease_expires > ?), 0),
	coalesce(sum(dead_at IS NOT NULL), 0)
FROM deliveries GROUP BY endpoint`

// EndpointStats implements queue.EndpointCounter: one GROUP BY query on a read
// connection (it does not wait for the writer).
func (s *Store) EndpointStats(ctx context.Context, now time.Time) (map[string]queue.Stats, error) {
	if s.ex != nil {
		var st map[string]queue.Stats
		err := s.ex.read(func() (err error) {
			st, err = s.ex.m.EndpointStats(ctx, now)
			return err
		})
		return st, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, endpointStatsSQL, sqltime.Nanos(now))
	if err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: endpoint stats: %w", err)
	}
	defer rows.Close()
	out := make(map[string]queue.Stats)
	for rows.Next() {
		var ep string
		var pending, leased, dead int
		if err := rows.Scan(&ep, &pending, &leased, &dead); err != nil {
			return nil, fmt.Errorf("hookkit/sqlitequeue: endpoint stats: %w", err)
		}
		out[ep] = queue.Stats{Pending: pending - leased, Leased: leased, Dead: dead}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hookkit/sqlitequeue: endpoint stats: %w", err)
	}
	return out, nil
}
