package firestoreemu_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"

	firestoreemu "github.com/aiprod/aiprod/pkg/emulator/firestore"
)

// items is the data set of the query tests. Field n mixes types on purpose.
var items = map[string]map[string]any{
	"a": {"n": 1, "s": "x", "tags": []any{"red", "blue"}, "grp": "g1", "m": map[string]any{"k": 1}},
	"b": {"n": 2.5, "s": "y", "tags": []any{"blue"}, "grp": "g1", "m": map[string]any{"k": 2}},
	"c": {"n": 3, "s": "z", "tags": []any{}, "grp": "g2"},
	"d": {"n": "str", "tags": []any{"green"}, "grp": "g2"},
	"e": {"s": "w", "grp": "g3"},
	"f": {"n": nil, "grp": "g3"},
	"g": {"n": math.NaN()},
	"h": {"n": 1.0},
}

func setupItems(t *testing.T) (fixture, *firestore.CollectionRef) {
	t.Helper()
	f := setup(t)
	coll := f.client.Collection("items")
	for id, data := range items {
		_, err := coll.Doc(id).Set(f.ctx, data)
		require.NoError(t, err)
	}
	return f, coll
}

func ids(t *testing.T, it *firestore.DocumentIterator) []string {
	t.Helper()
	docs, err := it.GetAll()
	require.NoError(t, err)
	out := []string{}
	for _, d := range docs {
		out = append(out, d.Ref.ID)
	}
	return out
}

func TestQueryFilters(t *testing.T) {
	t.Parallel()
	f, coll := setupItems(t)
	q := coll.Query
	or := func(fs ...firestore.EntityFilter) firestore.EntityFilter { return firestore.OrFilter{Filters: fs} }
	and := func(fs ...firestore.EntityFilter) firestore.EntityFilter { return firestore.AndFilter{Filters: fs} }
	pf := func(path, op string, v any) firestore.EntityFilter {
		return firestore.PropertyFilter{Path: path, Operator: op, Value: v}
	}

	tests := []struct {
		name string
		q    firestore.Query
		want []string
	}{
		{"all, by name", q, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{"== int matches double", q.Where("n", "==", 1), []string{"a", "h"}},
		{"== double matches int", q.Where("n", "==", 3.0), []string{"c"}},
		{"== string", q.Where("s", "==", "y"), []string{"b"}},
		{"== map", q.Where("m", "==", map[string]any{"k": 2}), []string{"b"}},
		{"== array", q.Where("tags", "==", []any{"blue"}), []string{"b"}},
		{"== nested field", q.Where("m.k", "==", 1), []string{"a"}},
		// != excludes missing and null fields; orders by the field.
		{"!=", q.Where("n", "!=", 1), []string{"g", "b", "c", "d"}},
		// Range filters only match the filter value's type (NaN is a number
		// that sorts first).
		{"<", q.Where("n", "<", 3), []string{"g", "a", "h", "b"}},
		{"<=", q.Where("n", "<=", 2.5), []string{"g", "a", "h", "b"}},
		{">", q.Where("n", ">", 1), []string{"b", "c"}},
		{">=", q.Where("n", ">=", 1), []string{"a", "h", "b", "c"}},
		{"> string", q.Where("n", ">", "a"), []string{"d"}},
		{"range on two fields", q.Where("n", ">=", 1).Where("s", "<", "z"), []string{"a", "b"}},
		{"array-contains", q.Where("tags", "array-contains", "blue"), []string{"a", "b"}},
		{"array-contains-any", q.Where("tags", "array-contains-any", []any{"red", "green"}), []string{"a", "d"}},
		{"in", q.Where("grp", "in", []any{"g1", "g3"}), []string{"a", "b", "e", "f"}},
		{"in numbers", q.Where("n", "in", []any{1.0, 3}), []string{"a", "c", "h"}},
		{"in arrays", q.Where("tags", "in", []any{[]any{"blue"}, []any{}}), []string{"b", "c"}},
		{"not-in arrays", q.Where("tags", "not-in", []any{[]any{"blue"}, []any{}}), []string{"d", "a"}},
		{"not-in", q.Where("grp", "not-in", []any{"g1", "g3"}), []string{"c", "d"}},
		{"not-in with null matches nothing", q.Where("grp", "not-in", []any{"g1", nil}), []string{}},
		{"is null", q.Where("n", "==", nil), []string{"f"}},
		{"is not null", q.Where("n", "!=", nil), []string{"g", "a", "h", "b", "c", "d"}},
		{"is nan", q.Where("n", "==", math.NaN()), []string{"g"}},
		{"is not nan", q.Where("n", "!=", math.NaN()), []string{"a", "h", "b", "c", "d"}},
		{"or", q.WhereEntity(or(pf("grp", "==", "g1"), pf("n", "==", 3))), []string{"a", "b", "c"}},
		{"and of or", q.WhereEntity(and(
			pf("grp", "in", []any{"g2", "g3"}),
			or(pf("tags", "array-contains", "green"), pf("s", "==", "w")),
		)), []string{"d", "e"}},
		// The inequality orders by n, which excludes documents without n.
		{"or with inequality", q.WhereEntity(or(pf("n", ">", 2), pf("grp", "==", "g3"))), []string{"f", "b", "c"}},
		{"__name__ filter", q.Where(firestore.DocumentID, ">", coll.Doc("f")), []string{"g", "h"}},
		{"__name__ in", q.Where(firestore.DocumentID, "in", []any{coll.Doc("b"), coll.Doc("zz")}), []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ids(t, tt.q.Documents(f.ctx)))
		})
	}
}

func TestQueryOrderLimitOffset(t *testing.T) {
	t.Parallel()
	f, coll := setupItems(t)
	q := coll.Query
	tests := []struct {
		name string
		q    firestore.Query
		want []string
	}{
		// Ordering by n excludes e (no n); null < NaN < numbers < strings;
		// ties break by name in the direction of the last order.
		{"asc", q.OrderBy("n", firestore.Asc), []string{"f", "g", "a", "h", "b", "c", "d"}},
		{"desc", q.OrderBy("n", firestore.Desc), []string{"d", "c", "b", "h", "a", "g", "f"}},
		{"two fields", q.OrderBy("grp", firestore.Asc).OrderBy("n", firestore.Desc), []string{"b", "a", "d", "c", "f"}},
		{"name desc", q.OrderBy(firestore.DocumentID, firestore.Desc), []string{"h", "g", "f", "e", "d", "c", "b", "a"}},
		{"name then field", q.OrderBy("grp", firestore.Desc).OrderBy(firestore.DocumentID, firestore.Asc), []string{"e", "f", "c", "d", "a", "b"}},
		{"nested field", q.OrderBy("m.k", firestore.Desc), []string{"b", "a"}},
		{"limit", q.OrderBy("n", firestore.Asc).Limit(2), []string{"f", "g"}},
		{"offset and limit", q.OrderBy("n", firestore.Asc).Offset(2).Limit(3), []string{"a", "h", "b"}},
		{"offset past the end", q.Offset(100), []string{}},
		{"limit 0", q.Limit(0), []string{}},
		{"equality then order", q.Where("grp", "==", "g1").OrderBy("n", firestore.Desc), []string{"b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ids(t, tt.q.Documents(f.ctx)))
		})
	}

	// LimitToLast is done by the client with reversed orders and cursors.
	docs, err := q.OrderBy("n", firestore.Asc).LimitToLast(2).Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Equal(t, []string{"c", "d"}, []string{docs[0].Ref.ID, docs[1].Ref.ID})
}

func TestQueryCursors(t *testing.T) {
	t.Parallel()
	f, coll := setupItems(t)
	byN := coll.OrderBy("n", firestore.Asc) // f, g, a, h, b, c, d
	snapA, err := coll.Doc("a").Get(f.ctx)
	require.NoError(t, err)
	snapH, err := coll.Doc("h").Get(f.ctx)
	require.NoError(t, err)

	tests := []struct {
		name string
		q    firestore.Query
		want []string
	}{
		{"start at value", byN.StartAt(1), []string{"a", "h", "b", "c", "d"}},
		{"start after value", byN.StartAfter(1), []string{"b", "c", "d"}},
		{"end at value", byN.EndAt(2.5), []string{"f", "g", "a", "h", "b"}},
		{"end before value", byN.EndBefore(2.5), []string{"f", "g", "a", "h"}},
		{"start and end", byN.StartAfter(1).EndAt(3), []string{"b", "c"}},
		{"start after snapshot", byN.StartAfter(snapA), []string{"h", "b", "c", "d"}},
		{"start at snapshot", byN.StartAt(snapH), []string{"h", "b", "c", "d"}},
		{"end before snapshot", byN.EndBefore(snapH), []string{"f", "g", "a"}},
		{"end at snapshot", byN.EndAt(snapA), []string{"f", "g", "a"}},
		{"desc start after", coll.OrderBy("n", firestore.Desc).StartAfter(2.5), []string{"h", "a", "g", "f"}},
		{"two values", coll.OrderBy("grp", firestore.Asc).OrderBy(firestore.DocumentID, firestore.Asc).StartAfter("g2", "c"), []string{"d", "e", "f"}},
		{"name only", coll.OrderBy(firestore.DocumentID, firestore.Asc).StartAt("c").EndBefore("f"), []string{"c", "d", "e"}},
		// A snapshot cursor on a query with an inequality but no order.
		{"snapshot with inequality", coll.Where("n", ">=", 1).StartAfter(snapA), []string{"h", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ids(t, tt.q.Documents(f.ctx)))
		})
	}

	t.Run("paging", func(t *testing.T) {
		var got []string
		page := byN.Limit(3)
		for {
			docs, err := page.Documents(f.ctx).GetAll()
			require.NoError(t, err)
			for _, d := range docs {
				got = append(got, d.Ref.ID)
			}
			if len(docs) < 3 {
				break
			}
			page = byN.Limit(3).StartAfter(docs[len(docs)-1])
		}
		require.Equal(t, []string{"f", "g", "a", "h", "b", "c", "d"}, got)
	})
}

func TestQueryStreamsAndStops(t *testing.T) {
	t.Parallel()
	f, coll := setupItems(t)
	it := coll.Documents(f.ctx)
	d, err := it.Next()
	require.NoError(t, err)
	require.Equal(t, "a", d.Ref.ID)
	it.Stop()
	_, err = it.Next()
	require.ErrorIs(t, err, iterator.Done)
}

func TestQuerySelect(t *testing.T) {
	t.Parallel()
	f, coll := setupItems(t)

	docs, err := coll.Select("s", "m.k").Where("grp", "==", "g1").Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, docs, 2)
	require.Equal(t, map[string]any{"s": "x", "m": map[string]any{"k": int64(1)}}, docs[0].Data())

	docs, err = coll.Select().Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, docs, len(items))
	for _, d := range docs {
		require.Empty(t, d.Data())
	}

	// The projection leaves the stored documents alone.
	snap, err := coll.Doc("a").Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"k": int64(1)}, snap.Data()["m"])
	require.Len(t, snap.Data(), 5)
}

func TestCollectionGroupAndSubcollections(t *testing.T) {
	t.Parallel()
	f := setup(t)
	paths := map[string]int{
		"messages/top":                       1,
		"rooms/r1/messages/m1":               2,
		"rooms/r2/messages/m2":               3,
		"users/u1/messages/m3":               4,
		"rooms/r1/notmessages/x":             5,
		"rooms/r1/messages/m1/messages/deep": 6,
	}
	for p, n := range paths {
		_, err := f.client.Doc(p).Set(f.ctx, map[string]any{"n": n})
		require.NoError(t, err)
	}
	paths2 := func(it *firestore.DocumentIterator) []string {
		docs, err := it.GetAll()
		require.NoError(t, err)
		out := []string{}
		for _, d := range docs {
			out = append(out, d.Ref.Path[len(dbPath(testProject))+len("/documents/"):])
		}
		return out
	}

	require.Equal(t, []string{
		"messages/top",
		"rooms/r1/messages/m1",
		"rooms/r1/messages/m1/messages/deep",
		"rooms/r2/messages/m2",
		"users/u1/messages/m3",
	}, paths2(f.client.CollectionGroup("messages").Documents(f.ctx)))

	require.Equal(t, []string{"rooms/r1/messages/m1/messages/deep", "users/u1/messages/m3", "rooms/r2/messages/m2"},
		paths2(f.client.CollectionGroup("messages").Where("n", ">", 2).OrderBy("n", firestore.Desc).Documents(f.ctx)))

	require.Equal(t, []string{"rooms/r1/messages/m1"}, paths2(f.client.Collection("rooms/r1/messages").Documents(f.ctx)))
	require.Equal(t, []string{"messages/top"}, paths2(f.client.Collection("messages").Documents(f.ctx)))

	// A collection group under one document.
	raw := f.raw(t)
	stream, err := raw.RunQuery(f.ctx, &pb.RunQueryRequest{
		Parent: dbPath(testProject) + "/documents/rooms/r1",
		QueryType: &pb.RunQueryRequest_StructuredQuery{StructuredQuery: &pb.StructuredQuery{
			From: []*pb.StructuredQuery_CollectionSelector{{CollectionId: "messages", AllDescendants: true}},
		}},
	})
	require.NoError(t, err)
	var names []string
	for {
		resp, err := stream.Recv()
		if err != nil {
			break
		}
		if resp.GetDocument() != nil {
			names = append(names, resp.GetDocument().GetName())
		}
	}
	require.Equal(t, []string{
		dbPath(testProject) + "/documents/rooms/r1/messages/m1",
		dbPath(testProject) + "/documents/rooms/r1/messages/m1/messages/deep",
	}, names)
}

func TestQueryInvalid(t *testing.T) {
	t.Parallel()
	f, coll := setupItems(t)
	raw := f.raw(t)
	run := func(sq *pb.StructuredQuery) error {
		stream, err := raw.RunQuery(f.ctx, &pb.RunQueryRequest{
			Parent:    dbPath(testProject) + "/documents",
			QueryType: &pb.RunQueryRequest_StructuredQuery{StructuredQuery: sq},
		})
		if err != nil {
			return err
		}
		for {
			if _, err := stream.Recv(); err != nil {
				if err.Error() == "EOF" {
					return nil
				}
				return err
			}
		}
	}
	from := []*pb.StructuredQuery_CollectionSelector{{CollectionId: "items"}}
	requireCode(t, codes.InvalidArgument, run(&pb.StructuredQuery{}))
	requireCode(t, codes.InvalidArgument, run(&pb.StructuredQuery{From: from, Limit: wrapperspb.Int32(-1)}))
	requireCode(t, codes.InvalidArgument, run(&pb.StructuredQuery{
		From:    from,
		StartAt: &pb.Cursor{Values: []*pb.Value{{ValueType: &pb.Value_IntegerValue{}}, {ValueType: &pb.Value_IntegerValue{}}}},
	}))
	requireCode(t, codes.InvalidArgument, run(&pb.StructuredQuery{
		From: from,
		Where: &pb.StructuredQuery_Filter{FilterType: &pb.StructuredQuery_Filter_FieldFilter{FieldFilter: &pb.StructuredQuery_FieldFilter{
			Field: &pb.StructuredQuery_FieldReference{FieldPath: "n"},
			Op:    pb.StructuredQuery_FieldFilter_IN,
			Value: &pb.Value{ValueType: &pb.Value_IntegerValue{IntegerValue: 1}},
		}}},
	}))

	// Filtering __name__ needs references.
	_, err := coll.Where(firestore.DocumentID, "==", "a").Documents(f.ctx).GetAll()
	requireCode(t, codes.InvalidArgument, err)
}

func TestQueryOrdersMixedTypes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	coll := f.client.Collection("mixed")
	values := []any{ // in Firestore order
		nil,
		false,
		true,
		math.NaN(),
		-1.5,
		int64(1),
		2.5,
		time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		"",
		"abc",
		[]byte("abc"),
		f.client.Doc("a/b"),
		&latlng.LatLng{Latitude: 1, Longitude: 2},
		[]any{int64(1)},
		firestore.Vector64{1, 2},
		map[string]any{"k": "v"},
	}
	for i, v := range values {
		_, err := coll.Doc(fmt.Sprintf("%02d", len(values)-i)).Set(f.ctx, map[string]any{"v": v})
		require.NoError(t, err)
	}
	got := ids(t, coll.OrderBy("v", firestore.Asc).Documents(f.ctx))
	var want []string
	for i := range values {
		want = append(want, fmt.Sprintf("%02d", len(values)-i))
	}
	require.Equal(t, want, got)
	slices.Reverse(want)
	require.Equal(t, want, ids(t, coll.OrderBy("v", firestore.Desc).Documents(f.ctx)))
}

// BenchmarkQueryOneCollectionAmongMany queries a 500-document collection in
// a database where each of those documents has 20 documents of its own in
// a subcollection (as jobs and their events): the query reads its
// collection only, not the 10,000 others.
func BenchmarkQueryOneCollectionAmongMany(b *testing.B) {
	ctx := context.Background()
	srv, err := firestoreemu.NewServer()
	require.NoError(b, err)
	defer srv.Close()
	client, err := srv.Client(ctx, testProject)
	require.NoError(b, err)
	defer client.Close()
	for i := range 500 {
		bw := client.BulkWriter(ctx)
		job := client.Collection("jobs").Doc(fmt.Sprintf("job-%03d", i))
		_, err := bw.Set(job, map[string]any{"status": []string{"queued", "running"}[i%2], "n": i})
		require.NoError(b, err)
		for e := range 20 {
			_, err := bw.Set(job.Collection("events").Doc(fmt.Sprintf("%02d", e)), map[string]any{"n": e})
			require.NoError(b, err)
		}
		bw.End()
	}
	q := client.Collection("jobs").Where("status", "==", "running").Limit(50)
	b.ResetTimer()
	for b.Loop() {
		docs, err := q.Documents(ctx).GetAll()
		if err != nil || len(docs) != 50 {
			b.Fatalf("got %d docs, err %v", len(docs), err)
		}
	}
}
