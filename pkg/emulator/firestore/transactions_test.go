package firestoreemu_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
)

func intField(t *testing.T, snap *firestore.DocumentSnapshot, path string) int64 {
	t.Helper()
	v, err := snap.DataAt(path)
	require.NoError(t, err)
	n, ok := v.(int64)
	require.True(t, ok, "%s is %T, not int64", path, v)
	return n
}

func TestTransactionsConcurrentIncrementsLoseNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("counters/c")
	_, err := doc.Set(f.ctx, map[string]any{"n": 0})
	require.NoError(t, err)

	const workers = 50
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			errs[i] = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
				snap, err := tx.Get(doc)
				if err != nil {
					return err
				}
				n, err := snap.DataAt("n")
				if err != nil {
					return err
				}
				return tx.Set(doc, map[string]any{"n": n.(int64) + 1})
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	snap, err := doc.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(workers), intField(t, snap, "n"))
}

func TestTransactionsReservationsRespectLimit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	budget := f.client.Doc("budgets/p")
	_, err := budget.Set(f.ctx, map[string]any{"reserved": 0, "limit": 300})
	require.NoError(t, err)

	const workers, amount = 100, 7
	var accepted atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			var ok bool
			errs[i] = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
				ok = false // f may run more than once
				snap, err := tx.Get(budget)
				if err != nil {
					return err
				}
				reserved, limit := snap.Data()["reserved"].(int64), snap.Data()["limit"].(int64)
				if reserved+amount > limit {
					return nil
				}
				ok = true
				return tx.Update(budget, []firestore.Update{{Path: "reserved", Value: reserved + amount}})
			})
			if errs[i] == nil && ok {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(42), accepted.Load())
	snap, err := budget.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(294), intField(t, snap, "reserved"))
}

func TestTransactionsCreateIfAbsentOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("locks/job-1")
	const workers = 20
	var created atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			var mine bool
			errs[i] = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
				mine = false
				_, err := tx.Get(doc)
				if err == nil {
					return nil
				}
				if !isNotFound(err) {
					return err
				}
				mine = true
				return tx.Create(doc, map[string]any{"owner": i})
			})
			if errs[i] == nil && mine {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), created.Load())
}

func isNotFound(err error) bool {
	return status.Code(err) == codes.NotFound
}

func TestTransactionAbortsOnWriteOutsideIt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("c/d")
	_, err := doc.Set(f.ctx, map[string]any{"n": 1})
	require.NoError(t, err)

	attempts := 0
	err = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		attempts++
		snap, err := tx.Get(doc)
		if err != nil {
			return err
		}
		n := snap.Data()["n"].(int64)
		if attempts == 1 {
			// A concurrent writer outside any transaction.
			if _, err := doc.Set(f.ctx, map[string]any{"n": 100}); err != nil {
				return err
			}
		}
		return tx.Set(doc, map[string]any{"n": n + 1})
	})
	require.NoError(t, err)
	require.Equal(t, 2, attempts)
	snap, err := doc.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(101), intField(t, snap, "n"))
}

func TestTransactionAbortsOnQueryPhantom(t *testing.T) {
	t.Parallel()
	f := setup(t)
	jobs := f.client.Collection("jobs")
	_, err := jobs.Doc("a").Set(f.ctx, map[string]any{"open": true})
	require.NoError(t, err)
	summary := f.client.Doc("summaries/jobs")

	attempts := 0
	err = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		attempts++
		open, err := tx.Documents(jobs.Where("open", "==", true)).GetAll()
		if err != nil {
			return err
		}
		if attempts == 1 {
			// A new matching document appears after the query ran.
			if _, err := jobs.Doc("b").Set(f.ctx, map[string]any{"open": true}); err != nil {
				return err
			}
		}
		return tx.Set(summary, map[string]any{"open": len(open)})
	})
	require.NoError(t, err)
	require.Equal(t, 2, attempts)
	snap, err := summary.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), intField(t, snap, "open"))
}

func TestTransactionAggregationIsValidated(t *testing.T) {
	t.Parallel()
	f := setup(t)
	items := f.client.Collection("items")
	_, err := items.Doc("a").Set(f.ctx, map[string]any{"v": 1})
	require.NoError(t, err)
	total := f.client.Doc("totals/items")

	attempts := 0
	err = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		attempts++
		res, err := items.NewAggregationQuery().WithCount("n").Transaction(tx).Get(ctx)
		if err != nil {
			return err
		}
		if attempts == 1 {
			if _, err := items.Doc("b").Set(f.ctx, map[string]any{"v": 2}); err != nil {
				return err
			}
		}
		return tx.Set(total, map[string]any{"n": res["n"].(*pb.Value).GetIntegerValue()})
	})
	require.NoError(t, err)
	require.Equal(t, 2, attempts)
	snap, err := total.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), intField(t, snap, "n"))
}

func TestTransactionsDeadlockIsBroken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.client.Doc("c/a"), f.client.Doc("c/b")
	for _, d := range []*firestore.DocumentRef{a, b} {
		_, err := d.Set(f.ctx, map[string]any{"n": 0})
		require.NoError(t, err)
	}

	// Each transaction locks its first document, waits until the other
	// has locked its own, then reads the other's: a deadlock, once.
	var firstLocks sync.WaitGroup
	firstLocks.Add(2)
	run := func(first, second *firestore.DocumentRef) error {
		attempt := 0
		return f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			attempt++
			s1, err := tx.Get(first)
			if err != nil {
				return err
			}
			if attempt == 1 {
				firstLocks.Done()
				firstLocks.Wait()
			}
			s2, err := tx.Get(second)
			if err != nil {
				return err
			}
			if err := tx.Set(first, map[string]any{"n": s1.Data()["n"].(int64) + 1}); err != nil {
				return err
			}
			return tx.Set(second, map[string]any{"n": s2.Data()["n"].(int64) + 1})
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(a, b) }()
	go func() { errs <- run(b, a) }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)

	for _, d := range []*firestore.DocumentRef{a, b} {
		snap, err := d.Get(f.ctx)
		require.NoError(t, err)
		require.Equal(t, int64(2), intField(t, snap, "n"))
	}
}

func TestReadOnlyTransactionSeesSnapshot(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.client.Doc("acct/a"), f.client.Doc("acct/b")
	for _, d := range []*firestore.DocumentRef{a, b} {
		_, err := d.Set(f.ctx, map[string]any{"balance": 50})
		require.NoError(t, err)
	}

	err := f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		sa, err := tx.Get(a)
		if err != nil {
			return err
		}
		// A transfer commits while the read-only transaction runs.
		if err := f.client.RunTransaction(f.ctx, func(_ context.Context, transfer *firestore.Transaction) error {
			if err := transfer.Set(a, map[string]any{"balance": 20}); err != nil {
				return err
			}
			return transfer.Set(b, map[string]any{"balance": 80})
		}); err != nil {
			return err
		}
		sb, err := tx.Get(b)
		if err != nil {
			return err
		}
		all, err := tx.Documents(f.client.Collection("acct")).GetAll()
		if err != nil {
			return err
		}
		require.Equal(t, int64(50), intField(t, sa, "balance"))
		require.Equal(t, int64(50), intField(t, sb, "balance"), "read-only transaction saw a later commit")
		require.Len(t, all, 2)
		for _, s := range all {
			require.Equal(t, int64(50), intField(t, s, "balance"))
		}
		return nil
	}, firestore.ReadOnly)
	require.NoError(t, err)

	snap, err := b.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(80), intField(t, snap, "balance"))
}

func TestReadTimeReads(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("c/d")
	wr1, err := doc.Set(f.ctx, map[string]any{"v": 1})
	require.NoError(t, err)
	_, err = doc.Set(f.ctx, map[string]any{"v": 2})
	require.NoError(t, err)

	// A read-only transaction at the first version's time.
	err = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(doc)
		if err != nil {
			return err
		}
		require.Equal(t, int64(1), intField(t, snap, "v"))
		return nil
	}, firestore.TransactionReadTime(wr1.UpdateTime))
	require.NoError(t, err)

	// Non-transactional reads and queries at that time.
	raw := f.raw(t)
	got, err := raw.GetDocument(f.ctx, &pb.GetDocumentRequest{
		Name:                doc.Path,
		ConsistencySelector: &pb.GetDocumentRequest_ReadTime{ReadTime: timestamppb.New(wr1.UpdateTime)},
	})
	require.NoError(t, err)
	require.Equal(t, int64(1), got.GetFields()["v"].GetIntegerValue())

	q := f.client.Collection("c").Query
	docs, err := q.WithReadOptions(firestore.ReadTime(wr1.UpdateTime)).Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, docs, 1)
	require.Equal(t, int64(1), intField(t, docs[0], "v"))

	// Before the document existed.
	got2, err := raw.GetDocument(f.ctx, &pb.GetDocumentRequest{
		Name:                doc.Path,
		ConsistencySelector: &pb.GetDocumentRequest_ReadTime{ReadTime: timestamppb.New(wr1.UpdateTime.Add(-time.Microsecond))},
	})
	requireCode(t, codes.NotFound, err)
	require.Nil(t, got2)
}

func TestTransactionRules(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw := f.raw(t)
	db := dbPath(testProject)

	// Writing in a read-only transaction is refused.
	ro, err := raw.BeginTransaction(f.ctx, &pb.BeginTransactionRequest{
		Database: db,
		Options:  &pb.TransactionOptions{Mode: &pb.TransactionOptions_ReadOnly_{ReadOnly: &pb.TransactionOptions_ReadOnly{}}},
	})
	require.NoError(t, err)
	_, err = raw.Commit(f.ctx, &pb.CommitRequest{
		Database:    db,
		Transaction: ro.GetTransaction(),
		Writes:      []*pb.Write{{Operation: &pb.Write_Delete{Delete: db + "/documents/c/d"}}},
	})
	requireCode(t, codes.InvalidArgument, err)

	// A committed transaction cannot be used again.
	rw, err := raw.BeginTransaction(f.ctx, &pb.BeginTransactionRequest{Database: db})
	require.NoError(t, err)
	_, err = raw.Commit(f.ctx, &pb.CommitRequest{Database: db, Transaction: rw.GetTransaction()})
	require.NoError(t, err)
	_, err = raw.Commit(f.ctx, &pb.CommitRequest{Database: db, Transaction: rw.GetTransaction()})
	requireCode(t, codes.InvalidArgument, err)

	// A transaction belongs to its database.
	rw2, err := raw.BeginTransaction(f.ctx, &pb.BeginTransactionRequest{Database: db})
	require.NoError(t, err)
	_, err = raw.Commit(f.ctx, &pb.CommitRequest{Database: dbPath("other"), Transaction: rw2.GetTransaction()})
	requireCode(t, codes.InvalidArgument, err)

	// Rolled back: its locks are gone, it is gone.
	stream, err := raw.BatchGetDocuments(f.ctx, &pb.BatchGetDocumentsRequest{
		Database:            db,
		Documents:           []string{db + "/documents/c/d"},
		ConsistencySelector: &pb.BatchGetDocumentsRequest_Transaction{Transaction: rw2.GetTransaction()},
	})
	require.NoError(t, err)
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, db+"/documents/c/d", resp.GetMissing())
	_, err = raw.Rollback(f.ctx, &pb.RollbackRequest{Database: db, Transaction: rw2.GetTransaction()})
	require.NoError(t, err)
	err = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		return tx.Set(f.client.Doc("c/d"), map[string]any{"a": 1})
	})
	require.NoError(t, err)
}

func TestNewTransactionInRead(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw := f.raw(t)
	db := dbPath(testProject)
	stream, err := raw.RunQuery(f.ctx, &pb.RunQueryRequest{
		Parent: db + "/documents",
		QueryType: &pb.RunQueryRequest_StructuredQuery{StructuredQuery: &pb.StructuredQuery{
			From: []*pb.StructuredQuery_CollectionSelector{{CollectionId: "c"}},
		}},
		ConsistencySelector: &pb.RunQueryRequest_NewTransaction{NewTransaction: &pb.TransactionOptions{}},
	})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	require.NotEmpty(t, first.GetTransaction())
	_, err = raw.Commit(f.ctx, &pb.CommitRequest{
		Database:    db,
		Transaction: first.GetTransaction(),
		Writes: []*pb.Write{{Operation: &pb.Write_Update{Update: &pb.Document{
			Name:   db + "/documents/c/d",
			Fields: map[string]*pb.Value{"a": {ValueType: &pb.Value_StringValue{StringValue: "b"}}},
		}}}},
	})
	require.NoError(t, err)
}

func TestManyDocumentsManyTransactions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Transfers between random pairs of accounts keep the total constant.
	const accounts, transfers = 5, 40
	for i := range accounts {
		_, err := f.client.Doc(fmt.Sprintf("acct/%d", i)).Set(f.ctx, map[string]any{"balance": 100})
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, transfers)
	for i := range transfers {
		wg.Go(func() {
			from := f.client.Doc(fmt.Sprintf("acct/%d", i%accounts))
			to := f.client.Doc(fmt.Sprintf("acct/%d", (i*3+1)%accounts))
			if from.Path == to.Path {
				return
			}
			errs[i] = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
				snaps, err := tx.GetAll([]*firestore.DocumentRef{from, to})
				if err != nil {
					return err
				}
				if err := tx.Update(from, []firestore.Update{{Path: "balance", Value: snaps[0].Data()["balance"].(int64) - 1}}); err != nil {
					return err
				}
				return tx.Update(to, []firestore.Update{{Path: "balance", Value: snaps[1].Data()["balance"].(int64) + 1}})
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	docs, err := f.client.Collection("acct").Documents(f.ctx).GetAll()
	require.NoError(t, err)
	var total int64
	for _, d := range docs {
		total += intField(t, d, "balance")
	}
	require.Equal(t, int64(accounts*100), total)
}

// In an optimistic database, a transaction does not wait for another that
// read the same document: both run, the first commit wins and the second
// aborts at commit, then succeeds on its retry. Nothing is lost.
func TestOptimisticTransactionsAbortInsteadOfWaiting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	srv, err := firestoreemu.NewServer(firestoreemu.Optimistic())
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	client, err := srv.Client(ctx, testProject)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	doc := client.Doc("c/d")
	_, err = doc.Set(ctx, map[string]any{"n": 0})
	require.NoError(t, err)

	firstRead, secondDone := make(chan struct{}), make(chan struct{})
	var firstRuns, secondRuns atomic.Int64
	var wg sync.WaitGroup
	increment := func(runs *atomic.Int64, between func(run int64)) {
		defer wg.Done()
		err := client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			run := runs.Add(1)
			snap, err := tx.Get(doc)
			if err != nil {
				return err
			}
			between(run)
			return tx.Set(doc, map[string]any{"n": intField(t, snap, "n") + 1})
		})
		require.NoError(t, err)
	}
	wg.Add(2)
	go increment(&firstRuns, func(run int64) {
		if run == 1 {
			close(firstRead)
			<-secondDone // the second reads, writes and commits meanwhile
		}
	})
	<-firstRead
	go increment(&secondRuns, func(int64) {})
	go func() {
		for secondRuns.Load() == 0 || !committed(ctx, doc) {
			time.Sleep(time.Millisecond)
		}
		close(secondDone)
	}()
	wg.Wait()
	require.EqualValues(t, 1, secondRuns.Load(), "the second did not wait for the first's lock")
	require.EqualValues(t, 2, firstRuns.Load(), "the first aborted at commit and ran again")
	snap, err := doc.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), intField(t, snap, "n"))
}

// committed reports whether doc's n has been incremented.
func committed(ctx context.Context, doc *firestore.DocumentRef) bool {
	snap, err := doc.Get(ctx)
	return err == nil && snap.Data()["n"] == int64(1)
}
