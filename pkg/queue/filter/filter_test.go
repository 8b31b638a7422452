package filter_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/queue/filter"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	lifecycle := map[string]string{"job_id": "j"}
	ledger := map[string]string{"event_type": "cost.ledger_entry", "project_id": "p"}
	circuit := map[string]string{"event_type": "backend_circuit"}
	for _, tt := range []struct {
		expr string
		want [3]bool // lifecycle, ledger, circuit
	}{
		{"", [3]bool{true, true, true}},
		{"attributes:event_type", [3]bool{false, true, true}},
		{"NOT attributes:event_type", [3]bool{true, false, false}},
		{"-attributes:event_type", [3]bool{true, false, false}},
		{`attributes.event_type = "cost.ledger_entry"`, [3]bool{false, true, false}},
		{`NOT attributes.event_type = "cost.ledger_entry"`, [3]bool{true, false, true}},
		{`attributes.event_type != "cost.ledger_entry"`, [3]bool{false, false, true}}, // != needs the attribute
		{`hasPrefix(attributes.event_type, "cost.")`, [3]bool{false, true, false}},
		{`attributes:job_id OR attributes.event_type="backend_circuit"`, [3]bool{true, false, true}},
		{`attributes:event_type AND NOT (attributes:project_id)`, [3]bool{false, false, true}},
		{`(attributes:job_id OR attributes:project_id) AND NOT attributes.event_type = "x\"y"`, [3]bool{true, true, false}},
	} {
		f, err := filter.Parse(tt.expr)
		require.NoError(t, err, tt.expr)
		got := [3]bool{f.Match(lifecycle), f.Match(ledger), f.Match(circuit)}
		require.Equal(t, tt.want, got, tt.expr)
	}
}

func TestParseErrorsSayWhere(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		"attributes:a AND attributes:b OR attributes:c": "AND and OR mixed",
		"attributes.a":                "expected = or !=",
		`attributes.a = b`:            "double-quoted",
		`attributes.a = "b`:           "unterminated",
		"(attributes:a":               "missing )",
		"data:x":                      "expected attributes",
		"attributes:a attributes:b":   "unexpected",
		`hasPrefix(attributes.a "b")`: "expected ,",
		"attributes:":                 "attribute key",
		strings.Repeat("attributes:a OR ", 20) + "attributes:a": "at most 256",
	} {
		_, err := filter.Parse(expr)
		require.ErrorContains(t, err, want, expr)
	}
}

// Parse never panics, whatever it is given.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "NOT attributes:event_type", `hasPrefix(attributes.a, "b")`, `(attributes:a OR -attributes.b = "\u00e9")`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := filter.Parse(s)
		if err == nil {
			flt.Match(map[string]string{"a": "b", "event_type": "x"})
		}
	})
}
