//go:build race

package cloudevent

// raceEnabled: the race detector changes allocation counts, so tests that
// count allocations skip under it.
const raceEnabled = true
