package platform

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/platform/platformtest"
)

// envs is an environment.
type envs = map[string]string

// TestVars covers what the configurations do not: the bounds and kinds
// no variable uses yet.
func TestVars(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		read func(v *Vars) any
		env  map[string]string
		want any
		err  string
	}{
		{"list unset", func(v *Vars) any { return v.List("L") }, nil, []string(nil), ""},
		{"list", func(v *Vars) any { return v.List("L") }, envs{"L": " a, b ,c"}, []string{"a", "b", "c"}, ""},
		{"list empty item", func(v *Vars) any { return v.List("L") }, envs{"L": "a,,b"}, []string(nil),
			`L: "a,,b" has an empty item: want a comma-separated list such as a,b`},
		{"list trailing comma", func(v *Vars) any { return v.List("L") }, envs{"L": "a,"}, []string(nil),
			`L: "a," has an empty item: want a comma-separated list such as a,b`},
		{"int at least", func(v *Vars) any { return v.Int("N", 7, 2, math.MaxInt) }, envs{"N": "1"}, 7, `N: "1" must be at least 2`},
		{"int not negative", func(v *Vars) any { return v.Int("N", 7, 0, math.MaxInt) }, envs{"N": "-1"}, 7, `N: "-1" must not be negative`},
		{"duration not negative", func(v *Vars) any { return v.Duration("D", time.Second, 0, MaxDuration) }, envs{"D": "0"}, time.Duration(0), ""},
		{"duration at least", func(v *Vars) any { return v.Duration("D", time.Second, time.Minute, MaxDuration) }, envs{"D": "1s"},
			time.Second, `D: "1s" must be at least 1m`},
		{"get keeps spaces", func(v *Vars) any { return v.Get("S") }, envs{"S": " x "}, " x ", ""},
		{"required", func(v *Vars) any { return v.Required("S", "the thing") }, nil, "", "S is required: the thing"},
		{"blank is unset", func(v *Vars) any { return v.Bool("B", true) }, envs{"B": "  "}, true, ""},
		{"fail", func(v *Vars) any { v.Fail("S", "no %s", "way"); return nil }, nil, nil, "S: no way"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := NewVars(platformtest.Getenv(tc.env))
			require.Equal(t, tc.want, tc.read(v))
			if tc.err == "" {
				require.NoError(t, v.Err())
			} else {
				require.EqualError(t, v.Err(), tc.err)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		10 * time.Minute: "10m", 90 * time.Minute: "1h30m", 3 * time.Hour: "3h", 90 * time.Second: "1m30s",
		10 * time.Second: "10s", 500 * time.Millisecond: "500ms", 0: "0s", time.Hour + time.Second: "1h0m1s",
	} {
		require.Equal(t, want, FormatDuration(d), "%d", d)
	}
}
