package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProgressRateAndBar drives the progress display with a settable
// count and times: the rate is over the last second, a terminal gets a bar
// redrawn in place, anything else plain lines.
func TestProgressRateAndBar(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tty := range []bool{true, false} {
		var buf bytes.Buffer
		var n int64
		p := &progress{w: &buf, tty: tty, start: t0, count: func() int64 { return n },
			line: func(elapsed time.Duration, rate float64) (string, float64) {
				return fmt.Sprintf("%.2fs rate %.0f/s", elapsed.Seconds(), rate), elapsed.Seconds() / 4
			}, samples: []progressSample{{at: t0}}}
		// 100/s for a second, then 400/s.
		for i := 1; i <= 8; i++ {
			n = int64(min(i, 4)*25 + max(i-4, 0)*100)
			p.show(t0.Add(time.Duration(i)*progressTick), i == 8)
		}
		out := buf.String()
		require.Contains(t, out, "1.00s rate 100/s")
		require.Contains(t, out, "2.00s rate 400/s", "the rate of the last second only")
		if tty {
			require.True(t, strings.HasPrefix(out, "\r[=                       ] 0.25s rate 100/s\x1b[K\r"), "%q", out)
			require.Contains(t, out, "\r[============            ] 2.00s rate 400/s\x1b[K\n")
			require.Equal(t, 1, strings.Count(out, "\n"), "redrawn in place, one line at the end")
		} else {
			require.Equal(t, 8, strings.Count(out, "\n"))
			require.NotContains(t, out, "\r")
		}
	}
}
