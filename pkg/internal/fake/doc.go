// Package fake has the stand-ins that tests of several packages share: a
// settable clock and a log sink safe for concurrent writers. Not for
// production code.
package fake
