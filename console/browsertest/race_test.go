//go:build race

package browsertest

// raceEnabled: the race detector instruments modernc's SQLite too (pure Go), which makes
// it some fifty times slower.
const raceEnabled = true
