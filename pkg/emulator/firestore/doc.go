// Package firestoreemu is an in-process emulator of Cloud Firestore (native
// mode) for tests and local development, like pkg/emulator/pubsub for
// Pub/Sub. It serves the google.firestore.v1.Firestore gRPC API, so
// the official client, cloud.google.com/go/firestore, talks to it unchanged.
// It is not for production: all data lives in memory and is lost on Close.
//
// # Use
//
//	srv, err := firestoreemu.NewServer() // 127.0.0.1, free port
//	...
//	defer srv.Close()
//	client, err := srv.Client(ctx, "my-project") // or FIRESTORE_EMULATOR_HOST=srv.Addr()
//
// Serve(ctx, addr) starts one that stops with ctx, for command-line wiring.
// Reset drops all data between tests. Projects and databases are kept apart:
// documents are keyed by their full resource name. Requests are not
// authenticated (the client's "Bearer owner" header is accepted, as is
// anything else).
//
// # What it implements
//
//   - GetDocument, BatchGetDocuments (missing documents reported as missing),
//     ListDocuments (show_missing, mask, order_by, paging), ListCollectionIds,
//     CreateDocument, UpdateDocument, DeleteDocument.
//   - Commit and BatchWrite: set, update with update_mask (merge; masked
//     fields absent from the document are deleted), delete, and the
//     transforms server request time, increment, maximum, minimum,
//     append_missing_elements (array union) and remove_all_from_array;
//     preconditions exists and update_time; write results with update_time
//     (unchanged when a write changes nothing) and transform_results. Commit
//     is atomic; BatchWrite reports a status per write.
//   - RunQuery: every field filter operator, unary filters, AND/OR composite
//     filters, order_by with Firestore's implicit orders (inequality fields,
//     then __name__, in the direction of the last order), cursors, offset,
//     limit, projections, collection groups (all_descendants), queries under
//     a document, read_time, transactions, explain options.
//   - RunAggregationQuery: count (with up_to), sum and avg, with aliases.
//   - BeginTransaction, Rollback, and transactions in every read RPC, with
//     the read-write, read-only and read_time options and retry_transaction.
//   - PartitionQuery answers with a single partition.
//
// Values compare as in Firestore: null < booleans < NaN < numbers (integers
// and doubles by numeric value, 1 == 1.0) < timestamps < strings (UTF-8
// bytes) < bytes < references (segment by segment) < geo points < arrays <
// vectors < maps. Range filters match only values of the filter value's
// type; != and not-in exclude missing and null fields; NaN is only matched by
// IS_NAN; ordering by a field excludes documents without it.
//
// # Transactions
//
// Read-write transactions are serializable and never lose an update. Like
// Firestore, a transaction locks the documents it reads (pessimistically):
// another transaction reading one of them waits for the holder to finish,
// so contending read-modify-write transactions run one after the other
// instead of aborting. Deadlocks are detected and broken by aborting the
// youngest transaction of the cycle (a retry keeps the age of its first
// attempt). Commit then validates, atomically with the writes, that every
// document read is unchanged and every query run would return the same
// documents (which covers writes made outside transactions and phantoms);
// otherwise it answers ABORTED and the client retries the transaction.
// Writes outside transactions never wait for locks: they apply at once and
// make the transactions that read those documents abort at commit. A
// transaction that holds a lock someone waits for, with no request in flight
// for ten seconds, is aborted (a client that crashed mid-transaction does not
// block others for long).
//
// With Optimistic (a database in concurrency mode OPTIMISTIC), reads take
// no locks: contending transactions all run, the first to commit wins, and
// the others abort at commit and are retried by the client. Benchmarks use
// it to count the retries a hot document costs.
//
// Read-only transactions and read_time reads see a consistent snapshot:
// document versions are kept for an hour, as Firestore keeps them without
// point-in-time recovery. Commit times are unique and increase.
//
// # Errors
//
// Create of an existing document is ALREADY_EXISTS, update of a missing one
// NOT_FOUND, a stale update_time precondition FAILED_PRECONDITION, a
// malformed request INVALID_ARGUMENT, a transaction conflict ABORTED, an
// unknown or finished transaction INVALID_ARGUMENT.
//
// # What it does not do
//
//   - Listen (real-time snapshots), the Write stream and ExecutePipeline
//     answer UNIMPLEMENTED; so does a query with find_nearest (vector
//     search).
//   - No index is needed or enforced, so queries that Firestore would reject
//     for a missing composite index succeed here. Query limits (number of
//     disjunctions, in/not-in list sizes) are not enforced.
//   - No security rules, TTL policies, database or index admin API, bundles,
//     or BSON types; document and request size limits are not enforced.
//   - Queries scan every document of the database: fine for tests, slow for
//     large data sets. Paging in ListDocuments and ListCollectionIds is by
//     offset and not stable under concurrent writes.
//   - Transactions do not expire after 270 seconds as Firestore's do; idle
//     ones are forgotten after ten minutes.
package firestoreemu
