package firestoreemu_test

import (
	"io"
	"math"
	"testing"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestAggregations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	scores := f.client.Collection("scores")
	for id, data := range map[string]map[string]any{
		"a": {"v": 1},
		"b": {"v": 2},
		"c": {"v": 3.5},
		"d": {"v": "text"}, // not a number: skipped by sum and avg
		"e": {},            // no v: skipped by sum and avg
	} {
		_, err := scores.Doc(id).Set(f.ctx, data)
		require.NoError(t, err)
	}
	agg := func(q firestore.Query) firestore.AggregationResult {
		t.Helper()
		res, err := q.NewAggregationQuery().WithCount("count").WithSum("v", "sum").WithAvg("v", "avg").Get(f.ctx)
		require.NoError(t, err)
		return res
	}
	val := func(res firestore.AggregationResult, alias string) *pb.Value {
		t.Helper()
		v, ok := res[alias].(*pb.Value)
		require.True(t, ok, "alias %s: %T", alias, res[alias])
		return v
	}

	all := agg(scores.Query)
	require.Equal(t, int64(5), val(all, "count").GetIntegerValue())
	require.Equal(t, 6.5, val(all, "sum").GetDoubleValue())
	require.InDelta(t, 6.5/3, val(all, "avg").GetDoubleValue(), 1e-12)

	ints := agg(scores.Where("v", "<", 3))
	require.Equal(t, int64(2), val(ints, "count").GetIntegerValue())
	require.IsType(t, &pb.Value_IntegerValue{}, val(ints, "sum").GetValueType(), "a sum of integers is an integer")
	require.Equal(t, int64(3), val(ints, "sum").GetIntegerValue())
	require.Equal(t, 1.5, val(ints, "avg").GetDoubleValue())

	empty := agg(scores.Where("v", ">", 100))
	require.Equal(t, int64(0), val(empty, "count").GetIntegerValue())
	require.IsType(t, &pb.Value_IntegerValue{}, val(empty, "sum").GetValueType())
	require.Equal(t, int64(0), val(empty, "sum").GetIntegerValue())
	require.IsType(t, &pb.Value_NullValue{}, val(empty, "avg").GetValueType(), "avg over nothing is null")

	limited := agg(scores.OrderBy(firestore.DocumentID, firestore.Asc).Limit(2))
	require.Equal(t, int64(2), val(limited, "count").GetIntegerValue())
	require.Equal(t, int64(3), val(limited, "sum").GetIntegerValue())

	_, err := scores.Doc("nan").Set(f.ctx, map[string]any{"v": math.NaN()})
	require.NoError(t, err)
	withNaN := agg(scores.Query)
	require.True(t, math.IsNaN(val(withNaN, "sum").GetDoubleValue()))
	require.True(t, math.IsNaN(val(withNaN, "avg").GetDoubleValue()))

	_, err = scores.Doc("big").Set(f.ctx, map[string]any{"v": int64(math.MaxInt64)})
	require.NoError(t, err)
	big := scores.Where("v", ">", 1)
	overflow, err := big.NewAggregationQuery().WithSum("v", "sum").Get(f.ctx)
	require.NoError(t, err)
	require.IsType(t, &pb.Value_DoubleValue{}, overflow["sum"].(*pb.Value).GetValueType(), "an overflowing sum is a double")
}

func TestAggregationCountUpToAndDefaultAliases(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, id := range []string{"a", "b", "c", "d"} {
		_, err := f.client.Doc("c/"+id).Set(f.ctx, map[string]any{"v": 1})
		require.NoError(t, err)
	}
	raw := f.raw(t)
	stream, err := raw.RunAggregationQuery(f.ctx, &pb.RunAggregationQueryRequest{
		Parent: dbPath(testProject) + "/documents",
		QueryType: &pb.RunAggregationQueryRequest_StructuredAggregationQuery{StructuredAggregationQuery: &pb.StructuredAggregationQuery{
			QueryType: &pb.StructuredAggregationQuery_StructuredQuery{StructuredQuery: &pb.StructuredQuery{
				From: []*pb.StructuredQuery_CollectionSelector{{CollectionId: "c"}},
			}},
			Aggregations: []*pb.StructuredAggregationQuery_Aggregation{
				{Alias: "up_to_3", Operator: &pb.StructuredAggregationQuery_Aggregation_Count_{Count: &pb.StructuredAggregationQuery_Aggregation_Count{UpTo: wrapperspb.Int64(3)}}},
				{Operator: &pb.StructuredAggregationQuery_Aggregation_Count_{Count: &pb.StructuredAggregationQuery_Aggregation_Count{}}},
				{Operator: &pb.StructuredAggregationQuery_Aggregation_Sum_{Sum: &pb.StructuredAggregationQuery_Aggregation_Sum{
					Field: &pb.StructuredQuery_FieldReference{FieldPath: "v"},
				}}},
			},
		}},
	})
	require.NoError(t, err)
	resp, err := stream.Recv()
	require.NoError(t, err)
	fields := resp.GetResult().GetAggregateFields()
	require.Equal(t, int64(3), fields["up_to_3"].GetIntegerValue())
	require.Equal(t, int64(4), fields["field_1"].GetIntegerValue())
	require.Equal(t, int64(4), fields["field_2"].GetIntegerValue())
	require.NotNil(t, resp.GetReadTime())
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)
}

func TestExplain(t *testing.T) {
	t.Parallel()
	f, coll := setupItems(t)
	it := coll.Where("grp", "==", "g1").WithRunOptions(firestore.ExplainOptions{Analyze: true}).Documents(f.ctx)
	docs, err := it.GetAll()
	require.NoError(t, err)
	require.Len(t, docs, 2)
	metrics, err := it.ExplainMetrics()
	require.NoError(t, err)
	require.NotNil(t, metrics.PlanSummary)
	require.Equal(t, int64(2), metrics.ExecutionStats.ResultsReturned)

	it = coll.WithRunOptions(firestore.ExplainOptions{}).Documents(f.ctx)
	docs, err = it.GetAll()
	require.NoError(t, err)
	require.Empty(t, docs, "without analyze, a query only explains")
}
