package veo_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonMap round-trips v through JSON into a generic map.
func jsonMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}
