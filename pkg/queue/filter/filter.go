// Package filter parses and evaluates Pub/Sub subscription filters — the
// part of Pub/Sub's filter language that reads attributes — so that the
// emulator and the in-memory queue deliver to a filtered subscription
// exactly what Pub/Sub would:
//
//	attributes:KEY                       the attribute is present
//	attributes.KEY = "value"             present and equal
//	attributes.KEY != "value"            present and different
//	hasPrefix(attributes.KEY, "prefix")  present and starting with prefix
//	NOT expr, -expr, (expr), expr AND expr, expr OR expr
//
// As in Pub/Sub, AND and OR cannot be mixed without parentheses, and the
// empty filter matches every message. Keys are letters, digits, "_" and
// "-"; values are double-quoted strings with backslash escapes.
package filter

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// MaxLength is the longest filter Pub/Sub accepts, in bytes.
const MaxLength = 256

// Filter is a parsed filter. The zero value matches every message.
type Filter struct{ root node }

// Match reports whether a message with attributes attrs passes f.
func (f Filter) Match(attrs map[string]string) bool {
	return f.root == nil || f.root.match(attrs)
}

// Parse parses expr; the empty string is the filter that matches every
// message. Errors say where the expression went wrong.
func Parse(expr string) (Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return Filter{}, nil
	}
	if len(expr) > MaxLength {
		return Filter{}, fmt.Errorf("filter: %d bytes, at most %d", len(expr), MaxLength)
	}
	p := &parser{s: expr}
	n, err := p.expr()
	if err == nil {
		p.space()
		if p.i < len(p.s) {
			err = p.errorf("unexpected %q", p.s[p.i:])
		}
	}
	if err != nil {
		return Filter{}, err
	}
	return Filter{root: n}, nil
}

type node interface{ match(map[string]string) bool }

type (
	has    struct{ key string }
	equals struct {
		key, value string
		negate     bool // !=
	}
	prefix struct{ key, value string }
	not    struct{ n node }
	and    []node
	or     []node
)

func (n has) match(a map[string]string) bool { _, ok := a[n.key]; return ok }
func (n equals) match(a map[string]string) bool {
	v, ok := a[n.key]
	return ok && (v == n.value) != n.negate
}
func (n prefix) match(a map[string]string) bool {
	v, ok := a[n.key]
	return ok && strings.HasPrefix(v, n.value)
}
func (n not) match(a map[string]string) bool { return !n.n.match(a) }
func (n and) match(a map[string]string) bool {
	for _, x := range n {
		if !x.match(a) {
			return false
		}
	}
	return true
}
func (n or) match(a map[string]string) bool {
	for _, x := range n {
		if x.match(a) {
			return true
		}
	}
	return false
}

type parser struct {
	s string
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("filter: at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.i < len(p.s) && unicode.IsSpace(rune(p.s[p.i])) {
		p.i++
	}
}

// keyword consumes word (AND, OR, NOT) when it stands alone at p.i.
func (p *parser) keyword(word string) bool {
	p.space()
	end := p.i + len(word)
	if end > len(p.s) || p.s[p.i:end] != word {
		return false
	}
	if end < len(p.s) && !unicode.IsSpace(rune(p.s[end])) && p.s[end] != '(' {
		return false
	}
	p.i = end
	return true
}

// expr: term {AND term} | term {OR term}.
func (p *parser) expr() (node, error) {
	first, err := p.term()
	if err != nil {
		return nil, err
	}
	var op string
	nodes := []node{first}
	for {
		var next string
		switch {
		case p.keyword("AND"):
			next = "AND"
		case p.keyword("OR"):
			next = "OR"
		default:
			if len(nodes) == 1 {
				return first, nil
			}
			if op == "AND" {
				return and(nodes), nil
			}
			return or(nodes), nil
		}
		if op != "" && op != next {
			return nil, p.errorf("AND and OR mixed without parentheses")
		}
		op = next
		n, err := p.term()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
}

// term: [NOT | -] factor.
func (p *parser) term() (node, error) {
	p.space()
	neg := p.keyword("NOT")
	if !neg && p.i < len(p.s) && p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	n, err := p.factor()
	if err != nil || !neg {
		return n, err
	}
	return not{n}, nil
}

// factor: (expr) | attributes:KEY | attributes.KEY (= | !=) "v" | hasPrefix(attributes.KEY, "v").
func (p *parser) factor() (node, error) {
	p.space()
	switch rest := p.s[p.i:]; {
	case strings.HasPrefix(rest, "("):
		p.i++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.space(); p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, p.errorf("missing )")
		}
		p.i++
		return n, nil
	case strings.HasPrefix(rest, "attributes:"):
		p.i += len("attributes:")
		k, err := p.key()
		return has{k}, err
	case strings.HasPrefix(rest, "attributes."):
		p.i += len("attributes.")
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		p.space()
		negate := strings.HasPrefix(p.s[p.i:], "!=")
		switch {
		case negate:
			p.i += 2
		case strings.HasPrefix(p.s[p.i:], "="):
			p.i++
		default:
			return nil, p.errorf("expected = or != after attributes.%s", k)
		}
		v, err := p.str()
		return equals{key: k, value: v, negate: negate}, err
	case strings.HasPrefix(rest, "hasPrefix("):
		p.i += len("hasPrefix(")
		if p.space(); !strings.HasPrefix(p.s[p.i:], "attributes.") {
			return nil, p.errorf("hasPrefix takes attributes.KEY first")
		}
		p.i += len("attributes.")
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		if p.space(); p.i >= len(p.s) || p.s[p.i] != ',' {
			return nil, p.errorf("expected , in hasPrefix")
		}
		p.i++
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		if p.space(); p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, p.errorf("missing ) of hasPrefix")
		}
		p.i++
		return prefix{k, v}, nil
	}
	return nil, p.errorf("expected attributes:KEY, attributes.KEY, hasPrefix( or (")
}

func (p *parser) key() (string, error) {
	start := p.i
	for p.i < len(p.s) {
		c := rune(p.s[p.i])
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '_' && c != '-' {
			break
		}
		p.i++
	}
	if p.i == start {
		return "", p.errorf("expected an attribute key")
	}
	return p.s[start:p.i], nil
}

// str reads a double-quoted string with Go-style escapes.
func (p *parser) str() (string, error) {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", p.errorf("expected a double-quoted value")
	}
	for j := p.i + 1; j < len(p.s); j++ {
		switch p.s[j] {
		case '\\':
			j++
		case '"':
			v, err := strconv.Unquote(p.s[p.i : j+1])
			if err != nil {
				return "", p.errorf("bad string %s", p.s[p.i:j+1])
			}
			p.i = j + 1
			return v, nil
		}
	}
	return "", p.errorf("unterminated string")
}
