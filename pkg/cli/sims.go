package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/devstack"
)

func init() {
	register(command{"sims", "[flags]", "serve only the simulated backends and write a catalog that points at them", runSims})
}

func runSims(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "sims", "[flags]", `Serve one simulated backend per catalog backend, each speaking its
provider's HTTP protocol, and write a catalog whose endpoints point at them.
With 'aiprod emulators', this is what the three services need to run as
separate processes; the lines printed are the worker's environment.`)
	out := fs.String("catalog-out", "aiprod-sims-catalog.json", "where to write the catalog (use it as AIPROD_CATALOG)")
	in := fs.String("catalog", "", "catalog to simulate (default: the embedded catalog)")
	speed := fs.Float64("sim-speed", 1, "scale the generation times (0.1 = ten times faster)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cat, err := catalog.Load(*in)
	if err != nil {
		return err
	}
	sims, err := devstack.StartSims(cat, *speed)
	if err != nil {
		return err
	}
	defer sims.Close()
	b, err := json.MarshalIndent(sims.Catalog, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	for _, n := range slices.Sorted(maps.Keys(sims.Sims)) {
		fmt.Fprintf(env.Stderr, "backend %-10s %s (%s protocol)\n", n, sims.Sims[n].URL, sims.Sims[n].Provider)
	}
	fmt.Fprintf(env.Stdout, "AIPROD_CATALOG=%s\n", *out)
	fmt.Fprintln(env.Stdout, strings.Join(sims.Env(), "\n"))
	fmt.Fprintln(env.Stdout, "ready")
	<-ctx.Done()
	return nil
}
