// Package netguardtest is a scripted network for tests of code that goes
// through package netguard, without the internet: a Network answers name
// lookups from a script (a public address, then loopback: DNS rebinding)
// and connects every dial to one local server, which stands for whatever
// public host was dialled. It records the addresses dialled, so a test can
// check that the guard connected to the address it checked. Not for
// production.
package netguardtest
