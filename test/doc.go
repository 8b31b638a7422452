// Package test holds AIPROD's end-to-end tests: they run the whole pipeline
// (emulators, simulated providers, ingest, router and worker) and talk to it
// only through its public contracts — the HTTP API, the Pub/Sub topics and
// the simulators' /__sim endpoints — as tests outside the project do.
//
//   - pipeline_test.go: the one-process dev stack (devstack.Start).
//   - stack_test.go: the multi-process harness — `aiprod emulators`, the
//     simulators (optionally behind fault proxies, faultproxy_test.go),
//     ingest, routers and workers as separate processes configured by
//     environment variables, each killable with SIGKILL and restartable;
//     every process is in its own process group and is killed by
//     t.Cleanup (and by the kernel, on Linux, if the test binary dies).
//   - multiprocess_test.go: a worker SIGKILLed mid-job.
//   - chaos_test.go: issue 4's chaos test — thousands of jobs under
//     transient provider errors, an outage, latency spikes and SIGKILLed
//     routers and workers; TestChaosShort in `make test`, TestChaos
//     (10,000 jobs) in `make chaos`.
//   - console_test.go: the web console in headless Chromium (driven over
//     the DevTools protocol with chromedp) against the dev stack, through
//     the console's DOM contract; browser_test.go finds the browser
//     (AIPROD_CHROME, else chromium, chromium-browser or google-chrome on
//     PATH) and fails, saying how to install one, when there is none;
//     console_bench_test.go: BenchmarkConsoleFirstScreen, the jobs view
//     with 10,000 jobs in the store.
package test
