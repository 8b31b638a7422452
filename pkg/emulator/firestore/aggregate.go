package firestoreemu

import (
	"fmt"
	"math/big"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const maxAggregations = 5

// aggregation is a compiled StructuredAggregationQuery.Aggregation.
type aggregation struct {
	alias string
	count bool
	upTo  int64 // count only; 0: no bound
	sum   bool
	avg   bool
	field fieldPath // sum and avg
}

func compileAggregations(aggs []*pb.StructuredAggregationQuery_Aggregation) ([]aggregation, error) {
	if len(aggs) == 0 || len(aggs) > maxAggregations {
		return nil, invalidArgf("an aggregation query needs 1 to %d aggregations, got %d", maxAggregations, len(aggs))
	}
	out := make([]aggregation, 0, len(aggs))
	aliases := map[string]bool{}
	unnamed := 0
	for _, a := range aggs {
		agg := aggregation{alias: a.GetAlias()}
		if agg.alias == "" {
			unnamed++
			agg.alias = fmt.Sprintf("field_%d", unnamed)
		}
		if aliases[agg.alias] {
			return nil, invalidArgf("aggregation alias %q is used twice", agg.alias)
		}
		aliases[agg.alias] = true
		var ref *pb.StructuredQuery_FieldReference
		switch op := a.GetOperator().(type) {
		case *pb.StructuredAggregationQuery_Aggregation_Count_:
			agg.count = true
			if up := op.Count.GetUpTo(); up != nil {
				if up.GetValue() <= 0 {
					return nil, invalidArgf("count up_to must be positive")
				}
				agg.upTo = up.GetValue()
			}
		case *pb.StructuredAggregationQuery_Aggregation_Sum_:
			agg.sum = true
			ref = op.Sum.GetField()
		case *pb.StructuredAggregationQuery_Aggregation_Avg_:
			agg.avg = true
			ref = op.Avg.GetField()
		default:
			return nil, invalidArgf("aggregation without an operator")
		}
		if ref != nil {
			fp, err := parseFieldPath(ref.GetFieldPath())
			if err != nil {
				return nil, invalidArgf("aggregation: %v", err)
			}
			agg.field = fp
		}
		out = append(out, agg)
	}
	return out, nil
}

// compute evaluates the aggregation over docs.
//
// count counts documents (at most up_to). sum and avg consider only numeric
// values: sum is an integer while every value is and the total fits in an
// int64, else a double (0 over nothing); avg is a double, null over
// nothing. NaN propagates.
func (a aggregation) compute(docs []docAt) *pb.Value {
	if a.count {
		n := int64(len(docs))
		if a.upTo > 0 {
			n = min(n, a.upTo)
		}
		return intValue(n)
	}
	var (
		ints    big.Int
		doubles float64
		sawDbl  bool
		n       int
	)
	for _, d := range docs {
		v, ok := fieldValue(d, a.field)
		if !ok {
			continue
		}
		switch x := v.GetValueType().(type) {
		case *pb.Value_IntegerValue:
			ints.Add(&ints, big.NewInt(x.IntegerValue))
			n++
		case *pb.Value_DoubleValue:
			doubles += x.DoubleValue
			sawDbl = true
			n++
		}
	}
	intsAsFloat, _ := new(big.Float).SetInt(&ints).Float64()
	if a.sum {
		if !sawDbl && ints.IsInt64() {
			return intValue(ints.Int64())
		}
		return doubleValue(doubles + intsAsFloat)
	}
	if n == 0 {
		return nullValue()
	}
	return doubleValue((doubles + intsAsFloat) / float64(n))
}

// RunAggregationQuery runs count, sum and avg aggregations over a query.
func (s *service) RunAggregationQuery(req *pb.RunAggregationQueryRequest, stream pb.Firestore_RunAggregationQueryServer) error {
	saq := req.GetStructuredAggregationQuery()
	if saq == nil {
		return invalidArgf("missing structured aggregation query")
	}
	q, err := compileQuery(req.GetParent(), saq.GetStructuredQuery())
	if err != nil {
		return err
	}
	aggs, err := compileAggregations(saq.GetAggregations())
	if err != nil {
		return err
	}
	explain := req.GetExplainOptions()
	started := time.Now()

	res, err := s.st.runQuery(stream.Context(), q, req, true)
	if err != nil {
		return err
	}
	docs := res.docs

	resp := &pb.RunAggregationQueryResponse{Transaction: res.newTxn, ReadTime: timestamppb.New(res.at)}
	if explain == nil || explain.GetAnalyze() {
		fields := make(map[string]*pb.Value, len(aggs))
		for _, a := range aggs {
			fields[a.alias] = a.compute(docs)
		}
		resp.Result = &pb.AggregationResult{AggregateFields: fields}
	}
	if explain != nil {
		resp.ExplainMetrics = explainMetrics(explain, 1, len(docs), time.Since(started))
	}
	return stream.Send(resp)
}
