package firestoreemu

import (
	"math"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fieldTransform is a validated DocumentTransform.FieldTransform.
type fieldTransform struct {
	path fieldPath
	ft   *pb.DocumentTransform_FieldTransform
}

func prepareTransforms(fts []*pb.DocumentTransform_FieldTransform) ([]fieldTransform, error) {
	out := make([]fieldTransform, 0, len(fts))
	for _, ft := range fts {
		fp, err := parseFieldPath(ft.GetFieldPath())
		if err != nil {
			return nil, invalidArgf("transform: %v", err)
		}
		if fp.isName() {
			return nil, invalidArgf("transform: cannot transform %s", nameField)
		}
		for _, prev := range out {
			if prev.path.isPrefixOf(fp) || fp.isPrefixOf(prev.path) {
				return nil, invalidArgf("transform: field %s is transformed twice", fp)
			}
		}
		switch tt := ft.GetTransformType().(type) {
		case *pb.DocumentTransform_FieldTransform_SetToServerValue:
			if tt.SetToServerValue != pb.DocumentTransform_FieldTransform_REQUEST_TIME {
				return nil, invalidArgf("transform %s: unsupported server value %v", fp, tt.SetToServerValue)
			}
		case *pb.DocumentTransform_FieldTransform_Increment:
			if err := checkNumericOperand(fp, tt.Increment); err != nil {
				return nil, err
			}
		case *pb.DocumentTransform_FieldTransform_Maximum:
			if err := checkNumericOperand(fp, tt.Maximum); err != nil {
				return nil, err
			}
		case *pb.DocumentTransform_FieldTransform_Minimum:
			if err := checkNumericOperand(fp, tt.Minimum); err != nil {
				return nil, err
			}
		case *pb.DocumentTransform_FieldTransform_AppendMissingElements:
			if err := checkValues(tt.AppendMissingElements.GetValues()); err != nil {
				return nil, err
			}
		case *pb.DocumentTransform_FieldTransform_RemoveAllFromArray:
			if err := checkValues(tt.RemoveAllFromArray.GetValues()); err != nil {
				return nil, err
			}
		default:
			return nil, invalidArgf("transform %s: no transform type", fp)
		}
		out = append(out, fieldTransform{path: fp, ft: ft})
	}
	return out, nil
}

func checkNumericOperand(fp fieldPath, v *pb.Value) error {
	if !isNumberValue(v) {
		return invalidArgf("transform %s: operand must be an integer or a double", fp)
	}
	return nil
}

// apply performs the transform on fields (owned by the caller) and returns
// its transform result.
func (t fieldTransform) apply(fields map[string]*pb.Value, commitTime time.Time) *pb.Value {
	cur, _ := getField(fields, t.path)
	var next, result *pb.Value
	switch tt := t.ft.GetTransformType().(type) {
	case *pb.DocumentTransform_FieldTransform_SetToServerValue:
		next = &pb.Value{ValueType: &pb.Value_TimestampValue{TimestampValue: timestamppb.New(commitTime)}}
		result = next
	case *pb.DocumentTransform_FieldTransform_Increment:
		next = increment(cur, tt.Increment)
		result = next
	case *pb.DocumentTransform_FieldTransform_Maximum:
		next = extremum(cur, tt.Maximum, 1)
		result = next
	case *pb.DocumentTransform_FieldTransform_Minimum:
		next = extremum(cur, tt.Minimum, -1)
		result = next
	case *pb.DocumentTransform_FieldTransform_AppendMissingElements:
		elems := existingArray(cur)
		for _, e := range tt.AppendMissingElements.GetValues() {
			if !arrayContains(elems, e, equalForArray) {
				elems = append(elems, proto.Clone(e).(*pb.Value))
			}
		}
		next, result = arrayValue(elems), nullValue()
	case *pb.DocumentTransform_FieldTransform_RemoveAllFromArray:
		var kept []*pb.Value
		for _, e := range existingArray(cur) {
			if !arrayContains(tt.RemoveAllFromArray.GetValues(), e, equalForArray) {
				kept = append(kept, e)
			}
		}
		next, result = arrayValue(kept), nullValue()
	}
	setField(fields, t.path, next)
	return result
}

// existingArray returns a copy of cur's elements if cur is an array, else
// an empty list.
func existingArray(cur *pb.Value) []*pb.Value {
	if cur == nil || cur.GetArrayValue() == nil {
		return nil
	}
	return append([]*pb.Value(nil), cur.GetArrayValue().GetValues()...)
}

// increment adds op to cur. A missing or non-numeric cur is replaced by op;
// two integers add with saturation at the int64 bounds; otherwise the sum
// is a double.
func increment(cur, op *pb.Value) *pb.Value {
	if cur == nil || !isNumberValue(cur) {
		return proto.Clone(op).(*pb.Value)
	}
	ci, curIsInt := cur.GetValueType().(*pb.Value_IntegerValue)
	oi, opIsInt := op.GetValueType().(*pb.Value_IntegerValue)
	if curIsInt && opIsInt {
		a, b := ci.IntegerValue, oi.IntegerValue
		sum := a + b
		switch {
		case a > 0 && b > 0 && sum < 0:
			sum = math.MaxInt64
		case a < 0 && b < 0 && sum >= 0:
			sum = math.MinInt64
		}
		return intValue(sum)
	}
	return doubleValue(asFloat(cur) + asFloat(op))
}

// extremum implements the maximum (sign 1) and minimum (sign -1) transforms:
// a missing or non-numeric cur is replaced by op; NaN wins; on a tie (3 and
// 3.0, 0 and -0.0) the stored value stays; otherwise the winning operand
// keeps its own type.
func extremum(cur, op *pb.Value, sign int) *pb.Value {
	switch {
	case cur == nil || !isNumberValue(cur):
		return proto.Clone(op).(*pb.Value)
	case isNaNValue(cur):
		return cur
	case isNaNValue(op):
		return proto.Clone(op).(*pb.Value)
	case compareNumbers(op, cur)*sign > 0:
		return proto.Clone(op).(*pb.Value)
	default:
		return cur
	}
}

func asFloat(v *pb.Value) float64 {
	if i, ok := v.GetValueType().(*pb.Value_IntegerValue); ok {
		return float64(i.IntegerValue)
	}
	return v.GetDoubleValue()
}
