package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/routesim"
)

// aiprod simulate runs offline: the table, DESIGN's JSON, and the chart.
func TestSimulate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	trace := filepath.Join("..", "routesim", "traces", "outage.json")
	code, out, errOut := e.run("simulate", "--trace", trace, "--policies", "aiprod,round-robin,oracle")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `POLICY +JOBS +SUCCEEDED +FAILED +COST_USD +COST_PER_SUCCESS_USD +P95_COMPLETION_S`, out)
	require.Regexp(t, `(?m)^ +aiprod +600 +600 +0 `, out)

	chart := filepath.Join(t.TempDir(), "c.svg")
	code, out, errOut = e.run("simulate", "--trace", trace, "--policies", "aiprod,oracle", "--json", "--chart", chart)
	require.Equal(t, 0, code, errOut)
	var r routesim.Report // its JSON is DESIGN's: routesim's TestReportJSON
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Len(t, r.Policies, 2)
	require.Equal(t, "aiprod", r.Policies[0].Name)
	require.Equal(t, 600, r.Policies[0].Jobs)
	require.Positive(t, r.Policies[0].CostPerSuccessUSD)
	svg, err := os.ReadFile(chart)
	require.NoError(t, err)
	require.Contains(t, string(svg), "<svg")
	require.Contains(t, string(svg), "cost per successful video")

	code, _, errOut = e.run("simulate")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--trace is required")
	code, _, errOut = e.run("simulate", "--trace", trace, "--policies", "psychic")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "unknown policy")
}
