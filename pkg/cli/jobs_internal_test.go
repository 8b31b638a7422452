package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCell(t *testing.T) {
	t.Parallel()
	require.Equal(t, "short", cell("short", 10))
	require.Equal(t, "a b c", cell("a\tb\n  c", 10), "one line for the table")
	require.Equal(t, "backend_…", cell("backend_failed: boom", 9))
	require.Equal(t, "ééé", cell("ééé", 3), "characters, not bytes")
}

func TestParseTimeArg(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"1h", now.Add(-time.Hour)},
		{"30m", now.Add(-30 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"0s", now},
		{"7d", now.AddDate(0, 0, -7)},
		{"0d", now},
		{"2026-11-24T08:00:00Z", time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)},
		{"2026-11-24T09:00:00.5+01:00", time.Date(2026, 11, 24, 8, 0, 0, 500_000_000, time.UTC)},
	} {
		got, err := parseTimeArg(tt.in, now)
		require.NoError(t, err, tt.in)
		require.True(t, tt.want.Equal(got), "%s: got %s, want %s", tt.in, got, tt.want)
	}
	for _, bad := range []string{"", "yesterday", "-1h", "-2d", "1.5d", "d", "7days", "99999999d", "2026-11-24"} {
		_, err := parseTimeArg(bad, now)
		require.Error(t, err, "%q", bad)
		require.Contains(t, err.Error(), "duration ago")
	}
}
