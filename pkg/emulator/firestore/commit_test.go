package firestoreemu_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

func getData(t *testing.T, f fixture, doc *firestore.DocumentRef) map[string]any {
	t.Helper()
	snap, err := doc.Get(f.ctx)
	require.NoError(t, err)
	return snap.Data()
}

func TestTransforms(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("c/d")
	_, err := doc.Set(f.ctx, map[string]any{
		"i": 1, "d": 1.5, "s": "text", "max": 5, "min": 5,
		"arr": []any{1, "a", 2.0}, "nested": map[string]any{"i": 10},
	})
	require.NoError(t, err)

	wr, err := doc.Update(f.ctx, []firestore.Update{
		{Path: "i", Value: firestore.Increment(2)},
		{Path: "d", Value: firestore.Increment(1)},
		{Path: "s", Value: firestore.Increment(3)},      // not a number: set
		{Path: "absent", Value: firestore.Increment(4)}, // missing: set
		{Path: "nested.i", Value: firestore.Increment(-11)},
		{Path: "ts", Value: firestore.ServerTimestamp},
		{Path: "arr", Value: firestore.ArrayUnion(1.0, "b", "b", 3)}, // 1.0 equals 1: not added
		{Path: "newarr", Value: firestore.ArrayRemove("x")},
		{Path: "max", Value: firestore.FieldTransformMaximum(7.5)},
		{Path: "min", Value: firestore.FieldTransformMinimum(5.0)}, // tie: stays the stored int
	})
	require.NoError(t, err)
	data := getData(t, f, doc)
	require.Equal(t, int64(3), data["i"])
	require.Equal(t, 2.5, data["d"])
	require.Equal(t, int64(3), data["s"])
	require.Equal(t, int64(4), data["absent"])
	require.Equal(t, map[string]any{"i": int64(-1)}, data["nested"])
	require.Equal(t, wr.UpdateTime, data["ts"].(time.Time), "server timestamp is the commit time")
	require.Equal(t, []any{int64(1), "a", 2.0, "b", int64(3)}, data["arr"])
	require.Equal(t, []any{}, data["newarr"])
	require.Equal(t, 7.5, data["max"])
	require.Equal(t, int64(5), data["min"])

	_, err = doc.Update(f.ctx, []firestore.Update{
		{Path: "arr", Value: firestore.ArrayRemove(2, "a")}, // 2 equals 2.0
		{Path: "max", Value: firestore.FieldTransformMaximum(math.NaN())},
		{Path: "min", Value: firestore.FieldTransformMinimum(-1)},
		{Path: "i", Value: firestore.Increment(0.5)},
	})
	require.NoError(t, err)
	data = getData(t, f, doc)
	require.Equal(t, []any{int64(1), "b", int64(3)}, data["arr"])
	require.True(t, math.IsNaN(data["max"].(float64)))
	require.Equal(t, int64(-1), data["min"])
	require.Equal(t, 3.5, data["i"])

	// Integer increments saturate.
	_, err = doc.Update(f.ctx, []firestore.Update{{Path: "big", Value: int64(math.MaxInt64 - 1)}})
	require.NoError(t, err)
	_, err = doc.Update(f.ctx, []firestore.Update{{Path: "big", Value: firestore.Increment(10)}})
	require.NoError(t, err)
	require.Equal(t, int64(math.MaxInt64), getData(t, f, doc)["big"])
}

func TestTransformResultsAndCommitTime(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw := f.raw(t)
	db := dbPath(testProject)
	name := db + "/documents/c/d"
	resp, err := raw.Commit(f.ctx, &pb.CommitRequest{
		Database: db,
		Writes: []*pb.Write{{
			Operation:  &pb.Write_Update{Update: &pb.Document{Name: name}},
			UpdateMask: &pb.DocumentMask{},
			UpdateTransforms: []*pb.DocumentTransform_FieldTransform{
				{FieldPath: "n", TransformType: &pb.DocumentTransform_FieldTransform_Increment{Increment: &pb.Value{ValueType: &pb.Value_IntegerValue{IntegerValue: 5}}}},
				{FieldPath: "t", TransformType: &pb.DocumentTransform_FieldTransform_SetToServerValue{SetToServerValue: pb.DocumentTransform_FieldTransform_REQUEST_TIME}},
				{FieldPath: "a", TransformType: &pb.DocumentTransform_FieldTransform_AppendMissingElements{AppendMissingElements: &pb.ArrayValue{}}},
			},
		}},
	})
	require.NoError(t, err)
	results := resp.GetWriteResults()[0].GetTransformResults()
	require.Len(t, results, 3)
	require.Equal(t, int64(5), results[0].GetIntegerValue())
	require.True(t, results[1].GetTimestampValue().AsTime().Equal(resp.GetCommitTime().AsTime()))
	require.IsType(t, &pb.Value_NullValue{}, results[2].GetValueType())
	require.True(t, resp.GetWriteResults()[0].GetUpdateTime().AsTime().Equal(resp.GetCommitTime().AsTime()))

	// A legacy standalone transform write.
	resp, err = raw.Commit(f.ctx, &pb.CommitRequest{
		Database: db,
		Writes: []*pb.Write{{Operation: &pb.Write_Transform{Transform: &pb.DocumentTransform{
			Document: name,
			FieldTransforms: []*pb.DocumentTransform_FieldTransform{
				{FieldPath: "n", TransformType: &pb.DocumentTransform_FieldTransform_Increment{Increment: &pb.Value{ValueType: &pb.Value_IntegerValue{IntegerValue: 1}}}},
			},
		}}}},
	})
	require.NoError(t, err)
	require.Equal(t, int64(6), resp.GetWriteResults()[0].GetTransformResults()[0].GetIntegerValue())
}

func TestMergesAndFieldDeletes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("c/d")
	_, err := doc.Set(f.ctx, map[string]any{
		"a": 1,
		"m": map[string]any{"x": 1, "y": 2},
		"k": "keep",
	})
	require.NoError(t, err)

	// MergeAll: only the given leaves change.
	_, err = doc.Set(f.ctx, map[string]any{"a": 2, "m": map[string]any{"y": 3, "z": 4}}, firestore.MergeAll)
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"a": int64(2),
		"m": map[string]any{"x": int64(1), "y": int64(3), "z": int64(4)},
		"k": "keep",
	}, getData(t, f, doc))

	// Merge on paths: only those paths are written, even if data has more.
	_, err = doc.Set(f.ctx, map[string]any{"a": 9, "m": map[string]any{"x": 10, "y": 99}}, firestore.Merge([]string{"m", "x"}))
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"a": int64(2),
		"m": map[string]any{"x": int64(10), "y": int64(3), "z": int64(4)},
		"k": "keep",
	}, getData(t, f, doc))

	// Delete fields, with Update and with a merge.
	_, err = doc.Update(f.ctx, []firestore.Update{{Path: "m.y", Value: firestore.Delete}, {Path: "a", Value: firestore.Delete}})
	require.NoError(t, err)
	_, err = doc.Set(f.ctx, map[string]any{"k": firestore.Delete}, firestore.MergeAll)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"m": map[string]any{"x": int64(10), "z": int64(4)}}, getData(t, f, doc))

	// Set without merge replaces everything.
	_, err = doc.Set(f.ctx, map[string]any{"only": true})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"only": true}, getData(t, f, doc))

	// Updating a nested field through a non-map replaces it with a map.
	_, err = doc.Update(f.ctx, []firestore.Update{{Path: "only.inner", Value: 1}})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"only": map[string]any{"inner": int64(1)}}, getData(t, f, doc))

	// MergeAll on a missing document creates it.
	fresh := f.client.Doc("c/fresh")
	_, err = fresh.Set(f.ctx, map[string]any{"n": firestore.Increment(1)}, firestore.MergeAll)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"n": int64(1)}, getData(t, f, fresh))
}

func TestFieldPathsWithSpecialCharacters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.client.Doc("c/d")
	_, err := doc.Set(f.ctx, map[string]any{
		"a.b":    1, // one key with a dot
		"a":      map[string]any{"b": 2},
		"we`ird": "back`tick",
		"sp ace": map[string]any{"x\\y": 3},
		"ünï":    "code",
		"1num":   4,
	})
	require.NoError(t, err)

	_, err = doc.Update(f.ctx, []firestore.Update{
		{FieldPath: firestore.FieldPath{"a.b"}, Value: 10},
		{FieldPath: firestore.FieldPath{"we`ird"}, Value: "changed"},
		{FieldPath: firestore.FieldPath{"sp ace", "x\\y"}, Value: 30},
		{Path: "a.b", Value: 20},
	})
	require.NoError(t, err)
	data := getData(t, f, doc)
	require.Equal(t, int64(10), data["a.b"])
	require.Equal(t, map[string]any{"b": int64(20)}, data["a"])
	require.Equal(t, "changed", data["we`ird"])
	require.Equal(t, map[string]any{"x\\y": int64(30)}, data["sp ace"])

	docs, err := f.client.Collection("c").WherePath(firestore.FieldPath{"a.b"}, "==", 10).Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, docs, 1)
	docs, err = f.client.Collection("c").Where("a.b", "==", 20).Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, docs, 1)
	docs, err = f.client.Collection("c").WherePath(firestore.FieldPath{"we`ird"}, "==", "changed").Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, docs, 1)
	docs, err = f.client.Collection("c").SelectPaths(firestore.FieldPath{"a.b"}, firestore.FieldPath{"1num"}).Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a.b": int64(10), "1num": int64(4)}, docs[0].Data())
}

func TestStoresEveryValueType(t *testing.T) {
	t.Parallel()
	f := setup(t)
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	data := map[string]any{
		"null":   nil,
		"bool":   true,
		"int":    int64(-7),
		"double": 1.25,
		"time":   when,
		"string": "s",
		"bytes":  []byte{0, 1, 2},
		"ref":    f.client.Doc("x/y"),
		"array":  []any{int64(1), "two", map[string]any{"three": int64(3)}},
		"map":    map[string]any{"deep": map[string]any{"deeper": "yes"}},
		"vector": firestore.Vector64{1, 2, 3},
	}
	doc := f.client.Doc("c/all")
	_, err := doc.Set(f.ctx, data)
	require.NoError(t, err)
	got := getData(t, f, doc)
	require.Equal(t, when, got["time"])
	require.Equal(t, f.client.Doc("x/y").Path, got["ref"].(*firestore.DocumentRef).Path)
	delete(got, "ref")
	delete(data, "ref")
	require.Equal(t, data, got)
}

func TestBulkWriter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	existing, counter := f.client.Doc("bulk/existing"), f.client.Doc("bulk/counter")
	for _, d := range []*firestore.DocumentRef{existing, counter} {
		_, err := d.Set(f.ctx, map[string]any{"n": 0})
		require.NoError(t, err)
	}

	bw := f.client.BulkWriter(f.ctx)
	var jobs []*firestore.BulkWriterJob
	for i := range 30 {
		j, err := bw.Create(f.client.Doc(fmt.Sprintf("bulk/%02d", i)), map[string]any{"n": i})
		require.NoError(t, err)
		jobs = append(jobs, j)
	}
	failing, err := bw.Create(existing, map[string]any{"n": 1})
	require.NoError(t, err)
	upd, err := bw.Update(counter, []firestore.Update{{Path: "n", Value: firestore.Increment(5)}})
	require.NoError(t, err)
	bw.End()

	for _, j := range jobs {
		_, err := j.Results()
		require.NoError(t, err)
	}
	_, err = failing.Results()
	requireCode(t, codes.AlreadyExists, err)
	_, err = upd.Results()
	require.NoError(t, err)

	docs, err := f.client.Collection("bulk").Documents(f.ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, docs, 32)
	require.Equal(t, int64(0), getData(t, f, existing)["n"])
	require.Equal(t, int64(5), getData(t, f, counter)["n"])
}

func TestBatchWriteStatuses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw := f.raw(t)
	db := dbPath(testProject)
	doc := func(id string) *pb.Document {
		return &pb.Document{Name: db + "/documents/c/" + id, Fields: map[string]*pb.Value{"v": {ValueType: &pb.Value_IntegerValue{IntegerValue: 1}}}}
	}
	resp, err := raw.BatchWrite(f.ctx, &pb.BatchWriteRequest{
		Database: db,
		Writes: []*pb.Write{
			{Operation: &pb.Write_Update{Update: doc("a")}},
			{Operation: &pb.Write_Update{Update: doc("b")}, CurrentDocument: &pb.Precondition{ConditionType: &pb.Precondition_Exists{Exists: true}}},
			{Operation: &pb.Write_Update{Update: doc("c")}},
		},
	})
	require.NoError(t, err)
	require.Len(t, resp.GetStatus(), 3)
	require.Equal(t, int32(codes.OK), resp.GetStatus()[0].GetCode())
	require.Equal(t, int32(codes.NotFound), resp.GetStatus()[1].GetCode())
	require.Equal(t, int32(codes.OK), resp.GetStatus()[2].GetCode())
	require.NotNil(t, resp.GetWriteResults()[0].GetUpdateTime())

	_, err = raw.BatchWrite(f.ctx, &pb.BatchWriteRequest{
		Database: db,
		Writes:   []*pb.Write{{Operation: &pb.Write_Update{Update: doc("a")}}, {Operation: &pb.Write_Delete{Delete: doc("a").GetName()}}},
	})
	requireCode(t, codes.InvalidArgument, err)
}
