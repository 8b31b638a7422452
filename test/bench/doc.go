// Package bench holds the benchmarks that need several services at once
// (issue 14): the ingest API, router and worker wired as in production on
// the in-memory queue, with the memory store or the Firestore emulator, and
// an instant backend that answers at once. It has no code of its own: the
// benchmarks are its tests. Run them with `make bench`.
//
//   - BenchmarkPipelineCPU: process CPU time per job through ingest, router
//     and worker (cpu-µs/job), and its ratio (x-bare) to a bare three-hop
//     pipeline over the same queue that does no work.
//   - BenchmarkStoreOpsPerJob: Firestore document reads, writes and deletes,
//     and queue publishes, per job that succeeds first time (…/job) and per
//     job that fails over once (…/failover-job), counted on the gRPC
//     connection to the Firestore emulator as Firestore bills them.
//   - TestSlotOpsDoNotGrowWithCapacity: on the same counted connection,
//     taking, renewing, refusing and releasing a concurrency slot of a
//     backend of 1,000 slots cost one read and one write each.
//
// BenchmarkRoute is in pkg/routing and BenchmarkWorkerMemory in pkg/worker;
// docs/perf.md has the figures and the targets.
package bench
