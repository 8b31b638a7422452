package test

import (
	"os"
	"testing"
)

// TestMain removes the binaries the multi-process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
