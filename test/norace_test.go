//go:build !race

package test

// raceEnabled reports whether the test binary runs with the race detector.
const raceEnabled = false
