//go:build !race

package browsertest

// raceEnabled: built without the race detector.
const raceEnabled = false
