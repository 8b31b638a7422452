package notifier_test

import (
	"testing"

	"github.com/aiprod/aiprod/pkg/internal/leak"
)

// TestMain fails the package's tests when a goroutine they started is
// still running after them.
func TestMain(m *testing.M) { leak.VerifyTestMain(m) }
