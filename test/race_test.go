//go:build race

package test

// raceEnabled reports whether the test binary runs with the race detector:
// the chaos tests' simulators and fault proxies run in it and are several
// times slower then, so the short chaos test offers less load.
const raceEnabled = true
