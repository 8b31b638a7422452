package firestoreemu_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
)

const testProject = "test-project"

type fixture struct {
	ctx    context.Context
	srv    *firestoreemu.Server
	client *firestore.Client
}

// setup starts an emulator and a client of the official library for it.
func setup(t *testing.T) fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	srv, err := firestoreemu.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	client, err := srv.Client(ctx, testProject)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return fixture{ctx: ctx, srv: srv, client: client}
}

// raw returns a bare gRPC client of the emulator, for what the library does
// not expose.
func (f fixture) raw(t *testing.T) pb.FirestoreClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+f.srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return pb.NewFirestoreClient(conn)
}

func dbPath(project string) string { return "projects/" + project + "/databases/(default)" }

func requireCode(t *testing.T, want codes.Code, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, want, status.Code(err), "error: %v", err)
}

func TestCRUD(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("people/ada")

	wr, err := doc.Create(f.ctx, map[string]any{"name": "Ada", "born": 1815})
	require.NoError(t, err)
	require.False(t, wr.UpdateTime.IsZero())

	snap, err := doc.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"name": "Ada", "born": int64(1815)}, snap.Data())
	require.Equal(t, wr.UpdateTime, snap.UpdateTime)
	require.Equal(t, wr.UpdateTime, snap.CreateTime)
	require.False(t, snap.ReadTime.Before(snap.UpdateTime))

	wr2, err := doc.Update(f.ctx, []firestore.Update{{Path: "born", Value: 1816}})
	require.NoError(t, err)
	require.True(t, wr2.UpdateTime.After(wr.UpdateTime))
	snap, err = doc.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1816), snap.Data()["born"])
	require.Equal(t, wr.UpdateTime, snap.CreateTime, "create time survives updates")

	_, err = doc.Delete(f.ctx)
	require.NoError(t, err)
	snap, err = doc.Get(f.ctx)
	requireCode(t, codes.NotFound, err)
	require.False(t, snap.Exists())

	// Deleting a missing document is fine.
	_, err = doc.Delete(f.ctx)
	require.NoError(t, err)
}

func TestNoOpWriteKeepsUpdateTime(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("c/d")
	wr1, err := doc.Set(f.ctx, map[string]any{"a": 1})
	require.NoError(t, err)
	wr2, err := doc.Set(f.ctx, map[string]any{"a": 1})
	require.NoError(t, err)
	require.Equal(t, wr1.UpdateTime, wr2.UpdateTime)
}

func TestGetAllReportsMissing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.client.Doc("c/a"), f.client.Doc("c/b")
	_, err := a.Set(f.ctx, map[string]any{"x": 1})
	require.NoError(t, err)

	snaps, err := f.client.GetAll(f.ctx, []*firestore.DocumentRef{a, b, a})
	require.NoError(t, err)
	require.Len(t, snaps, 3)
	require.True(t, snaps[0].Exists())
	require.False(t, snaps[1].Exists())
	require.True(t, snaps[2].Exists())
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("c/d")
	wr, err := doc.Create(f.ctx, map[string]any{"a": 1})
	require.NoError(t, err)

	_, err = doc.Create(f.ctx, map[string]any{"a": 2})
	requireCode(t, codes.AlreadyExists, err)

	_, err = f.client.Doc("c/missing").Update(f.ctx, []firestore.Update{{Path: "a", Value: 1}})
	requireCode(t, codes.NotFound, err)

	_, err = doc.Update(f.ctx, []firestore.Update{{Path: "a", Value: 2}})
	require.NoError(t, err)
	_, err = doc.Update(f.ctx, []firestore.Update{{Path: "a", Value: 3}}, firestore.LastUpdateTime(wr.UpdateTime))
	requireCode(t, codes.FailedPrecondition, err)

	_, err = f.client.Doc("c/missing").Delete(f.ctx, firestore.Exists)
	requireCode(t, codes.NotFound, err)

	// The failed writes changed nothing.
	snap, err := doc.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), snap.Data()["a"])
}

func TestCommitIsAtomic(t *testing.T) {
	t.Parallel()
	f := setup(t)
	existing := f.client.Doc("c/existing")
	_, err := existing.Set(f.ctx, map[string]any{"a": 1})
	require.NoError(t, err)

	// In a transaction.
	err = f.client.RunTransaction(f.ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		if err := tx.Set(f.client.Doc("c/new"), map[string]any{"a": 1}); err != nil {
			return err
		}
		return tx.Create(existing, map[string]any{"a": 2}) // fails at commit
	})
	requireCode(t, codes.AlreadyExists, err)
	_, err = f.client.Doc("c/new").Get(f.ctx)
	requireCode(t, codes.NotFound, err)

	// Outside a transaction.
	db := dbPath(testProject)
	_, err = f.raw(t).Commit(f.ctx, &pb.CommitRequest{
		Database: db,
		Writes: []*pb.Write{
			{Operation: &pb.Write_Update{Update: &pb.Document{Name: db + "/documents/c/new"}}},
			{Operation: &pb.Write_Delete{Delete: existing.Path}, CurrentDocument: &pb.Precondition{
				ConditionType: &pb.Precondition_Exists{Exists: false},
			}},
		},
	})
	requireCode(t, codes.AlreadyExists, err)
	_, err = f.client.Doc("c/new").Get(f.ctx)
	requireCode(t, codes.NotFound, err)
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw := f.raw(t)

	_, err := raw.GetDocument(f.ctx, &pb.GetDocumentRequest{Name: dbPath(testProject) + "/documents/onlycollection"})
	requireCode(t, codes.InvalidArgument, err)

	_, err = raw.Commit(f.ctx, &pb.CommitRequest{Database: "nonsense"})
	requireCode(t, codes.InvalidArgument, err)

	_, err = raw.Commit(f.ctx, &pb.CommitRequest{
		Database: dbPath(testProject),
		Writes: []*pb.Write{{Operation: &pb.Write_Update{Update: &pb.Document{
			Name: dbPath("other-project") + "/documents/c/d",
		}}}},
	})
	requireCode(t, codes.InvalidArgument, err)

	_, err = raw.Commit(f.ctx, &pb.CommitRequest{
		Database: dbPath(testProject),
		Writes: []*pb.Write{{Operation: &pb.Write_Update{Update: &pb.Document{
			Name:   dbPath(testProject) + "/documents/c/d",
			Fields: map[string]*pb.Value{"a": {}},
		}}}},
	})
	requireCode(t, codes.InvalidArgument, err)

	_, err = raw.Commit(f.ctx, &pb.CommitRequest{Database: dbPath(testProject), Transaction: []byte("no such transaction")})
	requireCode(t, codes.InvalidArgument, err)
}

func TestProjectsAndDatabasesAreSeparate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other, err := f.srv.Client(f.ctx, "other-project")
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	named, err := f.srv.ClientWithDatabase(f.ctx, testProject, "named-db")
	require.NoError(t, err)
	t.Cleanup(func() { _ = named.Close() })

	for i, c := range []*firestore.Client{f.client, other, named} {
		_, err := c.Doc("c/d").Set(f.ctx, map[string]any{"i": i})
		require.NoError(t, err)
	}
	for i, c := range []*firestore.Client{f.client, other, named} {
		snap, err := c.Doc("c/d").Get(f.ctx)
		require.NoError(t, err)
		require.Equal(t, int64(i), snap.Data()["i"])
		docs, err := c.Collection("c").Documents(f.ctx).GetAll()
		require.NoError(t, err)
		require.Len(t, docs, 1)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := f.client.Doc("c/d").Set(f.ctx, map[string]any{"a": 1})
	require.NoError(t, err)
	f.srv.Reset()
	_, err = f.client.Doc("c/d").Get(f.ctx)
	requireCode(t, codes.NotFound, err)
}

func TestEmulatorHostVariable(t *testing.T) {
	// Not parallel: t.Setenv.
	srv, err := firestoreemu.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("FIRESTORE_EMULATOR_HOST", srv.Addr())
	ctx := context.Background()
	client, err := firestore.NewClient(ctx, testProject)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })

	_, err = client.Doc("c/d").Set(ctx, map[string]any{"a": "b"})
	require.NoError(t, err)
	snap, err := client.Doc("c/d").Get(ctx)
	require.NoError(t, err)
	require.Equal(t, "b", snap.Data()["a"])
}

func TestServeStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := firestoreemu.Serve(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	client, err := srv.Client(context.Background(), testProject)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	_, err = client.Doc("c/d").Set(context.Background(), map[string]any{"a": 1})
	require.NoError(t, err)

	cancel()
	require.Eventually(t, func() bool {
		short, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer stop()
		_, err := client.Doc("c/d").Get(short)
		return err != nil
	}, 10*time.Second, 20*time.Millisecond)
}

func TestListenIsUnimplemented(t *testing.T) {
	t.Parallel()
	f := setup(t)
	it := f.client.Doc("c/d").Snapshots(f.ctx)
	defer it.Stop()
	_, err := it.Next()
	requireCode(t, codes.Unimplemented, err)
}

func TestPartitionedQueriesCoverEverything(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, p := range []string{"a/1/g/x", "b/2/g/y"} {
		_, err := f.client.Doc(p).Set(f.ctx, map[string]any{})
		require.NoError(t, err)
	}
	queries, err := f.client.CollectionGroup("g").GetPartitionedQueries(f.ctx, 4)
	require.NoError(t, err)
	var n int
	for _, q := range queries {
		docs, err := q.Documents(f.ctx).GetAll()
		require.NoError(t, err)
		n += len(docs)
	}
	require.Equal(t, 2, n)
}
