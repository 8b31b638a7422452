package firestoreemu

import (
	"fmt"
	"regexp"
	"strings"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
)

// nameField is the special field path of a document's name in queries.
const nameField = "__name__"

// fieldPath is a parsed field path: one element per nested map key.
type fieldPath []string

var simpleFieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)

// parseFieldPath parses the service syntax of a field path: segments
// separated by dots, where a segment that is not a simple identifier is
// quoted with backticks and escapes ` and \ with a backslash
// (for example a.`b.c`.`x\`y`).
func parseFieldPath(s string) (fieldPath, error) {
	if s == "" {
		return nil, fmt.Errorf("empty field path")
	}
	var (
		fp  fieldPath
		seg strings.Builder
	)
	i := 0
	for {
		seg.Reset()
		if i < len(s) && s[i] == '`' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				switch {
				case c == '\\' && i+1 < len(s):
					seg.WriteByte(s[i+1])
					i += 2
				case c == '`':
					closed = true
					i++
				default:
					seg.WriteByte(c)
					i++
				}
				if closed {
					break
				}
			}
			if !closed {
				return nil, fmt.Errorf("field path %q: unterminated backtick", s)
			}
		} else {
			for i < len(s) && s[i] != '.' {
				if s[i] == '`' {
					return nil, fmt.Errorf("field path %q: unexpected backtick", s)
				}
				seg.WriteByte(s[i])
				i++
			}
		}
		if seg.Len() == 0 {
			return nil, fmt.Errorf("field path %q: empty segment", s)
		}
		fp = append(fp, seg.String())
		if i == len(s) {
			return fp, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("field path %q: expected '.' at offset %d", s, i)
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("field path %q: trailing '.'", s)
		}
	}
}

// String returns the canonical service syntax of fp.
func (fp fieldPath) String() string {
	parts := make([]string, len(fp))
	for i, seg := range fp {
		if simpleFieldName.MatchString(seg) {
			parts[i] = seg
			continue
		}
		var b strings.Builder
		b.WriteByte('`')
		for j := 0; j < len(seg); j++ {
			if seg[j] == '`' || seg[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(seg[j])
		}
		b.WriteByte('`')
		parts[i] = b.String()
	}
	return strings.Join(parts, ".")
}

func (fp fieldPath) isName() bool { return len(fp) == 1 && fp[0] == nameField }

// isPrefixOf reports whether fp equals other or is an ancestor of it.
func (fp fieldPath) isPrefixOf(other fieldPath) bool {
	if len(fp) > len(other) {
		return false
	}
	for i := range fp {
		if fp[i] != other[i] {
			return false
		}
	}
	return true
}

// compareFieldPaths orders field paths segment by segment.
func compareFieldPaths(a, b fieldPath) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// getField returns the value at fp in fields, and whether it is present.
func getField(fields map[string]*pb.Value, fp fieldPath) (*pb.Value, bool) {
	for i, seg := range fp {
		v, ok := fields[seg]
		if !ok {
			return nil, false
		}
		if i == len(fp)-1 {
			return v, true
		}
		m := v.GetMapValue()
		if m == nil {
			return nil, false
		}
		fields = m.GetFields()
	}
	return nil, false
}

// setField stores v at fp in fields, creating intermediate maps and
// replacing any non-map value in the way. fields must be owned by the caller.
func setField(fields map[string]*pb.Value, fp fieldPath, v *pb.Value) {
	for _, seg := range fp[:len(fp)-1] {
		cur, ok := fields[seg]
		if !ok || cur.GetMapValue() == nil {
			cur = mapValue(map[string]*pb.Value{})
			fields[seg] = cur
		}
		if cur.GetMapValue().Fields == nil {
			cur.GetMapValue().Fields = map[string]*pb.Value{}
		}
		fields = cur.GetMapValue().Fields
	}
	fields[fp[len(fp)-1]] = v
}

// deleteField removes the value at fp, if any. Parent maps stay, even when
// they become empty, as in Firestore.
func deleteField(fields map[string]*pb.Value, fp fieldPath) {
	for _, seg := range fp[:len(fp)-1] {
		m := fields[seg].GetMapValue()
		if m == nil {
			return
		}
		fields = m.GetFields()
	}
	delete(fields, fp[len(fp)-1])
}

// projectFields returns the subset of fields named by paths (a Firestore
// document mask). Values are shared with fields, not copied.
func projectFields(fields map[string]*pb.Value, paths []fieldPath) map[string]*pb.Value {
	out := map[string]*pb.Value{}
	for i, fp := range paths {
		if fp.isName() || coveredByOther(paths, i) {
			continue
		}
		if v, ok := getField(fields, fp); ok {
			// The maps on the way are new ones of out, never fields':
			// no path kept is below another.
			setField(out, fp, v)
		}
	}
	return out
}

// coveredByOther reports whether another path in paths is a proper prefix
// of paths[i] (or an identical path listed earlier), making paths[i]
// redundant in a projection.
func coveredByOther(paths []fieldPath, i int) bool {
	for j, other := range paths {
		if j == i {
			continue
		}
		if other.isPrefixOf(paths[i]) && (len(other) < len(paths[i]) || j < i) {
			return true
		}
	}
	return false
}

// parseMask parses a document mask; nil means "all fields".
func parseMask(m *pb.DocumentMask) ([]fieldPath, error) {
	if m == nil {
		return nil, nil
	}
	paths := make([]fieldPath, 0, len(m.GetFieldPaths()))
	for _, s := range m.GetFieldPaths() {
		fp, err := parseFieldPath(s)
		if err != nil {
			return nil, invalidArgf("mask: %v", err)
		}
		paths = append(paths, fp)
	}
	return paths, nil
}
