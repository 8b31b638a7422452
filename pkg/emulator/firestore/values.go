package firestoreemu

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"strings"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Type ranks in Firestore's cross-type ordering. NaN is a number, but sorts
// before every other number (see compareNumbers).
const (
	rankNull = iota
	rankBoolean
	rankNumber
	rankTimestamp
	rankString
	rankBytes
	rankReference
	rankGeoPoint
	rankArray
	rankVector
	rankMap
	rankInvalid
)

// typeRank returns v's rank in Firestore's ordering of types:
// null < boolean < number (NaN first) < timestamp < string < bytes <
// reference < geo point < array < vector < map.
func typeRank(v *pb.Value) int {
	switch v.GetValueType().(type) {
	case *pb.Value_NullValue:
		return rankNull
	case *pb.Value_BooleanValue:
		return rankBoolean
	case *pb.Value_IntegerValue, *pb.Value_DoubleValue:
		return rankNumber
	case *pb.Value_TimestampValue:
		return rankTimestamp
	case *pb.Value_StringValue:
		return rankString
	case *pb.Value_BytesValue:
		return rankBytes
	case *pb.Value_ReferenceValue:
		return rankReference
	case *pb.Value_GeoPointValue:
		return rankGeoPoint
	case *pb.Value_ArrayValue:
		return rankArray
	case *pb.Value_MapValue:
		if isVectorValue(v) {
			return rankVector
		}
		return rankMap
	default:
		return rankInvalid
	}
}

// isVectorValue reports whether v is a vector, which Firestore encodes as a
// map {"__type__": "__vector__", "value": [numbers]}.
func isVectorValue(v *pb.Value) bool {
	m := v.GetMapValue()
	if m == nil {
		return false
	}
	t, ok := m.GetFields()["__type__"]
	return ok && t.GetStringValue() == "__vector__"
}

// compareValues orders a and b as Firestore does, returning -1, 0 or +1.
// It is a total order: NaN equals NaN and sorts before all other numbers,
// integers and doubles compare by numeric value (1 == 1.0), strings by their
// UTF-8 bytes, references segment by segment, arrays and maps element-wise.
func compareValues(a, b *pb.Value) int {
	ra, rb := typeRank(a), typeRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch ra {
	case rankNull:
		return 0
	case rankBoolean:
		return compareBools(a.GetBooleanValue(), b.GetBooleanValue())
	case rankNumber:
		return compareNumbers(a, b)
	case rankTimestamp:
		ta, tb := a.GetTimestampValue(), b.GetTimestampValue()
		if c := cmp.Compare(ta.GetSeconds(), tb.GetSeconds()); c != 0 {
			return c
		}
		return cmp.Compare(ta.GetNanos(), tb.GetNanos())
	case rankString:
		return strings.Compare(a.GetStringValue(), b.GetStringValue())
	case rankBytes:
		return bytes.Compare(a.GetBytesValue(), b.GetBytesValue())
	case rankReference:
		return compareResourceNames(a.GetReferenceValue(), b.GetReferenceValue())
	case rankGeoPoint:
		ga, gb := a.GetGeoPointValue(), b.GetGeoPointValue()
		if c := compareFloats(ga.GetLatitude(), gb.GetLatitude()); c != 0 {
			return c
		}
		return compareFloats(ga.GetLongitude(), gb.GetLongitude())
	case rankArray:
		return slices.CompareFunc(a.GetArrayValue().GetValues(), b.GetArrayValue().GetValues(), compareValues)
	case rankVector:
		// Vectors order by dimension first, then element-wise.
		va, vb := vectorElems(a), vectorElems(b)
		if c := cmp.Compare(len(va), len(vb)); c != 0 {
			return c
		}
		return slices.CompareFunc(va, vb, compareValues)
	case rankMap:
		return compareMaps(a.GetMapValue().GetFields(), b.GetMapValue().GetFields())
	default:
		return 0
	}
}

func compareBools(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// compareFloats orders doubles with NaN first and -0.0 == 0.0.
func compareFloats(a, b float64) int {
	return cmp.Compare(a, b) // cmp.Compare puts NaN first and treats -0 == 0.
}

// compareNumbers compares two numeric values exactly, without losing
// precision when an int64 meets a double.
func compareNumbers(a, b *pb.Value) int {
	ai, aIsInt := a.GetValueType().(*pb.Value_IntegerValue)
	bi, bIsInt := b.GetValueType().(*pb.Value_IntegerValue)
	switch {
	case aIsInt && bIsInt:
		return cmp.Compare(ai.IntegerValue, bi.IntegerValue)
	case aIsInt:
		return compareIntDouble(ai.IntegerValue, b.GetDoubleValue())
	case bIsInt:
		return -compareIntDouble(bi.IntegerValue, a.GetDoubleValue())
	default:
		return compareFloats(a.GetDoubleValue(), b.GetDoubleValue())
	}
}

// compareIntDouble compares an int64 with a double exactly.
func compareIntDouble(i int64, d float64) int {
	const two63 = 9223372036854775808.0 // 2^63, exactly representable.
	switch {
	case math.IsNaN(d):
		return 1 // NaN sorts before every number.
	case d >= two63:
		return -1
	case d < -two63:
		return 1
	}
	t := math.Trunc(d)
	if c := cmp.Compare(i, int64(t)); c != 0 {
		return c
	}
	// Same integer part: the fraction decides.
	return cmp.Compare(0, d-t)
}

func compareMaps(a, b map[string]*pb.Value) int {
	ak, bk := sortedKeys(a), sortedKeys(b)
	for i := 0; i < len(ak) && i < len(bk); i++ {
		if c := strings.Compare(ak[i], bk[i]); c != 0 {
			return c
		}
		if c := compareValues(a[ak[i]], b[bk[i]]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ak), len(bk))
}

func sortedKeys(m map[string]*pb.Value) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func vectorElems(v *pb.Value) []*pb.Value {
	return v.GetMapValue().GetFields()["value"].GetArrayValue().GetValues()
}

// compareResourceNames orders resource names (document names and
// references) segment by segment, so that a parent sorts before its
// children and "a/b" sorts before "a-b".
func compareResourceNames(a, b string) int {
	for {
		sa, ra, moreA := strings.Cut(a, "/")
		sb, rb, moreB := strings.Cut(b, "/")
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1
		case !moreB:
			return 1
		}
		a, b = ra, rb
	}
}

// isNaNValue reports whether v is the double NaN.
func isNaNValue(v *pb.Value) bool {
	d, ok := v.GetValueType().(*pb.Value_DoubleValue)
	return ok && math.IsNaN(d.DoubleValue)
}

func isNullValue(v *pb.Value) bool {
	_, ok := v.GetValueType().(*pb.Value_NullValue)
	return ok
}

func isNumberValue(v *pb.Value) bool {
	return typeRank(v) == rankNumber
}

// equalForFilter is the equality of the == and in filters: same type rank
// and equal value, where NaN equals nothing (NaN is matched only by IS_NAN).
func equalForFilter(a, b *pb.Value) bool {
	if isNaNValue(a) || isNaNValue(b) {
		return false
	}
	return typeRank(a) == typeRank(b) && compareValues(a, b) == 0
}

// equalForArray is the equality of array membership (array-contains,
// ArrayUnion, ArrayRemove): numerically equal numbers are equal and NaN
// equals NaN.
func equalForArray(a, b *pb.Value) bool {
	return typeRank(a) == typeRank(b) && compareValues(a, b) == 0
}

// arrayContains reports whether vs holds an element equal to v.
func arrayContains(vs []*pb.Value, v *pb.Value, eq func(a, b *pb.Value) bool) bool {
	for _, e := range vs {
		if eq(e, v) {
			return true
		}
	}
	return false
}

// Value constructors.

func nullValue() *pb.Value {
	return &pb.Value{ValueType: &pb.Value_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}
}

func intValue(i int64) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_IntegerValue{IntegerValue: i}}
}

func doubleValue(d float64) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_DoubleValue{DoubleValue: d}}
}

func refValue(name string) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_ReferenceValue{ReferenceValue: name}}
}

func arrayValue(vs []*pb.Value) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_ArrayValue{ArrayValue: &pb.ArrayValue{Values: vs}}}
}

func mapValue(fields map[string]*pb.Value) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: fields}}}
}

// cloneFields deep-copies a document's fields, so that the copy can be
// modified without touching a stored version.
func cloneFields(fields map[string]*pb.Value) map[string]*pb.Value {
	out := make(map[string]*pb.Value, len(fields))
	for k, v := range fields {
		out[k] = proto.Clone(v).(*pb.Value)
	}
	return out
}

// fieldsEqual reports whether two documents' fields are identical (not just
// equal under Firestore ordering: 1 and 1.0 differ here).
func fieldsEqual(a, b map[string]*pb.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !proto.Equal(va, vb) {
			return false
		}
	}
	return true
}
