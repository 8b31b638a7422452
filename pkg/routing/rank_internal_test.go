package routing

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/money"
)

// A candidate's text in the ranking is what its fmt format gives, for
// every kind of value (written without fmt: it is in every dispatched
// event).
func TestRankingCandidateTextMatchesFmt(t *testing.T) {
	t.Parallel()
	for _, c := range []Candidate{
		{Quote: catalog.Quote{Backend: "luma"}, Score: 250_000, Success: 0.97, Wait: 1500 * time.Millisecond, Finish: 61 * time.Second, Samples: 1200},
		{Quote: catalog.Quote{Backend: "fal"}, Score: 0.4, Success: 1, Wait: 0, Finish: 0, Samples: 0.5},
		{Quote: catalog.Quote{Backend: "b"}, Score: 1_234_567.5, Success: 0.00049, Wait: 3*time.Hour + 499*time.Millisecond, Finish: 26 * time.Hour, Samples: 2.5},
		{Quote: catalog.Quote{Backend: "x"}, Score: -3, Success: 0.9995, Wait: -time.Second, Finish: time.Nanosecond, Samples: 1e9},
	} {
		want := fmt.Sprintf("%s %s (success %.1f%%, wait %s, done in %s, %.0f samples)", c.Backend,
			money.Micros(math.Round(c.Score)), 100*c.Success, c.Wait.Round(time.Second), c.Finish.Round(time.Second), c.Samples)
		var b strings.Builder
		appendCandidate(&b, &c)
		require.Equal(t, want, b.String())
	}
}
