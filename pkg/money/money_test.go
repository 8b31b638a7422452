package money

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Micros
		err  bool
	}{
		{"0", 0, false},
		{"2.5", 2_500_000, false},
		{"0.25", 250_000, false},
		{"0.000001", 1, false},
		{"-0.000001", -1, false},
		{"1e-2", 10_000, false},
		{"1.5E2", 150_000_000, false},
		{"50", 50_000_000, false},
		{".5", 500_000, false},
		{"0.1000000", 100_000, false},
		{"0.0000001", 0, true}, // sub-micro precision is refused, not rounded
		{"abc", 0, true},
		{"", 0, true},
		{"1.2.3", 0, true},
		{"1e400", 0, true},
		{"9999999999999999999", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for m, want := range map[Micros]string{0: "0", 250_000: "0.25", 1_000_000: "1", 1: "0.000001", -1_500_000: "-1.5", 123_456_789: "123.456789"} {
		require.Equal(t, want, m.USD())
		b, err := json.Marshal(m)
		require.NoError(t, err)
		require.Equal(t, want, string(b))
		var back Micros
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, m, back, "JSON round trip is exact")
	}
	require.Equal(t, "$0.250000", Micros(250_000).String())
}

func TestArithmetic(t *testing.T) {
	t.Parallel()
	require.Equal(t, MustParse("0.71"), MustParse("0.142").Times(5))
	require.Equal(t, MustParse("0.6"), MustParse("0.1").Times(6), "no float drift: 0.1×6 is exactly 0.6")
	require.Equal(t, Micros(50), Micros(99).PercentOf(50), "rounds half away from zero")
	require.Equal(t, Micros(-50), Micros(-99).PercentOf(50))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1", "0.5", "-2.25", "1e3", "0.000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(m.USD())
		require.NoError(t, err)
		require.Equal(t, m, back)
	})
}

// TestFormatsMatchFmt checks USD, String and MarshalJSON, written without
// fmt, against their fmt definitions, and that each allocates once (not
// parallel: AllocsPerRun).
func TestFormatsMatchFmt(t *testing.T) {
	usd := func(m Micros) string {
		sign, whole, frac := m.split()
		if frac == 0 {
			return sign + strconv.FormatInt(whole, 10)
		}
		return sign + strconv.FormatInt(whole, 10) + "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	str := func(m Micros) string {
		sign, whole, frac := m.split()
		return fmt.Sprintf("%s$%d.%06d", sign, whole, frac)
	}
	for _, m := range []Micros{0, 1, -1, 10, 250_000, -250_000, 1_000_000, 1_000_001, 123_456_789, -987_654_321,
		999_999, 100_000, 1_200_000, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		require.Equal(t, usd(m), m.USD(), "USD of %d", int64(m))
		require.Equal(t, str(m), m.String(), "String of %d", int64(m))
		b, err := m.MarshalJSON()
		require.NoError(t, err)
		require.Equal(t, usd(m), string(b), "MarshalJSON of %d", int64(m))
	}
	m := Micros(1_234_500)
	require.LessOrEqual(t, testing.AllocsPerRun(100, func() { _ = m.USD() }), 1.0)
	require.LessOrEqual(t, testing.AllocsPerRun(100, func() { _ = m.String() }), 1.0)
	require.LessOrEqual(t, testing.AllocsPerRun(100, func() { _, _ = m.MarshalJSON() }), 1.0)
}

func TestCents(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1234.5": "$1234.50", "0": "$0.00", "0.004999": "$0.00", "0.005": "$0.01", "-0.25": "-$0.25",
		"-0.005": "-$0.01", "2.999999": "$3.00", "7": "$7.00",
	} {
		if got := MustParse(in).Cents(); got != want {
			t.Errorf("%s.Cents() = %q, want %q", in, got, want)
		}
	}
}
