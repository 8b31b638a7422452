// Package test holds AIPROD's end-to-end tests: they run the whole pipeline
// (emulators, simulated providers, ingest, router and worker) and talk to it
// only through its public contracts — the HTTP API, the Pub/Sub topics and
// the simulators' /__sim endpoints — as tests outside the project do.
package test
