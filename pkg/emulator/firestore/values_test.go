package firestoreemu

import (
	"fmt"
	"math"
	"testing"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func boolV(b bool) *pb.Value  { return &pb.Value{ValueType: &pb.Value_BooleanValue{BooleanValue: b}} }
func strV(s string) *pb.Value { return &pb.Value{ValueType: &pb.Value_StringValue{StringValue: s}} }
func bytesV(b ...byte) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_BytesValue{BytesValue: b}}
}
func tsV(sec int64, nanos int32) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_TimestampValue{TimestampValue: &timestamppb.Timestamp{Seconds: sec, Nanos: nanos}}}
}
func geoV(lat, lng float64) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_GeoPointValue{GeoPointValue: &latlng.LatLng{Latitude: lat, Longitude: lng}}}
}
func arrV(vs ...*pb.Value) *pb.Value { return arrayValue(vs) }
func vecV(fs ...float64) *pb.Value {
	var vs []*pb.Value
	for _, f := range fs {
		vs = append(vs, doubleValue(f))
	}
	return mapValue(map[string]*pb.Value{"__type__": strV("__vector__"), "value": arrayValue(vs)})
}

// TestValueOrdering checks Firestore's total order of values: each group
// holds equal values, and every group sorts before the next.
func TestValueOrdering(t *testing.T) {
	t.Parallel()
	ref := func(path string) *pb.Value { return refValue("projects/p/databases/(default)/documents/" + path) }
	groups := [][]*pb.Value{
		{nullValue()},
		{boolV(false)},
		{boolV(true)},
		{doubleValue(math.NaN())},
		{doubleValue(math.Inf(-1))},
		{intValue(math.MinInt64), doubleValue(-9223372036854775808.0)},
		{doubleValue(-1.5)},
		{intValue(-1), doubleValue(-1)},
		{intValue(0), doubleValue(0), doubleValue(math.Copysign(0, -1))},
		{doubleValue(0.5)},
		{intValue(1), doubleValue(1)},
		{intValue(9007199254740992), doubleValue(9007199254740992)}, // 2^53
		{intValue(9007199254740993)},                                // 2^53+1: no double equals it
		{intValue(math.MaxInt64)},
		{doubleValue(9223372036854775808.0)}, // 2^63
		{doubleValue(math.Inf(1))},
		{tsV(-1, 0)},
		{tsV(0, 0)},
		{tsV(0, 1)},
		{tsV(1, 0)},
		{strV("")},
		{strV("A")},
		{strV("B")},
		{strV("a")},
		{strV("ab")},
		{strV("b")},
		{strV("é")}, // U+00E9: UTF-8 c3 a9
		{strV("€")}, // U+20AC: UTF-8 e2 82 ac
		{strV("😀")}, // U+1F600: UTF-8 f0 9f 98 80 (UTF-16 order would put it before "€")
		{bytesV()},
		{bytesV(0)},
		{bytesV(0, 1)},
		{bytesV(1)},
		{ref("a/b")},
		{ref("a/b/c/d")},
		{ref("a/ba")},
		{ref("a-b/c")},
		{ref("b/a")},
		{geoV(-10, 100)},
		{geoV(0, -10)},
		{geoV(0, 10)},
		{arrV()},
		{arrV(nullValue())},
		{arrV(intValue(1)), arrV(doubleValue(1))},
		{arrV(intValue(1), intValue(2))},
		{arrV(intValue(2))},
		{arrV(strV("a"))},
		{vecV()},
		{vecV(100)},
		{vecV(1, 2)},
		{vecV(1, 3)},
		{mapValue(map[string]*pb.Value{})},
		{mapValue(map[string]*pb.Value{"a": intValue(1)}), mapValue(map[string]*pb.Value{"a": doubleValue(1)})},
		{mapValue(map[string]*pb.Value{"a": intValue(1), "b": intValue(0)})},
		{mapValue(map[string]*pb.Value{"a": intValue(2)})},
		{mapValue(map[string]*pb.Value{"b": intValue(0)})},
	}
	for i, gi := range groups {
		for j, gj := range groups {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			for _, a := range gi {
				for _, b := range gj {
					require.Equal(t, want, compareValues(a, b), "compare(%v, %v)", a, b)
				}
			}
		}
	}
}

func TestFilterEquality(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b     *pb.Value
		filterEq bool
		arrayEq  bool
	}{
		{intValue(1), doubleValue(1), true, true},
		{doubleValue(math.NaN()), doubleValue(math.NaN()), false, true},
		{nullValue(), nullValue(), true, true},
		{intValue(0), boolV(false), false, false},
		{strV("1"), intValue(1), false, false},
		{arrV(intValue(1)), arrV(doubleValue(1)), true, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v_%v", tt.a, tt.b), func(t *testing.T) {
			require.Equal(t, tt.filterEq, equalForFilter(tt.a, tt.b))
			require.Equal(t, tt.arrayEq, equalForArray(tt.a, tt.b))
		})
	}
}

func TestParseFieldPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want fieldPath
		err  bool
	}{
		{in: "a", want: fieldPath{"a"}},
		{in: "a.b.c", want: fieldPath{"a", "b", "c"}},
		{in: "`a.b`.c", want: fieldPath{"a.b", "c"}},
		{in: "`we\\`ird`", want: fieldPath{"we`ird"}},
		{in: "`back\\\\slash`", want: fieldPath{"back\\slash"}},
		{in: "`1`.`sp ace`", want: fieldPath{"1", "sp ace"}},
		{in: "__name__", want: fieldPath{"__name__"}},
		{in: "", err: true},
		{in: "a..b", err: true},
		{in: "a.", err: true},
		{in: "`a", err: true},
		{in: "`a`b", err: true},
		{in: "``", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseFieldPath(tt.in)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			round, err := parseFieldPath(got.String())
			require.NoError(t, err)
			require.Equal(t, got, round)
		})
	}
}
