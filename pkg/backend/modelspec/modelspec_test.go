package modelspec_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/backend"
	"github.com/aiprod/aiprod/pkg/backend/modelspec"
	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
)

var spec = modelspec.Spec{
	Resolutions: []job.Resolution{job.Res720p, job.Res1080p},
	Aspects:     []job.AspectRatio{job.Aspect16x9, job.Aspect9x16},
	Durations:   []int{4, 6, 8},
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ok := backend.SubmitRequest{Model: "m-1", Prompt: "a fox", DurationSeconds: 6, Resolution: job.Res1080p, AspectRatio: job.Aspect9x16}
	require.NoError(t, spec.Check("acme", ok))
	tests := []struct {
		name string
		edit func(*backend.SubmitRequest)
		want string
	}{
		{"blank prompt", func(r *backend.SubmitRequest) { r.Prompt = " \t" }, "acme: invalid_request: prompt is empty"},
		{"duration", func(r *backend.SubmitRequest) { r.DurationSeconds = 5 }, "acme: invalid_request: m-1 generates [4 6 8] s, not 5 s"},
		{"resolution", func(r *backend.SubmitRequest) { r.Resolution = job.Res4K }, `acme: invalid_request: m-1 has no resolution "4k" (has [720p 1080p])`},
		{"aspect", func(r *backend.SubmitRequest) { r.AspectRatio = job.Aspect1x1 }, `acme: invalid_request: m-1 has no aspect ratio "1:1" (has [16:9 9:16])`},
		{"the first failure wins", func(r *backend.SubmitRequest) { r.DurationSeconds, r.Resolution = 5, job.Res4K }, "not 5 s"},
	}
	for _, tt := range tests {
		req := ok
		tt.edit(&req)
		err := spec.Check("acme", req)
		require.ErrorIs(t, err, errclass.Permanent, tt.name)
		require.ErrorContains(t, err, tt.want, tt.name)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	models := map[string]modelspec.Spec{"b/two": spec, "a/one": {}}
	got, err := modelspec.Lookup("acme", models, "b/two")
	require.NoError(t, err)
	require.Equal(t, spec, got)
	_, err = modelspec.Lookup("acme", models, "c/three")
	require.ErrorIs(t, err, errclass.Permanent)
	require.EqualError(t, err, `acme: invalid_request: unknown model "c/three" (known: a/one, b/two)`)
}
