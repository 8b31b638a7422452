// Package platformtest tests a service's configuration variable by
// variable: table tests of a FromEnv (see package platform) that inject the
// environment instead of setting the process's, so every case runs in
// parallel. Not for production code.
//
//	platformtest.Check(t, FromEnv,
//		platformtest.Variable("AIPROD_PUSH", func(c Config) any { return c.Push },
//			platformtest.Unset(false),
//			platformtest.Set("true", true),
//			platformtest.Bad("yes", `AIPROD_PUSH: "yes" is not a boolean (true or false)`)))
package platformtest

import (
	"fmt"
	"maps"
	"testing"

	"github.com/stretchr/testify/require"
)

// Project is GOOGLE_CLOUD_PROJECT in Base.
const Project = "test-project"

// Base returns the smallest valid environment of package platform, which
// every case starts from: GOOGLE_CLOUD_PROJECT=Project.
func Base() map[string]string { return map[string]string{"GOOGLE_CLOUD_PROJECT": Project} }

// Getenv returns a getenv that reads env: "" for a missing variable, as
// os.Getenv for an unset one.
func Getenv(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

// Case is one value of a variable and what FromEnv makes of it; build it
// with Unset, Set or Bad.
type Case struct {
	value string            // "" leaves the variable unset
	env   map[string]string // other variables, over Base
	want  any               // the variable's field, when err is ""
	err   string            // the whole error message, or "" for none
}

// Unset is the case of the variable unset: its field is want (the
// default) and there is no error.
func Unset(want any) Case { return Case{want: want} }

// Set is the case of the variable set to value: its field is want and
// there is no error.
func Set(value string, want any) Case { return Case{value: value, want: want} }

// Bad is the case of the variable set to value: FromEnv fails with the
// message err (whole, not a part).
func Bad(value, err string) Case { return Case{value: value, err: err} }

// With returns c with other variables set too (over Base; "" unsets one).
func (c Case) With(env map[string]string) Case {
	c.env = env
	return c
}

// Var is the cases of one variable.
type Var[C any] struct {
	name  string
	field func(C) any
	cases []Case
}

// Variable returns the cases of the variable name; field returns the part
// of the configuration it sets.
func Variable[C any](name string, field func(C) any, cases ...Case) Var[C] {
	return Var[C]{name: name, field: field, cases: cases}
}

// Check runs each case of each variable as a parallel subtest named
// NAME="value": fromEnv reads Base, the case's other variables and the
// variable. It requires the error of the case, or none and the field the
// case wants.
func Check[C any](t *testing.T, fromEnv func(getenv func(string) string) (C, error), vars ...Var[C]) {
	t.Helper()
	for _, v := range vars {
		require.NotEmpty(t, v.cases, v.name)
		for _, c := range v.cases {
			t.Run(fmt.Sprintf("%s=%q", v.name, c.value), func(t *testing.T) {
				t.Parallel()
				env := Base()
				maps.Copy(env, c.env)
				if c.value != "" {
					env[v.name] = c.value
				}
				cfg, err := fromEnv(Getenv(env))
				if c.err != "" {
					require.EqualError(t, err, c.err)
					return
				}
				require.NoError(t, err)
				require.Equal(t, c.want, v.field(cfg))
			})
		}
	}
}
