package output_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/output/outputtest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	outputtest.Run(t, func(t *testing.T, cfg output.Config) outputtest.Harness {
		cfg.Bucket = "aiprod-outputs"
		m, err := output.NewMemory(cfg)
		require.NoError(t, err)
		return outputtest.Harness{
			Copier:      m,
			Config:      m.Config(),
			OtherBucket: "aiprod-veo",
			Get: func(_ *testing.T, bucket, name string) (output.Object, bool) {
				return m.Get(bucket, name)
			},
			Put: func(_ *testing.T, bucket, name string, o output.Object) {
				m.Put(bucket, name, o)
			},
			Writes: func(*testing.T) int { return m.Writes() },
		}
	})
}
