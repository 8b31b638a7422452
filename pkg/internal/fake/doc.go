// Package fake has the stand-ins that tests of several packages share: a
// log sink safe for concurrent writers (for a settable clock, see
// sim.ManualClock). Not for production code.
package fake
