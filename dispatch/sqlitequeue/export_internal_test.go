package sqlitequeue

// Commits returns the group commits s has made, for the benchmarks of package
// sqlitequeue_test (deliveries per transaction).
func Commits(s *Store) int64 { return s.commits.Load() }
