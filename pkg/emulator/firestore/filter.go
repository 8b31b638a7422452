package firestoreemu

import (
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
)

// predicate reports whether a document matches a filter.
type predicate func(d docAt) bool

// fieldValue returns the value of fp in d; __name__ is the document's
// reference.
func fieldValue(d docAt, fp fieldPath) (*pb.Value, bool) {
	if fp.isName() {
		return refValue(d.name), true
	}
	return getField(d.v.fields, fp)
}

// filterCompiler compiles a StructuredQuery filter into a predicate and
// collects the fields of its inequality filters (which order the results).
type filterCompiler struct {
	inequalities []fieldPath
}

func (c *filterCompiler) addInequality(fp fieldPath) {
	if fp.isName() {
		return // __name__ always orders last
	}
	for _, seen := range c.inequalities {
		if compareFieldPaths(seen, fp) == 0 {
			return
		}
	}
	c.inequalities = append(c.inequalities, fp)
}

func (c *filterCompiler) compile(f *pb.StructuredQuery_Filter) (predicate, error) {
	switch ft := f.GetFilterType().(type) {
	case *pb.StructuredQuery_Filter_CompositeFilter:
		return c.composite(ft.CompositeFilter)
	case *pb.StructuredQuery_Filter_FieldFilter:
		return c.field(ft.FieldFilter)
	case *pb.StructuredQuery_Filter_UnaryFilter:
		return c.unary(ft.UnaryFilter)
	default:
		return nil, invalidArgf("filter without a type")
	}
}

func (c *filterCompiler) composite(cf *pb.StructuredQuery_CompositeFilter) (predicate, error) {
	if len(cf.GetFilters()) == 0 {
		return nil, invalidArgf("composite filter without filters")
	}
	parts := make([]predicate, 0, len(cf.GetFilters()))
	for _, sub := range cf.GetFilters() {
		p, err := c.compile(sub)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	switch cf.GetOp() {
	case pb.StructuredQuery_CompositeFilter_AND:
		return func(d docAt) bool {
			for _, p := range parts {
				if !p(d) {
					return false
				}
			}
			return true
		}, nil
	case pb.StructuredQuery_CompositeFilter_OR:
		return func(d docAt) bool {
			for _, p := range parts {
				if p(d) {
					return true
				}
			}
			return false
		}, nil
	default:
		return nil, invalidArgf("unsupported composite filter operator %v", cf.GetOp())
	}
}

func (c *filterCompiler) field(ff *pb.StructuredQuery_FieldFilter) (predicate, error) {
	fp, err := parseFieldPath(ff.GetField().GetFieldPath())
	if err != nil {
		return nil, invalidArgf("filter: %v", err)
	}
	val, op := ff.GetValue(), ff.GetOp()
	if err := checkFieldFilter(fp, op, val); err != nil {
		return nil, err
	}
	p, err := fieldPredicate(fp, op, val)
	if err != nil {
		return nil, err
	}
	if inequalityOps[op] {
		c.addInequality(fp)
	}
	return p, nil
}

// inequalityOps are the field filter operators that Firestore calls
// inequalities: their fields order the results.
var inequalityOps = map[pb.StructuredQuery_FieldFilter_Operator]bool{
	pb.StructuredQuery_FieldFilter_NOT_EQUAL:             true,
	pb.StructuredQuery_FieldFilter_LESS_THAN:             true,
	pb.StructuredQuery_FieldFilter_LESS_THAN_OR_EQUAL:    true,
	pb.StructuredQuery_FieldFilter_GREATER_THAN:          true,
	pb.StructuredQuery_FieldFilter_GREATER_THAN_OR_EQUAL: true,
	pb.StructuredQuery_FieldFilter_NOT_IN:                true,
}

// checkFieldFilter checks a field filter's value against its operator: a
// non-empty array of values for the list operators, one value otherwise,
// and references on __name__.
func checkFieldFilter(fp fieldPath, op pb.StructuredQuery_FieldFilter_Operator, val *pb.Value) error {
	switch op {
	case pb.StructuredQuery_FieldFilter_IN, pb.StructuredQuery_FieldFilter_NOT_IN, pb.StructuredQuery_FieldFilter_ARRAY_CONTAINS_ANY:
		// A list of values, each of which may be an array itself.
		if val.GetArrayValue() == nil || len(val.GetArrayValue().GetValues()) == 0 {
			return invalidArgf("filter on %s: %v needs a non-empty array value", fp, op)
		}
		if err := checkValues(val.GetArrayValue().GetValues()); err != nil {
			return invalidArgf("filter on %s: %v", fp, err)
		}
	default:
		if err := checkValue(val, 1); err != nil {
			return invalidArgf("filter on %s: %v", fp, err)
		}
	}
	if fp.isName() {
		return checkNameFilterValue(fp, op, val)
	}
	return nil
}

// fieldPredicate returns the predicate of a checked field filter.
func fieldPredicate(fp fieldPath, op pb.StructuredQuery_FieldFilter_Operator, val *pb.Value) (predicate, error) {
	get := func(d docAt) (*pb.Value, bool) { return fieldValue(d, fp) }
	sameTypeCmp := func(test func(int) bool) predicate {
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && typeRank(v) == typeRank(val) && test(compareValues(v, val))
		}
	}
	switch op {
	case pb.StructuredQuery_FieldFilter_EQUAL:
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && equalForFilter(v, val)
		}, nil
	case pb.StructuredQuery_FieldFilter_NOT_EQUAL:
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && !isNullValue(v) && !equalForArray(v, val)
		}, nil
	case pb.StructuredQuery_FieldFilter_LESS_THAN:
		return sameTypeCmp(func(n int) bool { return n < 0 }), nil
	case pb.StructuredQuery_FieldFilter_LESS_THAN_OR_EQUAL:
		return sameTypeCmp(func(n int) bool { return n <= 0 }), nil
	case pb.StructuredQuery_FieldFilter_GREATER_THAN:
		return sameTypeCmp(func(n int) bool { return n > 0 }), nil
	case pb.StructuredQuery_FieldFilter_GREATER_THAN_OR_EQUAL:
		return sameTypeCmp(func(n int) bool { return n >= 0 }), nil
	case pb.StructuredQuery_FieldFilter_ARRAY_CONTAINS:
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && v.GetArrayValue() != nil && arrayContains(v.GetArrayValue().GetValues(), val, equalForArray)
		}, nil
	case pb.StructuredQuery_FieldFilter_ARRAY_CONTAINS_ANY:
		wanted := val.GetArrayValue().GetValues()
		return func(d docAt) bool {
			v, ok := get(d)
			if !ok || v.GetArrayValue() == nil {
				return false
			}
			for _, e := range v.GetArrayValue().GetValues() {
				if arrayContains(wanted, e, equalForArray) {
					return true
				}
			}
			return false
		}, nil
	case pb.StructuredQuery_FieldFilter_IN:
		set := val.GetArrayValue().GetValues()
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && arrayContains(set, v, equalForFilter)
		}, nil
	case pb.StructuredQuery_FieldFilter_NOT_IN:
		set := val.GetArrayValue().GetValues()
		if arrayContains(set, nullValue(), equalForArray) {
			// Nothing is "not in" a list holding null: null never
			// compares as unequal.
			return func(docAt) bool { return false }, nil
		}
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && !isNullValue(v) && !arrayContains(set, v, equalForArray)
		}, nil
	default:
		return nil, invalidArgf("unsupported field filter operator %v", op)
	}
}

// checkNameFilterValue requires references (or arrays of them) in filters on
// __name__, as Firestore does.
func checkNameFilterValue(fp fieldPath, op pb.StructuredQuery_FieldFilter_Operator, val *pb.Value) error {
	switch op {
	case pb.StructuredQuery_FieldFilter_ARRAY_CONTAINS, pb.StructuredQuery_FieldFilter_ARRAY_CONTAINS_ANY:
		return invalidArgf("filter on %s: %v is not allowed", fp, op)
	case pb.StructuredQuery_FieldFilter_IN, pb.StructuredQuery_FieldFilter_NOT_IN:
		for _, e := range val.GetArrayValue().GetValues() {
			if e.GetReferenceValue() == "" {
				return invalidArgf("filter on %s: values must be document references", fp)
			}
		}
		return nil
	default:
		if val.GetReferenceValue() == "" {
			return invalidArgf("filter on %s: value must be a document reference", fp)
		}
		return nil
	}
}

func (c *filterCompiler) unary(uf *pb.StructuredQuery_UnaryFilter) (predicate, error) {
	fp, err := parseFieldPath(uf.GetField().GetFieldPath())
	if err != nil {
		return nil, invalidArgf("filter: %v", err)
	}
	get := func(d docAt) (*pb.Value, bool) { return fieldValue(d, fp) }
	switch uf.GetOp() {
	case pb.StructuredQuery_UnaryFilter_IS_NAN:
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && isNaNValue(v)
		}, nil
	case pb.StructuredQuery_UnaryFilter_IS_NULL:
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && isNullValue(v)
		}, nil
	case pb.StructuredQuery_UnaryFilter_IS_NOT_NAN:
		c.addInequality(fp)
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && !isNaNValue(v) && !isNullValue(v)
		}, nil
	case pb.StructuredQuery_UnaryFilter_IS_NOT_NULL:
		c.addInequality(fp)
		return func(d docAt) bool {
			v, ok := get(d)
			return ok && !isNullValue(v)
		}, nil
	default:
		return nil, invalidArgf("unsupported unary filter operator %v", uf.GetOp())
	}
}
