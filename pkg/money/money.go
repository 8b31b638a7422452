// Package money holds amounts of US dollars as integer micro-USD.
//
// No arithmetic on money ever uses floating point: amounts are parsed from
// their decimal text (JSON numbers, config strings) straight into integer
// micro-dollars and formatted back the same way. JSON shows an amount as a
// number of USD with at most six decimals, as the HTTP API specifies.
package money

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Micros is an amount in millionths of a US dollar. The zero value is $0.
type Micros int64

// Common amounts.
const (
	Microdollar Micros = 1
	Cent        Micros = 10_000
	Dollar      Micros = 1_000_000
)

// ErrSyntax reports a string that is not a decimal USD amount.
var ErrSyntax = errors.New("not a decimal USD amount with at most 6 decimals")

// Parse reads a decimal USD amount such as "2.5", "-0.000001" or "1e-2".
// It is exact: more than six decimals after the point is an error, not a
// rounding. Exponents are accepted as JSON allows them.
func Parse(s string) (Micros, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("%q: %w", orig, ErrSyntax)
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 30 || e < -30 {
			return 0, fmt.Errorf("%q: %w", orig, ErrSyntax)
		}
		exp = e
		s = s[:i]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && frac == "" || hasPoint && frac == "" && intPart == "" {
		return 0, fmt.Errorf("%q: %w", orig, ErrSyntax)
	}
	digits := intPart + frac
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: %w", orig, ErrSyntax)
		}
	}
	// value = digits × 10^(exp - len(frac)); we want value × 10^6.
	shift := exp - len(frac) + 6
	digits = strings.TrimLeft(digits, "0")
	if shift < 0 {
		cut := len(digits) + shift
		var dropped string
		if cut < 0 {
			dropped, digits = digits, ""
		} else {
			dropped, digits = digits[cut:], digits[:cut]
		}
		if strings.Trim(dropped, "0") != "" {
			return 0, fmt.Errorf("%q: %w", orig, ErrSyntax)
		}
	} else {
		digits += strings.Repeat("0", shift)
	}
	if digits == "" {
		return 0, nil
	}
	if len(digits) > 18 {
		return 0, fmt.Errorf("%q: amount too large", orig)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", orig, ErrSyntax)
	}
	if neg {
		v = -v
	}
	return Micros(v), nil
}

// MustParse is Parse for constants in code and tests; it panics on bad input.
func MustParse(s string) Micros {
	m, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return m
}

// USD formats m as a decimal number of dollars with trailing zeros removed:
// 250000 → "0.25", 1000000 → "1", -1 → "-0.000001".
func (m Micros) USD() string {
	var buf [32]byte
	return string(m.appendUSD(buf[:0]))
}

// appendUSD appends USD's text to b, without fmt (it is on every job's
// path: JSON, logs).
func (m Micros) appendUSD(b []byte) []byte {
	sign, whole, frac := m.split()
	if frac < 0 { // math.MinInt64, whose absolute value overflows
		return fmt.Appendf(b, "%s%d.%s", sign, whole, strings.TrimRight(fmt.Sprintf("%06d", frac), "0"))
	}
	b = strconv.AppendInt(append(b, sign...), whole, 10)
	if frac == 0 {
		return b
	}
	b = appendMicros(append(b, '.'), frac)
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b
}

// String formats m for people: "$0.250000".
func (m Micros) String() string {
	sign, whole, frac := m.split()
	if frac < 0 { // math.MinInt64
		return fmt.Sprintf("%s$%d.%06d", sign, whole, frac)
	}
	var buf [32]byte
	b := strconv.AppendInt(append(append(buf[:0], sign...), '$'), whole, 10)
	return string(appendMicros(append(b, '.'), frac))
}

// appendMicros appends frac, in [0, 1e6), as six digits.
func appendMicros(b []byte, frac int64) []byte {
	var d [8]byte
	digits := strconv.AppendInt(d[:0], frac, 10)
	for range 6 - len(digits) {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// Cents formats m for people to the nearest cent, half away from zero:
// 1234500000 → "$1234.50", -250000 → "-$0.25", 4999 → "$0.00".
func (m Micros) Cents() string {
	sign, whole, frac := m.split()
	cents := whole*100 + (frac+int64(Cent)/2)/int64(Cent)
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}

// split returns m's sign ("-" or "") and its absolute value as whole dollars
// and the micro-dollars left over.
func (m Micros) split() (sign string, whole, frac int64) {
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return sign, v / int64(Dollar), v % int64(Dollar)
}

// Float64 is m in USD as a float, for metric exporters only (their sums
// are floats); never compute money with it.
func (m Micros) Float64() float64 { return float64(m) / 1e6 }

// MarshalJSON writes m as a JSON number of USD.
func (m Micros) MarshalJSON() ([]byte, error) { return m.appendUSD(make([]byte, 0, 24)), nil }

// UnmarshalJSON reads a JSON number (or a string holding one) of USD exactly.
func (m *Micros) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' {
		unq, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("money: %w", ErrSyntax)
		}
		b = []byte(unq)
	}
	if string(b) == "null" {
		return nil
	}
	v, err := Parse(string(b))
	if err != nil {
		return fmt.Errorf("money: %w", err)
	}
	*m = v
	return nil
}

// Times returns m multiplied by n, for per-unit prices (per second, per clip).
func (m Micros) Times(n int) Micros { return m * Micros(n) }

// PercentOf returns the share p/100 of m, rounded half away from zero.
func (m Micros) PercentOf(p int) Micros {
	v := int64(m) * int64(p)
	if v >= 0 {
		return Micros((v + 50) / 100)
	}
	return Micros((v - 50) / 100)
}
