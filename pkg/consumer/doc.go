// Package consumer serves a queue subscription: it is the one place where a
// received message is handled, whatever the service (router, worker in pull
// and push mode, and every later consumer such as the notifier).
//
// A service writes a Handler that looks at one message and returns an
// Outcome: Ack, Nack (optionally after a delay, or quietly when the nack is
// expected), or DeadLetter with a reason. The Consumer owns everything
// around it, the same way for every subscription:
//
//   - the consumer span (OpenTelemetry messaging conventions, in the trace
//     carried by the message's attributes) and its status;
//   - the log fields of the message (message_id, job_id, project_id,
//     attempt, backend, delivery_attempt), on the logger that Logger(ctx)
//     returns inside the handler;
//   - panic recovery: a handler that panics does not take the process down.
//     The message is nacked and the stack logged; after MaxPanics panics on
//     the same message it goes to the dead-letter topic with reason "panic"
//     (the panic value in the attribute "panic"), so a poison message cannot
//     crash-loop a service or block a subscription;
//   - the dead-letter publish (a failed one nacks, so nothing is lost), then
//     the Ack or Nack;
//   - the per-message metrics (one place to record them);
//   - continuations: a handler that works in short bursts with long waits
//     between them (the worker polling a generation) returns Resume
//     instead of waiting itself. The Consumer waits, with the message in
//     hand, under Handle, whose frame is kept small, and runs each burst
//     on a goroutine of its own, so the goroutine holding the message
//     parks on a stack of about 1 KB that the garbage collector shrinks to
//     4 KiB, whatever the bursts' calls grow to (docs/perf.md,
//     BenchmarkWorkerMemory).
//
// # Contract
//
// Handle may be called concurrently. It calls exactly one of m.Ack and
// m.Nack (no-ops on a message built without them, as a push delivery is) and
// returns the outcome it applied, so that a push endpoint can answer with
// the matching HTTP status.
package consumer
