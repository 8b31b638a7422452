package firestoreemu_test

import (
	"fmt"
	"testing"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
)

func TestListDocumentsAndCollections(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, p := range []string{
		"users/a",
		"users/b",
		"users/c/posts/p1", // users/c itself is missing
		"users/b/posts/p2",
		"users/b/likes/l1",
		"orgs/o1",
	} {
		_, err := f.client.Doc(p).Set(f.ctx, map[string]any{"path": p})
		require.NoError(t, err)
	}

	refs, err := f.client.Collection("users").DocumentRefs(f.ctx).GetAll()
	require.NoError(t, err)
	var got []string
	for _, r := range refs {
		got = append(got, r.ID)
	}
	require.Equal(t, []string{"a", "b", "c"}, got, "missing documents are listed too")

	collIDs := func(it *firestore.CollectionIterator) []string {
		colls, err := it.GetAll()
		require.NoError(t, err)
		out := []string{}
		for _, c := range colls {
			out = append(out, c.ID)
		}
		return out
	}
	require.Equal(t, []string{"orgs", "users"}, collIDs(f.client.Collections(f.ctx)))
	require.Equal(t, []string{"likes", "posts"}, collIDs(f.client.Doc("users/b").Collections(f.ctx)))
	require.Equal(t, []string{"posts"}, collIDs(f.client.Doc("users/c").Collections(f.ctx)))
	require.Equal(t, []string{}, collIDs(f.client.Doc("users/a").Collections(f.ctx)))
}

func TestListDocumentsPagingAndMask(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := range 25 {
		_, err := f.client.Doc(fmt.Sprintf("c/%02d", i)).Set(f.ctx, map[string]any{"i": i, "other": "x"})
		require.NoError(t, err)
	}
	raw := f.raw(t)
	var names []string
	token := ""
	pages := 0
	for {
		resp, err := raw.ListDocuments(f.ctx, &pb.ListDocumentsRequest{
			Parent:       dbPath(testProject) + "/documents",
			CollectionId: "c",
			PageSize:     10,
			PageToken:    token,
			Mask:         &pb.DocumentMask{FieldPaths: []string{"i"}},
		})
		require.NoError(t, err)
		pages++
		for _, d := range resp.GetDocuments() {
			names = append(names, d.GetName())
			require.Len(t, d.GetFields(), 1)
			require.NotNil(t, d.GetUpdateTime())
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	require.Equal(t, 3, pages)
	require.Len(t, names, 25)
	require.Equal(t, dbPath(testProject)+"/documents/c/00", names[0])
	require.Equal(t, dbPath(testProject)+"/documents/c/24", names[24])

	resp, err := raw.ListDocuments(f.ctx, &pb.ListDocumentsRequest{
		Parent:       dbPath(testProject) + "/documents",
		CollectionId: "c",
		OrderBy:      "i desc",
		PageSize:     2,
	})
	require.NoError(t, err)
	require.Equal(t, dbPath(testProject)+"/documents/c/24", resp.GetDocuments()[0].GetName())

	// The library's iterator pages too.
	it := f.client.Collection("c").DocumentRefs(f.ctx)
	page := iterator.NewPager(it, 7, "")
	var refs []*firestore.DocumentRef
	for {
		var batch []*firestore.DocumentRef
		next, err := page.NextPage(&batch)
		require.NoError(t, err)
		refs = append(refs, batch...)
		if next == "" {
			break
		}
	}
	require.Len(t, refs, 25)
}

func TestListCollectionIDsPaging(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := range 5 {
		_, err := f.client.Doc(fmt.Sprintf("coll%d/d", i)).Set(f.ctx, map[string]any{})
		require.NoError(t, err)
	}
	raw := f.raw(t)
	resp, err := raw.ListCollectionIds(f.ctx, &pb.ListCollectionIdsRequest{Parent: dbPath(testProject) + "/documents", PageSize: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"coll0", "coll1", "coll2"}, resp.GetCollectionIds())
	resp, err = raw.ListCollectionIds(f.ctx, &pb.ListCollectionIdsRequest{
		Parent: dbPath(testProject) + "/documents", PageSize: 3, PageToken: resp.GetNextPageToken(),
	})
	require.NoError(t, err)
	require.Equal(t, []string{"coll3", "coll4"}, resp.GetCollectionIds())
	require.Empty(t, resp.GetNextPageToken())
}
