package sqlitequeue

import (
	"testing"

	"github.com/hookkit/hookkit/event"
)

// Commits returns the group commits s has made, for the benchmarks of package
// sqlitequeue_test (deliveries per transaction).
func Commits(s *Store) int64 { return s.commits.Load() }

// DistinctEvents returns n encoded events, each with its own random id as Publish gives
// them, for the benchmarks of both test packages (made before their timers start).
func DistinctEvents(b *testing.B, n int) []*event.Encoded {
	evs := make([]*event.Encoded, n)
	for i := range evs {
		ev, err := event.New("order-created", map[string]int{"order": i})
		if err != nil {
			b.Fatal(err)
		}
		if evs[i], err = ev.Encode(); err != nil {
			b.Fatal(err)
		}
	}
	return evs
}
