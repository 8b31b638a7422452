package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/aiprod/aiprod/pkg/routesim"
)

func init() {
	register(command{"simulate", "--trace FILE [flags]",
		"replay a workload trace offline through the real routing code and the usual policies (no API needed)", runSimulate})
}

// runSimulate is aiprod simulate (DESIGN "Economics", package routesim).
func runSimulate(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "simulate", "--trace FILE [flags]",
		"Replay a workload trace on a simulated clock through AIPROD's routing code and the usual policies\n"+
			"("+strings.Join(routesim.Policies, ", ")+"), and compare cost per successful video and p95\n"+
			"completion. Traces: pkg/routesim/traces/*.json; the format is DESIGN.md's.")
	tracePath := fs.String("trace", "", "trace file (required)")
	policies := fs.String("policies", strings.Join(routesim.Policies, ","), "comma-separated policies to run")
	asJSON := fs.Bool("json", false, "print JSON")
	chart := fs.String("chart", "", "also write an SVG chart (cost per success and p95 completion by policy) to this file")
	seed := fs.Uint64("seed", 1, "seed of the simulated failures, generation times and random policies")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *tracePath == "" {
		fmt.Fprintln(env.Stderr, "aiprod simulate: --trace is required")
		fs.Usage()
		return errUsage
	}
	tr, err := routesim.ReadTrace(*tracePath)
	if err != nil {
		return err
	}
	r, err := routesim.Run(tr, routesim.Options{Policies: splitList(*policies), Seed: *seed})
	if err != nil {
		return err
	}
	if *chart != "" {
		title := "aiprod simulate: " + filepath.Base(*tracePath)
		if err := os.WriteFile(*chart, r.SVG(title), 0o644); err != nil {
			return fmt.Errorf("write the chart: %w", err)
		}
	}
	if *asJSON {
		return printJSON(env.Stdout, r)
	}
	return printSimulation(env.Stdout, r)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func printSimulation(w io.Writer, r routesim.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "POLICY\tJOBS\tSUCCEEDED\tFAILED\tCOST_USD\tCOST_PER_SUCCESS_USD\tP95_COMPLETION_S\t")
	for _, p := range r.Policies {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.4f\t%.1f\t\n", p.Name, p.Jobs, p.Succeeded, p.Failed, p.CostUSD, p.CostPerSuccessUSD, p.P95CompletionS)
	}
	return tw.Flush()
}
