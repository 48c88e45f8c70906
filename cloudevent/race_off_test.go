//go:build !race

package cloudevent

const raceEnabled = false
