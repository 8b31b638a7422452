package pubsubemu

import (
	"os"
	"testing"

	"github.com/aiprod/aiprod/pkg/internal/leak"
)

// TestMain fails the package's tests when a goroutine they started is
// still running after them. With benchServerEnv set, the test binary is
// BenchmarkEmulatorBacklog's emulator process instead.
func TestMain(m *testing.M) {
	if kind := os.Getenv(benchServerEnv); kind != "" {
		os.Exit(benchServer(kind))
	}
	leak.VerifyTestMain(m)
}
